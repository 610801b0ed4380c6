//! The [`LogStore`] trait: the write side of the log, with its contract.

use ordo_core::{HardState, Index, LogRead, Persist, PersistId, Term};

use crate::storage::error::StorageError;

/// A durability point: everything described here survives a crash.
///
/// Returned by [`LogStore::sync`]. The runtime reports `persist_id` to the core
/// (`Raft::persisted`), which covers every earlier persist too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Durable {
    /// The highest [`Persist::id`] written with [`LogStore::write`] whose
    /// writes are all durable; `0` when none.
    pub persist_id: PersistId,
    /// The log's last index at the durability point.
    pub last_index: Index,
    /// The term of `last_index` (the compaction term when the log is empty).
    pub last_term: Term,
    /// The hard state at the durability point.
    pub hard_state: HardState,
}

/// Durable storage of the Raft log and hard state.
///
/// # Contract
/// - **Reads** go through the [`LogRead`] supertrait and may run on other threads
///   at the same time as writes (every implementation is `Send + Sync` and
///   internally synchronized; share it as `Arc<S>`, which also implements
///   [`LogRead`]). A read sees each write whole or not at all, never half of it.
/// - **Writes** ([`write`](Self::write), [`compact`](Self::compact),
///   [`reset`](Self::reset), [`save_hard_state`](Self::save_hard_state)) are
///   visible to reads when they return, but are *durable* only once a later
///   [`sync`](Self::sync) returns. Writes are applied in call order; callers
///   should issue them from one task.
/// - **Group commit**: [`sync`](Self::sync) never blocks writes or reads while
///   the disk flushes. Writes made while a sync is in flight are covered by the
///   next sync, and concurrent sync callers share one flush.
/// - **Errors**: a write or sync that fails with [`StorageError::Io`] poisons the
///   store: later writes and syncs fail with [`StorageError::Poisoned`] and
///   the durability point never moves again. Reads keep working, capped at
///   the last durable index. Reopening the store recovers what is on disk.
///   Caller bugs ([`StorageError::Gap`], [`StorageError::Compacted`],
///   [`StorageError::OutOfRange`]) change nothing and do not poison.
pub trait LogStore: LogRead + Send + Sync {
    /// Discards entries up to and including `through`, which a snapshot covers.
    /// Afterwards `first_index() == through + 1` and `term(through)` still answers.
    /// Compacting at or below the current compaction point is a no-op: it
    /// changes nothing and does not sync.
    ///
    /// Otherwise durable when it returns (a disk store syncs before deleting
    /// files), along with every write made before it.
    ///
    /// # Errors
    /// [`StorageError::OutOfRange`] if `through > last_index()` (use
    /// [`reset`](Self::reset) to move past the end); I/O errors.
    fn compact(&self, through: Index) -> Result<(), StorageError>;

    /// Discards the whole log because a snapshot at (`index`, `term`) replaces it.
    /// Afterwards the log is empty, `first_index() == index + 1`,
    /// `last_index() == index` and `term(index) == Ok(term)`.
    ///
    /// Durable when it returns, along with every write made before it.
    ///
    /// # Errors
    /// [`StorageError::Compacted`] if `index` is below the current compaction
    /// point; [`StorageError::OutOfRange`] if it is above 2^62; I/O errors.
    fn reset(&self, index: Index, term: Term) -> Result<(), StorageError>;

    /// Records `hard_state`, durable at the next [`sync`](Self::sync).
    ///
    /// Hard states come as Raft writes them: the term never goes back, and a
    /// vote once recorded stays for its term. A store may rely on that
    /// ([`WalLogStore`](crate::storage::WalLogStore) keeps a second copy and
    /// recovers the newer of the two).
    ///
    /// # Errors
    /// I/O errors as in the trait contract.
    fn save_hard_state(&self, hard_state: HardState) -> Result<(), StorageError>;

    /// The hard state last saved (durable or not); zero for a new store.
    fn hard_state(&self) -> HardState;

    /// Carries out one [`Persist`] action of the core: its hard state, then its
    /// entries, and remembers `persist.id` so that the [`Durable`] of a later
    /// sync names it. Persists must be written in id order. The persist is
    /// taken by value: a store that keeps entries in memory moves them in.
    ///
    /// Entries must have consecutive indexes. If the first index is at or
    /// below [`last_index`](LogRead::last_index), every entry from that index
    /// on is removed first: a follower overwriting a conflicting suffix. No
    /// entries (a hard state alone, or nothing) is fine.
    ///
    /// # Errors
    /// [`StorageError::Gap`] if the first index is past `last_index() + 1` or the
    /// batch is not consecutive; [`StorageError::Compacted`] if it is at or below
    /// the compaction point; [`StorageError::OutOfRange`] if an index is above
    /// 2^62, the highest a store holds; I/O errors as in the trait contract.
    /// An error changes nothing.
    fn write(&self, persist: Persist) -> Result<(), StorageError>;

