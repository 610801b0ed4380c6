//! The synchronous read side of durable log storage, as the core sees it.
//!
//! The core never writes storage: it emits [`Persist`](crate::Persist) actions and
//! is told when they are durable. It does need to *read* durable entries it no
//! longer holds in memory (to replicate them to a lagging follower, to hand
//! committed entries to the state machine, to check terms). That is this trait:
//! small, synchronous, and implemented by every log store (in memory, on disk).

use thiserror::Error;

use crate::entry::Entry;
use crate::types::{Index, Term};

/// Read access to the durable part of the log.
///
/// # Contract
/// - The log holds the entries `first_index() ..= last_index()`, consecutive. An
///   empty log has `last_index() == first_index() - 1`.
/// - `first_index() - 1` is the compaction point: its term is still known (it is
///   the last entry covered by a snapshot, or index 0 with term 0).
/// - Writes the core asked for become visible here no later than the moment the
///   storage reports them durable. Entries the core still holds in memory may or
///   may not be visible yet; the core reads its in-memory copy for those.
/// - Reads never block on the network; they may do disk I/O. An I/O failure is a
///   [`LogReadError::Storage`], which the core reports upward as fatal.
pub trait LogRead {
    /// Index of the first entry held. `1` for a log that was never compacted.
    fn first_index(&self) -> Index;

    /// Index of the last entry held, or `first_index() - 1` when empty.
    fn last_index(&self) -> Index;

    /// Term of the entry at `index`, for `index` in
    /// `first_index() - 1 ..= last_index()`.
    ///
    /// # Errors
    /// [`LogReadError::Compacted`] below that range, [`LogReadError::Unavailable`]
    /// above it, [`LogReadError::Storage`] on an I/O failure.
    fn term(&self, index: Index) -> Result<Term, LogReadError>;

    /// Entries with indexes in `low..high`, in order.
    ///
    /// Stops early once the payload bytes returned exceed `max_bytes`, but always
    /// returns at least one entry when `low < high`, so an oversized entry can
    /// still be replicated.
    ///
    /// # Errors
    /// [`LogReadError::Compacted`] if `low < first_index()`,
    /// [`LogReadError::Unavailable`] if `high > last_index() + 1`,
    /// [`LogReadError::Storage`] on an I/O failure.
    fn entries(&self, low: Index, high: Index, max_bytes: u64) -> Result<Vec<Entry>, LogReadError>;
}

/// Why a log read failed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum LogReadError {
    /// The index was removed by log compaction; a snapshot covers it.
    #[error("log index {index} is compacted; the log starts at {first_index}")]
    Compacted {
        /// The index asked for.
        index: Index,
        /// The first index still held.
        first_index: Index,
    },
    /// The index is past the end of the log.
    #[error("log index {index} is past the last index {last_index}")]
    Unavailable {
        /// The index asked for.
        index: Index,
        /// The last index held.
        last_index: Index,
    },
    /// The storage failed to read. The node cannot continue safely.
    #[error("log storage failed: {message}")]
    Storage {
        /// What the storage reported.
        message: String,
    },
}

/// Lets a shared handle be the core's log reader (for example an `Arc` around a
/// store that a persistence task writes to).
impl<T: LogRead + ?Sized> LogRead for std::sync::Arc<T> {
    fn first_index(&self) -> Index {
        (**self).first_index()
    }
    fn last_index(&self) -> Index {
        (**self).last_index()
    }
    fn term(&self, index: Index) -> Result<Term, LogReadError> {
        (**self).term(index)
    }
    fn entries(&self, low: Index, high: Index, max_bytes: u64) -> Result<Vec<Entry>, LogReadError> {
        (**self).entries(low, high, max_bytes)
    }
}
