//! [`MemLogStore`]: the [`LogStore`] contract kept in memory.

use std::collections::VecDeque;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ordo_core::{
    Entry, HardState, Index, LogRead, LogReadError, Persist, PersistId, Term, limit_by_bytes,
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

/// Invariant: `entries[i].index == compacted_index + 1 + i`.
#[derive(Debug, Default)]
struct MemState {
    entries: VecDeque<Entry>,
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

    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        checks::append(entries, self.compacted_index, self.last_index())?;
        if let Some(first) = entries.first() {
            let keep = self.position(first.index);
            self.entries.truncate(keep);
            self.entries.extend(entries.iter().cloned());
        }
        Ok(())
    }
}

impl MemLogStore {
    /// An empty log with a zero hard state.
    pub fn new() -> Self {
        Self::default()
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
        let range: Vec<Entry> = state
            .entries
            .range(state.position(low)..state.position(high))
            .cloned()
            .collect();
        let kept = limit_by_bytes(&range, max_bytes).len();
        let mut range = range;
        range.truncate(kept);
        Ok(range)
    }
}

impl LogStore for MemLogStore {
    fn append(&self, entries: &[Entry]) -> Result<(), StorageError> {
        self.write_state().append(entries)
    }

    fn truncate(&self, from: Index) -> Result<(), StorageError> {
        let mut state = self.write_state();
        checks::truncate(from, state.compacted_index, state.last_index())?;
        let keep = state.position(from);
        state.entries.truncate(keep);
        Ok(())
    }

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

    fn write(&self, persist: &Persist) -> Result<(), StorageError> {
        let mut state = self.write_state();
        state.append(&persist.entries)?;
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

    fn durable(&self) -> Durable {
        self.read().durable
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