    /// Makes every write that returned before this call durable, and returns the
    /// durability point reached (which may cover later writes too).
    ///
    /// # Errors
    /// I/O errors poison the store (trait contract): the returned error is the
    /// only answer, never a false durability point.
    fn sync(&self) -> Result<Durable, StorageError>;

    /// True if [`write`](Self::write) and [`sync`](Self::sync) never wait for
    /// a device (a store in memory). The runtime then makes them inline on its
    /// consensus task instead of handing them to its persistence thread,
    /// which saves two thread hand-offs per write. Default `false`: a store
    /// that may block must keep it.
    fn writes_never_block(&self) -> bool {
        false
    }

    /// The directory the store keeps its files in, for messages that must
    /// name it; `None` for a store in memory (the default).
    fn location(&self) -> Option<&std::path::Path> {
        None
    }

    /// The *repair point*: `Some(index)` when this store may have lost entries
    /// it once reported durable (recovery had to cut bytes it cannot prove were
    /// never synced, or an operator rebuilt the log with `ordo repair`), and
    /// `index` bounds from above the last entry that may have been lost.
    ///
    /// A node whose store has a repair point must neither vote nor campaign
    /// until its durable log reaches `index` again, copied from a leader: its
    /// vote could otherwise elect a leader that lacks an acknowledged entry
    /// (the Protocol-Aware Recovery rule). The point is durable: it survives
    /// restarts until [`clear_repair_point`](Self::clear_repair_point).
    /// Default: `None` (a store that never loses synced data).
    fn repair_point(&self) -> Option<Index> {
        None
    }

    /// Forgets the repair point, durably, once the node's durable log has
    /// reached it. Default: nothing to do.
    ///
    /// # Errors
    /// I/O errors; the repair point then stays, which only keeps the node
    /// from voting a while longer.
    fn clear_repair_point(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// Argument checks shared by every implementation, so they agree exactly.
pub(crate) mod checks {
    use ordo_core::{Entry, Index};

    use crate::storage::error::StorageError;

    /// The highest log index a store accepts. No real log gets near it (2^62
    /// entries); below it `index + 1` never overflows, and a disk store's
    /// recovery refuses anything above it as corruption.
    pub(crate) const INDEX_MAX: Index = 1 << 62;

    fn within_range(index: Index) -> Result<(), StorageError> {
        if index > INDEX_MAX {
            return Err(StorageError::OutOfRange {
                index,
                last_index: INDEX_MAX,
            });
        }
        Ok(())
    }

    /// `entries` may start anywhere in `compacted + 1 ..= last + 1` and must be
    /// consecutive.
    pub(crate) fn append(
        entries: &[Entry],
        compacted: Index,
        last: Index,
    ) -> Result<(), StorageError> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        if let Some(last_entry) = entries.last() {
            within_range(last_entry.index)?;
        }
        if first.index <= compacted {
            return Err(StorageError::Compacted {
                index: first.index,
                first_index: compacted + 1,
            });
        }
        if first.index > last + 1 {
            return Err(StorageError::Gap {
                index: first.index,
                expected: last + 1,
            });
        }
        for pair in entries.windows(2) {
            if pair[1].index != pair[0].index + 1 {
                return Err(StorageError::Gap {
                    index: pair[1].index,
                    expected: pair[0].index + 1,
                });
            }
        }
        Ok(())
    }

    /// `from` must lie in `compacted + 1 ..= last + 1`.
    pub(crate) fn truncate(from: Index, compacted: Index, last: Index) -> Result<(), StorageError> {
        if from <= compacted {
            return Err(StorageError::Compacted {
                index: from,
                first_index: compacted + 1,
            });
        }
        if from > last + 1 {
            return Err(StorageError::OutOfRange {
                index: from,
                last_index: last,
            });
        }
        Ok(())
    }

    /// `through` must not pass `last`.
    pub(crate) fn compact(through: Index, last: Index) -> Result<(), StorageError> {
        if through > last {
            return Err(StorageError::OutOfRange {
                index: through,
                last_index: last,
            });
        }
        Ok(())
    }

    /// `index` must not be below `compacted`, nor above [`INDEX_MAX`].
    pub(crate) fn reset(index: Index, compacted: Index) -> Result<(), StorageError> {
        within_range(index)?;
        if index < compacted {
            return Err(StorageError::Compacted {
                index,
                first_index: compacted + 1,
            });
        }
        Ok(())
    }
}
