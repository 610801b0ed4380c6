//! What every wire does with a received message before the node sees it:
//! decode it within the limits, check that it comes from the connection's
//! authenticated peer and is addressed to this node, drop it if the peer was
//! removed meanwhile, and hand it over — waiting while the node's inbox is
//! full, so a slow node slows its senders instead of growing memory.

use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use ordo_core::NodeId;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

use super::Counters;
use crate::transport::codec::{self, DecodeError, DecodeLimits};
use crate::transport::{Delivered, Inbox};

/// Why a received message closes its connection.
#[derive(Debug, Error)]
pub(crate) enum Refused {
    /// The bytes are not a message (or exceed the decoding limits).
    #[error("undecodable message: {0}")]
    Malformed(#[from] DecodeError),
    /// The message names another sender than the authenticated peer.
    #[error("a message claims to come from node {claimed} on node {peer}'s connection")]
    ForgedSender {
        /// Who the message says sent it.
        claimed: NodeId,
        /// Who the connection authenticated.
        peer: NodeId,
    },
    /// The message is for another node.
    #[error("a message is addressed to node {to}, not to this node")]
    Misaddressed {
        /// The node it is addressed to.
        to: NodeId,
    },
}

impl Refused {
    /// The counter of inbound connections closed for this reason.
    pub(crate) fn counter<'a>(&self, counters: &'a Counters) -> &'a AtomicU64 {
        match self {
            Refused::Malformed(_) => &counters.closed_malformed,
            Refused::ForgedSender { .. } | Refused::Misaddressed { .. } => &counters.closed_forged,
        }
    }
}

/// Whether the connection goes on reading after a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterDelivery {
    /// Read the next message.
    Continue,
    /// End quietly: the peer was removed or the node stopped.
    Stop,
}

/// One authenticated inbound connection's way to its node.
pub(crate) struct InboundLink<'a> {
    /// The peer the handshake authenticated.
    pub(crate) peer: NodeId,
    /// This node.
    pub(crate) node_id: NodeId,
    /// Limits on what one message may hold.
    pub(crate) limits: &'a DecodeLimits,
    /// Cancelled when the connection must close (the peer was removed).
    pub(crate) closed: &'a CancellationToken,
    /// The node's entrance.
    pub(crate) inbox: &'a Inbox,
    /// Where `messages_received` is counted.
    pub(crate) counters: &'a Counters,
}

impl InboundLink<'_> {
    /// Decodes and checks `encoded`, then hands the message to the node.
    ///
    /// # Errors
    /// [`Refused`] if the message must close the connection.
    pub(crate) async fn deliver(&self, encoded: &Bytes) -> Result<AfterDelivery, Refused> {
        let message = codec::decode(encoded, self.limits)?;
        if message.from != self.peer {
            return Err(Refused::ForgedSender {
                claimed: message.from,
                peer: self.peer,
            });
        }
        if message.to != self.node_id {
            return Err(Refused::Misaddressed { to: message.to });
        }
        // Checked before each delivery: a message already read when the peer
        // is removed must not reach the node after `remove_peer` returned.
        if self.closed.is_cancelled() {
            return Ok(AfterDelivery::Stop);
        }
        Counters::bump(&self.counters.messages_received);
        match self.inbox.deliver_waiting(message).await {
            Delivered::DroppedClosed => Ok(AfterDelivery::Stop),
            Delivered::Queued | Delivered::DroppedFull => Ok(AfterDelivery::Continue),
        }
    }
}
