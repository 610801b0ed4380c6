//! Protocol-Aware Recovery: a node whose storage may have lost entries it
//! had acknowledged neither votes nor campaigns until a leader has brought
//! its durable log back to where it was.
//!
//! Why: entries a node acknowledged may have been committed by counting it.
//! If it lost them and then voted, a candidate lacking them could win with
//! its vote, and the committed entries would be overwritten everywhere (a
//! torn-write cut of the last, already synced WAL record does exactly this).
//! Withholding its vote keeps every quorum that elects a leader made of
//! nodes that still hold what they acknowledged.
//!
//! Invariants while the repair point is set: no vote or pre-vote is granted,
//! no election starts (timeout, [`Raft::campaign`], or TimeoutNow), and the
//! node is not a leader or candidate. It is cleared, with
//! [`Event::RepairFinished`], as soon as the durable last index reaches it;
//! only a leader's appends (or snapshot) can take it there, since the node
//! writes nothing of its own while it follows.

use crate::event::{Event, StepDownReason};
use crate::log::LogRead;
use crate::raft::{Raft, RoleState};
use crate::types::Index;

impl<L: LogRead> Raft<L> {
    /// Declares that this node's storage may have lost entries it had
    /// reported durable, up to index `through` at most (for instance, the
    /// store cut an acknowledged record it could not read). Until its
    /// durable log reaches `through` again, copied from a leader, the node
    /// answers every vote and pre-vote request "not granted", starts no
    /// election, and ignores a leader's TimeoutNow; a leader or candidate
    /// calling it becomes a follower. [`Status::repair_point`](crate::Status::repair_point)
    /// shows the point; [`Event::RepairFinished`] reports it reached.
    ///
    /// Call it right after [`Raft::new`] when the store reports a repair
    /// point, or at any later time. Calling it again keeps the higher point.
    /// A log already durable through `through` finishes the repair at once.
    pub fn begin_repair(&mut self, through: Index) {
        let through = self.node.repair_through.map_or(through, |t| t.max(through));
        self.node.repair_through = Some(through);
        if !matches!(self.role, RoleState::Follower) {
            if matches!(self.role, RoleState::Leader(_)) {
                self.node.events.push(Event::SteppedDown {
                    term: self.node.term,
                    reason: StepDownReason::Repair,
                });
            }
            self.become_follower(self.node.term, None);
        }
        self.finish_repair_if_durable();
    }

    /// Clears the repair point once the durable log reaches it.
    pub(super) fn finish_repair_if_durable(&mut self) {
        let Some(through) = self.node.repair_through else {
            return;
        };
        if self.node.log.durable_index() >= through {
            self.node.repair_through = None;
            self.node.events.push(Event::RepairFinished { through });
        }
    }
}
