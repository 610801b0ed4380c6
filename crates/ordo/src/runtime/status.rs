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
}
