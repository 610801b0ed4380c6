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
use crate::storage::wal::marker_file::{MarkerFile, u64_at};
use crate::storage::wal::recovery::{segment_path, segment_seq};

/// The `POISONED` file.
const FILE: MarkerFile = MarkerFile {
    name: "POISONED",
    temporary_name: "POISONED.tmp",
    magic: *b"ORDOPOIS",
    body_bytes: 16,
};

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
    let mut body = [0u8; 16];
    body[0..8].copy_from_slice(&position.seq.to_le_bytes());
    body[8..16].copy_from_slice(&position.offset.to_le_bytes());
    FILE.write(fs, dir, &body, true)
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
    FILE.remove(fs, dir)
}

fn read(fs: &dyn FileSystem, dir: &Path) -> Result<Option<DurablePosition>, StorageError> {
    match FILE.read(fs, dir)? {
        None => Ok(None),
        Some(Ok(body)) => Ok(Some(DurablePosition {
            seq: u64_at(&body, 0),
            offset: u64_at(&body, 8),
        })),
        Some(Err(damage)) => Err(StorageError::corrupt(
            FILE.path(dir),
            0,
            format!("the durable-position marker is damaged ({damage})"),
        )),
    }
}
