//! Membership on the leader: starting a configuration change, moving a joint
//! configuration on to its final one, stepping down when removed, and
//! replicating to departed members until they know they were removed.
//!
//! Invariants: at most one change is in progress (none while the current
//! configuration is uncommitted or joint, none during a transfer, none
//! before this leader committed an entry of its term); a configuration entry
//! takes effect when appended; at most [`MAX_DEPARTED_PEERS`] departed nodes
//! are replicated to at once.

use super::LeaderState;
use crate::entry::{Entry, EntryPayload};
use crate::error::{ChangeError, Error};
use crate::event::{Event, StepDownReason};
use crate::log::LogRead;
use crate::membership::{Membership, MembershipChange};
use crate::progress::WindowLimits;
use crate::raft::node::Node;
use crate::raft::{Proposal, Raft, RoleState};
use crate::types::NodeId;

/// Most nodes outside the configuration a leader replicates to at once
/// (removed nodes that have not learned it yet): a bound on what nodes that
/// keep asking for votes can cost it.
pub(crate) const MAX_DEPARTED_PEERS: usize = 16;

impl<L: LogRead> Raft<L> {
    /// Keeps a membership change moving once its entry commits: a committed
    /// joint configuration is followed by C_new; a leader not in a committed
    /// configuration steps down.
    pub(in crate::raft) fn maintain_membership(&mut self) -> Result<(), Error> {
        let RoleState::Leader(leader) = &mut self.role else {
            return Ok(());
        };
        let node = &mut self.node;
        if node.history.current_index() > node.log.committed() {
            return Ok(()); // the change is not committed yet
        }
        if node.membership.is_joint() {
            let next = node.membership.leave_joint();
            leader.append_membership(node, next)?;
            return Ok(());
        }
        // The change is complete and committed. Departed members that
        // acknowledged the entry removing them are forgotten; the others are
        // still sent it (and the commit index covering it) while they answer.
        let removed_at = node.history.current_index();
        leader.tracker.forget_departed(&node.membership, removed_at);
        if !node.membership.is_voter(node.id()) {
            let term = node.term;
            node.events.push(Event::SteppedDown {
                term,
                reason: StepDownReason::Removed,
            });
            self.become_follower(term, None);
        }
        Ok(())
    }
}

impl LeaderState {
    /// Starts a membership change (see [`Raft::change_membership`]).
    pub(in crate::raft) fn change_membership<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        change: &MembershipChange,
    ) -> Result<Proposal, ChangeError> {
        if let Some(transfer) = self.transfer {
            return Err(ChangeError::TransferInProgress {
                target: transfer.target,
            });
        }
        if node.history.current_index() > node.log.committed() || node.membership.is_joint() {
            return Err(ChangeError::ChangeInProgress);
        }
        // Until it commits an entry of its term, a new leader may not know of
        // a change its predecessor appended; starting another could let two
        // overlapping majorities decide (the single-server change bug).
        if node.log.term(node.log.committed()).map_err(Error::from)? != node.term {
            return Err(ChangeError::LeaderNotReady);
        }
        let target = change
            .target(&node.membership)
            .map_err(ChangeError::Invalid)?;
        let entry = node.membership.transition_to(&target);
        Ok(self.append_membership(node, entry)?)
    }

    /// Appends a configuration entry; it takes effect at once.
    fn append_membership<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        membership: Membership,
    ) -> Result<Proposal, Error> {
        let index = node.log.last_index() + 1;
        let entry = Entry {
            index,
            term: node.term,
            payload: EntryPayload::Membership(membership),
        };
        node.log.append(vec![entry.clone()]);
        node.log_rewritten(index, std::slice::from_ref(&entry));
        let limits = WindowLimits {
            max_messages: node.config.max_inflight_messages,
            max_bytes: node.config.max_inflight_bytes,
        };
        self.tracker.set_membership(&node.membership, index, limits);
        self.broadcast_append(node)?;
        Ok(Proposal {
            first_index: index,
            last_index: index,
            term: node.term,
        })
    }

    /// Replicates to `peer`, a node outside the committed configuration that
    /// asked for votes: it does not know it was removed. The appends bring it
    /// the entry that removed it and a commit index covering it (if its term
    /// is not above ours: see `removal`); it is forgotten again once it
    /// acknowledged that entry, or fell silent. At most
    /// [`MAX_DEPARTED_PEERS`] at a time.
    pub(in crate::raft) fn track_departed<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        peer: NodeId,
    ) -> Result<(), Error> {
        let tracked = self.tracker.get(peer).is_some();
        if !tracked && self.tracker.departed_count(&node.membership) >= MAX_DEPARTED_PEERS {
            return Ok(());
        }
        let limits = WindowLimits {
            max_messages: node.config.max_inflight_messages,
            max_bytes: node.config.max_inflight_bytes,
        };
        self.tracker.track(peer, node.log.last_index() + 1, limits);
        if let Some(progress) = self.tracker.get_mut(peer) {
            progress.recently_active = true;
        }
        if self.send_append(node, peer, true)? {
            self.send_appends(node, peer)?;
        }
        Ok(())
    }

    /// Notes that `peer` was heard from, if tracked (check-quorum, and
    /// keeping a departed peer that still talks).
    pub(in crate::raft) fn heard_from(&mut self, peer: NodeId) {
        if let Some(progress) = self.tracker.get_mut(peer) {
            progress.recently_active = true;
        }
    }

    /// True if this leader replicates to `peer` (a member, or a departed
    /// node not yet told).
    pub(in crate::raft) fn tracks(&self, peer: NodeId) -> bool {
        self.tracker.get(peer).is_some()
    }
}
