//! [`Waiters`]: callers waiting for the entry they proposed to be applied,
//! and the one rule that answers them.
//!
//! An entry is known by its index *and* term (the Log Matching property: two
//! entries with the same index and term are the same entry). A proposal
//! appended at index `i` in term `t` is answered only once index `i` is
//! applied:
//!
//! - applied with term `t`: it is the proposal; the state machine's response;
//! - applied with another term: another leader's entry took the index, so
//!   this proposal can never commit: [`RaftError::ProposalDropped`] (retry).
//!
//! Losing the entry from this node's log (a new leader overwrote it) is *not*
//! an answer: another node may still hold it and win an election with it,
//! then commit it. Answering "dropped" then would invite a retry that applies
//! the command twice. So waiters stay through truncations, and several may
//! wait on one index (this node led twice and appended there in two terms)
//! until that index is decided.
//!
//! A waiter may carry a deadline: once it passes, [`Waiters::expire`]
//! answers it [`RaftError::Timeout`] (outcome unknown; it may still be
//! applied). This is how proposals time out: one table checked on the
//! runtime's tick rather than one timer per proposal.
//!
//! The table is a queue sorted by (index, term). Proposals are registered in
//! index order and applied in index order, so in the steady state every
//! insert is at the back and every answer at the front: no search, no
//! allocation per waiter. An insert in the middle happens only when this node
//! leads again after its earlier entries were overwritten.

use std::collections::VecDeque;
use std::time::Instant;

use ordo_core::{Index, Term};

use crate::runtime::error::RaftError;
use crate::runtime::shared::Reply;

/// One caller waiting for the entry at (`index`, `term`).
#[derive(Debug)]
struct Waiter<R> {
    index: Index,
    term: Term,
    /// When to give up waiting; `None`: never (the caller keeps its own timer).
    deadline: Option<Instant>,
    reply: Reply<R>,
}

impl<R> Waiter<R> {
    fn key(&self) -> (Index, Term) {
        (self.index, self.term)
    }

    fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|deadline| deadline <= now)
    }
}

/// Replies waiting for their entry.
///
/// Invariants: `queue` is sorted by (index, term) with no key twice; unless
/// `deadlines_unordered`, deadlines never decrease along it (`None` last), so
/// the expired waiters are a prefix.
#[derive(Debug)]
pub(crate) struct Waiters<R> {
    queue: VecDeque<Waiter<R>>,
    deadlines_unordered: bool,
}

