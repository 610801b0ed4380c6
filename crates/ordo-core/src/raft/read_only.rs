//! Linearizable reads without log entries: ReadIndex and leader leases.
//!
//! **ReadIndex** (Raft dissertation §6.4). A read is served at the leader's
//! commit index once the leader has proved it was still leader *after* the
//! read arrived: it sends a heartbeat round, and a quorum of answers to that
//! round is the proof. Reads are batched: every read gathered since the last
//! round rides on the next one. Two conditions come first:
//! - the leader must have committed an entry of its own term, or its commit
//!   index may lag what earlier leaders committed; reads arriving earlier wait;
//! - the read is answered with the commit index *at the time the round was
//!   started*, and served once the state machine has applied that far.
//!
//! **Leases** (§6.4.1). With check-quorum on, a follower that heard from the
//! leader refuses to vote for anyone else for the minimum election timeout. So
//! once a quorum answered a round sent at tick `t`, no other leader can exist
//! before `t + election_timeout_min`, and the leader may answer reads at once
//! until `t + election_timeout_min - lease_clock_drift_ticks`. Two holes are
//! closed elsewhere: a restarted follower forgets whom it heard from, so with
//! leases on a node refuses votes for one minimum election timeout after it
//! starts; and a leadership transfer lets the target skip that refusal, so no
//! lease read is served while a transfer is in progress — nor, once a
//! TimeoutNow went out, for the rest of the leader's term: the message may be
//! delivered, and the target elected, long after the transfer was abandoned.
//!
//! Every heartbeat carries a round number, so ordinary heartbeats renew the
//! lease too.

use std::collections::{BTreeMap, VecDeque};

use crate::quorum::JointConfig;
use crate::types::{Index, NodeId};

/// A read waiting for confirmation, and whom to tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PendingRead {
    /// The node whose client asked: the leader itself or a follower.
    pub(crate) origin: NodeId,
    /// The origin's id for the read.
    pub(crate) request_id: u64,
}

/// Rounds kept unconfirmed before read-less ones are dropped: with one
/// read-less round at most between two carrying reads, the rounds kept stay
/// within twice the reads waiting plus this.
pub(crate) const READLESS_ROUNDS_KEPT: usize = 8;

/// A heartbeat round sent and not yet answered by a quorum.
#[derive(Debug)]
struct Round {
    number: u64,
    sent_tick: u64,
    read_index: Index,
    reads: Vec<PendingRead>,
}

/// The leader's bookkeeping for reads and its lease.
///
/// Invariants: round numbers in `rounds` strictly increase and are all above
/// the quorum-acknowledged round; `last_round` is the newest round sent.
#[derive(Debug, Default)]
pub(crate) struct ReadOnly {
    /// Reads that arrived before the leader committed an entry of its term.
    awaiting_term_commit: Vec<PendingRead>,
    /// Reads gathered for the next round.
    unsent: Vec<PendingRead>,
    rounds: VecDeque<Round>,
    last_round: u64,
    /// Highest round each peer answered.
    acknowledged: BTreeMap<NodeId, u64>,
    /// When the newest quorum-acknowledged round was sent.
    lease_start_tick: Option<u64>,
    /// No lease for the rest of the term (a TimeoutNow was sent).
    lease_forfeited: bool,
}

impl ReadOnly {
    /// Queues reads; they need a round (or the term's first commit) first.
    pub(crate) fn add(
        &mut self,
        reads: impl IntoIterator<Item = PendingRead>,
        committed_in_term: bool,
    ) {
        if committed_in_term {
            self.unsent.extend(reads);
        } else {
            self.awaiting_term_commit.extend(reads);
        }
    }

    /// The leader committed an entry of its term: waiting reads may go.
    pub(crate) fn term_committed(&mut self) {
        self.unsent.append(&mut self.awaiting_term_commit);
    }

    /// True if reads wait for the next round.
    pub(crate) fn has_unsent(&self) -> bool {
        !self.unsent.is_empty()
    }

    /// Starts a new round at `now`, carrying the gathered reads at `commit`.
    /// Returns its number, to put in the heartbeats.
    ///
    /// A leader no quorum answers (cut off, with check-quorum off, it never
    /// steps down) starts a round every heartbeat forever; rounds carrying
    /// no reads are therefore kept only up to [`READLESS_ROUNDS_KEPT`]: past
    /// it, the newest read-less round gives way to the new one. A quorum
    /// answering the new round confirms everything the dropped one would
    /// have, only a little later (its lease starts at the later round).
    pub(crate) fn start_round(&mut self, now: u64, commit: Index) -> u64 {
        if self.rounds.len() >= READLESS_ROUNDS_KEPT
            && self
                .rounds
                .back()
                .is_some_and(|round| round.reads.is_empty())
        {
            self.rounds.pop_back();
        }
        self.last_round += 1;
        self.rounds.push_back(Round {
            number: self.last_round,
            sent_tick: now,
            read_index: commit,
            reads: std::mem::take(&mut self.unsent),
        });
        self.last_round
    }

