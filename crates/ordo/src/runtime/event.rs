//! [`Event`]: what a node tells its subscribers, and the stream that carries it.

use ordo_core::{Index, Membership, NodeId, Role, Term};
use tokio::sync::broadcast;

use crate::runtime::error::RaftError;

/// Something that happened on one node. Subscribe with
/// [`RaftNode::events`](crate::RaftNode::events).
///
/// Leader information is never stale: [`Event::LeaderElected`] names the
/// leader *of the term it carries*, reported by the consensus task at the
/// moment it learned it (a leader's message in that term, or its own
/// election). A node that restarts knows no leader until it hears from one,
/// whatever leader it knew before; a term change without a known leader is
/// reported as [`Event::LeaderLost`].
#[derive(Clone, Debug)]
pub enum Event {
    /// The node's role changed.
    RoleChanged {
        /// The role before.
        previous: Role,
        /// The role now.
        current: Role,
        /// The term the node is in now.
        term: Term,
    },
    /// `leader` leads `term`, as far as this node now knows.
    LeaderElected {
        /// The leader.
        leader: NodeId,
        /// Its term.
        term: Term,
    },
    /// The node knows no leader any more (in `term`).
    LeaderLost {
        /// The node's term now.
        term: Term,
    },
    /// The configuration in force changed (a configuration entry was
    /// appended, or truncated away). It takes effect at once, committed or not.
    MembershipChanged {
        /// Voters, learners, and during a joint change the outgoing voters.
        membership: Membership,
    },
    /// What this node knows about its members' addresses and labels changed:
    /// an entry carrying them, a configuration change or a snapshot was
    /// applied ([`RaftNode::member_infos`](crate::RaftNode::member_infos)).
    MemberInfoChanged {
        /// Every node's information, as it is now known here.
        members: std::collections::BTreeMap<NodeId, crate::MemberInfo>,
    },
    /// Entries up to `last_index` are durable in this node's log.
    EntriesAppended {
        /// The last index written.
        last_index: Index,
    },
    /// Entries up to `commit_index` are known committed (and durable here),
    /// and were handed to the state machine.
    EntriesCommitted {
        /// The highest committed index handed out.
        commit_index: Index,
    },
    /// The state machine applied every entry up to `applied_index`.
    EntriesApplied {
        /// The highest applied index.
        applied_index: Index,
    },
    /// A state machine snapshot covering entries up to `last_index` is durable.
    SnapshotTaken {
        /// The last index it covers.
        last_index: Index,
    },
    /// A snapshot received from the leader, covering entries up to
    /// `last_index`, replaced this node's state machine and log.
    SnapshotInstalled {
        /// The last index it covers.
        last_index: Index,
    },
    /// The node hit an error. Fatal errors ([`RaftError::Storage`],
    /// [`RaftError::Fatal`]) stop it; it reports them here before stopping.
    Error {
        /// What went wrong.
        error: RaftError,
    },
}

/// A subscription to a node's events.
///
/// Bounded ([`RaftConfig::event_capacity`](crate::RaftConfig::event_capacity)):
/// a subscriber that falls behind skips the oldest events and learns how many
/// from [`EventStream::recv`]. Entry events are coalesced (one per batch), so
/// the stream keeps up with any proposal rate.
#[derive(Debug)]
pub struct EventStream {
    receiver: broadcast::Receiver<Event>,
}

/// Why [`EventStream::recv`] returned no event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventStreamError {
    /// The subscriber fell behind; this many events were skipped. Receiving
    /// again continues with the oldest event still held.
    #[error("the subscriber fell behind and skipped {0} events")]
    Lagged(u64),
    /// The node stopped; no more events will come.
    #[error("the node stopped")]
    Closed,
}

impl EventStream {
    pub(crate) fn new(receiver: broadcast::Receiver<Event>) -> Self {
        EventStream { receiver }
    }

    /// A stream that has ended (the node stopped).
    pub(crate) fn closed() -> Self {
        let (_, receiver) = broadcast::channel(1);
        EventStream { receiver }
    }

    /// Waits for the next event.
    ///
    /// # Errors
    /// [`EventStreamError::Lagged`] after falling behind,
    /// [`EventStreamError::Closed`] once the node stopped and every event was read.
    pub async fn recv(&mut self) -> Result<Event, EventStreamError> {
        self.receiver.recv().await.map_err(|error| match error {
            broadcast::error::RecvError::Lagged(skipped) => EventStreamError::Lagged(skipped),
            broadcast::error::RecvError::Closed => EventStreamError::Closed,
        })
    }

    /// The next event if one is waiting.
    ///
    /// # Errors
    /// As [`recv`](Self::recv), with `Ok(None)` when no event is waiting.
    pub fn try_recv(&mut self) -> Result<Option<Event>, EventStreamError> {
        match self.receiver.try_recv() {
            Ok(event) => Ok(Some(event)),
            Err(broadcast::error::TryRecvError::Empty) => Ok(None),
            Err(broadcast::error::TryRecvError::Lagged(skipped)) => {
                Err(EventStreamError::Lagged(skipped))
            }
            Err(broadcast::error::TryRecvError::Closed) => Err(EventStreamError::Closed),
        }
    }
}

/// The sending side, shared by the node's tasks. Sends nothing when nobody
/// listens, so a node without subscribers pays nothing per batch.
#[derive(Clone, Debug)]
pub(crate) struct EventSender {
    sender: broadcast::Sender<Event>,
}

impl EventSender {
    pub(crate) fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        EventSender { sender }
    }

    pub(crate) fn subscribe(&self) -> EventStream {
        EventStream::new(self.sender.subscribe())
    }

    pub(crate) fn send(&self, event: Event) {
        if self.sender.receiver_count() > 0 {
            // An error only means every subscriber left meanwhile.
            let _ = self.sender.send(event);
        }
    }

    pub(crate) fn send_with(&self, event: impl FnOnce() -> Event) {
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(event());
        }
    }
}
