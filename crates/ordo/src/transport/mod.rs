//! How nodes reach each other: the [`Transport`] trait and the [`Inbox`]
//! through which a transport hands arriving messages to its node.
//!
//! Raft tolerates loss, delay, duplication and reordering of messages, so a
//! transport only has to be *best effort* — and must never block the node:
//! [`Transport::send`] queues and returns at once, and a full queue drops.
//! What a transport must get right is identity (a message claiming to come
//! from node 2 of cluster X really does) and bounds (no unbounded queues, no
//! unbounded frames).
//!
//! Implementations: [`InProcessTransport`] (channels, with fault injection,
//! for tests and benchmarks) and, between processes, one [`NetworkTransport`]
//! generic over its [`Wire`]: [`TcpTransport`](tcp::TcpTransport)
//! (length-prefixed frames over TCP) and a gRPC transport behind the `grpc`
//! feature. Users can write their own from this module alone (it re-exports
//! the core's [`Message`] and its body types), and check it
//! with the [`conformance`] suite every transport here passes.

// The wire format: not API (see its module docs), public only so tests can
// forge and inspect bytes.
mod cluster_id;
#[doc(hidden)]
pub mod codec;
pub mod conformance;
#[cfg(feature = "grpc")]
pub mod grpc;
mod in_process;
mod link;
mod network;
pub mod tcp;
pub mod tls;

pub use cluster_id::{CLUSTER_ID_MAX_BYTES, ClusterId, ClusterIdError};
// Raft's messages, which a transport carries: ordo-core's types, re-exported
// so that a transport (or a test forging messages) depends on `ordo` alone.
// A transport that moves messages whole needs only `Message`; one that
// encodes them itself needs every body type, and matches `MessageBody`
// without a wildcard so that a new kind does not compile until handled.
pub use in_process::{
    DELAYED_MESSAGES_MAX, InProcessNetwork, InProcessTransport, LinkFaults, MessageKind,
    NetworkStats, Traffic, TrafficStats,
};
pub use link::{DEFAULT_MAX_FRAME_BYTES, NetworkConfig, NetworkConfigError, TransportStats, Wire};
pub use network::NetworkTransport;
pub use ordo_core::{
    AppendRequest, AppendResponse, Heartbeat, HeartbeatResponse, InstallSnapshotRequest,
    InstallSnapshotResponse, Message, MessageBody, ReadIndexRequest, ReadIndexResponse,
    RemovalNotice, SnapshotContent, VoteRequest, VoteResponse,
};

use ordo_core::NodeId;
use thiserror::Error;
use tokio::sync::mpsc;

/// Carries one node's messages to its peers, and its peers' messages to it.
///
/// # Contract
/// - [`Transport::start`] is called once, from within a Tokio runtime, before
///   any `send`; the transport spawns whatever tasks it needs and hands every
///   message that arrives for this node to `inbox`.
/// - [`Transport::send`] never blocks or awaits. Delivery is best effort: a
///   message may be dropped (say, when a bounded queue is full or the peer is
///   down). When a peer cannot be reached, call [`Inbox::unreachable`] so the
///   leader stops streaming to it and probes instead.
/// - Messages are delivered only to the node they are addressed to, and only
///   from a sender whose identity the transport has established.
/// - [`Transport::stop`] releases sockets and tasks; sends after it are dropped.
pub trait Transport: Send + Sync + 'static {
    /// Starts delivering arriving messages to `inbox`.
    ///
    /// # Errors
    /// [`TransportError`] if the transport cannot start (say, its listening
    /// address is taken).
    fn start(&self, inbox: Inbox) -> Result<(), TransportError>;

    /// Queues `message` for `message.to`. Never blocks.
    fn send(&self, message: Message);

    /// Stops the transport.
    fn stop(&self);

    /// The node learned where `peer` is reached, from its log as appended or
    /// its configuration: `Some(address)` (a
    /// [`MemberInfo::peer_address`](crate::MemberInfo::peer_address)) when
    /// the peer joined or moved, `None` when it left the configuration the
    /// core uses (ten election timeouts later: a departed member keeps its
    /// link to hear of its removal) or the entry that gave its only address
    /// was truncated. The runtime calls it from its consensus task, so it
    /// must not block.
    ///
    /// The default ignores it, for transports that need no addresses (the
    /// in-process one) or keep their own. [`NetworkTransport`] adds, moves and
    /// removes the peer, so an application never copies addresses into it.
    ///
    /// # Errors
    /// [`TransportError::Config`] if the address is unusable; the runtime
    /// logs it and carries on (messages to that peer are dropped).
    fn update_peer(&self, peer: NodeId, address: Option<&str>) -> Result<(), TransportError> {
        let _ = (peer, address);
        Ok(())
    }
}