    /// Records `peer`'s answer to `round` (ignoring rounds never sent).
    pub(crate) fn acknowledge(&mut self, peer: NodeId, round: u64) {
        if round == 0 || round > self.last_round {
            return;
        }
        let known = self.acknowledged.entry(peer).or_insert(0);
        *known = (*known).max(round);
    }

    /// Pops every round a quorum has answered; returns their reads with the
    /// index each may be served at.
    pub(crate) fn confirmed(
        &mut self,
        voters: &JointConfig,
        own_id: NodeId,
    ) -> Vec<(PendingRead, Index)> {
        let last_round = self.last_round;
        let quorum_round = voters.committed_index(|id| {
            if id == own_id {
                Some(last_round)
            } else {
                self.acknowledged.get(&id).copied()
            }
        });
        let mut ready = Vec::new();
        while let Some(round) = self.rounds.front() {
            if round.number > quorum_round {
                break;
            }
            let Some(round) = self.rounds.pop_front() else {
                break;
            };
            self.lease_start_tick = Some(round.sent_tick);
            ready.extend(round.reads.into_iter().map(|read| (read, round.read_index)));
        }
        ready
    }

    /// True while the lease from the newest confirmed round lasts.
    pub(crate) fn lease_valid(&self, now: u64, lease_ticks: u64) -> bool {
        !self.lease_forfeited
            && self
                .lease_start_tick
                .is_some_and(|start| now < start.saturating_add(lease_ticks))
    }

    /// Ends the lease at once: a leadership transfer lets the target win an
    /// election before the lease would have run out.
    pub(crate) fn revoke_lease(&mut self) {
        self.lease_start_tick = None;
    }

    /// Ends the lease for good: a TimeoutNow was sent, and whenever it
    /// arrives, its target may win votes from followers that granted the
    /// lease.
    pub(crate) fn forfeit_lease(&mut self) {
        self.lease_forfeited = true;
        self.lease_start_tick = None;
    }

    /// Every read still waiting, for failing them when leadership ends.
    pub(crate) fn drain(&mut self) -> Vec<PendingRead> {
        let mut all = std::mem::take(&mut self.awaiting_term_commit);
        all.append(&mut self.unsent);
        for round in self.rounds.drain(..) {
            all.extend(round.reads);
        }
        all
    }

    /// Reads waiting in any stage.
    pub(crate) fn pending_count(&self) -> usize {
        self.awaiting_term_commit.len()
            + self.unsent.len()
            + self.rounds.iter().map(|r| r.reads.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::Membership;

    fn read(id: u64) -> PendingRead {
        PendingRead {
            origin: 1,
            request_id: id,
        }
    }

    fn voters() -> JointConfig {
        JointConfig::from_membership(&Membership::with_voters([1, 2, 3]))
    }

    #[test]
    fn a_round_is_confirmed_by_a_quorum_of_answers() {
        let mut reads = ReadOnly::default();
        reads.add([read(7)], true);
        let round = reads.start_round(100, 42);
        assert!(
            reads.confirmed(&voters(), 1).is_empty(),
            "only the leader so far"
        );
        reads.acknowledge(2, round);
        assert_eq!(reads.confirmed(&voters(), 1), vec![(read(7), 42)]);
        assert!(reads.lease_valid(109, 10));
        assert!(!reads.lease_valid(110, 10));
    }

    #[test]
    fn an_answer_to_a_later_round_confirms_earlier_ones() {
        let mut reads = ReadOnly::default();
        reads.add([read(1)], true);
        reads.start_round(0, 5);
        reads.add([read(2)], true);
        let second = reads.start_round(1, 6);
        reads.acknowledge(3, second);
        assert_eq!(
            reads.confirmed(&voters(), 1),
            vec![(read(1), 5), (read(2), 6)]
        );
    }

    #[test]
    fn reads_wait_for_the_terms_first_commit() {
        let mut reads = ReadOnly::default();
        reads.add([read(1)], false);
        assert!(!reads.has_unsent());
        reads.term_committed();
        assert!(reads.has_unsent());
    }

    /// Issue 11: with check-quorum off a cut-off leader never steps down and
    /// starts a round every heartbeat; they must not pile up.
    #[test]
    fn unanswered_rounds_without_reads_stay_bounded() {
        let mut read_only = ReadOnly::default();
        for tick in 0..10_000 {
            read_only.start_round(tick, 1);
        }
        assert!(read_only.rounds.len() <= READLESS_ROUNDS_KEPT);
        // Reads still ride a round and are answered once a quorum confirms.
        read_only.add([read(7)], true);
        let round = read_only.start_round(10_000, 1);
        read_only.start_round(10_001, 1);
        assert_eq!(read_only.pending_count(), 1);
        read_only.acknowledge(2, round);
        assert_eq!(read_only.confirmed(&voters(), 1), vec![(read(7), 1)]);
    }

    #[test]
    fn answers_to_rounds_never_sent_are_ignored() {
        let mut reads = ReadOnly::default();
        reads.add([read(1)], true);
        reads.start_round(0, 5);
        reads.acknowledge(2, 99);
        assert!(reads.confirmed(&voters(), 1).is_empty());
        assert_eq!(reads.drain(), vec![read(1)]);
    }
}
