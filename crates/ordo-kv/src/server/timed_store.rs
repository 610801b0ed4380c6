//! [`TimedLogStore`]: a log store that times its syncs, for the
//! `ordo_fsync_seconds` metric, and notes whether its last write found the
//! disk full, so that the HTTP API refuses writes it could not make durable
//! (507) before proposing them. It changes nothing else: every call goes
//! straight to the store it wraps, and every error comes back unchanged.

use std::sync::Arc;
use std::time::Instant;

use ordo::storage::{Durable, LogEntry, LogRead, LogReadError, LogStore, Persist, StorageError};
use ordo::{HardState, Index, Term};

use crate::server::metrics::Metrics;

/// Wraps a [`LogStore`], recording how long each `sync` takes.
pub struct TimedLogStore<L> {
    inner: L,
    metrics: Arc<Metrics>,
}

impl<L> TimedLogStore<L> {
    /// Times `inner`'s syncs into `metrics`.
    pub fn new(inner: L, metrics: Arc<Metrics>) -> Self {
        TimedLogStore { inner, metrics }
    }
}

impl<L> TimedLogStore<L> {
    /// Notes a full disk if `result` says so.
    fn noted<T>(&self, result: Result<T, StorageError>) -> Result<T, StorageError> {
        if let Err(error) = &result
            && is_no_space(error)
        {
            self.metrics.set_storage_full(true);
        }
        result
    }

    /// As [`noted`](Self::noted); a sync that succeeded also says the disk
    /// took everything written so far, so it is no longer full.
    fn noted_sync(&self, result: Result<Durable, StorageError>) -> Result<Durable, StorageError> {
        if result.is_ok() {
            self.metrics.set_storage_full(false);
        }
        self.noted(result)
    }
}

/// True if `error` comes from a full disk (ENOSPC, EDQUOT), directly or as
/// the failure that poisoned the store.
pub fn is_no_space(error: &StorageError) -> bool {
    error.exhausted() == Some(ordo::storage::Exhausted::DiskSpace)
}

impl<L: LogStore> LogRead for TimedLogStore<L> {
    fn first_index(&self) -> Index {
        self.inner.first_index()
    }

    fn last_index(&self) -> Index {
        self.inner.last_index()
    }

    fn term(&self, index: Index) -> Result<Term, LogReadError> {
        self.inner.term(index)
    }

    fn entries(
        &self,
        low: Index,
        high: Index,
        max_bytes: u64,
    ) -> Result<Vec<LogEntry>, LogReadError> {
        self.inner.entries(low, high, max_bytes)
    }
}

impl<L: LogStore> LogStore for TimedLogStore<L> {
    fn compact(&self, through: Index) -> Result<(), StorageError> {
        self.inner.compact(through)
    }

    fn reset(&self, index: Index, term: Term) -> Result<(), StorageError> {
        self.inner.reset(index, term)
    }

    fn save_hard_state(&self, hard_state: HardState) -> Result<(), StorageError> {
        self.noted(self.inner.save_hard_state(hard_state))
    }

    fn hard_state(&self) -> HardState {
        self.inner.hard_state()
    }

    fn write(&self, persist: Persist) -> Result<(), StorageError> {
        self.noted(self.inner.write(persist))
    }

    fn sync(&self) -> Result<Durable, StorageError> {
        let started = Instant::now();
        let durable = self.inner.sync();
        self.metrics.fsync_seconds.observe(started.elapsed());
        self.noted_sync(durable)
    }

    fn writes_never_block(&self) -> bool {
        self.inner.writes_never_block()
    }

    fn location(&self) -> Option<&std::path::Path> {
        self.inner.location()
    }

    fn repair_point(&self) -> Option<Index> {
        self.inner.repair_point()
    }

    fn clear_repair_point(&self) -> Result<(), StorageError> {
        self.inner.clear_repair_point()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ordo::storage::{WalConfig, WalLogStore};

    /// Storage errors name the log's directory through `location`; the
    /// wrapper used to answer `None` for every store it wrapped.
    #[test]
    fn the_wrapped_stores_location_shows_through() {
        let dir = tempfile::tempdir().unwrap();
        let wal = WalLogStore::open(dir.path(), WalConfig::default()).unwrap();
        let timed = TimedLogStore::new(wal, Arc::new(Metrics::default()));
        assert_eq!(timed.location(), Some(dir.path()));
    }
}
