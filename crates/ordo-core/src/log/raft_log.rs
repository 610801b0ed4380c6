//! The core's view of the whole log: durable storage plus the in-memory tail,
//! and the commit and apply cursors over it.

use crate::entry::Entry;
use crate::log::read::{LogRead, LogReadError};
use crate::log::unstable::Unstable;
use crate::planted;
use crate::types::{Index, Term};

/// What [`RaftLog::try_append`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AppendOutcome {
    /// The log has no entry `(prev_index, prev_term)`: reject.
    Mismatch,
    /// The log now matches the leader's up to `match_index`.
    Appended {
        /// The last index known to match.
        match_index: Index,
        /// The first index removed, if a conflicting suffix was overwritten.
        truncated_from: Option<Index>,
        /// The first index written, if any entry was new.
        written_from: Option<Index>,
    },
}

/// The log as one sequence, wherever each entry currently lives.
///
/// Invariants (asserted where they change):
/// - `applied <= applying <= committed <= last_index()`.
/// - `committed` never decreases; committed entries are never truncated.
/// - Indexes below `unstable.offset()` are read from storage, the rest from
///   `unstable`. Storage may already hold some unstable entries (a write in
///   progress), or stale ones being overwritten; they are never read from there.
#[derive(Debug)]
pub(crate) struct RaftLog<L> {
    store: L,
    unstable: Unstable,
    committed: Index,
    applying: Index,
    applied: Index,
}

impl<L: LogRead> RaftLog<L> {
    /// The log held by `store`, everything in it durable. `applied` is where the
    /// state machine already is (entries up to it are not handed out again).
    pub(crate) fn new(store: L, applied: Index) -> Self {
        let compacted = store.first_index() - 1;
        let last = store.last_index();
        let applied = applied.max(compacted).min(last);
        RaftLog {
            store,
            unstable: Unstable::new(last),
            committed: applied,
            applying: applied,
            applied,
        }
    }

    /// The storage reader.
    pub(crate) fn store(&self) -> &L {
        &self.store
    }

    /// The storage reader, mutably (the simulator writes through it).
    pub(crate) fn store_mut(&mut self) -> &mut L {
        &mut self.store
    }

    /// Index of the last entry.
    pub(crate) fn last_index(&self) -> Index {
        self.unstable
            .last_index()
            .unwrap_or(self.unstable.offset() - 1)
    }

    /// Last index known durable on this node.
    pub(crate) fn durable_index(&self) -> Index {
        self.unstable.offset() - 1
    }

    /// Highest committed index.
    pub(crate) fn committed(&self) -> Index {
        self.committed
    }

    /// Highest index the state machine reported applied.
    pub(crate) fn applied(&self) -> Index {
        self.applied
    }

    /// Term of the entry at `index` (0 for index 0).
    ///
    /// # Errors
    /// The storage's, for compacted, missing or unreadable entries.
    pub(crate) fn term(&self, index: Index) -> Result<Term, LogReadError> {
        if let Some(term) = self.unstable.term(index) {
            return Ok(term);
        }
        if index >= self.unstable.offset() {
            return Err(LogReadError::Unavailable {
                index,
                last_index: self.last_index(),
            });
        }
        if index == 0 {
            return Ok(0);
        }
        self.store.term(index)
    }

    /// Term of the last entry.
    ///
    /// # Errors
    /// A storage read failure.
    pub(crate) fn last_term(&self) -> Result<Term, LogReadError> {
        self.term(self.last_index())
    }

    /// True if the log has an entry at `index` with `term`. Unreadable means no.
    pub(crate) fn matches(&self, index: Index, term: Term) -> bool {
        self.term(index).is_ok_and(|t| t == term)
    }

