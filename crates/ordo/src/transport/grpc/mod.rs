//! [`GrpcTransport`]: Raft messages over gRPC (tonic), for deployments that
//! route, observe or secure traffic as gRPC. Behind the cargo feature `grpc`.
//! The peer table, queues, reconnection and counters are
//! [`NetworkTransport`]'s; this module is the [`GrpcWire`]: the service,
//! the handshake in metadata, and batches on a stream.
//!
//! # Protocol
//! One service, `ordo.transport.v1.RaftTransport`, with one bidirectional
//! streaming method, `Stream` (see `proto/ordo/transport/v1/transport.proto`).
//! Each node opens one long-lived stream to each peer and sends
//! `MessageBatch`es down it; each element of a batch is one message in the
//! [`codec`](crate::transport::codec) encoding — the same bytes a TCP frame
//! carries, checked by the same decoder and limits. The handshake of the TCP
//! transport travels in metadata instead: the caller's `ordo-cluster-id`,
//! `ordo-node-id`, `ordo-target-node-id` and protocol version range in the
//! request, the server's identity and chosen version in the response headers;
//! each side checks the other exactly as over TCP. A refused stream ends with
//! a status whose `ordo-refusal` metadata names the reason.
//!
//! # Building without `protoc`
//! `build.rs` compiles the `.proto` with [protox](https://docs.rs/protox), a
//! protobuf compiler written in Rust, and hands the descriptors to
//! `tonic-prost-build`; no system `protoc` is involved, and `PROTOC` is never
//! read.
//!
//! # Defences
//! As over TCP: a stream from another cluster, an unknown node, or speaking
//! no common version is refused before any message is read; a message that
//! does not decode, exceeds `max_frame_bytes`, lies about its sender or is
//! addressed to another node ends its stream with an error status (logged at
//! `error` and counted). At the connection level, a connection that has not
//! opened an authenticated stream within `handshake_timeout` is closed (slow
//! loris), at most `max_pending_handshakes` may be waiting, HTTP/2 pings
//! every `keepalive_interval` close a connection silent for `idle_timeout`,
//! and one connection may carry at most 8 streams.
//!
//! Without TLS, identity checks guard against misconfiguration (a node of
//! another cluster or a stale address), not against an attacker who knows
//! the cluster id. With [`NetworkConfig::peer_tls`](crate::transport::NetworkConfig::peer_tls)
//! every connection is mutual TLS 1.3 before HTTP/2 starts, exactly as over
//! TCP (see [`tls`](crate::transport::tls)): the dialer opens TCP and TLS
//! itself and checks the server's certificate names the node it dialed
//! before handing the connection to tonic; the server opens TLS in its
//! accept loop (within `handshake_timeout`), and a stream's hello must claim
//! the node the connection's client certificate names, of this cluster.
//!
//! # Example
//! ```
//! use ordo::transport::ClusterId;
//! use ordo::transport::grpc::GrpcTransport;
//! use ordo::transport::{Inbound, Inbox, NetworkConfig, Transport};
//! use ordo_core::{Message, MessageBody, VoteResponse};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = ClusterId::new("example")?;
//! let any_port = "127.0.0.1:0".parse()?;
//! let one = GrpcTransport::bind(NetworkConfig::new(cluster.clone(), 1, any_port))?;
//! let two = GrpcTransport::bind(NetworkConfig::new(cluster, 2, any_port))?;
//! one.add_peer(2, two.local_addr().to_string())?;
//! two.add_peer(1, one.local_addr().to_string())?;
//!
//! let (inbox, _unused) = Inbox::bounded(16);
//! one.start(inbox)?;
//! let (inbox, mut arrivals) = Inbox::bounded(16);
//! two.start(inbox)?;
//!
//! let vote = MessageBody::VoteResponse(VoteResponse { granted: true });
//! one.send(Message { from: 1, to: 2, term: 1, body: vote.clone() });
//! let Some(Inbound::Message(message)) = arrivals.recv().await else { panic!() };
//! assert_eq!((message.from, message.body), (1, vote));
//! one.shutdown().await;
//! two.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod accept;
mod dial;
mod guard;
mod identity;
mod preconnected;
mod serve;

/// The code generated from `proto/ordo/transport/v1/transport.proto`: the
/// message types, a client and a server, for programs that speak the
/// protocol themselves (tools, tests, other languages' peers as reference).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("ordo.transport.v1");
}

pub use self::dial::GrpcWire;
use super::network::NetworkTransport;

/// Most messages in one `MessageBatch`.
const MAX_MESSAGES_PER_BATCH: usize = 4096;

/// What a batch may add to `max_frame_bytes` in protobuf framing: at most 6
/// bytes per message (a tag and a length) for [`MAX_MESSAGES_PER_BATCH`]
/// messages, rounded up.
const BATCH_OVERHEAD_BYTES: usize = 64 * 1024;

/// Raft messages over gRPC: a [`NetworkTransport`] speaking [`GrpcWire`].
/// Cheap to clone: clones share one transport.
pub type GrpcTransport = NetworkTransport<GrpcWire>;
