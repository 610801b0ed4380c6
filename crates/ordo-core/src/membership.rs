//! Who belongs to the group: voters (possibly a joint configuration) and learners.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::types::NodeId;

/// The members of a Raft group.
///
/// Invariants: a node is never both a voter and a learner; `outgoing_voters` is
/// empty except while a joint-consensus change (C_old,new) is in progress, during
/// which every decision needs a majority of `voters` *and* of `outgoing_voters`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// Voters of the (incoming) configuration.
    pub voters: BTreeSet<NodeId>,
    /// Voters of the outgoing configuration during a joint change; else empty.
    #[serde(default)]
    pub outgoing_voters: BTreeSet<NodeId>,
    /// Members that receive the log but never vote or count toward a quorum.
    #[serde(default)]
    pub learners: BTreeSet<NodeId>,
}

impl Membership {
    /// A plain configuration of `voters` and no learners.
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> Self {
        Membership {
            voters: voters.into_iter().collect(),
            ..Membership::default()
        }
    }

    /// True if `id` votes in either half of the configuration.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.outgoing_voters.contains(&id)
    }

    /// Every member, voters of both halves and learners, in id order, once each.
    pub fn members(&self) -> BTreeSet<NodeId> {
        let mut all = self.voters.clone();
        all.extend(&self.outgoing_voters);
        all.extend(&self.learners);
        all
    }
}
