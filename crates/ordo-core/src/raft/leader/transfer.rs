//! Leadership transfer: bring the target up to date, then tell it to
//! campaign at once (TimeoutNow).
//!
//! Invariants: while a transfer runs, proposals and membership changes are
//! refused and no read is served from the lease (the lease is revoked when it
//! starts and forfeited when TimeoutNow is sent, since the target may be
//! elected at any moment after); TimeoutNow is sent at most once per
//! transfer; a transfer not done within a minimum election timeout is
//! abandoned and this node leads on.

use super::LeaderState;
use crate::error::Error;
use crate::log::LogRead;
use crate::message::MessageBody;
use crate::raft::node::Node;
use crate::types::NodeId;

/// A leadership transfer: bring `target` up to date, then tell it to campaign.
#[derive(Clone, Copy, Debug)]
pub(super) struct Transfer {
    pub(super) target: NodeId,
    elapsed_ticks: u64,
    timeout_now_sent: bool,
}

impl LeaderState {
    pub(in crate::raft) fn transfer_target(&self) -> Option<NodeId> {
        self.transfer.map(|t| t.target)
    }

    /// Counts a tick against the transfer in progress: not done within an
    /// election timeout, it is given up and this node leads on.
    pub(super) fn tick_transfer(&mut self, election_timeout_min_ticks: u64) {
        if let Some(transfer) = &mut self.transfer {
            transfer.elapsed_ticks += 1;
            // Not done within an election timeout: give up and lead on.
            if transfer.elapsed_ticks >= election_timeout_min_ticks {
                self.transfer = None;
            }
        }
    }

    /// Starts handing leadership to `target` (a voter other than this node).
    pub(in crate::raft) fn start_transfer<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        target: NodeId,
    ) -> Result<(), Error> {
        self.transfer = Some(Transfer {
            target,
            elapsed_ticks: 0,
            timeout_now_sent: false,
        });
        self.read_only.revoke_lease();
        self.maybe_send_timeout_now(node);
        if self.transfer.is_some_and(|t| !t.timeout_now_sent)
            && self.send_append(node, target, true)?
        {
            self.send_appends(node, target)?;
        }
        Ok(())
    }

    /// Sends TimeoutNow once the transfer target holds the whole log: it then
    /// wins any election it starts, and starts one at once.
    pub(super) fn maybe_send_timeout_now<L: LogRead>(&mut self, node: &mut Node<L>) {
        let Some(transfer) = &mut self.transfer else {
            return;
        };
        let caught_up = self
            .tracker
            .get(transfer.target)
            .is_some_and(|p| p.match_index == node.log.last_index());
        if caught_up && !transfer.timeout_now_sent {
            transfer.timeout_now_sent = true;
            // The target may campaign whenever this arrives, even after the
            // transfer is abandoned, and be elected past every lease.
            self.read_only.forfeit_lease();
            node.send(transfer.target, MessageBody::TimeoutNow);
        }
    }
}
