//! [`CrashableLogStore`]: a [`LogStore`] in memory that can lose power — the
//! storage half of Ordo's test kit (the network half is
//! [`InProcessNetwork`](crate::transport::InProcessNetwork)). How to use it
//! is on the type.
//!
//! Invariants: `synced` is always a past state of `written` (replaying `unsynced` on it gives `written`); compactions and
//! resets are durable when they return (the [`LogStore`] contract), so both
//! logs always share one compaction point.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use ordo_core::{Entry, HardState, Index, LogRead, LogReadError, Persist, Term};

use crate::storage::error::StorageError;
use crate::storage::log_store::{Durable, LogStore};
use crate::storage::mem::MemLogStore;

/// A [`LogStore`] in memory whose unsynced writes are lost in a
/// [`crash`](Self::crash): the storage half of Ordo's test kit.
///
/// It keeps two logs: what was *written* (what reads see, like a page cache)
/// and what was *synced* (what survives). [`crash`](CrashableLogStore::crash)
/// turns the power off: from then on writes and syncs fail, so the node on
/// top stops without making anything more durable.
/// [`recover`](CrashableLogStore::recover) turns it back on with only the
/// synced log, as a machine reboots: a node restarted on the same store then
/// finds every write it acknowledged (the runtime acknowledges only synced
/// writes) and may miss any it had not.
///
/// A crash is only interesting if something is unsynced at that moment; in
/// memory a sync is instant, so [`stall_syncs`](CrashableLogStore::stall_syncs)
/// makes syncs wait (a slow disk) until
/// [`release_syncs`](CrashableLogStore::release_syncs) or a crash.
///
/// ```text
/// store.stall_syncs();          // writes pile up unsynced
/// node.propose(x)               // written by the leader, never acknowledged
/// store.crash();                // power off: the node fails and stops
/// node.abort().await;           // (or waits for the failure to stop it)
/// store.recover();              // the unsynced tail is gone
/// RaftNode::new(.., Arc::clone(&store), ..)   // restart on what survived
/// ```
///
/// Its writes may block (a stalled sync), so the runtime drives it from its
/// persistence thread like a disk store, never inline on the consensus task.
#[derive(Debug, Default)]
pub struct CrashableLogStore {
    /// What reads see: every write, synced or not.
    written: MemLogStore,
    /// What survives a crash.
    synced: MemLogStore,
    power: Mutex<Power>,
    /// Wakes stalled syncs on release or crash.
    syncs_released: Condvar,
}

#[derive(Debug, Default)]
struct Power {
    /// Writes made to `written` since the last sync, in order.
    unsynced: Vec<Unsynced>,
    /// Set by `crash`, cleared by `recover`: every write and sync fails.
    off: bool,
    /// Set by `stall_syncs`: syncs wait.
    syncs_stalled: bool,
    /// Crashes so far.
    crashes: u64,
}

/// One write not yet synced, to replay on the synced log at the next sync.
#[derive(Debug)]
enum Unsynced {
    Persist(Persist),
    HardState(HardState),
}

impl CrashableLogStore {
    /// An empty store, powered on, syncing at once.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns the power off: the writes not yet synced are lost (at the next
    /// [`recover`](Self::recover)), and every write and sync fails with
    /// [`StorageError::Io`] until then — so a node on this store stops with
    /// a storage error without making anything more durable. Stalled syncs
    /// wake and fail. Reads keep answering from what was written, so the
    /// node on top can wind down.
    pub fn crash(&self) {
        let mut power = self.lock();
        power.off = true;
        power.crashes += 1;
        self.syncs_released.notify_all();
    }

    /// Turns the power back on with only what was synced: the written log
    /// becomes the synced one and the unsynced writes are gone. Call it once
    /// the crashed node has stopped, before restarting a node on this store.
    /// Syncs are no longer stalled. Returns how many writes were lost. A
    /// no-op (returning 0) while the power is on.
    pub fn recover(&self) -> usize {
        let mut power = self.lock();
        if !power.off {
            return 0;
        }
        let lost = std::mem::take(&mut power.unsynced).len();
        let rebuilt = self.rebuild_written();
        assert!(
            rebuilt.is_ok(),
            "a copy of a consistent log is consistent: {rebuilt:?}"
        );
        power.off = false;
        power.syncs_stalled = false;
        lost
    }

