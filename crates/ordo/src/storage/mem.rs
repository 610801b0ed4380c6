//! [`MemLogStore`]: the [`LogStore`] contract kept in memory.
//!
//! Not to be confused with `ordo_core::MemoryLog`, the core's reference
//! [`LogRead`] that the simulator drives. This one is a full [`LogStore`]:
//! shared between the runtime's threads, misuse answered with a typed
//! [`StorageError`] (it passes the storage [`conformance`](super::conformance)
//! suite), a [`Durable`] point that moves on `sync`, and entries kept in 48
//! bytes rather than 88. `MemoryLog` is a plain value owned by one driver,
//! which panics on misuse and leaves durability to that driver. The core
//! cannot use this store, and this store does not wrap `MemoryLog` because
//! the compact layout is what keeps the runtime benchmarks' memory traffic
//! down (BENCHMARKS.md). Both must read the same after the same writes; a
//! test below checks it.

use std::collections::VecDeque;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use ordo_core::{
    Entry, EntryPayload, HardState, Index, LogRead, LogReadError, Membership, Persist, PersistId,
    Term,
};

use crate::storage::error::StorageError;
use crate::storage::log_store::{Durable, LogStore, checks};

/// A [`LogStore`] in memory: exact and simple, for tests, simulations and
/// single-process experiments. "Durable" means "written": nothing survives the
/// process.
#[derive(Debug, Default)]
pub struct MemLogStore {
    state: RwLock<MemState>,
}

/// Invariant: `entries[i]` is the entry at index `compacted_index + 1 + i`.
#[derive(Debug, Default)]
struct MemState {
    entries: VecDeque<Stored>,
    compacted_index: Index,
    compacted_term: Term,
    hard_state: HardState,
    persist_id: PersistId,
    durable: Durable,
}

impl MemState {
    fn last_index(&self) -> Index {
        self.compacted_index + self.entries.len() as Index
    }

    fn position(&self, index: Index) -> usize {
        (index - self.compacted_index - 1) as usize
    }

