//! An in-memory log store: the reference implementation of [`LogRead`], used by
//! the simulator and by tests. It is exact and simple rather than fast.
//!
//! # Why there are two in-memory logs
//! `ordo::storage::MemLogStore` keeps a log in memory too, for the runtime.
//! They implement the same read contract but serve different drivers:
//!
//! - [`MemoryLog`] (here) is a plain value its one driver owns and writes
//!   through `&mut self`. It has no durability point of its own: the driver
//!   decides when a [`Persist`] "is durable", which is how the simulator
//!   loses unsynced writes. Misuse (a gap, an overwrite of compacted
//!   entries) panics, because here it can only be a bug in the driver.
//! - `MemLogStore` is a `LogStore`: shared between the runtime's threads
//!   (`&self`, a lock), misuse answered with a typed `StorageError` like
//!   any store's, a `Durable` point reported by `sync`, and a compact entry
//!   layout that keeps the runtime benchmarks' memory traffic down.
//!
//! Neither can be the other: the core cannot depend on the runtime's
//! storage, and building `MemLogStore` on this would cost it its compact
//! layout (88-byte entries instead of 48). Their reads are pinned equal by
//! a differential test in `ordo::storage::mem`.

use crate::actions::Persist;
use crate::entry::Entry;
use crate::hard_state::HardState;
use crate::log::read::{LogRead, LogReadError};
use crate::types::{Index, Term};

/// A log and hard state kept in memory.
///
/// Invariant: `entries[i].index == compacted_index + 1 + i`.
#[derive(Clone, Debug, Default)]
pub struct MemoryLog {
    hard_state: HardState,
    compacted_index: Index,
    compacted_term: Term,
    entries: Vec<Entry>,
}

impl MemoryLog {
    /// An empty log with a zero hard state.
    pub fn new() -> Self {
        Self::default()
    }

    /// The hard state last written.
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// Applies one [`Persist`] action: hard state, then a possible suffix
    /// truncation, then the new entries.
    ///
    /// # Panics
    /// If the entries would leave a gap after the current last index, or would
    /// overwrite compacted entries: both mean the driver lost or reordered a
    /// persist, and continuing would corrupt the log.
    pub fn apply(&mut self, persist: &Persist) {
        if let Some(hard_state) = persist.hard_state {
            self.hard_state = hard_state;
        }
        self.append(&persist.entries);
    }

    /// Writes `entries`, first removing any held entries at or after the first
    /// new index. See [`MemoryLog::apply`] for the panics.
    pub fn append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else { return };
        assert!(
            first.index > self.compacted_index,
            "append at index {} would overwrite compacted entries (compacted to {})",
            first.index,
            self.compacted_index
        );
        assert!(
            first.index <= self.last_index() + 1,
            "append at index {} leaves a gap after last index {}",
            first.index,
            self.last_index()
        );
        self.entries
            .truncate((first.index - self.compacted_index - 1) as usize);
        self.entries.extend_from_slice(entries);
    }

    /// Discards entries up to and including `index`, remembering its term.
    ///
    /// # Panics
    /// If `index` is past the last entry.
    pub fn compact(&mut self, index: Index) {
        if index <= self.compacted_index {
            return;
        }
        assert!(
            index <= self.last_index(),
            "compact to {index} past the last index"
        );
        let term = self.entry_term(index);
        self.entries
            .drain(..(index - self.compacted_index) as usize);
        self.compacted_index = index;
        self.compacted_term = term;
    }

    /// Replaces the whole log with the point `(index, term)` a snapshot covers.
    pub fn reset(&mut self, index: Index, term: Term) {
        self.entries.clear();
        self.compacted_index = index;
        self.compacted_term = term;
    }

    /// Removes every entry after `index` (at least the compaction point),
    /// keeping the hard state: what a storage fault that lost the synced
    /// tail of a log leaves. For simulators and tests.
    ///
    /// # Panics
    /// If `index` is below the compaction point.
    pub fn lose_entries_after(&mut self, index: Index) {
        assert!(
            index >= self.compacted_index,
            "cannot cut the log to {index}, below its compaction point {}",
            self.compacted_index
        );
        self.entries
            .truncate((index - self.compacted_index) as usize);
    }

    fn entry_term(&self, index: Index) -> Term {
        self.entries[(index - self.compacted_index - 1) as usize].term
    }
}