    /// Makes [`sync`](LogStore::sync) wait (a slow disk) until
    /// [`release_syncs`](Self::release_syncs) or [`crash`](Self::crash).
    /// Writes go on meanwhile, unsynced.
    pub fn stall_syncs(&self) {
        self.lock().syncs_stalled = true;
    }

    /// Lets stalled and future syncs complete.
    pub fn release_syncs(&self) {
        self.lock().syncs_stalled = false;
        self.syncs_released.notify_all();
    }

    /// Writes made and not yet synced: what a crash now would lose.
    pub fn unsynced_writes(&self) -> usize {
        self.lock().unsynced.len()
    }

    /// Crashes so far.
    pub fn crashes(&self) -> u64 {
        self.lock().crashes
    }

    /// The last index that would survive a crash now.
    pub fn synced_last_index(&self) -> Index {
        self.synced.last_index()
    }

    fn lock(&self) -> MutexGuard<'_, Power> {
        self.power.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Fails while the power is off; else records `write` to `written` and
    /// remembers it for the next sync.
    fn write_unsynced(
        &self,
        write: Unsynced,
        apply: impl FnOnce(&MemLogStore) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let mut power = self.lock();
        if power.off {
            return Err(power_off("write to"));
        }
        apply(&self.written)?;
        power.unsynced.push(write);
        Ok(())
    }

    /// Replays every unsynced write on the synced log. Caller holds the lock.
    fn flush(&self, power: &mut Power) -> Result<Durable, StorageError> {
        for write in power.unsynced.drain(..) {
            match write {
                Unsynced::Persist(persist) => self.synced.write(persist)?,
                Unsynced::HardState(hard_state) => self.synced.save_hard_state(hard_state)?,
            }
        }
        self.written.sync()?;
        self.synced.sync()
    }

    /// Makes `written` a copy of `synced`. Both share the compaction point
    /// (module invariant), so a reset to it and one write rebuild it.
    fn rebuild_written(&self) -> Result<(), StorageError> {
        let compacted = self.synced.first_index() - 1;
        let compacted_term = self
            .synced
            .term(compacted)
            .map_err(|error| read_failed(&error))?;
        self.written.reset(compacted, compacted_term)?;
        let entries = self
            .synced
            .entries(compacted + 1, self.synced.last_index() + 1, u64::MAX)
            .map_err(|error| read_failed(&error))?;
        let durable = self.synced.sync()?;
        self.written.write(Persist {
            id: durable.persist_id,
            hard_state: Some(self.synced.hard_state()),
            entries,
        })?;
        self.written.sync().map(|_| ())
    }
}

fn power_off(action: &'static str) -> StorageError {
    StorageError::io(
        action,
        "<crashable memory>",
        std::io::Error::other("the power is off (CrashableLogStore::crash)"),
    )
}

fn read_failed(error: &LogReadError) -> StorageError {
    StorageError::io(
        "copy the synced log of",
        "<crashable memory>",
        std::io::Error::other(error.to_string()),
    )
}

impl LogRead for CrashableLogStore {
    fn first_index(&self) -> Index {
        self.written.first_index()
    }

    fn last_index(&self) -> Index {
        self.written.last_index()
    }

    fn term(&self, index: Index) -> Result<Term, LogReadError> {
        self.written.term(index)
    }

    fn entries(&self, low: Index, high: Index, max_bytes: u64) -> Result<Vec<Entry>, LogReadError> {
        self.written.entries(low, high, max_bytes)
    }
}

impl LogStore for CrashableLogStore {
    fn compact(&self, through: Index) -> Result<(), StorageError> {
        let mut power = self.lock();
        if power.off {
            return Err(power_off("compact"));
        }
        self.written.compact(through)?;
        self.flush(&mut power)?;
        self.synced.compact(through)
    }