impl<R> Waiters<R> {
    pub(crate) fn new() -> Self {
        Waiters {
            queue: VecDeque::new(),
            deadlines_unordered: false,
        }
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// `reply` waits for the entry at `index` appended in `term`, until
    /// `deadline` if one is given. A reply already waiting there
    /// (impossible: one entry per index and term) is answered dropped.
    pub(crate) fn insert(
        &mut self,
        index: Index,
        term: Term,
        deadline: Option<Instant>,
        reply: Reply<R>,
    ) {
        let mut waiter = Waiter {
            index,
            term,
            deadline,
            reply,
        };
        let Some(back) = self.queue.back() else {
            self.deadlines_unordered = false;
            self.queue.push_back(waiter);
            return;
        };
        if back.key() < waiter.key() {
            match (back.deadline, waiter.deadline) {
                // Stamped a moment apart by different tasks: keep the order
                // (the later one waits a few microseconds longer).
                (Some(earlier), Some(later)) => waiter.deadline = Some(later.max(earlier)),
                (None, Some(_)) => self.deadlines_unordered = true,
                (_, None) => {}
            }
            self.queue.push_back(waiter);
            return;
        }
        match self.queue.binary_search_by_key(&waiter.key(), Waiter::key) {
            Ok(position) => {
                let earlier = std::mem::replace(&mut self.queue[position], waiter);
                let _ = earlier.reply.send(Err(RaftError::ProposalDropped));
            }
            Err(position) => {
                self.queue.insert(position, waiter);
                self.deadlines_unordered = true;
            }
        }
    }

    /// The entry at `index` was applied with `term`: its waiter, if any, gets
    /// `outcome()`; every other waiter at `index` or below was replaced and
    /// is answered dropped.
    pub(crate) fn applied(
        &mut self,
        index: Index,
        term: Term,
        outcome: impl FnOnce() -> Result<R, RaftError>,
    ) {
        let mut outcome = Some(outcome);
        while self.queue.front().is_some_and(|w| w.index <= index) {
            let Some(waiter) = self.queue.pop_front() else {
                break;
            };
            let answer = match outcome.take_if(|_| waiter.key() == (index, term)) {
                Some(outcome) => outcome(),
                None => Err(RaftError::ProposalDropped),
            };
            let _ = waiter.reply.send(answer);
        }
    }

    /// Every index up to `index` was applied: whoever still waits there was
    /// replaced by another entry, and is answered dropped.
    pub(crate) fn applied_through(&mut self, index: Index) {
        self.answer_through(index, || RaftError::ProposalDropped);
    }

    /// A snapshot replaced the state up to `index` without applying entries
    /// one by one: whoever waits there may or may not be in it.
    pub(crate) fn replaced_through(&mut self, index: Index) {
        self.answer_through(index, || RaftError::OutcomeUnknown);
    }

    /// This node stopped leading with `committed` known committed: a
    /// proposal past it may still commit (the next leader may hold its
    /// entry) or never will, and this node will not learn which soon, so its
    /// caller hears [`RaftError::OutcomeUnknown`] now rather than a timeout
    /// later. Waiters at or below `committed` are decided by applying.
    pub(crate) fn leadership_lost(&mut self, committed: Index) {
        while self.queue.back().is_some_and(|w| w.index > committed) {
            if let Some(waiter) = self.queue.pop_back() {
                let _ = waiter.reply.send(Err(RaftError::OutcomeUnknown));
            }
        }
    }

    /// Answers [`RaftError::Timeout`] to every waiter whose deadline is at
    /// or before `now`. Returns how many.
    pub(crate) fn expire(&mut self, now: Instant) -> usize {
        if self.deadlines_unordered {
            return self.expire_anywhere(now);
        }
        let mut expired = 0;
        while self.queue.front().is_some_and(|w| w.expired(now)) {
            if let Some(waiter) = self.queue.pop_front() {
                let _ = waiter.reply.send(Err(RaftError::Timeout));
                expired += 1;
            }
        }
        expired
    }

    /// [`expire`](Self::expire) when deadlines are out of order: looks at
    /// every waiter, and finds out whether the order is back.
    fn expire_anywhere(&mut self, now: Instant) -> usize {
        let before = self.queue.len();
        let mut kept: VecDeque<Waiter<R>> = VecDeque::with_capacity(before);
        let mut ordered = true;
        for waiter in self.queue.drain(..) {
            if waiter.expired(now) {
                let _ = waiter.reply.send(Err(RaftError::Timeout));
                continue;
            }
            if let Some(previous) = kept.back() {
                ordered &= not_after(previous.deadline, waiter.deadline);
            }
            kept.push_back(waiter);
        }
        self.deadlines_unordered = !ordered;
        self.queue = kept;
        before - self.queue.len()
    }

    /// Answers everyone with `error`.
    pub(crate) fn fail_all(&mut self, error: &RaftError) {
        for waiter in std::mem::take(&mut self.queue) {
            let _ = waiter.reply.send(Err(error.clone()));
        }
        self.deadlines_unordered = false;
    }

    fn answer_through(&mut self, index: Index, error: impl Fn() -> RaftError) {
        while self.queue.front().is_some_and(|w| w.index <= index) {
            if let Some(waiter) = self.queue.pop_front() {
                let _ = waiter.reply.send(Err(error()));
            }
        }
    }
}

/// True if deadline `a` comes no later than `b` (`None`: never).
fn not_after(a: Option<Instant>, b: Option<Instant>) -> bool {
    match (a, b) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(a), Some(b)) => a <= b,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use tokio::sync::oneshot;

    use super::*;

    type Answer = oneshot::Receiver<Result<u32, RaftError>>;

    fn wait(waiters: &mut Waiters<u32>, index: Index, term: Term) -> Answer {
        wait_until(waiters, index, term, None)
    }

    fn wait_until(
        waiters: &mut Waiters<u32>,
        index: Index,
        term: Term,
        deadline: Option<Instant>,
    ) -> Answer {
        let (reply, answer) = oneshot::channel();
        waiters.insert(index, term, deadline, reply);
        answer
    }

    fn timed_out(answer: &mut Answer) -> bool {
        matches!(answer.try_recv(), Ok(Err(RaftError::Timeout)))
    }

    fn answer(answer: &mut Answer) -> Option<Result<u32, String>> {
        answer.try_recv().ok().map(|r| r.map_err(|e| e.to_string()))
    }

