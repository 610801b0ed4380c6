//! One majority configuration.

use std::collections::BTreeSet;

use crate::quorum::VoteResult;
use crate::types::{Index, NodeId};

/// A set of voters deciding by simple majority.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MajorityConfig {
    voters: BTreeSet<NodeId>,
}

impl MajorityConfig {
    /// A configuration of these voters.
    pub fn new(voters: BTreeSet<NodeId>) -> Self {
        MajorityConfig { voters }
    }

    /// The voters.
    pub fn voters(&self) -> &BTreeSet<NodeId> {
        &self.voters
    }

    /// How many voters make a majority.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// The largest index that a majority has acknowledged, given each voter's
    /// acknowledged index (`None`: nothing known, counts as 0).
    ///
    /// An empty configuration returns [`Index::MAX`]: it places no constraint,
    /// which is what the joint combination (a minimum) needs.
    pub fn committed_index(&self, acked: impl Fn(NodeId) -> Option<Index>) -> Index {
        if self.voters.is_empty() {
            return Index::MAX;
        }
        // Small clusters dominate; a stack buffer avoids allocating per commit check.
        let mut stack = [0 as Index; 7];
        let mut heap;
        let indexes: &mut [Index] = if self.voters.len() <= stack.len() {
            &mut stack[..self.voters.len()]
        } else {
            heap = vec![0; self.voters.len()];
            &mut heap
        };
        for (slot, &id) in indexes.iter_mut().zip(&self.voters) {
            *slot = acked(id).unwrap_or(0);
        }
        indexes.sort_unstable_by(|a, b| b.cmp(a));
        indexes[self.quorum() - 1]
    }

    /// The election result given each voter's answer (`None`: not yet heard).
    /// An empty configuration wins (no constraint), for the joint combination.
    pub fn vote_result(&self, vote: impl Fn(NodeId) -> Option<bool>) -> VoteResult {
        if self.voters.is_empty() {
            return VoteResult::Won;
        }
        let (mut granted, mut missing) = (0, 0);
        for &id in &self.voters {
            match vote(id) {
                Some(true) => granted += 1,
                Some(false) => {}
                None => missing += 1,
            }
        }
        let quorum = self.quorum();
        if granted >= quorum {
            VoteResult::Won
        } else if granted + missing >= quorum {
            VoteResult::Pending
        } else {
            VoteResult::Lost
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// Brute force: the largest index `i` such that at least a majority acked `>= i`.
    fn naive_committed(voters: &BTreeSet<NodeId>, acked: &BTreeMap<NodeId, Index>) -> Index {
        if voters.is_empty() {
            return Index::MAX;
        }
        let candidates = voters.iter().map(|id| acked.get(id).copied().unwrap_or(0));
        candidates
            .filter(|&i| {
                voters
                    .iter()
                    .filter(|id| acked.get(id).copied().unwrap_or(0) >= i)
                    .count()
                    > voters.len() / 2
            })
            .max()
            .unwrap_or(0)
    }

    /// Brute force: try every way the missing voters could answer.
    fn naive_vote(voters: &BTreeSet<NodeId>, votes: &BTreeMap<NodeId, bool>) -> VoteResult {
        if voters.is_empty() {
            return VoteResult::Won;
        }
        let missing: Vec<NodeId> = voters
            .iter()
            .copied()
            .filter(|id| !votes.contains_key(id))
            .collect();
        let wins = |extra_yes: usize| {
            let yes = voters
                .iter()
                .filter(|id| votes.get(id) == Some(&true))
                .count()
                + extra_yes;
            yes * 2 > voters.len()
        };
        if wins(0) {
            VoteResult::Won
        } else if (0..=missing.len()).any(wins) {
            VoteResult::Pending
        } else {
            VoteResult::Lost
        }
    }

    fn voters_and_acks() -> impl Strategy<Value = (BTreeSet<NodeId>, BTreeMap<NodeId, Index>)> {
        (
            prop::collection::btree_set(1u64..12, 0..9),
            prop::collection::btree_map(1u64..12, 0u64..20, 0..12),
        )
    }

    proptest! {
        #[test]
        fn committed_index_matches_brute_force((voters, acked) in voters_and_acks()) {
            let config = MajorityConfig::new(voters.clone());
            prop_assert_eq!(config.committed_index(|id| acked.get(&id).copied()), naive_committed(&voters, &acked));
        }

        #[test]
        fn vote_result_matches_brute_force(
            voters in prop::collection::btree_set(1u64..12, 0..9),
            votes in prop::collection::btree_map(1u64..12, any::<bool>(), 0..12),
        ) {
            let config = MajorityConfig::new(voters.clone());
            prop_assert_eq!(config.vote_result(|id| votes.get(&id).copied()), naive_vote(&voters, &votes));
        }
    }

    #[test]
    fn three_voters_commit_at_the_median() {
        let config = MajorityConfig::new([1, 2, 3].into());
        let acked = BTreeMap::from([(1, 5), (2, 9), (3, 2)]);
        assert_eq!(config.committed_index(|id| acked.get(&id).copied()), 5);
    }

    #[test]
    fn large_configurations_use_the_heap_path() {
        let config = MajorityConfig::new((1..=9).collect());
        assert_eq!(config.committed_index(Some), 5);
    }
}