    fn reset(&self, index: Index, term: Term) -> Result<(), StorageError> {
        let mut power = self.lock();
        if power.off {
            return Err(power_off("reset"));
        }
        self.written.reset(index, term)?;
        self.flush(&mut power)?;
        self.synced.reset(index, term)
    }

    fn save_hard_state(&self, hard_state: HardState) -> Result<(), StorageError> {
        self.write_unsynced(Unsynced::HardState(hard_state), |log| {
            log.save_hard_state(hard_state)
        })
    }

    fn hard_state(&self) -> HardState {
        self.written.hard_state()
    }

    fn write(&self, persist: Persist) -> Result<(), StorageError> {
        self.write_unsynced(Unsynced::Persist(persist.clone()), |log| log.write(persist))
    }

    fn sync(&self) -> Result<Durable, StorageError> {
        let mut power = self.lock();
        while power.syncs_stalled && !power.off {
            power = self
                .syncs_released
                .wait(power)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if power.off {
            return Err(power_off("sync"));
        }
        self.flush(&mut power)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn persist(id: u64, first: Index, count: u64) -> Persist {
        Persist {
            id,
            hard_state: Some(HardState {
                term: id,
                ..HardState::default()
            }),
            entries: (first..first + count)
                .map(|index| Entry::command(index, 1, vec![index as u8]))
                .collect(),
        }
    }

    #[test]
    fn a_crash_loses_exactly_the_unsynced_writes() {
        let store = CrashableLogStore::new();
        store.write(persist(1, 1, 3)).unwrap();
        assert_eq!(store.sync().unwrap().last_index, 3);
        store.write(persist(2, 4, 2)).unwrap();
        assert_eq!(store.last_index(), 5, "reads see unsynced writes");
        assert_eq!(store.unsynced_writes(), 1);
        store.crash();
        assert!(store.write(persist(3, 6, 1)).is_err());
        assert!(store.sync().is_err());
        assert_eq!(store.recover(), 1);
        assert_eq!(store.last_index(), 3);
        assert_eq!(store.hard_state().term, 1, "the unsynced vote/term is gone");
        assert_eq!(
            store.entries(1, 4, u64::MAX).unwrap(),
            persist(1, 1, 3).entries
        );
        store.write(persist(1, 4, 1)).unwrap();
        assert_eq!(store.sync().unwrap().last_index, 4, "works after recovery");
    }

    #[test]
    fn compaction_and_reset_are_durable_when_they_return() {
        let store = CrashableLogStore::new();
        store.write(persist(1, 1, 5)).unwrap();
        store.compact(2).unwrap();
        store.crash();
        store.recover();
        assert_eq!((store.first_index(), store.last_index()), (3, 5));
        store.reset(10, 2).unwrap();
        store.crash();
        store.recover();
        assert_eq!((store.first_index(), store.last_index()), (11, 10));
        assert_eq!(store.term(10), Ok(2));
    }

    #[test]
    fn a_stalled_sync_waits_for_release_and_fails_on_crash() {
        let store = Arc::new(CrashableLogStore::new());
        store.stall_syncs();
        store.write(persist(1, 1, 1)).unwrap();
        let syncing = Arc::clone(&store);
        let released = std::thread::spawn(move || syncing.sync().map(|d| d.last_index));
        std::thread::sleep(Duration::from_millis(20));
        assert!(!released.is_finished(), "stalled");
        store.write(persist(2, 2, 1)).unwrap(); // writes go on
        store.release_syncs();
        assert_eq!(released.join().unwrap().unwrap(), 2);

        store.stall_syncs();
        let syncing = Arc::clone(&store);
        let crashed = std::thread::spawn(move || syncing.sync().is_err());
        std::thread::sleep(Duration::from_millis(20));
        store.crash();
        assert!(crashed.join().unwrap(), "a crash fails the stalled sync");
    }
}
