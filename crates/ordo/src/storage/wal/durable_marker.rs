//! The `POISONED` marker: where the log was last known durable when a write
//! or fdatasync failed (the fsync gate, part three).
//!
//! ```text
//! POISONED := magic "ORDOPOIS" (8) | segment seq u64 | byte offset u64
//!           | CRC32C of the previous 24 bytes u32
//! ```
//!
//! After a failed fdatasync, Linux may mark the lost pages clean: the page
//! cache still serves them, and the next fdatasync "succeeds" without writing
//! them. A process that restarts without a reboot would then read those bytes
//! back, find them valid, and report them durable. So a poisoned store records
//! the last position a completed fdatasync covered (best effort: the disk is
//! failing), and the next open cuts everything after it before recovery runs.
//! No repair point is needed: the cut bytes were never reported durable.
//! The marker is removed once the cut is durable. A damaged marker is refused.

use std::io;
use std::path::Path;

use crate::storage::error::StorageError;
use crate::storage::fs::FileSystem;
use crate::storage::wal::recovery::{segment_path, segment_seq};

const FILE_NAME: &str = "POISONED";
const TEMPORARY_NAME: &str = "POISONED.tmp";
const MAGIC: [u8; 8] = *b"ORDOPOIS";
const FILE_BYTES: usize = 28;

/// A position in the log: everything before `offset` in segment `seq`, and
/// every earlier segment, is durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DurablePosition {
    pub(crate) seq: u64,
    pub(crate) offset: u64,
}

/// Durably records `position` in `dir`.
pub(crate) fn write(
    fs: &dyn FileSystem,
    dir: &Path,
    position: DurablePosition,
) -> Result<(), StorageError> {
    let mut bytes = Vec::with_capacity(FILE_BYTES);
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&position.seq.to_le_bytes());
    bytes.extend_from_slice(&position.offset.to_le_bytes());
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let temporary = dir.join(TEMPORARY_NAME);
    let file = fs
        .create(&temporary)
        .map_err(|source| StorageError::io("create", &temporary, source))?;
    file.write_all_at(&bytes, 0)
        .map_err(|source| StorageError::io("write to", &temporary, source))?;
    file.sync_data()
        .map_err(|source| StorageError::io("fdatasync", &temporary, source))?;
    let path = dir.join(FILE_NAME);
    fs.rename(&temporary, &path)
        .map_err(|source| StorageError::io("rename into", &path, source))?;
    fs.sync_dir(dir)
        .map_err(|source| StorageError::io("fsync the directory", dir, source))
}

/// If `dir` holds a marker: cuts every byte after its position (later
/// segments removed, its segment shortened), durably, then removes it.
pub(crate) fn cut_after_marker(fs: &dyn FileSystem, dir: &Path) -> Result<(), StorageError> {
    let Some(position) = read(fs, dir)? else {
        return Ok(());
    };
    let listed = fs
        .list_dir(dir)
        .map_err(|source| StorageError::io("list", dir, source))?;
    let mut removed = 0;
    for seq in listed.iter().filter_map(|path| segment_seq(path)) {
        if seq > position.seq {
            let path = segment_path(dir, seq);
            fs.remove_file(&path)
                .map_err(|source| StorageError::io("remove", &path, source))?;
            removed += 1;
        }
    }
    let path = segment_path(dir, position.seq);
    let cut_bytes = match fs.open(&path) {
        Ok(file) => {
            let len = file
                .size_bytes()
                .map_err(|source| StorageError::io("stat", &path, source))?;
            if len > position.offset {
                file.set_len(position.offset)
                    .map_err(|source| StorageError::io("truncate", &path, source))?;
                file.sync_data()
                    .map_err(|source| StorageError::io("fdatasync", &path, source))?;
            }
            len.saturating_sub(position.offset)
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => 0,
        Err(source) => return Err(StorageError::io("open", &path, source)),
    };
    fs.sync_dir(dir)
        .map_err(|source| StorageError::io("fsync the directory", dir, source))?;
    tracing::warn!(
        file = %path.display(),
        offset = position.offset,
        bytes = cut_bytes,
        later_segments_removed = removed,
        "the log failed a write or fdatasync before it stopped: cutting what no fdatasync \
         covered (it was never reported durable)"
    );
    let marker = dir.join(FILE_NAME);
    fs.remove_file(&marker)
        .map_err(|source| StorageError::io("remove", &marker, source))?;
    fs.sync_dir(dir)
        .map_err(|source| StorageError::io("fsync the directory", dir, source))
}

fn read(fs: &dyn FileSystem, dir: &Path) -> Result<Option<DurablePosition>, StorageError> {
    let path = dir.join(FILE_NAME);
    let file = match fs.open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StorageError::io("open", &path, source)),
    };
    let len = file
        .size_bytes()
        .map_err(|source| StorageError::io("stat", &path, source))?;
    let mut bytes = [0u8; FILE_BYTES];
    let damaged = || StorageError::corrupt(&path, 0, "the durable-position marker is damaged");
    if len != FILE_BYTES as u64 {
        return Err(damaged());
    }
    file.read_exact_at(&mut bytes, 0)
        .map_err(|source| StorageError::io("read", &path, source))?;
    let field = |at: usize| {
        let mut value = [0u8; 8];
        value.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(value)
    };
    let crc = u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]);
    if bytes[0..8] != MAGIC || crc32c::crc32c(&bytes[0..24]) != crc {
        return Err(damaged());
    }
    Ok(Some(DurablePosition {
        seq: field(8),
        offset: field(16),
    }))
}
