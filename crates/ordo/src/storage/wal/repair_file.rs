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

use std::io;
use std::path::{Path, PathBuf};

use ordo_core::Index;

use crate::storage::error::StorageError;
use crate::storage::fs::FileSystem;

/// The file's name in the log directory.
pub(crate) const REPAIR_FILE_NAME: &str = "REPAIR";
const TEMPORARY_NAME: &str = "REPAIR.tmp";
const MAGIC: [u8; 8] = *b"ORDOREPR";
const FILE_BYTES: usize = 28;

/// What the `REPAIR` file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RepairRecord {
    /// The repair point.
    pub(crate) point: Index,
    /// The most entries the cut bytes could have held.
    pub(crate) entries_cut: u64,
}

pub(crate) fn repair_path(dir: &Path) -> PathBuf {
    dir.join(REPAIR_FILE_NAME)
}

/// The repair point recorded in `dir`, if any.
pub(crate) fn read(fs: &dyn FileSystem, dir: &Path) -> Result<Option<RepairRecord>, StorageError> {
    let path = repair_path(dir);
    let file = match fs.open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StorageError::io("open", &path, source)),
    };
    let len = file
        .size_bytes()
        .map_err(|source| StorageError::io("stat", &path, source))?;
    if len != FILE_BYTES as u64 {
        let reason = format!("the repair point file is {len} bytes long, not {FILE_BYTES}");
        return Err(StorageError::corrupt(&path, 0, reason));
    }
    let mut bytes = [0u8; FILE_BYTES];
    file.read_exact_at(&mut bytes, 0)
        .map_err(|source| StorageError::io("read", &path, source))?;
    let crc = u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]);
    if bytes[0..8] != MAGIC || crc32c::crc32c(&bytes[0..24]) != crc {
        return Err(StorageError::corrupt(
            &path,
            0,
            "the repair point file is damaged (magic or checksum)",
        ));
    }
    let field = |at: usize| {
        let mut value = [0u8; 8];
        value.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(value)
    };
    Ok(Some(RepairRecord {
        point: field(8),
        entries_cut: field(16),
    }))
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
    let mut bytes = Vec::with_capacity(FILE_BYTES);
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&record.point.to_le_bytes());
    bytes.extend_from_slice(&record.entries_cut.to_le_bytes());
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let temporary = dir.join(TEMPORARY_NAME);
    let file = fs
        .create(&temporary)
        .map_err(|source| StorageError::io("create", &temporary, source))?;
    file.write_all_at(&bytes, 0)
        .map_err(|source| StorageError::io("write to", &temporary, source))?;
    if flush {
        file.sync_data()
            .map_err(|source| StorageError::io("fdatasync", &temporary, source))?;
    }
    let path = repair_path(dir);
    fs.rename(&temporary, &path)
        .map_err(|source| StorageError::io("rename into", &path, source))?;
    if flush {
        fs.sync_dir(dir)
            .map_err(|source| StorageError::io("fsync the directory", dir, source))?;
    }
    Ok(())
}

/// Durably removes the repair point of `dir` (nothing to do if there is none).
pub(crate) fn remove(fs: &dyn FileSystem, dir: &Path) -> Result<(), StorageError> {
    let path = repair_path(dir);
    match fs.remove_file(&path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(StorageError::io("remove", &path, source)),
    }
    fs.sync_dir(dir)
        .map_err(|source| StorageError::io("fsync the directory", dir, source))
}
