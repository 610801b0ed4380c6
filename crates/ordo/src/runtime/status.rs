//! [`NodeStatus`]: a node's state for metrics, tests and operators.

use std::collections::BTreeMap;

use ordo_core::{Index, Membership, NodeId, PeerProgress, Role, Term};

/// Where a node is, as [`RaftNode::status`](crate::RaftNode::status) sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    /// This node.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its term.
    pub term: Term,
    /// The leader of `term`, if known.
    pub leader: Option<NodeId>,
    /// Last index in its log, durable or not.
    pub last_log_index: Index,
    /// Last index durable on its storage.
    pub durable_index: Index,
    /// Highest index it knows committed.
    pub commit_index: Index,
    /// Highest index its state machine applied.
    pub applied_index: Index,
    /// On a leader, every member's replication progress (itself included);
    /// empty elsewhere.
    pub peers: BTreeMap<NodeId, PeerProgress>,
    /// The configuration this node follows (the newest in its log, in force
    /// whether committed or not).
    pub membership: Membership,
    /// Proposals accepted and not yet answered.
    pub pending_proposals: usize,
    /// Reads accepted and not yet answered.
    pub pending_reads: usize,
    /// Payload bytes handed to storage or the state machine and not finished.
    pub backlog_bytes: u64,
    /// Messages refused at the node's entrance (for another node, from
    /// itself or node 0, malformed) or dropped by the core as impossible. Anything
    /// above zero means a broken or hostile peer or transport: alert on it.
    pub rejected_messages: u64,
    /// Append messages dropped because the node was over its backlog limit.
    pub shed_appends: u64,
    /// Snapshot builds that failed (a full disk, no file descriptors...).
    /// The node keeps running on its log and retries with back-off; the
    /// first failure of each kind is also an [`Event::Error`](crate::Event::Error).
    pub snapshot_failures: u64,
    /// While `Some(i)`: this node's storage may have lost entries it had
    /// acknowledged, up to index `i`, and the node neither votes nor
    /// campaigns until its durable log reaches `i` again (copied from a
    /// leader). It cannot vouch for its state meanwhile: a health check
    /// should report it unavailable.
    pub repair_point: Option<Index>,
    /// This node was a member and knows a committed configuration leaves it
    /// out: it was removed from the cluster and never campaigns again. A
    /// health check should say so; an operator can stop it.
    pub removed: bool,
    /// What the consensus core did since the node started.
    pub metrics: ConsensusMetrics,
}

/// Counters of what the consensus core did since the node started, for
/// metrics exporters. Each also has a log line per occurrence (refused
/// messages: at most one line per second, with the count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsensusMetrics {
    /// Elections this node started (pre-vote rounds included): on an
    /// election timeout, a leadership transfer, or on request.
    pub elections_started: u64,
    /// Pre-vote rounds this node lost (a quorum would not have voted for it).
    pub pre_vote_rejections: u64,
    /// Times this node became leader.
    pub times_became_leader: u64,
    /// Times the leader this node knows of changed (to another node or to
    /// none), itself included.
    pub leader_changes: u64,
    /// Times this node's term rose.
    pub term_changes: u64,
    /// Times this node stopped leading (quorum lost, removed, a higher term,
    /// or a repair).
    pub step_downs: u64,
    /// Followers found, while this node led, with a log ending before
    /// entries they had acknowledged (their storage lost them).
    pub follower_logs_went_back: u64,
    /// Peer messages refused because their term was too far ahead or at the
    /// cap ([`RaftConfig::max_term_jump`](crate::RaftConfig::max_term_jump)).
    /// Only forged or corrupted messages carry such terms: alert on it.
    pub refused_term_messages: u64,
    /// Snapshots refused because they are larger than
    /// [`RaftConfig::max_snapshot_bytes`](crate::RaftConfig::max_snapshot_bytes)
    /// (each once, however often the leader resends it). Rising: this node
    /// is behind and cannot catch up until the limit is raised.
    pub refused_snapshots: u64,
}
