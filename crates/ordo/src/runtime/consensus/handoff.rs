//! A graceful stop of a leader hands leadership over first.
//!
//! Without it, a stopped leader costs its group an election: the others
//! notice its silence only after an election timeout (150–300 ms by
//! default), and clients wait that long. With it, the leader asks the voter
//! whose log is the most up to date to take over ([`Raft::transfer_leadership`]:
//! bring it up to date, then TimeoutNow, so it campaigns at once, skipping
//! pre-vote), keeps running its loop (messages, ticks, requests) while that
//! happens, and stops once another node is known to lead — a few
//! milliseconds on a healthy group — or when the handoff's deadline passes.
//!
//! Invariants:
//! - Only a leader with another voter hands over; a follower, a learner or a
//!   group of one stops at once.
//! - The wait is bounded by [`RaftConfig::stop_handoff_timeout`] and never
//!   exceeds `election_timeout_min`: the core abandons a transfer after that,
//!   and by then the others would have elected a leader by themselves.
//! - Nothing here weakens safety: a transfer is an ordinary election the
//!   target can only win with an up-to-date log and a quorum.
//!
//! [`Raft::transfer_leadership`]: ordo_core::Raft::transfer_leadership
//! [`RaftConfig::stop_handoff_timeout`]: crate::RaftConfig::stop_handoff_timeout

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ordo_core::{Membership, NodeId, PeerProgress, Role, TransferError};

use crate::runtime::error::RaftError;
use crate::runtime::state_machine::StateMachine;

use super::Consensus;

/// A handoff in progress: the node stops once it is over.
#[derive(Clone, Copy, Debug)]
pub(super) struct Handoff {
    /// The voter asked to take over.
    target: NodeId,
    /// When the node stops, whoever leads.
    deadline: Instant,
}

impl<S: StateMachine> Consensus<S> {
    /// Starts handing leadership over if this node leads and another voter
    /// can take over; `None` when the node should stop at once.
    pub(super) fn begin_handoff(&mut self) -> Result<Option<Handoff>, RaftError> {
        let timeout = handoff_timeout(
            self.config.stop_handoff_timeout,
            self.config.election_timeout_min,
        );
        if self.state.soft_state.role != Role::Leader || timeout.is_zero() {
            return Ok(None);
        }
        let own_id = self.config.node_id;
        let status = self.raft.status();
        let Some(target) = most_up_to_date_voter(&status.progress, self.raft.membership(), own_id)
        else {
            return Ok(None);
        };
        match self.raft.transfer_leadership(target) {
            Ok(()) => {}
            // Lost leadership or the target meanwhile: nothing to hand over.
            Err(TransferError::NotLeader { .. } | TransferError::NotAVoter { .. }) => {
                return Ok(None);
            }
            Err(TransferError::Fatal(error)) => return Err(error.into()),
        }
        tracing::info!(
            node_id = own_id,
            term = status.term,
            target,
            target_match_index = status.progress.get(&target).map_or(0, |p| p.match_index),
            last_index = status.last_index,
            "stopping: handing leadership over first"
        );
        Ok(Some(Handoff {
            target,
            deadline: Instant::now() + timeout,
        }))
    }

    /// True once the node may stop: another node leads, or time is up.
    pub(super) fn handoff_over(&self, handoff: &Handoff) -> bool {
        let own_id = self.config.node_id;
        let soft_state = self.state.soft_state;
        if soft_state.leader.is_some_and(|leader| leader != own_id) {
            tracing::info!(
                node_id = own_id,
                term = soft_state.term,
                leader = soft_state.leader,
                "stopping: leadership handed over"
            );
            return true;
        }
        if Instant::now() >= handoff.deadline {
            tracing::warn!(
                node_id = own_id,
                target = handoff.target,
                "stopping: no other node took over in time; the group will elect a leader"
            );
            return true;
        }
        false
    }
}

/// How long a stopping leader waits for another to take over: the setting,
/// capped at the shortest election timeout.
pub(super) fn handoff_timeout(setting: Duration, election_timeout_min: Duration) -> Duration {
    setting.min(election_timeout_min)
}

/// The voter (other than `own_id`, in the incoming configuration) with the
/// highest match index; between equals, one being streamed to (so probably
/// alive), then the lowest id. `None` if there is no other voter.
pub(super) fn most_up_to_date_voter(
    progress: &BTreeMap<NodeId, PeerProgress>,
    membership: &Membership,
    own_id: NodeId,
) -> Option<NodeId> {
    progress
        .iter()
        .filter(|(id, _)| **id != own_id && membership.voters.contains(id))
        .max_by_key(|(id, peer)| (peer.match_index, peer.replicating, std::cmp::Reverse(**id)))
        .map(|(id, _)| *id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(match_index: u64, replicating: bool) -> PeerProgress {
        PeerProgress {
            match_index,
            next_index: match_index + 1,
            replicating,
            inflight_messages: 0,
        }
    }

    #[test]
    fn the_target_is_the_voter_with_the_most_of_the_log() {
        let membership = Membership::with_voters([1, 2, 3]);
        let progress = BTreeMap::from([
            (1, peer(90, true)),
            (2, peer(80, true)),
            (3, peer(85, false)),
        ]);
        assert_eq!(most_up_to_date_voter(&progress, &membership, 1), Some(3));
    }

    #[test]
    fn between_equals_a_streamed_to_voter_then_the_lowest_id_wins() {
        let membership = Membership::with_voters([1, 2, 3, 4]);
        let progress = BTreeMap::from([
            (1, peer(50, true)),
            (2, peer(50, false)),
            (3, peer(50, true)),
            (4, peer(50, true)),
        ]);
        assert_eq!(most_up_to_date_voter(&progress, &membership, 1), Some(3));
    }

    #[test]
    fn learners_and_the_node_itself_never_take_over() {
        let mut membership = Membership::with_voters([1, 2]);
        membership.learners.insert(3);
        let progress = BTreeMap::from([
            (1, peer(99, true)),
            (2, peer(10, false)),
            (3, peer(99, true)),
        ]);
        assert_eq!(most_up_to_date_voter(&progress, &membership, 1), Some(2));
        let alone = Membership::with_voters([1]);
        let progress = BTreeMap::from([(1, peer(99, true))]);
        assert_eq!(most_up_to_date_voter(&progress, &alone, 1), None);
    }

    #[test]
    fn the_wait_never_exceeds_an_election_timeout() {
        let ms = Duration::from_millis;
        assert_eq!(handoff_timeout(ms(300), ms(150)), ms(150));
        assert_eq!(handoff_timeout(ms(100), ms(150)), ms(100));
        assert_eq!(handoff_timeout(Duration::ZERO, ms(150)), Duration::ZERO);
    }
}
