//! Message and byte counters of an in-process network, per directed link and
//! per message kind, and the [`TrafficStats`] snapshot users read.
//!
//! Bytes are what the message would take on the wire (its encoded length in
//! the TCP transport's frame format), so tests can reason about bandwidth
//! without a socket. Invariant: every message sent is counted once as sent
//! and then, per copy, once as delivered or dropped; a duplicate counts one
//! `duplicated` and one more delivery or drop.

use std::collections::{BTreeMap, HashMap};

use ordo_core::{MessageBody, NodeId};

/// The kind of a Raft message, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageKind {
    /// Pre-vote request.
    PreVote,
    /// Pre-vote answer.
    PreVoteResponse,
    /// Vote request.
    Vote,
    /// Vote answer.
    VoteResponse,
    /// AppendEntries, with or without entries.
    Append,
    /// AppendEntries answer.
    AppendResponse,
    /// Heartbeat.
    Heartbeat,
    /// Heartbeat answer.
    HeartbeatResponse,
    /// A follower's read-index request.
    ReadIndex,
    /// The leader's read-index answer.
    ReadIndexResponse,
    /// Leadership handed over: campaign now.
    TimeoutNow,
    /// A snapshot chunk.
    InstallSnapshot,
    /// A snapshot chunk's answer.
    InstallSnapshotResponse,
    /// "You were removed."
    Removed,
}

impl MessageKind {
    /// Every kind, in declaration order (`ALL[kind as usize] == kind`).
    pub const ALL: [MessageKind; 14] = [
        MessageKind::PreVote,
        MessageKind::PreVoteResponse,
        MessageKind::Vote,
        MessageKind::VoteResponse,
        MessageKind::Append,
        MessageKind::AppendResponse,
        MessageKind::Heartbeat,
        MessageKind::HeartbeatResponse,
        MessageKind::ReadIndex,
        MessageKind::ReadIndexResponse,
        MessageKind::TimeoutNow,
        MessageKind::InstallSnapshot,
        MessageKind::InstallSnapshotResponse,
        MessageKind::Removed,
    ];

    /// The kind of `body`.
    pub fn of(body: &MessageBody) -> Self {
        match body {
            MessageBody::PreVote(_) => MessageKind::PreVote,
            MessageBody::PreVoteResponse(_) => MessageKind::PreVoteResponse,
            MessageBody::Vote(_) => MessageKind::Vote,
            MessageBody::VoteResponse(_) => MessageKind::VoteResponse,
            MessageBody::Append(_) => MessageKind::Append,
            MessageBody::AppendResponse(_) => MessageKind::AppendResponse,
            MessageBody::Heartbeat(_) => MessageKind::Heartbeat,
            MessageBody::HeartbeatResponse(_) => MessageKind::HeartbeatResponse,
            MessageBody::ReadIndex(_) => MessageKind::ReadIndex,
            MessageBody::ReadIndexResponse(_) => MessageKind::ReadIndexResponse,
            MessageBody::TimeoutNow => MessageKind::TimeoutNow,
            MessageBody::InstallSnapshot(_) => MessageKind::InstallSnapshot,
            MessageBody::InstallSnapshotResponse(_) => MessageKind::InstallSnapshotResponse,
            MessageBody::Removed(_) => MessageKind::Removed,
        }
    }
}

/// Counts of one link, one kind, or the whole network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Messages handed to the network by their sender.
    pub sent: u64,
    /// Wire bytes of the messages sent.
    pub sent_bytes: u64,
    /// Copies handed to their receiver's inbox.
    pub delivered: u64,
    /// Copies lost: to a fault, a full inbox, or a stopped receiver.
    pub dropped: u64,
    /// Messages the network sent twice.
    pub duplicated: u64,
}

/// A snapshot of an in-process network's counters since it was created (or
/// last [reset](super::InProcessNetwork::reset_traffic)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrafficStats {
    /// Every message.
    pub total: Traffic,
    /// Per directed link, keyed by (from, to).
    pub links: BTreeMap<(NodeId, NodeId), Traffic>,
    /// Per message kind.
    pub kinds: BTreeMap<MessageKind, Traffic>,
}

impl TrafficStats {
    /// The counts of the link from `from` to `to` (zero if it saw nothing).
    pub fn link(&self, from: NodeId, to: NodeId) -> Traffic {
        self.links.get(&(from, to)).copied().unwrap_or_default()
    }

    /// The counts of messages of `kind` (zero if none was sent).
    pub fn kind(&self, kind: MessageKind) -> Traffic {
        self.kinds.get(&kind).copied().unwrap_or_default()
    }
}

/// What happened to one message (or copy).
#[derive(Clone, Copy, Debug)]
pub(super) enum Outcome {
    Sent { bytes: u64 },
    Duplicated,
    Delivered,
    Dropped,
}

impl Traffic {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Sent { bytes } => {
                self.sent += 1;
                self.sent_bytes += bytes;
            }
            Outcome::Duplicated => self.duplicated += 1,
            Outcome::Delivered => self.delivered += 1,
            Outcome::Dropped => self.dropped += 1,
        }
    }
}

/// The live counters, laid out for the send path (a hash lookup and an
/// array slot, under one lock per send); [`TrafficStats`] is their sorted
/// snapshot.
#[derive(Debug, Default)]
pub(super) struct Counters {
    total: Traffic,
    links: HashMap<(NodeId, NodeId), Traffic>,
    kinds: [Traffic; MessageKind::ALL.len()],
}

impl Counters {
    /// Counts `outcomes` of one message from `from` to `to`.
    pub(super) fn record(
        &mut self,
        from: NodeId,
        to: NodeId,
        kind: MessageKind,
        outcomes: &[Outcome],
    ) {
        let link = self.links.entry((from, to)).or_default();
        for &outcome in outcomes {
            self.total.add(outcome);
            link.add(outcome);
            self.kinds[kind as usize].add(outcome);
        }
    }

    pub(super) fn snapshot(&self) -> TrafficStats {
        TrafficStats {
            total: self.total,
            links: self
                .links
                .iter()
                .map(|(&link, &traffic)| (link, traffic))
                .collect(),
            kinds: MessageKind::ALL
                .into_iter()
                .zip(self.kinds)
                .filter(|(_, traffic)| *traffic != Traffic::default())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_indexes_its_own_slot() {
        for (slot, kind) in MessageKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, slot);
        }
    }
}