/// Why a transport failed to start or lost a peer.
#[derive(Debug, Error)]
pub enum TransportError {
    /// A socket could not be bound or opened.
    #[error("transport I/O failed at {context}: {source}")]
    Io {
        /// What the transport was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is unusable (an unknown peer, a zero limit...).
    #[error("invalid transport configuration: {0}")]
    Config(String),
}

/// What a transport can tell its node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A message for this node.
    Message(Message),
    /// `peer` could not be reached; messages to it were lost.
    Unreachable(NodeId),
}

/// The node's entrance for messages from its transport. Cheap to clone; one
/// per connection task is fine. Bounded: when the node falls behind, arriving
/// messages are dropped rather than queued without limit.
#[derive(Clone, Debug)]
pub struct Inbox {
    sender: mpsc::Sender<Inbound>,
}

/// The node side of an [`Inbox`].
pub type InboxReceiver = mpsc::Receiver<Inbound>;

/// What became of a message handed to an [`Inbox`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// Queued for the node.
    Queued,
    /// Dropped: the node's queue is full (it will recover through Raft's
    /// retransmission).
    DroppedFull,
    /// Dropped: the node has stopped.
    DroppedClosed,
}

impl Inbox {
    /// An inbox holding at most `capacity` undelivered messages, and its
    /// receiving end for the node.
    pub fn bounded(capacity: usize) -> (Inbox, InboxReceiver) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (Inbox { sender }, receiver)
    }

    /// Hands a message to the node without waiting.
    pub fn deliver(&self, message: Message) -> Delivered {
        self.offer(Inbound::Message(message))
    }

    /// Hands a message to the node, waiting while its queue is full. Use it
    /// from a connection's reading task to push back on a fast sender
    /// instead of dropping (TCP flow control then slows the sender).
    pub async fn deliver_waiting(&self, message: Message) -> Delivered {
        match self.sender.send(Inbound::Message(message)).await {
            Ok(()) => Delivered::Queued,
            Err(_) => Delivered::DroppedClosed,
        }
    }

    /// Reports that `peer` could not be reached.
    pub fn unreachable(&self, peer: NodeId) -> Delivered {
        self.offer(Inbound::Unreachable(peer))
    }

    fn offer(&self, inbound: Inbound) -> Delivered {
        match self.sender.try_send(inbound) {
            Ok(()) => Delivered::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => Delivered::DroppedFull,
            Err(mpsc::error::TrySendError::Closed(_)) => Delivered::DroppedClosed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ordo_core::{MessageBody, VoteResponse};

    fn message() -> Message {
        Message {
            from: 2,
            to: 1,
            term: 1,
            body: MessageBody::VoteResponse(VoteResponse { granted: true }),
        }
    }

    #[test]
    fn a_full_inbox_drops_instead_of_growing() {
        let (inbox, mut receiver) = Inbox::bounded(1);
        assert_eq!(inbox.deliver(message()), Delivered::Queued);
        assert_eq!(inbox.deliver(message()), Delivered::DroppedFull);
        assert_eq!(receiver.try_recv().ok(), Some(Inbound::Message(message())));
        drop(receiver);
        assert_eq!(inbox.unreachable(3), Delivered::DroppedClosed);
    }
}