    /// Raft's election restriction (§5.4.1): is a log ending at
    /// `(last_index, last_term)` at least as up to date as this one?
    ///
    /// # Errors
    /// A storage read failure.
    pub(crate) fn is_up_to_date(
        &self,
        last_index: Index,
        last_term: Term,
    ) -> Result<bool, LogReadError> {
        let our_term = self.last_term()?;
        Ok(last_term > our_term || (last_term == our_term && last_index >= self.last_index()))
    }

    /// Entries in `low..high`, at most `max_bytes` of payload (but at least one).
    ///
    /// # Errors
    /// The storage's, for compacted or unreadable entries.
    pub(crate) fn entries(
        &self,
        low: Index,
        high: Index,
        max_bytes: u64,
    ) -> Result<Vec<Entry>, LogReadError> {
        let high = high.min(self.last_index() + 1);
        if low >= high {
            return Ok(Vec::new());
        }
        let split = self.unstable.offset();
        let mut entries = if low < split {
            self.store.entries(low, high.min(split), max_bytes)?
        } else {
            Vec::new()
        };
        let stored_all = low + entries.len() as Index >= split.min(high);
        if high > split && stored_all {
            let from = low.max(split);
            let budget = max_bytes.saturating_sub(crate::entry::total_payload_bytes(&entries));
            let mut allowed = fit(self.unstable.slice(from, high), budget);
            if entries.is_empty() {
                allowed = allowed.max(1); // at least one, as `limit_by_bytes`
            }
            entries.extend(self.unstable.slice(from, high).take(allowed).cloned());
        }
        Ok(entries)
    }

    /// The largest index at or below `index` whose term is at most `term`, and
    /// that term. This is how both sides of a rejected append skip a whole
    /// term of divergent entries per round trip.
    ///
    /// # Errors
    /// A storage read failure.
    pub(crate) fn find_conflict_by_term(
        &self,
        index: Index,
        term: Term,
    ) -> Result<(Index, Term), LogReadError> {
        let mut index = index.min(self.last_index());
        loop {
            match self.term(index) {
                Ok(t) if t <= term => return Ok((index, t)),
                Ok(_) => index -= 1,
                // Below the compaction point everything is committed, so it
                // matches the leader; stop at what we can still see.
                Err(LogReadError::Compacted { .. }) => return Ok((index, 0)),
                Err(error) => return Err(error),
            }
        }
    }

    /// Follower side of AppendEntries: if the log matches at
    /// `(prev_index, prev_term)`, writes the new `entries` over any conflicting
    /// suffix.
    ///
    /// # Panics
    /// If a committed entry would be overwritten. Callers answer appends that
    /// start below the commit index without calling this (see the follower),
    /// so reaching it means the log's own bookkeeping is broken.
    ///
    /// # Errors
    /// A storage read failure.
    pub(crate) fn try_append(
        &mut self,
        prev_index: Index,
        prev_term: Term,
        mut entries: Vec<Entry>,
    ) -> Result<AppendOutcome, LogReadError> {
        if !self.matches(prev_index, prev_term) {
            return Ok(AppendOutcome::Mismatch);
        }
        let match_index = prev_index + entries.len() as Index;
        let Some(position) = self.first_conflict(&entries)? else {
            return Ok(AppendOutcome::Appended {
                match_index,
                truncated_from: None,
                written_from: None,
            });
        };
        assert!(
            entries[position].index > self.committed,
            "conflicting entry at {} would overwrite committed entries (committed {})",
            entries[position].index,
            self.committed
        );
        let written_from = entries[position].index;
        // `split_off(0)` would copy every entry into a new vector.
        let new_entries = if position == 0 {
            entries
        } else {
            entries.split_off(position)
        };
        let truncated_from = self.unstable.truncate_and_append(new_entries);
        Ok(AppendOutcome::Appended {
            match_index,
            truncated_from,
            written_from: Some(written_from),
        })
    }

