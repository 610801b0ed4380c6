//! What a node can tell about itself: its role and, in detail, its progress.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::{Index, NodeId, Term};

/// The four roles of a Raft node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asking peers whether it could win an election, without bumping the term.
    PreCandidate,
    /// Campaigning in a new term.
    Candidate,
    /// Leads the current term.
    Leader,
}

/// The volatile state worth reporting when it changes: role, term and leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftState {
    /// The node's role.
    pub role: Role,
    /// The node's current term.
    pub term: Term,
    /// The leader of `term` as far as this node knows.
    pub leader: Option<NodeId>,
}

/// A snapshot of a node's state, for metrics, tests and debugging.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// This node.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its term.
    pub term: Term,
    /// Its vote in `term`.
    pub voted_for: Option<NodeId>,
    /// The leader it knows of.
    pub leader: Option<NodeId>,
    /// Last index in its log, durable or not.
    pub last_index: Index,
    /// Last index durable on its disk.
    pub durable_index: Index,
    /// Highest index it knows committed.
    pub commit_index: Index,
    /// Highest index its state machine reported applied.
    pub applied_index: Index,
    /// On a leader, every member's replication progress (itself included).
    pub progress: BTreeMap<NodeId, PeerProgress>,
    /// Responses waiting for a write to become durable.
    pub held_messages: usize,
    /// Messages dropped because no correct peer could have sent them
    /// (malformed, or contradicting committed entries). Anything above zero
    /// means a peer is broken or hostile: alert on it.
    pub protocol_violations: u64,
    /// Reads waiting for confirmation (on a leader) or for the leader's answer.
    pub pending_reads: usize,
    /// On a leader handing leadership over, the node taking over.
    pub transferring_to: Option<NodeId>,
    /// Messages refused because their term was too far ahead of this node's
    /// or at the term cap (see [`Config::max_term_jump`](crate::Config::max_term_jump)).
    /// Only forged or corrupted messages carry such terms: alert on it.
    pub refused_term_messages: u64,
    /// Snapshot chunks refused because their snapshot is larger than
    /// [`Config::max_snapshot_bytes`](crate::Config::max_snapshot_bytes).
    pub refused_snapshot_chunks: u64,
    /// While `Some(i)`: this node's storage may have lost entries it had
    /// acknowledged, up to index `i`, so it neither votes nor campaigns until
    /// its durable log reaches `i` again (see [`Raft::begin_repair`](crate::Raft::begin_repair)).
    pub repair_point: Option<Index>,
    /// This node was a member and knows that a committed configuration
    /// leaves it out: it was removed from the group and will not campaign
    /// again. An operator can stop it.
    pub removed: bool,
}

/// One member's replication progress, as the leader sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerProgress {
    /// Highest index known replicated there.
    pub match_index: Index,
    /// Next index to send.
    pub next_index: Index,
    /// True while streaming; false while probing for the match point.
    pub replicating: bool,
    /// Appends in flight.
    pub inflight_messages: usize,
}
