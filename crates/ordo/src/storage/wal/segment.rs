//! Starting segments: at open (durably, or deferred to the first write on a
//! full disk) and at rotation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::storage::error::StorageError;
use crate::storage::fs::{FileSystem, FsFile};
use crate::storage::wal::index::EntryIndex;
use crate::storage::wal::record::{self, RecordWriter, SegmentHeader};
use crate::storage::wal::recovery::segment_path;
use crate::storage::wal::{Durability, View, WalConfig};

/// fdatasyncs every recovered segment. What recovery read may have come from
/// the page cache of a process that crashed before its sync: the store is about
/// to report it durable (and to start a segment after it), so it must be.
pub(super) fn flush_recovered(index: &EntryIndex) -> Result<(), StorageError> {
    for segment in index.segments() {
        segment
            .file
            .sync_data()
            .map_err(|source| StorageError::io("fdatasync", &segment.path, source))?;
    }
    Ok(())
}

/// The segment writes go to after open.
pub(super) struct ActiveSegment {
    pub(super) seq: u64,
    pub(super) path: PathBuf,
    pub(super) file: Arc<dyn FsFile>,
    pub(super) len: u64,
    pub(super) flushed_len: u64,
    pub(super) needs_segment: bool,
}

/// Which segment to create, where, for which cluster.
pub(super) struct NewSegment<'a> {
    /// The log directory.
    pub(super) dir: &'a Path,
    /// Its sequence number.
    pub(super) seq: u64,
    /// The cluster id its header names (empty: none, a version 1 header).
    pub(super) cluster_id: &'a [u8],
}

/// Starts segment `new` at open, durably unless the configuration says never.
pub(super) fn start_segment(
    fs: &dyn FileSystem,
    new: &NewSegment<'_>,
    view: &View,
    config: &WalConfig,
) -> Result<ActiveSegment, StorageError> {
    let (dir, seq) = (new.dir, new.seq);
    let (path, file, len) = create_segment(fs, new, view)?;
    let mut flushed_len = 0;
    if config.durability == Durability::Always {
        file.sync_data()
            .map_err(|source| StorageError::io("fdatasync", &path, source))?;
        fs.sync_dir(dir)
            .map_err(|source| StorageError::io("fsync the directory", dir, source))?;
        flushed_len = len;
    }
    Ok(ActiveSegment {
        seq,
        path,
        file,
        len,
        flushed_len,
        needs_segment: false,
    })
}

/// Open could not start a segment (`error`, the disk is full): the store
/// opens anyway, so the node can restart and serve what it has, with the
/// last recovered segment standing in as the active one until the first
/// write starts a new segment. A log with no segment at all cannot.
pub(super) fn defer_segment(
    index: &EntryIndex,
    error: StorageError,
) -> Result<ActiveSegment, StorageError> {
    let Some(last) = index.segments().back() else {
        return Err(error);
    };
    let len = last
        .file
        .size_bytes()
        .map_err(|source| StorageError::io("stat", &last.path, source))?;
    tracing::warn!(
        %error,
        "opening the log without starting a new segment: the disk is full; writes will fail \
         until space is freed"
    );
    Ok(ActiveSegment {
        seq: last.seq,
        path: last.path.clone(),
        file: Arc::clone(&last.file),
        len,
        flushed_len: len,
        needs_segment: true,
    })
}

/// Creates segment `new`: header and head records (hard state, compaction
/// point) as of `view`. Returns its path, file and length. A file whose head
/// could not be written is removed (best effort): it holds nothing durable,
/// and left behind it would look like a torn segment.
pub(super) fn create_segment(
    fs: &dyn FileSystem,
    new: &NewSegment<'_>,
    view: &View,
) -> Result<(PathBuf, Arc<dyn FsFile>, u64), StorageError> {
    let path = segment_path(new.dir, new.seq);
    let file = fs
        .create(&path)
        .map_err(|source| StorageError::io("create", &path, source))?;
    let header = record::encode_header(&SegmentHeader {
        seq: new.seq,
        start_index: view.index.last_index() + 1,
        cluster_id: new.cluster_id.to_vec(),
    });
    let mut head = RecordWriter::default();
    head.bytes.extend_from_slice(&header);
    head.hard_state(view.hard_state);
    let (compacted, compacted_term) = view.index.compacted();
    head.compact(compacted, compacted_term);
    if let Err(source) = file.write_all_at(&head.bytes, 0) {
        let _ignored = fs.remove_file(&path);
        return Err(StorageError::io("write to", &path, source));
    }
    Ok((path, file, head.bytes.len() as u64))
}