impl LogRead for MemoryLog {
    fn first_index(&self) -> Index {
        self.compacted_index + 1
    }

    fn last_index(&self) -> Index {
        self.compacted_index + self.entries.len() as Index
    }

    fn term(&self, index: Index) -> Result<Term, LogReadError> {
        if index < self.compacted_index {
            return Err(LogReadError::Compacted {
                index,
                first_index: self.first_index(),
            });
        }
        if index > self.last_index() {
            return Err(LogReadError::Unavailable {
                index,
                last_index: self.last_index(),
            });
        }
        if index == self.compacted_index {
            return Ok(self.compacted_term);
        }
        Ok(self.entry_term(index))
    }

    fn entries(&self, low: Index, high: Index, max_bytes: u64) -> Result<Vec<Entry>, LogReadError> {
        if low < self.first_index() {
            return Err(LogReadError::Compacted {
                index: low,
                first_index: self.first_index(),
            });
        }
        if high > self.last_index() + 1 {
            return Err(LogReadError::Unavailable {
                index: high - 1,
                last_index: self.last_index(),
            });
        }
        let start = (low - self.compacted_index - 1) as usize;
        let end = high.saturating_sub(self.compacted_index + 1) as usize;
        Ok(limit_by_bytes(&self.entries[start..end.max(start)], max_bytes).to_vec())
    }
}

/// The longest prefix of `entries` whose payload stays within `max_bytes`, but
/// never fewer than one entry when `entries` is not empty.
pub fn limit_by_bytes(entries: &[Entry], max_bytes: u64) -> &[Entry] {
    let mut bytes = 0;
    for (count, entry) in entries.iter().enumerate() {
        bytes += entry.payload_bytes();
        if bytes > max_bytes && count > 0 {
            return &entries[..count];
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with_terms(terms: &[Term]) -> MemoryLog {
        let mut log = MemoryLog::new();
        let entries: Vec<Entry> = terms
            .iter()
            .enumerate()
            .map(|(i, &term)| Entry::command(i as Index + 1, term, vec![0u8; 10]))
            .collect();
        log.append(&entries);
        log
    }

    #[test]
    fn reads_back_what_was_appended() {
        let log = log_with_terms(&[1, 1, 2]);
        assert_eq!((log.first_index(), log.last_index()), (1, 3));
        assert_eq!(log.term(0), Ok(0));
        assert_eq!(log.term(3), Ok(2));
        assert_eq!(log.entries(2, 4, u64::MAX).map(|e| e.len()), Ok(2));
    }

    #[test]
    fn append_overwrites_the_conflicting_suffix() {
        let mut log = log_with_terms(&[1, 1, 1]);
        log.append(&[Entry::noop(2, 3)]);
        assert_eq!(log.last_index(), 2);
        assert_eq!(log.term(2), Ok(3));
    }

    #[test]
    fn byte_limit_returns_at_least_one_entry() {
        let log = log_with_terms(&[1, 1, 1]);
        assert_eq!(log.entries(1, 4, 0).map(|e| e.len()), Ok(1));
        assert_eq!(log.entries(1, 4, 20).map(|e| e.len()), Ok(2));
    }

    #[test]
    fn compaction_keeps_the_term_of_the_compaction_point() {
        let mut log = log_with_terms(&[1, 2, 3]);
        log.compact(2);
        assert_eq!(log.first_index(), 3);
        assert_eq!(log.term(2), Ok(2));
        assert!(matches!(log.term(1), Err(LogReadError::Compacted { .. })));
        assert!(matches!(
            log.entries(2, 4, u64::MAX),
            Err(LogReadError::Compacted { .. })
        ));
    }

    #[test]
    #[should_panic(expected = "leaves a gap")]
    fn a_gap_is_refused() {
        let mut log = log_with_terms(&[1]);
        log.append(&[Entry::noop(3, 1)]);
    }
}
