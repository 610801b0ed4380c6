//! Durable storage: the Raft log, hard state and snapshots.
//!
//! - [`LogStore`] is the log's write side, with a contract on every method; the
//!   read side is the core's [`ordo_core::LogRead`], a supertrait.
//! - [`MemLogStore`] keeps it in memory; [`CrashableLogStore`] too, but
//!   loses what was not synced when a test crashes it; [`WalLogStore`] on disk
//!   as a segmented, checksummed write-ahead log (see [`WalLogStore`] for the
//!   format, group commit, recovery rules and the fsync gate).
//! - [`SnapshotStore`] keeps snapshot files, streamed in and out in chunks,
//!   and an [`IncomingSnapshotFile`] being received, durable chunk by chunk.
//! - [`conformance`] is the suite every `LogStore` must pass.
//! - [`fs`] is the file-system seam through which tests inject I/O failures.
//! - [`repair_log_dir`] rebuilds a node whose log is damaged beyond recovery,
//!   keeping its vote and setting a repair point (`ordo repair`).
//!
//! # How the runtime drives a store (no tokio in here)
//! The stores are synchronous and internally synchronized; every method takes
//! `&self`. The runtime shares one `Arc<S>` between the consensus task (which
//! reads through `LogRead`) and a persistence task, which loops:
//!
//! ```text
//! loop {
//!     take every Persist queued since the last round (at least one)
//!     store.write(persist) for each, in id order       // page cache only
//!     let durable = store.sync()?;                     // one fdatasync
//!     raft.persisted(durable.persist_id)
//! }
//! ```
//!
//! Run in a `spawn_blocking` task or a plain thread, this is group commit: all
//! persists that arrive while one fdatasync is in flight are written and then
//! covered by the next single fdatasync. `sync` holds no lock during the flush,
//! so the runtime may also keep writing from one thread while another syncs.
//! We chose a synchronous API over an owned writer thread because it keeps the
//! store free of any executor, lets the simulator and tests call it directly,
//! and leaves the runtime in charge of its own threads and back-pressure.
//!
//! # Directory layout
//! A node typically uses `<data>/log` for a [`WalLogStore`] and
//! `<data>/snapshots` for a [`SnapshotStore`]; each locks its own directory.

pub mod conformance;
mod crashable;
mod error;
pub mod fs;
mod incoming_snapshot;
mod lock;
mod log_store;
mod mem;
mod repair;
mod snapshot;
pub(crate) mod wal;

pub use crashable::CrashableLogStore;
pub use error::{Exhausted, StorageError};
pub use incoming_snapshot::IncomingSnapshotFile;
pub use log_store::{Durable, LogStore};
pub use mem::MemLogStore;
pub use repair::{RepairOptions, RepairReport, repair_log_dir};
pub use snapshot::{SNAPSHOT_CHUNK_BYTES, SnapshotReader, SnapshotStore, SnapshotWriter};
pub use wal::{Durability, WalConfig, WalLogStore};

// What a `LogStore` reads and writes, and what a snapshot covers: ordo-core's
// types, re-exported so that an implementation depends on `ordo` alone. The
// core's log entry is
// `LogEntry` here, beside the typed `ordo::Entry<C>` a state machine applies.
pub use ordo_core::{
    Entry as LogEntry, EntryPayload, LogRead, LogReadError, Persist, PersistId, SnapshotMeta,
};
