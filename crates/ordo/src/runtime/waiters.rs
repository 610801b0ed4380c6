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

use std::collections::BTreeMap;

use ordo_core::{Index, Term};

use crate::runtime::error::RaftError;
use crate::runtime::shared::Reply;

/// Replies waiting for their entry, by (index, term).
#[derive(Debug)]
pub(crate) struct Waiters<R> {
    by_entry: BTreeMap<(Index, Term), Reply<R>>,
}

impl<R> Waiters<R> {
    pub(crate) fn new() -> Self {
        Waiters {
            by_entry: BTreeMap::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_entry.is_empty()
    }

    /// `reply` waits for the entry at `index` appended in `term`. A reply
    /// already waiting there (impossible: one entry per index and term) is
    /// answered dropped.
    pub(crate) fn insert(&mut self, index: Index, term: Term, reply: Reply<R>) {
        if let Some(earlier) = self.by_entry.insert((index, term), reply) {
            let _ = earlier.send(Err(RaftError::ProposalDropped));
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
        if let Some(reply) = self.by_entry.remove(&(index, term)) {
            let _ = reply.send(outcome());
        }
        self.applied_through(index);
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

    /// Answers everyone with `error`.
    pub(crate) fn fail_all(&mut self, error: &RaftError) {
        for (_, reply) in std::mem::take(&mut self.by_entry) {
            let _ = reply.send(Err(error.clone()));
        }
    }

    fn answer_through(&mut self, index: Index, error: impl Fn() -> RaftError) {
        let later = match index.checked_add(1) {
            Some(next) => self.by_entry.split_off(&(next, 0)),
            None => BTreeMap::new(),
        };
        for (_, reply) in std::mem::replace(&mut self.by_entry, later) {
            let _ = reply.send(Err(error()));
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;

    use super::*;

    type Answer = oneshot::Receiver<Result<u32, RaftError>>;

    fn wait(waiters: &mut Waiters<u32>, index: Index, term: Term) -> Answer {
        let (reply, answer) = oneshot::channel();
        waiters.insert(index, term, reply);
        answer
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
}
