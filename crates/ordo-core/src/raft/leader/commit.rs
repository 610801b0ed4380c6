//! Commit (§5.3, §5.4.2): an index commits once a quorum's *durable* match
//! index reaches it and its entry is from the current term.
//!
//! Invariants: the leader's own match index is its durable index, so it
//! counts itself only for entries on its own disk, though it sends them to
//! followers before they are; an older term's entry commits only through a
//! later entry of this term (the Figure 8 rule); committing releases the
//! uncommitted-bytes budget of every batch it covers.

use super::LeaderState;
use crate::error::Error;
use crate::log::LogRead;
use crate::planted;
use crate::raft::node::Node;

impl LeaderState {
    /// The leader's own writes became durable: count them, maybe commit.
    pub(in crate::raft) fn self_durable<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
    ) -> Result<(), Error> {
        let durable = node.log.durable_index();
        let grew = self
            .tracker
            .get_mut(node.id())
            .is_some_and(|own| own.acknowledge(durable));
        if grew && self.maybe_commit(node)? {
            self.broadcast_append(node)?;
        }
        Ok(())
    }

    /// Advances the commit index to what a quorum durably holds, if that entry
    /// is from the current term (older entries commit only through it: the
    /// Figure 8 rule). Returns true if it advanced.
    pub(super) fn maybe_commit<L: LogRead>(&mut self, node: &mut Node<L>) -> Result<bool, Error> {
        let index = self.tracker.committed_index();
        if index <= node.log.committed() {
            return Ok(false);
        }
        if !planted::COMMIT_OLD_TERM && node.log.term(index)? != node.term {
            return Ok(false);
        }
        node.log.commit_to(index);
        // An entry of this term is committed: the commit index is now known
        // to include everything earlier leaders committed, so reads may go.
        self.read_only.term_committed();
        if self.read_only.has_unsent() {
            self.broadcast_heartbeat(node);
        }
        while let Some(&(last_index, bytes)) = self.uncommitted.front() {
            if last_index > index {
                break;
            }
            self.uncommitted.pop_front();
            self.uncommitted_bytes -= bytes;
        }
        Ok(true)
    }
}