    /// Position in `entries` of the first one this log lacks or holds with a
    /// different term.
    fn first_conflict(&self, entries: &[Entry]) -> Result<Option<usize>, LogReadError> {
        for (position, entry) in entries.iter().enumerate() {
            if entry.index > self.last_index() {
                return Ok(Some(position));
            }
            match self.term(entry.index) {
                Ok(term) if term == entry.term => {}
                Ok(_) => return Ok(Some(position)),
                // Compacted entries are committed and therefore match.
                Err(LogReadError::Compacted { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(None)
    }

    /// Leader side: appends entries that continue the log.
    ///
    /// # Panics
    /// If they do not start right after the last index.
    pub(crate) fn append(&mut self, entries: Vec<Entry>) {
        let Some(first) = entries.first() else { return };
        assert_eq!(
            first.index,
            self.last_index() + 1,
            "leader append must continue the log"
        );
        self.unstable.truncate_and_append(entries);
    }

    /// Moves the commit index forward to `index`; never backwards.
    ///
    /// # Panics
    /// If `index` is past the last entry.
    pub(crate) fn commit_to(&mut self, index: Index) -> bool {
        if index <= self.committed {
            return false;
        }
        assert!(
            index <= self.last_index(),
            "commit {index} past last index {}",
            self.last_index()
        );
        self.committed = index;
        true
    }

    /// Hands out the next committed, locally durable entries to apply, at most
    /// `max_bytes` of payload (but at least one).
    ///
    /// # Errors
    /// A storage read failure.
    pub(crate) fn take_entries_to_apply(
        &mut self,
        max_bytes: u64,
    ) -> Result<Vec<Entry>, LogReadError> {
        let upto = if planted::APPLY_BEFORE_COMMIT {
            self.last_index()
        } else {
            self.committed.min(self.durable_index())
        };
        if self.applying >= upto {
            return Ok(Vec::new());
        }
        let entries = self.entries(self.applying + 1, upto + 1, max_bytes)?;
        if let Some(last) = entries.last() {
            self.applying = last.index;
        }
        Ok(entries)
    }

    /// True when the state machine reported every entry handed out applied.
    pub(crate) fn all_applied(&self) -> bool {
        self.applied == self.applying
    }

    /// The state machine applied up to `index`.
    ///
    /// # Panics
    /// If `index` was never handed out for applying.
    pub(crate) fn applied_to(&mut self, index: Index) {
        assert!(
            index <= self.applying,
            "applied {index} beyond what was handed out ({})",
            self.applying
        );
        self.applied = self.applied.max(index);
    }

    /// True if some entries still need to be handed to a persist action.
    pub(crate) fn has_unpersisted(&self) -> bool {
        self.unstable.has_unpersisted()
    }

    /// Hands out the entries that still need persisting.
    pub(crate) fn take_unpersisted(&mut self) -> Vec<Entry> {
        self.unstable.take_unpersisted()
    }

    /// The log was replaced by a snapshot covering everything up to `index`:
    /// nothing is left in memory, and everything up to `index` counts as
    /// committed and applied.
    ///
    /// # Panics
    /// If the storage was not reset to `index` first.
    pub(crate) fn reset_to_snapshot(&mut self, index: Index) {
        assert_eq!(
            self.store.first_index(),
            index + 1,
            "storage must be reset to the snapshot before the core is told"
        );
        self.unstable = Unstable::new(self.store.last_index());
        self.committed = self.committed.max(index);
        self.applying = index;
        self.applied = index;
    }

    /// Storage made everything up to `(index, term)` durable; a write still
    /// in flight may overwrite what lies above `limit`.
    pub(crate) fn stable_to(&mut self, index: Index, term: Term, limit: Index) {
        self.unstable.stable_to(index, term, limit);
    }
}

/// How many entries of `entries` fit in `budget` bytes (possibly none).
fn fit<'a>(entries: impl Iterator<Item = &'a Entry>, budget: u64) -> usize {
    let mut used = 0;
    entries
        .take_while(|entry| {
            used += entry.payload_bytes();
            used <= budget
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::memory::MemoryLog;

    fn stored(terms: &[Term]) -> MemoryLog {
        let mut store = MemoryLog::new();
        let entries: Vec<Entry> = terms
            .iter()
            .enumerate()
            .map(|(i, &t)| Entry::command(i as Index + 1, t, vec![0; 10]))
            .collect();
        store.append(&entries);
        store
    }

    fn entries(first: Index, terms: &[Term]) -> Vec<Entry> {
        terms
            .iter()
            .enumerate()
            .map(|(i, &t)| Entry::command(first + i as Index, t, vec![0; 10]))
            .collect()
    }

    #[test]
    fn reads_span_storage_and_the_tail() {
        let mut log = RaftLog::new(stored(&[1, 1, 1]), 0);
        log.append(entries(4, &[2, 2]));
        assert_eq!(log.entries(2, 6, u64::MAX).map(|e| e.len()), Ok(4));
        assert_eq!(
            log.entries(2, 6, 25).map(|e| e.len()),
            Ok(2),
            "byte limit across the split"
        );
        assert_eq!(
            log.entries(4, 6, 0).map(|e| e.len()),
            Ok(1),
            "at least one entry"
        );
        assert_eq!(log.term(5), Ok(2));
        assert_eq!(log.durable_index(), 3);
    }

    #[test]
    fn try_append_overwrites_only_the_conflicting_suffix() {
        let mut log = RaftLog::new(stored(&[1, 1, 1, 1]), 0);
        let result = log.try_append(1, 1, entries(2, &[1, 3]));
        let expected = AppendOutcome::Appended {
            match_index: 3,
            truncated_from: Some(3),
            written_from: Some(3),
        };
        assert_eq!(result, Ok(expected));
        assert_eq!(log.last_index(), 3);
        assert_eq!(log.term(3), Ok(3));
        assert_eq!(
            log.try_append(3, 1, Vec::new()),
            Ok(AppendOutcome::Mismatch),
            "mismatch at 3"
        );
    }

    #[test]
    fn try_append_of_known_entries_changes_nothing() {
        let mut log = RaftLog::new(stored(&[1, 1, 1]), 0);
        assert_eq!(
            log.try_append(0, 0, entries(1, &[1, 1])),
            Ok(AppendOutcome::Appended {
                match_index: 2,
                truncated_from: None,
                written_from: None,
            })
        );
        assert_eq!(log.last_index(), 3, "a shorter message must not truncate");
        assert!(!log.has_unpersisted());
    }

    #[test]
    #[should_panic(expected = "overwrite committed")]
    fn overwriting_a_committed_entry_is_a_bug() {
        let mut log = RaftLog::new(stored(&[1, 1, 1]), 0);
        log.commit_to(2);
        let _ = log.try_append(1, 1, entries(2, &[2]));
    }

    #[test]
    fn find_conflict_by_term_skips_a_whole_term() {
        let log = RaftLog::new(stored(&[1, 1, 2, 2, 2, 5, 5]), 0);
        assert_eq!(log.find_conflict_by_term(7, 3), Ok((5, 2)));
        assert_eq!(log.find_conflict_by_term(100, 9), Ok((7, 5)));
        assert_eq!(log.find_conflict_by_term(4, 0), Ok((0, 0)));
    }

    #[test]
    fn only_committed_and_durable_entries_are_applied() {
        let mut log = RaftLog::new(stored(&[1, 1]), 0);
        log.append(entries(3, &[1]));
        log.commit_to(3);
        assert_eq!(log.take_entries_to_apply(u64::MAX).map(|e| e.len()), Ok(2));
        let written = log.take_unpersisted();
        log.store_mut().append(&written);
        log.stable_to(3, 1, Index::MAX);
        assert_eq!(log.take_entries_to_apply(u64::MAX).map(|e| e.len()), Ok(1));
        log.applied_to(3);
        assert_eq!(log.applied(), 3);
    }
}