    fn term(&self, index: Index) -> Result<Term, LogReadError> {
        if index < self.compacted_index {
            return Err(LogReadError::Compacted {
                index,
                first_index: self.compacted_index + 1,
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
        Ok(self.entries[self.position(index)].term)
    }

    /// Appends `entries` (moving them in), first removing a conflicting
    /// suffix, as [`LogStore::write`] describes.
    fn append(&mut self, entries: Vec<Entry>) -> Result<(), StorageError> {
        checks::append(&entries, self.compacted_index, self.last_index())?;
        if let Some(first) = entries.first() {
            let keep = self.position(first.index);
            self.entries.truncate(keep);
            self.entries.extend(entries.into_iter().map(Stored::from));
        }
        Ok(())
    }
}

/// An entry as kept here: the index is its position, and a configuration
/// (rare, and three sets wide) is boxed, so a command takes 48 bytes rather
/// than an [`Entry`]'s 88. A log that only grows (no snapshots) grows by
/// that much per entry, and every fresh page costs a page fault.
#[derive(Debug)]
struct Stored {
    term: Term,
    payload: StoredPayload,
}

#[derive(Debug)]
enum StoredPayload {
    Noop,
    Command(Bytes),
    Membership(Box<Membership>),
}

impl From<&Entry> for Stored {
    fn from(entry: &Entry) -> Self {
        let payload = match &entry.payload {
            EntryPayload::Noop => StoredPayload::Noop,
            EntryPayload::Command(data) => StoredPayload::Command(data.clone()),
            EntryPayload::Membership(membership) => {
                StoredPayload::Membership(Box::new(membership.clone()))
            }
        };
        Stored {
            term: entry.term,
            payload,
        }
    }
}

impl From<Entry> for Stored {
    fn from(entry: Entry) -> Self {
        let payload = match entry.payload {
            EntryPayload::Noop => StoredPayload::Noop,
            EntryPayload::Command(data) => StoredPayload::Command(data),
            EntryPayload::Membership(membership) => StoredPayload::Membership(Box::new(membership)),
        };
        Stored {
            term: entry.term,
            payload,
        }
    }
}

impl Stored {
    fn payload_bytes(&self) -> u64 {
        match &self.payload {
            StoredPayload::Command(data) => data.len() as u64,
            StoredPayload::Noop | StoredPayload::Membership(_) => 0,
        }
    }

    fn to_entry(&self, index: Index) -> Entry {
        let payload = match &self.payload {
            StoredPayload::Noop => EntryPayload::Noop,
            StoredPayload::Command(data) => EntryPayload::Command(data.clone()),
            StoredPayload::Membership(membership) => {
                EntryPayload::Membership(membership.as_ref().clone())
            }
        };
        Entry {
            index,
            term: self.term,
            payload,
        }
    }
}

impl MemLogStore {
    /// An empty log with a zero hard state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes every entry with index `>= from`, as
    /// [`WalLogStore::truncate`](crate::storage::WalLogStore::truncate) does:
    /// the runtime never truncates alone (a [`LogStore::write`] overwrites a
    /// conflicting suffix), but tests that use this store as the model of
    /// the WAL compare the two.
    ///
    /// # Errors
    /// [`StorageError::Compacted`] if `from <= first_index() - 1`;
    /// [`StorageError::OutOfRange`] if `from > last_index() + 1`.
    pub fn truncate(&self, from: Index) -> Result<(), StorageError> {
        let mut state = self.write_state();
        checks::truncate(from, state.compacted_index, state.last_index())?;
        let keep = state.position(from);
        state.entries.truncate(keep);
        Ok(())
    }

    fn read(&self) -> RwLockReadGuard<'_, MemState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, MemState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl LogRead for MemLogStore {
    fn first_index(&self) -> Index {
        self.read().compacted_index + 1
    }

    fn last_index(&self) -> Index {
        self.read().last_index()
    }

    fn term(&self, index: Index) -> Result<Term, LogReadError> {
        self.read().term(index)
    }

    fn entries(&self, low: Index, high: Index, max_bytes: u64) -> Result<Vec<Entry>, LogReadError> {
        let state = self.read();
        if low <= state.compacted_index {
            return Err(LogReadError::Compacted {
                index: low,
                first_index: state.compacted_index + 1,
            });
        }
        if high > state.last_index() + 1 {
            return Err(LogReadError::Unavailable {
                index: high - 1,
                last_index: state.last_index(),
            });
        }
        if low >= high {
            return Ok(Vec::new());
        }
        // Clones only what fits: at most `max_bytes` of payload, at least one
        // entry (as `ordo_core::limit_by_bytes`).
        let stored = state
            .entries
            .range(state.position(low)..state.position(high));
        let mut range = Vec::with_capacity(stored.len().min(1024));
        let mut bytes = 0;
        for (entry, index) in stored.zip(low..) {
            bytes += entry.payload_bytes();
            if bytes > max_bytes && !range.is_empty() {
                break;
            }
            range.push(entry.to_entry(index));
        }
        Ok(range)
    }
}

impl LogStore for MemLogStore {
    fn compact(&self, through: Index) -> Result<(), StorageError> {
        let mut state = self.write_state();
        checks::compact(through, state.last_index())?;
        if through <= state.compacted_index {
            return Ok(());
        }
        let term = state.entries[state.position(through)].term;
        let drop = state.position(through) + 1;
        state.entries.drain(..drop);
        state.compacted_index = through;
        state.compacted_term = term;
        mark_all_durable(&mut state);
        Ok(())
    }

    fn reset(&self, index: Index, term: Term) -> Result<(), StorageError> {
        let mut state = self.write_state();
        checks::reset(index, state.compacted_index)?;
        state.entries.clear();
        state.compacted_index = index;
        state.compacted_term = term;
        mark_all_durable(&mut state);
        Ok(())
    }

    fn save_hard_state(&self, hard_state: HardState) -> Result<(), StorageError> {
        self.write_state().hard_state = hard_state;
        Ok(())
    }

    fn hard_state(&self) -> HardState {
        self.read().hard_state
    }

    fn write(&self, persist: Persist) -> Result<(), StorageError> {
        let mut state = self.write_state();
        state.append(persist.entries)?;
        if let Some(hard_state) = persist.hard_state {
            state.hard_state = hard_state;
        }
        state.persist_id = persist.id;
        Ok(())
    }

    fn sync(&self) -> Result<Durable, StorageError> {
        let mut state = self.write_state();
        Ok(mark_all_durable(&mut state))
    }

    fn writes_never_block(&self) -> bool {
        true
    }
}

/// Everything written is "durable" in memory: moves the durability point to now.
fn mark_all_durable(state: &mut MemState) -> Durable {
    let last_index = state.last_index();
    let last_term = state.term(last_index).unwrap_or(state.compacted_term);
    state.durable = Durable {
        persist_id: state.persist_id,
        last_index,
        last_term,
        hard_state: state.hard_state,
    };
    state.durable
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Writes `entries` as the runtime would, in one persist.
    fn write_entries(store: &MemLogStore, entries: &[Entry]) {
        let persist = Persist {
            id: 1,
            hard_state: None,
            entries: entries.to_vec(),
        };
        store.write(persist).unwrap();
    }

    #[test]
    fn a_stored_entry_is_much_smaller_than_an_entry() {
        assert!(std::mem::size_of::<Stored>() <= 48);
        assert!(std::mem::size_of::<Entry>() > 48);
    }

    /// Every read `LogRead` offers, from `first - 1` to past the end.
    fn reads(log: &impl LogRead) -> Vec<String> {
        let (first, last) = (log.first_index(), log.last_index());
        let mut reads = vec![format!("first {first} last {last}")];
        for index in first.saturating_sub(2)..=last + 1 {
            reads.push(format!("term({index}) = {:?}", log.term(index)));
            // 20: exactly two commands' payload, the limit's edge.
            for max_bytes in [0, 10, 20, 25, u64::MAX] {
                let read = log.entries(index, (index + 3).min(last + 1), max_bytes);
                reads.push(format!("entries({index}, +3, {max_bytes}) = {read:?}"));
            }
        }
        reads
    }

    #[test]
    fn reads_the_same_as_the_cores_memory_log_after_the_same_writes() {
        let store = MemLogStore::new();
        let mut reference = ordo_core::MemoryLog::new();
        let command = |index, term| Entry::command(index, term, vec![index as u8; 10]);
        let writes: [&[Entry]; 4] = [
            &[
                command(1, 1),
                command(2, 1),
                command(3, 1),
                Entry::noop(4, 2),
            ],
            &[command(5, 2), command(6, 2)],
            // Overwrites a conflicting suffix.
            &[command(4, 3), command(5, 3)],
            &[command(6, 3), command(7, 3), command(8, 3)],
        ];
        for entries in writes {
            write_entries(&store, entries);
            reference.append(entries);
            assert_eq!(reads(&store), reads(&reference));
        }
        store.compact(3).unwrap();
        reference.compact(3);
        assert_eq!(reads(&store), reads(&reference));
        store.reset(20, 4).unwrap();
        reference.reset(20, 4);
        assert_eq!(reads(&store), reads(&reference));
    }

    #[test]
    fn a_read_clones_only_what_fits_in_the_byte_limit() {
        let store = MemLogStore::new();
        let entries: Vec<Entry> = (1..=5)
            .map(|index| Entry::command(index, 1, vec![0u8; 10]))
            .collect();
        write_entries(&store, &entries);
        assert_eq!(store.entries(1, 6, 25).unwrap(), entries[..2]);
        assert_eq!(
            store.entries(2, 6, 0).unwrap(),
            entries[1..2],
            "at least one"
        );
        assert_eq!(store.entries(1, 6, u64::MAX).unwrap(), entries);
    }
}
