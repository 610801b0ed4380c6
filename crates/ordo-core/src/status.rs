//! What a node can tell about itself: its role and, in detail, its progress.

use serde::{Deserialize, Serialize};

use crate::types::{NodeId, Term};

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