    #[test]
    fn a_proposal_is_answered_only_once_its_index_is_decided() {
        let mut waiters = Waiters::new();
        // This node appended at 5 in term 2, lost leadership, led again in
        // term 4 and appended at 5 again: both wait.
        let mut first = wait(&mut waiters, 5, 2);
        let mut second = wait(&mut waiters, 5, 4);
        let mut later = wait(&mut waiters, 6, 4);
        assert_eq!(answer(&mut first), None);
        // Index 5 commits with term 2: the first proposal won after all.
        waiters.applied(5, 2, || Ok(7));
        assert_eq!(answer(&mut first), Some(Ok(7)));
        assert!(matches!(
            second.try_recv(),
            Ok(Err(RaftError::ProposalDropped))
        ));
        assert_eq!(answer(&mut later), None, "6 is not decided yet");
        waiters.applied_through(6);
        assert!(matches!(
            later.try_recv(),
            Ok(Err(RaftError::ProposalDropped))
        ));
        assert!(waiters.is_empty());
    }

    #[test]
    fn a_snapshot_leaves_the_outcome_unknown_and_a_stop_fails_the_rest() {
        let mut waiters = Waiters::new();
        let mut covered = wait(&mut waiters, 3, 1);
        let mut beyond = wait(&mut waiters, 9, 1);
        waiters.replaced_through(5);
        assert!(matches!(
            covered.try_recv(),
            Ok(Err(RaftError::OutcomeUnknown))
        ));
        assert_eq!(answer(&mut beyond), None);
        waiters.fail_all(&RaftError::ShuttingDown);
        assert!(matches!(
            beyond.try_recv(),
            Ok(Err(RaftError::ShuttingDown))
        ));
        waiters.applied_through(Index::MAX);
    }

    #[test]
    fn a_lost_leadership_leaves_only_the_uncommitted_unknown() {
        let mut waiters = Waiters::new();
        let mut committed = wait(&mut waiters, 4, 2);
        let mut pending = wait(&mut waiters, 5, 2);
        waiters.leadership_lost(4);
        assert!(
            answer(&mut committed).is_none(),
            "index 4 is decided by applying"
        );
        assert!(matches!(
            pending.try_recv(),
            Ok(Err(RaftError::OutcomeUnknown))
        ));
        waiters.applied(4, 2, || Ok(7));
        assert_eq!(answer(&mut committed), Some(Ok(7)));
    }

    #[test]
    fn waiters_past_their_deadline_time_out_and_the_rest_wait() {
        let start = Instant::now();
        let at = |ms| Some(start + std::time::Duration::from_millis(ms));
        let mut waiters = Waiters::new();
        let mut first = wait_until(&mut waiters, 1, 1, at(10));
        let mut second = wait_until(&mut waiters, 2, 1, at(20));
        let mut third = wait_until(&mut waiters, 3, 1, at(30));
        assert_eq!(waiters.expire(start), 0);
        assert_eq!(
            waiters.expire(at(20).unwrap()),
            2,
            "the deadline itself expires"
        );
        assert!(timed_out(&mut first) && timed_out(&mut second));
        assert_eq!(answer(&mut third), None);
        // Applying later indexes does not answer an expired waiter twice.
        waiters.applied(3, 1, || Ok(3));
        assert_eq!(answer(&mut third), Some(Ok(3)));
        assert!(waiters.is_empty());
    }

    #[test]
    fn a_waiter_inserted_in_the_middle_still_expires_in_time() {
        let start = Instant::now();
        let at = |ms| Some(start + std::time::Duration::from_millis(ms));
        let mut waiters = Waiters::new();
        // This node led in term 2 and appended 5..=7, then led again in term
        // 4 after its log was cut back to 4: index 5 again, later deadline.
        let mut old = [5, 6, 7].map(|index| wait_until(&mut waiters, index, 2, at(10)));
        let mut new = wait_until(&mut waiters, 5, 4, at(50));
        let mut never = wait_until(&mut waiters, 8, 4, None);
        assert_eq!(waiters.expire(at(10).unwrap()), 3);
        assert!(old.iter_mut().all(timed_out));
        assert_eq!(answer(&mut new), None);
        assert_eq!(waiters.expire(at(50).unwrap()), 1);
        assert!(timed_out(&mut new));
        assert_eq!(
            waiters.expire(at(100_000).unwrap()),
            0,
            "no deadline, no timeout"
        );
        assert_eq!(answer(&mut never), None);
        // Ordered again: a new waiter behind one without a deadline.
        let mut late = wait_until(&mut waiters, 9, 4, at(60));
        assert_eq!(waiters.expire(at(60).unwrap()), 1);
        assert!(timed_out(&mut late));
        waiters.applied_through(8);
        assert!(matches!(
            never.try_recv(),
            Ok(Err(RaftError::ProposalDropped))
        ));
    }
}
