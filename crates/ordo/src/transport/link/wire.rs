//! [`Wire`]: the part of a network transport that differs per protocol —
//! how to dial a peer and prove who answered, how to frame and send a
//! queue of messages, and how to accept and check what arrives. Everything
//! else (peer table, queues, reconnection, counters, shutdown) is
//! [`NetworkTransport`](crate::transport::NetworkTransport)'s, once.
//!
//! A wire keeps the handshake's two checks on both sides: the other end
//! belongs to our cluster, and is the node we meant to reach (dialing) or a
//! known peer addressed to us (accepting). Peer TLS is a wire concern too:
//! every wire wraps the socket in it before the handshake when
//! [`NetworkConfig::peer_tls`] is set.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use ordo_core::{Message, NodeId};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::{Counters, Links, NetworkConfig};
use crate::transport::Inbox;
use crate::transport::codec::handshake::LocalIdentity;

/// How one protocol dials, frames, sends and accepts. Implemented by
/// [`TcpWire`](crate::transport::tcp::TcpWire) and, with the `grpc` feature,
/// `GrpcWire`; the trait is sealed (its methods name types private to
/// `ordo`), so a [`NetworkTransport`](crate::transport::NetworkTransport)
/// speaks only the wires Ordo ships. Write a [`Transport`](crate::transport::Transport)
/// for anything else.
pub trait Wire: Sized + Send + Sync + 'static {
    /// The transport's name in logs, errors and `Debug` output.
    #[doc(hidden)]
    const TRANSPORT_NAME: &'static str;
    /// An open, authenticated connection to one peer.
    #[doc(hidden)]
    type Connection: Send + 'static;
    /// Why connecting or streaming failed (for the log).
    #[doc(hidden)]
    type Error: fmt::Display + Send + 'static;

    /// The wire of the node `identity`, with `config`'s limits, reporting to
    /// `counters`.
    #[doc(hidden)]
    fn new(identity: LocalIdentity, config: Arc<NetworkConfig>, counters: Arc<Counters>) -> Self;

    /// Opens a connection to `peer` at `address` and completes the handshake.
    #[doc(hidden)]
    fn connect(
        &self,
        peer: NodeId,
        address: &str,
    ) -> impl Future<Output = Result<Self::Connection, Self::Error>> + Send;

    /// Sends what arrives on `queue` over `connection` until the connection
    /// fails or the queue closes. Dropping the future closes the connection.
    #[doc(hidden)]
    fn stream<'a>(
        &'a self,
        connection: Self::Connection,
        queue: &'a mut mpsc::Receiver<Message>,
    ) -> impl Future<Output = StreamEnd<Self::Error>> + Send + 'a;

    /// Accepts connections on `listener` until `links` is cancelled, checks
    /// each caller's handshake against `links`' peers and every message it
    /// sends, and hands the messages to `inbox`.
    #[doc(hidden)]
    fn serve(
        &self,
        listener: TcpListener,
        links: Arc<Links<Self>>,
        inbox: Inbox,
    ) -> impl Future<Output = ()> + Send + 'static;
}

/// Why [`Wire::stream`] returned.
#[derive(Debug)]
pub enum StreamEnd<E> {
    /// The peer was removed (its queue closed): stop for good.
    QueueClosed,
    /// The connection failed: reconnect.
    Lost(E),
}
