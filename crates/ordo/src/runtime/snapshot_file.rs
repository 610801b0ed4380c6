//! [`SnapshotFile`]: a durable snapshot open for reading the state
//! machine's bytes, as [`RaftNode::read_snapshot`](crate::RaftNode::read_snapshot)
//! hands it out.
//!
//! # Invariants
//! - It reads the bytes [`StateMachine::snapshot`](crate::StateMachine::snapshot)
//!   wrote, nothing of the runtime's: the runtime's header is read and
//!   dropped when the file is opened.
//! - It holds the file open: the snapshot store removes older snapshots
//!   once newer ones are durable, and on Unix a removed file stays readable
//!   through a descriptor opened before (its blocks are freed when the last
//!   one closes). So a slow reader is never cut short by compaction; it
//!   only keeps the file's disk space until dropped.
//! - A damaged file is an [`io::ErrorKind::InvalidData`] error at the end of
//!   the data (the checksum is checked as it streams), never a clean end.

use std::io::{self, Read};

use ordo_core::{Index, SnapshotMeta};

use crate::runtime::envelope;
use crate::runtime::error::RaftError;
use crate::storage::{SnapshotReader, SnapshotStore, StorageError};

/// A durable snapshot's state machine bytes, open for reading: an
/// [`io::Read`] of what [`StateMachine::snapshot`](crate::StateMachine::snapshot)
/// wrote, from a file that stays readable while this is held (see
/// [`RaftNode::read_snapshot`](crate::RaftNode::read_snapshot)). Reads block
/// on the disk: read it outside the async workers.
#[derive(Debug)]
pub struct SnapshotFile {
    /// Positioned after the runtime's header.
    reader: SnapshotReader,
}

impl SnapshotFile {
    /// The newest snapshot in `store`, which must cover `index`, past its
    /// runtime header.
    pub(crate) fn open_newest(store: &SnapshotStore, index: Index) -> Result<Self, RaftError> {
        let mut reader = open_latest(store)?;
        let newest = reader.meta().index;
        if newest < index {
            return Err(RaftError::Snapshot(format!(
                "the newest snapshot covers index {newest}, not {index}"
            )));
        }
        envelope::read_snapshot_header(&mut reader).map_err(|error| {
            RaftError::Snapshot(format!("reading snapshot {newest}'s header: {error}"))
        })?;
        Ok(SnapshotFile { reader })
    }

    /// What the snapshot covers.
    pub fn meta(&self) -> &SnapshotMeta {
        self.reader.meta()
    }

    /// Bytes of the state machine's data not yet read (all of them, before
    /// the first read).
    pub fn remaining_bytes(&self) -> u64 {
        self.reader.remaining_bytes()
    }
}

/// How often opening the newest snapshot is tried: it is listed, then
/// opened, and two newer snapshots published in between remove it.
const OPEN_ATTEMPTS: usize = 3;

/// The newest snapshot in `store`, retried when it vanished between being
/// listed and opened (a newer one, which covers at least as much, is there).
fn open_latest(store: &SnapshotStore) -> Result<SnapshotReader, RaftError> {
    for _ in 1..OPEN_ATTEMPTS {
        match store.open_latest() {
            Err(StorageError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            other => return opened(other),
        }
    }
    opened(store.open_latest())
}

fn opened(
    opened: Result<Option<SnapshotReader>, StorageError>,
) -> Result<SnapshotReader, RaftError> {
    opened?.ok_or_else(|| RaftError::Snapshot("no snapshot is on disk".into()))
}

impl Read for SnapshotFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}
