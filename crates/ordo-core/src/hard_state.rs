//! The state a node must never forget: its term and its vote.

use serde::{Deserialize, Serialize};

use crate::types::{NodeId, Term};

/// What must be durable before a node acts on it (Raft Figure 2, "persistent
/// state"; the log is persisted separately).
///
/// Invariant: for a given `term`, `voted_for` changes at most once, from `None`
/// to `Some`. Forgetting a vote after a crash could elect two leaders in one
/// term, so the core emits a vote only after the storage reported this state
/// durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: Term,
    /// The candidate this node voted for in `term`, if any.
    pub voted_for: Option<NodeId>,
}
