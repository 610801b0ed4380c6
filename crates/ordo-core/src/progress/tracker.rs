//! Progress of every member, plus the voting configuration to judge it by.

use std::collections::BTreeMap;

use crate::membership::Membership;
use crate::planted;
use crate::progress::{Inflights, Progress};
use crate::quorum::{JointConfig, VoteResult};
use crate::types::{Index, NodeId};

/// The leader's view of every member, itself included (its own `match_index`
/// is its durable last index, so the commit rule needs no special case).
#[derive(Clone, Debug)]
pub(crate) struct ProgressTracker {
    self_id: NodeId,
    voters: JointConfig,
    progress: BTreeMap<NodeId, Progress>,
}

/// Limits of each peer's in-flight window.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WindowLimits {
    /// Messages.
    pub(crate) max_messages: usize,
    /// Payload bytes.
    pub(crate) max_bytes: u64,
}

impl ProgressTracker {
    /// Tracks every member of `membership` (and `self_id`), probing each from
    /// `next_index`.
    pub(crate) fn new(
        self_id: NodeId,
        membership: &Membership,
        next_index: Index,
        limits: WindowLimits,
    ) -> Self {
        let mut members = membership.members();
        members.insert(self_id);
        let progress = members
            .into_iter()
            .map(|id| {
                (
                    id,
                    Progress::new(
                        next_index,
                        Inflights::new(limits.max_messages, limits.max_bytes),
                    ),
                )
            })
            .collect();
        ProgressTracker {
            self_id,
            voters: JointConfig::from_membership(membership),
            progress,
        }
    }

    /// Follows a new configuration: members that joined are probed from
    /// `next_index`. Members that left are still replicated to until
    /// [`ProgressTracker::forget_departed`]: they must receive the entry that
    /// removes them, or they would keep campaigning in the old configuration.
    pub(crate) fn set_membership(
        &mut self,
        membership: &Membership,
        next_index: Index,
        limits: WindowLimits,
    ) {
        for id in membership.members() {
            self.track(id, next_index, limits);
        }
        self.voters = JointConfig::from_membership(membership);
    }

    /// Starts tracking `id` (probed from `next_index`) unless it already is.
    pub(crate) fn track(&mut self, id: NodeId, next_index: Index, limits: WindowLimits) {
        self.progress.entry(id).or_insert_with(|| {
            Progress::new(
                next_index,
                Inflights::new(limits.max_messages, limits.max_bytes),
            )
        });
    }

    /// Stops tracking peers that are not members of `membership` and have
    /// acknowledged `removed_at`, the entry of the configuration that left
    /// them out (the leader itself is always tracked: it may be leaving
    /// while it still leads). A departed peer that has not acknowledged it
    /// stays until [`ProgressTracker::forget_silent_departed`]: sent is not
    /// received, and a peer that never gets it campaigns forever.
    pub(crate) fn forget_departed(&mut self, membership: &Membership, removed_at: Index) {
        let self_id = self.self_id;
        self.progress.retain(|&id, progress| {
            // A configuration at the log's base (index 0, or a snapshot's)
            // still needs one acknowledged entry: a peer that acknowledged
            // nothing knows nothing (a node whose own log adds it in an
            // uncommitted entry the group overwrote is such a peer).
            let told = progress.match_index >= removed_at.max(1) || planted::REMOVED_NOT_TOLD;
            id == self_id || membership.contains(id) || !told
        });
    }

    /// Stops tracking departed peers not heard from since the last call,
    /// and starts a new round for the others. A removed node that is down
    /// costs the leader at most one round of messages; if it comes back, its
    /// vote requests get it tracked again (see `Raft::answer_removed_node`).
    pub(crate) fn forget_silent_departed(&mut self, membership: &Membership) {
        let self_id = self.self_id;
        self.progress.retain(|&id, progress| {
            id == self_id || membership.contains(id) || progress.recently_active
        });
        for (&id, progress) in &mut self.progress {
            if !membership.contains(id) {
                progress.recently_active = false;
            }
        }
    }

    /// How many tracked peers are not members of `membership`.
    pub(crate) fn departed_count(&self, membership: &Membership) -> usize {
        self.progress
            .keys()
            .filter(|&&id| id != self.self_id && !membership.contains(id))
            .count()
    }

    /// The progress of `id`, if it is tracked: a member, or a departed
    /// member still being told of its removal.
    pub(crate) fn get(&self, id: NodeId) -> Option<&Progress> {
        self.progress.get(&id)
    }

    /// The progress of `id`, if it is tracked (see [`Self::get`]).
    pub(crate) fn get_mut(&mut self, id: NodeId) -> Option<&mut Progress> {
        self.progress.get_mut(&id)
    }

    /// Every tracked peer (members and departed members still being told)
    /// other than the leader itself, in id order.
    pub(crate) fn peer_ids(&self) -> Vec<NodeId> {
        self.progress
            .keys()
            .copied()
            .filter(|&id| id != self.self_id)
            .collect()
    }

    /// Every member's progress, the leader's included.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (NodeId, &Progress)> {
        self.progress.iter().map(|(&id, p)| (id, p))
    }

    /// The largest index a quorum of voters durably holds.
    pub(crate) fn committed_index(&self) -> Index {
        self.voters
            .committed_index(|id| self.progress.get(&id).map(|p| p.match_index))
    }

    /// True if a quorum (counting the leader) was heard from since the last
    /// [`ProgressTracker::reset_recently_active`].
    pub(crate) fn quorum_recently_active(&self) -> bool {
        let active = |id: NodeId| {
            Some(id == self.self_id || self.progress.get(&id).is_some_and(|p| p.recently_active))
        };
        self.voters.vote_result(active) == VoteResult::Won
    }

    /// Starts a new check-quorum round.
    pub(crate) fn reset_recently_active(&mut self) {
        for progress in self.progress.values_mut() {
            progress.recently_active = false;
        }
    }
}
