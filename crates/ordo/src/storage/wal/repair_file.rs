//! The `REPAIR` file: a durable repair point (see
//! [`LogStore::repair_point`](crate::storage::LogStore::repair_point)).
//!
//! ```text
//! REPAIR := magic "ORDOREPR" (8) | repair point u64 | entries cut u64
//!         | CRC32C of the previous 24 bytes u32
//! ```
//!
//! *Entries cut* bounds how many entries the cut bytes could have held. It
//! matters when the cut bytes may have held a snapshot install's `Reset`
//! record: the start check then finishes that install (resets the log to the
//! snapshot), and the entries lost after the reset could reach the snapshot's
//! index plus that many, above the recorded point (see `WalLogStore::reset`).
//!
//! Invariants: the file exists exactly while the log may lack entries it once
//! reported durable; it is replaced atomically (temporary file, fdatasync,
//! rename, directory fsync), so a crash leaves the old point or the new one,
//! never neither. A damaged file is refused, never ignored: ignoring it would
//! let the node vote with a log that may have lost acknowledged entries.

use std::path::Path;

use ordo_core::Index;

use crate::storage::error::StorageError;
use crate::storage::fs::FileSystem;
use crate::storage::wal::marker_file::{MarkerFile, u64_at};

/// The `REPAIR` file.
const FILE: MarkerFile = MarkerFile {
    name: "REPAIR",
    temporary_name: "REPAIR.tmp",
    magic: *b"ORDOREPR",
    body_bytes: 16,
};

/// What the `REPAIR` file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RepairRecord {
    /// The repair point.
    pub(crate) point: Index,
    /// The most entries the cut bytes could have held.
    pub(crate) entries_cut: u64,
}

/// The repair point recorded in `dir`, if any.
pub(crate) fn read(fs: &dyn FileSystem, dir: &Path) -> Result<Option<RepairRecord>, StorageError> {
    match FILE.read(fs, dir)? {
        None => Ok(None),
        Some(Ok(body)) => Ok(Some(RepairRecord {
            point: u64_at(&body, 0),
            entries_cut: u64_at(&body, 8),
        })),
        Some(Err(damage)) => Err(StorageError::corrupt(
            FILE.path(dir),
            0,
            format!("the repair point file is damaged ({damage})"),
        )),
    }
}

/// Records `record` as the repair point of `dir`, replacing any older one;
/// durably unless `flush` is off (a log opened with
/// [`Durability::Never`](crate::storage::Durability::Never), where nothing is).
pub(crate) fn write(
    fs: &dyn FileSystem,
    dir: &Path,
    record: RepairRecord,
    flush: bool,
) -> Result<(), StorageError> {
    let mut body = [0u8; 16];
    body[0..8].copy_from_slice(&record.point.to_le_bytes());
    body[8..16].copy_from_slice(&record.entries_cut.to_le_bytes());
    FILE.write(fs, dir, &body, flush)
}

/// Durably removes the repair point of `dir` (nothing to do if there is none).
pub(crate) fn remove(fs: &dyn FileSystem, dir: &Path) -> Result<(), StorageError> {
    FILE.remove(fs, dir)
}
