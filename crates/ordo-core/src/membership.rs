//! Who belongs to the group: voters (possibly a joint configuration) and learners.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::types::NodeId;

/// The members of a Raft group.
///
/// Invariants: a node is never both an (incoming) voter and a learner;
/// `outgoing_voters` is empty except while a joint-consensus change
/// (C_old,new) is in progress, during which every decision needs a majority of
/// `voters` *and* of `outgoing_voters`. A voter being demoted to learner is
/// listed in both `outgoing_voters` and `learners` during the change and acts
/// as a voter until it completes.
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

    /// True while a joint-consensus change is in progress.
    pub fn is_joint(&self) -> bool {
        !self.outgoing_voters.is_empty()
    }

    /// True if `id` is a member of any kind.
    pub fn contains(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.learners.contains(&id)
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

/// A change to the membership, as a caller asks for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Add a non-voting member that receives the log.
    AddLearner(NodeId),
    /// Make a learner (or a new node) a voter.
    AddVoter(NodeId),
    /// Remove a member, voter or learner.
    Remove(NodeId),
    /// Replace the whole configuration. When more than one voter changes,
    /// this goes through joint consensus (C_old,new, then C_new).
    Replace {
        /// The voters afterwards.
        voters: BTreeSet<NodeId>,
        /// The learners afterwards.
        learners: BTreeSet<NodeId>,
    },
}

impl MembershipChange {
    /// The plain configuration `current` becomes after this change.
    ///
    /// # Errors
    /// A description of why the change makes no sense against `current`.
    pub fn target(&self, current: &Membership) -> Result<Membership, String> {
        let mut voters = current.voters.clone();
        let mut learners = current.learners.clone();
        match self {
            MembershipChange::AddLearner(id) => {
                if voters.contains(id) {
                    return Err(format!(
                        "node {id} is a voter; remove it first to make it a learner"
                    ));
                }
                learners.insert(*id);
            }
            MembershipChange::AddVoter(id) => {
                learners.remove(id);
                voters.insert(*id);
            }
            MembershipChange::Remove(id) => {
                if !voters.remove(id) && !learners.remove(id) {
                    return Err(format!("node {id} is not a member"));
                }
            }
            MembershipChange::Replace {
                voters: new_voters,
                learners: new_learners,
            } => {
                if let Some(both) = new_voters.intersection(new_learners).next() {
                    return Err(format!("node {both} cannot be both a voter and a learner"));
                }
                voters = new_voters.clone();
                learners = new_learners.clone();
            }
        }
        if voters.is_empty() {
            return Err("the change would leave no voters".to_string());
        }
        if voters.contains(&0) || learners.contains(&0) {
            return Err("node id 0 is not a valid member".to_string());
        }
        Ok(Membership {
            voters,
            outgoing_voters: BTreeSet::new(),
            learners,
        })
    }
}

impl Membership {
    /// The configuration entry that moves `self` (plain) toward `target`
    /// (plain): `target` itself when at most one voter changes (a
    /// single-server change is safe on its own), else the joint configuration
    /// C_old,new.
    pub fn transition_to(&self, target: &Membership) -> Membership {
        let changed_voters = self.voters.symmetric_difference(&target.voters).count();
        if changed_voters <= 1 {
            return target.clone();
        }
        Membership {
            voters: target.voters.clone(),
            outgoing_voters: self.voters.clone(),
            learners: target.learners.clone(),
        }
    }

    /// The configuration that completes a joint change (C_new).
    pub fn leave_joint(&self) -> Membership {
        Membership {
            voters: self.voters.clone(),
            outgoing_voters: BTreeSet::new(),
            learners: self.learners.difference(&self.voters).copied().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(voters: &[NodeId], learners: &[NodeId]) -> Membership {
        Membership {
            voters: voters.iter().copied().collect(),
            outgoing_voters: BTreeSet::new(),
            learners: learners.iter().copied().collect(),
        }
    }

    #[test]
    fn one_voter_changes_directly_and_more_go_through_joint_consensus() {
        let current = plain(&[1, 2, 3], &[]);
        let grow = MembershipChange::AddVoter(4)
            .target(&current)
            .unwrap_or_default();
        assert_eq!(current.transition_to(&grow), plain(&[1, 2, 3, 4], &[]));
        let replace = MembershipChange::Replace {
            voters: [1, 4, 5].into(),
            learners: [2].into(),
        };
        let target = replace.target(&current).unwrap_or_default();
        let joint = current.transition_to(&target);
        assert!(joint.is_joint());
        assert_eq!(joint.outgoing_voters, [1, 2, 3].into());
        assert!(
            joint.is_voter(2),
            "a demoted voter votes until the change completes"
        );
        assert_eq!(joint.leave_joint(), plain(&[1, 4, 5], &[2]));
    }

    #[test]
    fn nonsense_changes_are_refused() {
        let current = plain(&[1], &[2]);
        assert!(
            MembershipChange::Remove(1).target(&current).is_err(),
            "no voters left"
        );
        assert!(
            MembershipChange::Remove(9).target(&current).is_err(),
            "not a member"
        );
        assert!(
            MembershipChange::AddLearner(1).target(&current).is_err(),
            "voter to learner"
        );
        let both = MembershipChange::Replace {
            voters: [1, 2].into(),
            learners: [2].into(),
        };
        assert!(both.target(&current).is_err());
        assert_eq!(
            MembershipChange::AddVoter(2).target(&current),
            Ok(plain(&[1, 2], &[])),
            "promoting a learner"
        );
    }
}
