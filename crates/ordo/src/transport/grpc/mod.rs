//! [`GrpcTransport`]: Raft messages over gRPC (tonic), for deployments that
//! route, observe or secure traffic as gRPC. Behind the cargo feature `grpc`.
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
//! Identity checks guard against misconfiguration (a node of another cluster
//! or a stale address), not against an attacker who knows the cluster id:
//! for that, run the cluster on a private network or behind mutual TLS.
//!
//! # Example
//! ```
//! use ordo::transport::codec::ClusterId;
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

mod dial;
mod guard;
mod identity;
mod serve;

/// The code generated from `proto/ordo/transport/v1/transport.proto`: the
/// message types, a client and a server, for programs that speak the
/// protocol themselves (tools, tests, other languages' peers as reference).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("ordo.transport.v1");
}

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use ordo_core::{Message, NodeId};
use tokio::runtime::Handle;

use self::dial::GrpcConnector;
use self::serve::Service;
use super::codec::handshake::LocalIdentity;
use super::link::{Counters, LinkSettings, Links, NetworkConfigError, check_peer};
use super::{Inbox, NetworkConfig, Transport, TransportError, TransportStats};

/// Most messages in one `MessageBatch`.
const MAX_MESSAGES_PER_BATCH: usize = 4096;

/// What a batch may add to `max_frame_bytes` in protobuf framing: at most 6
/// bytes per message (a tag and a length) for [`MAX_MESSAGES_PER_BATCH`]
/// messages, rounded up.
const BATCH_OVERHEAD_BYTES: usize = 64 * 1024;

/// Raft messages over gRPC. Cheap to clone: clones share one transport.
#[derive(Clone)]
pub struct GrpcTransport {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<NetworkConfig>,
    identity: LocalIdentity,
    local_addr: SocketAddr,
    listener: Mutex<Option<std::net::TcpListener>>,
    links: Arc<Links<GrpcConnector>>,
}

impl GrpcTransport {
    /// Validates `config` and binds its listening address. Nothing is served
    /// or sent before [`Transport::start`].
    ///
    /// # Errors
    /// [`TransportError::Config`] for an invalid configuration (the message is
    /// a [`NetworkConfigError`]), [`TransportError::Io`] if the address cannot
    /// be bound.
    pub fn bind(config: NetworkConfig) -> Result<Self, TransportError> {
        config
            .validate()
            .map_err(|error| TransportError::Config(error.to_string()))?;
        let io_error = |context: &str, source| TransportError::Io {
            context: format!("{context} {}", config.listen_addr),
            source,
        };
        let listener = std::net::TcpListener::bind(config.listen_addr)
            .map_err(|source| io_error("binding", source))?;
        listener
            .set_nonblocking(true)
            .map_err(|source| io_error("configuring", source))?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| io_error("reading the address of", source))?;
        let identity = LocalIdentity {
            cluster_id: config.cluster_id.clone(),
            node_id: config.node_id,
        };
        let config = Arc::new(config);
        let counters = Arc::new(Counters::default());
        let connector = GrpcConnector {
            identity: identity.clone(),
            config: Arc::clone(&config),
            counters: Arc::clone(&counters),
        };
        let settings = LinkSettings {
            node_id: config.node_id,
            send_queue_messages: config.send_queue_messages,
            reconnect_backoff_min: config.reconnect_backoff_min,
            reconnect_backoff_max: config.reconnect_backoff_max,
        };
        let links = Arc::new(Links::new(connector, settings, counters));
        for (&peer, address) in &config.peers {
            links.add_peer(peer, address.clone());
        }
        Ok(GrpcTransport {
            inner: Arc::new(Inner {
                config,
                identity,
                local_addr,
                listener: Mutex::new(Some(listener)),
                links,
            }),
        })
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.identity.node_id
    }

    /// The configuration the transport runs with.
    pub fn config(&self) -> &NetworkConfig {
        &self.inner.config
    }

    /// Adds a peer (`host:port` of its gRPC server), or moves a known one.
    /// Works before and after start. Returns false if it was already there.
    ///
    /// # Errors
    /// [`NetworkConfigError::InvalidPeerId`] or
    /// [`NetworkConfigError::InvalidPeerAddress`].
    pub fn add_peer(
        &self,
        id: NodeId,
        address: impl Into<String>,
    ) -> Result<bool, NetworkConfigError> {
        let address = address.into();
        check_peer(self.inner.identity.node_id, id, &address)?;
        Ok(self.inner.links.add_peer(id, address))
    }

    /// Removes a peer: messages to it are dropped, its streams closed, and
    /// its new streams refused. Returns false if it was not a peer.
    pub fn remove_peer(&self, id: NodeId) -> bool {
        self.inner.links.remove_peer(id)
    }

    /// The current peers and their addresses, by id.
    pub fn peers(&self) -> Vec<(NodeId, String)> {
        self.inner.links.peers()
    }

    /// What the transport has done so far.
    pub fn stats(&self) -> TransportStats {
        self.inner.links.counters().snapshot()
    }

    /// Stops the transport and waits until its tasks have ended (the server
    /// gives its connections half a second to wind down).
    /// [`Transport::stop`] does the same without waiting; await this before
    /// binding the same address again in the same process.
    pub async fn shutdown(&self) {
        self.take_listener();
        self.inner.links.shutdown().await;
    }

    fn take_listener(&self) -> Option<std::net::TcpListener> {
        self.inner
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl Transport for GrpcTransport {
    fn start(&self, inbox: Inbox) -> Result<(), TransportError> {
        let handle = Handle::try_current().map_err(|_| {
            TransportError::Config(
                "GrpcTransport::start must be called within a Tokio runtime".into(),
            )
        })?;
        let listener = self.take_listener().ok_or_else(|| {
            TransportError::Config("the transport was already started or stopped".into())
        })?;
        let listener = {
            let _runtime = handle.enter();
            tokio::net::TcpListener::from_std(listener)
        }
        .map_err(|source| TransportError::Io {
            context: format!("listening on {}", self.inner.local_addr),
            source,
        })?;
        let links = &self.inner.links;
        links
            .start(inbox.clone(), handle)
            .map_err(|_| TransportError::Config("the transport was already started".into()))?;
        let service = Service {
            identity: self.inner.identity.clone(),
            config: Arc::clone(&self.inner.config),
            links: Arc::clone(links),
            inbox,
            limits: self.inner.config.decode_limits(),
        };
        links.spawn(service.run(listener));
        Ok(())
    }

    fn send(&self, message: Message) {
        self.inner.links.send(message);
    }

    fn stop(&self) {
        self.take_listener();
        self.inner.links.stop();
    }
}

impl std::fmt::Debug for GrpcTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcTransport")
            .field("node_id", &self.inner.identity.node_id)
            .field("cluster_id", &self.inner.identity.cluster_id)
            .field("local_addr", &self.inner.local_addr)
            .finish_non_exhaustive()
    }
}
