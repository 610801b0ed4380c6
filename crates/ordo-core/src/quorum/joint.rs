//! A joint configuration: two majorities that must both agree.

use std::collections::BTreeSet;

use crate::membership::Membership;
use crate::quorum::{MajorityConfig, VoteResult};
use crate::types::{Index, NodeId};

/// The incoming and outgoing majority configurations of a membership change
/// (Raft dissertation §4.3). Outside a change, `outgoing` is empty and places
/// no constraint, so a plain configuration is the joint configuration with an
/// empty second half.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JointConfig {
    incoming: MajorityConfig,
    outgoing: MajorityConfig,
}

impl JointConfig {
    /// The voting configuration of `membership`.
    pub fn from_membership(membership: &Membership) -> Self {
        JointConfig {
            incoming: MajorityConfig::new(membership.voters.clone()),
            outgoing: MajorityConfig::new(membership.outgoing_voters.clone()),
        }
    }

    /// A plain (non-joint) configuration.
    pub fn plain(voters: BTreeSet<NodeId>) -> Self {
        JointConfig {
            incoming: MajorityConfig::new(voters),
            outgoing: MajorityConfig::default(),
        }
    }

    /// True if `id` votes in either half.
    pub fn contains(&self, id: NodeId) -> bool {
        self.incoming.voters().contains(&id) || self.outgoing.voters().contains(&id)
    }

    /// Every voter of either half, once.
    pub fn voters(&self) -> BTreeSet<NodeId> {
        self.incoming
            .voters()
            .union(self.outgoing.voters())
            .copied()
            .collect()
    }

    /// The largest index both halves have committed.
    pub fn committed_index(&self, acked: impl Fn(NodeId) -> Option<Index>) -> Index {
        let incoming = self.incoming.committed_index(&acked);
        let outgoing = self.outgoing.committed_index(&acked);
        incoming.min(outgoing)
    }

    /// Won only if both halves won; lost if either lost.
    pub fn vote_result(&self, vote: impl Fn(NodeId) -> Option<bool>) -> VoteResult {
        match (
            self.incoming.vote_result(&vote),
            self.outgoing.vote_result(&vote),
        ) {
            (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
            (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
            _ => VoteResult::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn joint(incoming: &[NodeId], outgoing: &[NodeId]) -> JointConfig {
        JointConfig::from_membership(&Membership {
            voters: incoming.iter().copied().collect(),
            outgoing_voters: outgoing.iter().copied().collect(),
            learners: BTreeSet::new(),
        })
    }

    #[test]
    fn a_joint_commit_needs_both_majorities() {
        let config = joint(&[1, 2, 3], &[3, 4, 5]);
        // Nodes 1, 2 and 3 have index 7, so the incoming half commits 7; the
        // outgoing half has only node 3 at 7, so it commits node 4's 2.
        let acked = BTreeMap::from([(1, 7), (2, 7), (3, 7), (4, 2), (5, 0)]);
        assert_eq!(config.committed_index(|id| acked.get(&id).copied()), 2);
    }

    #[test]
    fn a_plain_configuration_ignores_the_empty_half() {
        let config = joint(&[1, 2, 3], &[]);
        assert_eq!(config.committed_index(|id| Some(id * 10)), 20);
        assert_eq!(config.vote_result(|id| Some(id != 3)), VoteResult::Won);
    }

    proptest! {
        /// Brute force: an index is committed iff each half, on its own, has a
        /// majority at or above it; a vote is won iff each half's is.
        #[test]
        fn joint_results_combine_the_halves(
            incoming in prop::collection::btree_set(1u64..8, 0..6),
            outgoing in prop::collection::btree_set(1u64..8, 0..6),
            acked in prop::collection::btree_map(1u64..8, 0u64..10, 0..8),
            votes in prop::collection::btree_map(1u64..8, any::<bool>(), 0..8),
        ) {
            let config = JointConfig::from_membership(&Membership {
                voters: incoming.clone(), outgoing_voters: outgoing.clone(), learners: BTreeSet::new(),
            });
            let majority_at = |half: &BTreeSet<NodeId>, i: Index| {
                half.is_empty() || half.iter().filter(|id| acked.get(id).copied().unwrap_or(0) >= i).count() * 2 > half.len()
            };
            let brute = (0..=10).filter(|&i| majority_at(&incoming, i) && majority_at(&outgoing, i)).max().unwrap_or(0);
            let fast = config.committed_index(|id| acked.get(&id).copied());
            prop_assert_eq!(fast.min(10), brute);

            let halves = [MajorityConfig::new(incoming), MajorityConfig::new(outgoing)];
            let results = halves.map(|half| half.vote_result(|id| votes.get(&id).copied()));
            let expected = if results.iter().all(|r| *r == VoteResult::Won) {
                VoteResult::Won
            } else if results.contains(&VoteResult::Lost) {
                VoteResult::Lost
            } else {
                VoteResult::Pending
            };
            prop_assert_eq!(config.vote_result(|id| votes.get(&id).copied()), expected);
        }
    }
}
