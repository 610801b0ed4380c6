//! [`TcpTransport`]: Raft messages over TCP, one listener per node and one
//! outbound connection per peer. The peer table, queues, reconnection and
//! counters are [`NetworkTransport`]'s; this module is the [`TcpWire`]: the
//! frames, the handshake over them, and the accept loop.
//!
//! # Wire format
//! Every connection carries frames: a 4-byte big-endian length, then that
//! many bytes (a length of 0 is a keepalive). The dialer opens with a
//! [`Hello`](crate::transport::codec::handshake::Hello) frame naming its
//! cluster, its node id, the node it means to reach and the protocol versions
//! it speaks; the acceptor answers with a `Welcome` (its own identity and the
//! version chosen) or a `Refusal` and closes. Both sides check the other's
//! cluster id and node id (see [`codec::handshake`](crate::transport::codec::handshake)).
//! After that, frames flow one way only, dialer to acceptor, each holding one
//! message in the [`codec`](crate::transport::codec) encoding. So a pair of
//! nodes uses two connections, each direction dialed by its sender — which
//! keeps reconnection simple: each node is in charge of its own sends.
//!
//! # What is checked, and what happens
//! | On an inbound connection | Then |
//! |---|---|
//! | no complete handshake within `handshake_timeout` (slow loris) | closed |
//! | more than `max_pending_handshakes` unfinished handshakes | new ones closed at once |
//! | with peer TLS: no TLS, no certificate, one from another CA or cluster | closed during the TLS handshake |
//! | with peer TLS: a hello claiming a node its certificate does not name | refused, closed |
//! | garbage, or a handshake frame over 512 bytes | refused, closed |
//! | another cluster id / no common version / unknown node / not addressed to us | refused, closed |
//! | a frame over `max_frame_bytes` | closed before reading it |
//! | a frame that does not decode | closed |
//! | a message whose `from` is not the handshake's node, or `to` not this node | closed |
//! | the stream ends inside a frame | closed |
//! | nothing, not even a keepalive, for `idle_timeout` | closed |
//!
//! Each closing is logged (tracing, at `error` for a bad frame, `warn` for a
//! refused handshake) and counted in [`TcpTransport::stats`] (a refusal in
//! `handshakes_refused` and in the `refused_*` counter of its reason); no
//! other connection is affected, and nothing panics. A refused caller is told
//! only that it was refused ([`Refusal::withheld`](crate::transport::codec::handshake::Refusal::withheld)),
//! never why: the reason would tell a stranger the cluster id or node ids.
//!
//! # TLS
//! With [`NetworkConfig::peer_tls`](crate::transport::NetworkConfig::peer_tls),
//! every connection is mutual TLS 1.3 before the hello, and each side checks
//! the other's certificate names the node it claims or dialed (see
//! [`tls`](crate::transport::tls)).
//!
//! # Sending
//! [`Transport::send`](crate::transport::Transport::send) puts the message on its peer's bounded queue and
//! returns; a full queue drops the message. Each peer's dialer task drains
//! its queue into batches — everything queued, up to `write_batch_bytes` —
//! written with one vectored write, large payloads by reference. When a peer
//! cannot be reached the dialer reports it to the node's
//! [`Inbox::unreachable`](crate::transport::Inbox::unreachable), drops what is queued, and retries after an
//! exponential, jittered back-off (`reconnect_backoff_min` doubling up to
//! `reconnect_backoff_max`).
//!
//! # Receiving
//! Each authenticated inbound connection has a task that reads frames,
//! decodes and checks them, and hands them to
//! [`Inbox::deliver_waiting`](crate::transport::Inbox::deliver_waiting): when the node falls behind, reading pauses and
//! TCP flow control slows the sender, instead of memory growing. A peer that
//! reconnects supersedes its older connection.
//!
//! # Example
//! ```
//! use ordo::transport::ClusterId;
//! use ordo::transport::NetworkConfig;
//! use ordo::transport::tcp::TcpTransport;
//! use ordo::transport::{Inbound, Inbox, Transport};
//! use ordo_core::{Message, MessageBody, VoteResponse};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = ClusterId::new("example")?;
//! let any_port = "127.0.0.1:0".parse()?;
//! let one = TcpTransport::bind(NetworkConfig::new(cluster.clone(), 1, any_port))?;
//! let two = TcpTransport::bind(NetworkConfig::new(cluster, 2, any_port))?;
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
pub(crate) mod io;
mod stream;

pub use self::dial::TcpWire;
use super::network::NetworkTransport;

/// Raft messages over TCP: a [`NetworkTransport`] speaking [`TcpWire`]. Cheap
/// to clone: clones share one transport (keep one to add and remove peers
/// while a node owns another).
pub type TcpTransport = NetworkTransport<TcpWire>;
