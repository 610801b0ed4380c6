//! One error type for the storage layer, grouped by what the caller does next.

use std::io;
use std::path::PathBuf;

use ordo_core::{Index, LogReadError};
use thiserror::Error;

/// Why a storage operation failed.
///
/// Variants fall into four groups, by the caller's next move:
/// - **Fatal for this store handle** ([`Io`](Self::Io), [`Poisoned`](Self::Poisoned)):
///   stop the node and reopen the store; what was reported durable is still on disk.
/// - **Refused at open** ([`Corrupt`](Self::Corrupt),
///   [`UnsupportedVersion`](Self::UnsupportedVersion),
///   [`UnknownRecordType`](Self::UnknownRecordType), [`Locked`](Self::Locked),
///   [`ClusterMismatch`](Self::ClusterMismatch)):
///   an operator must look; nothing was changed on disk.
/// - **Caller bugs** ([`Gap`](Self::Gap), [`Compacted`](Self::Compacted),
///   [`OutOfRange`](Self::OutOfRange), [`WriteTooLarge`](Self::WriteTooLarge),
///   [`InvalidConfig`](Self::InvalidConfig)):
///   the request was refused and the store is unchanged.
/// - **Snapshot problems** ([`NoSnapshot`](Self::NoSnapshot),
///   [`SnapshotMetadata`](Self::SnapshotMetadata),
///   [`SnapshotGap`](Self::SnapshotGap),
///   [`SnapshotContentMismatch`](Self::SnapshotContentMismatch)); [`SnapshotMissing`](Self::SnapshotMissing)
///   refuses a start: the node must be rebuilt from the leader.
#[derive(Debug, Error)]
pub enum StorageError {
    /// A file-system call failed. The store is now poisoned (see
    /// [`Poisoned`](Self::Poisoned)): stop the node and reopen the store.
    #[error(
        "storage I/O failed while trying to {action} {path}: {source}; stop the node and reopen the store"
    )]
    Io {
        /// What the store was doing, as a verb phrase ("write to", "fdatasync").
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// An earlier write or fsync failed, so later syncs could not honestly claim
    /// to cover the lost data (after a failed fsync the kernel may already have
    /// dropped the dirty pages). Every write is refused until the store is reopened,
    /// which recovers exactly what is on disk.
    #[error("the store failed earlier ({cause}) and refuses writes until it is reopened")]
    Poisoned {
        /// The first failure, as text.
        cause: String,
        /// The resource whose exhaustion caused that failure, if one did.
        exhausted: Option<Exhausted>,
    },
    /// The data on disk is damaged in a way recovery must not guess about (a bad
    /// record followed by good ones, a missing segment, a gap in indexes). Nothing
    /// was changed; restore this node's data (for example from a peer) or inspect
    /// the named file.
    #[error(
        "corrupt log in {path} at byte {offset}: {reason}; refusing to open. If the data cannot \
         be restored, rebuild this node from the leader (keeping its identity and vote): \
         `ordo repair --data {}`",
        shown(data_dir_of(path))
    )]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the damage within the file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The file was written by a format version this build does not read.
    /// Upgrade the binary, or restore the data from a peer.
    #[error("{path} has format version {found}; this build reads versions up to {supported}")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file header.
        found: u32,
        /// The newest version this build reads (and writes).
        supported: u32,
    },
    /// A record (or entry payload) carries a type tag this build does not know,
    /// with a valid checksum: probably written by a newer version. Upgrade first.
    #[error(
        "{path} at byte {offset} holds a {what} with unknown type tag {tag}; was it written by a newer version?"
    )]
    UnknownRecordType {
        /// The file.
        path: PathBuf,
        /// Byte offset of the record.
        offset: u64,
        /// "record" or "entry payload".
        what: &'static str,
        /// The unknown tag.
        tag: u8,
    },
    /// The log belongs to another cluster: a segment's header names another
    /// cluster id than the store was opened with (or than the log's other
    /// segments name). The directory was copied or moved in from another
    /// cluster's node; serving it would mix two clusters' logs. Nothing was
    /// changed: use the node's own data directory, or remove this one and
    /// add the node to its cluster as a new member.
    #[error(
        "the log in {} belongs to another cluster: {} names cluster id {found:?}, but \
         {expected_from} is {expected:?}; refusing to open. This directory comes from another \
         cluster's node: start this node on its own data directory, or remove this one and add \
         the node to its cluster as a new member (a new id and an empty directory)",
        dir.display(),
        segment.display()
    )]
    ClusterMismatch {
        /// The log directory.
        dir: PathBuf,
        /// The first segment that names another cluster.
        segment: PathBuf,
        /// The cluster id that segment names.
        found: String,
        /// The cluster id expected.
        expected: String,
        /// Where `expected` comes from: the store's configuration, or the
        /// log's earlier segments.
        expected_from: &'static str,
    },
    /// Another process (or another store in this process) holds the directory.
    #[error("{path} is locked by another process or store; only one may open it at a time")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// Entries must continue the log: the first new index may be at most
    /// `last_index + 1`, and the batch itself must be consecutive.
    #[error("entry {index} would leave a gap in the log (expected at most {expected})")]
    Gap {
        /// The offending index.
        index: Index,
        /// The highest index that would have been accepted.
        expected: Index,
    },
    /// The operation would change or read entries that compaction removed.
    #[error("index {index} is compacted; the log starts at {first_index}")]
    Compacted {
        /// The index asked for.
        index: Index,
        /// The first index still held.
        first_index: Index,
    },
    /// The index is past the end of the log.
    #[error("index {index} is past the last index {last_index}")]
    OutOfRange {
        /// The index asked for.
        index: Index,
        /// The last index held.
        last_index: Index,
    },
    /// One write is larger than the log accepts in one go; split it.
    #[error("a write of {bytes} bytes exceeds the limit of {limit} bytes")]
    WriteTooLarge {
        /// Encoded size of the write.
        bytes: u64,
        /// The largest accepted.
        limit: u64,
    },
    /// A configuration value is unusable; fix the configuration.
    #[error("invalid storage configuration: {0}")]
    InvalidConfig(String),
    /// No snapshot with this index and term exists (any more).
    #[error("no snapshot at index {index} term {term}")]
    NoSnapshot {
        /// The index asked for.
        index: Index,
        /// The term asked for.
        term: u64,
    },
    /// A snapshot's metadata could not be encoded or decoded.
    #[error("snapshot metadata in {path} is unreadable: {reason}")]
    SnapshotMetadata {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The log begins after index 1 (it was compacted or reset) but no
    /// readable snapshot covers the entries before it: starting would replay
    /// the log into an empty state and serve wrong answers. Refused at start;
    /// rebuild the node from the leader (with the `ordo` server:
    /// `ordo repair --data DIR`).
    #[error(
        "the log in {} begins at index {log_first_index}, but no readable snapshot in {} covers \
         index {} (newest readable: {}); refusing to start, as the state before the log is lost. \
         Rebuild this node from the leader: `ordo repair --data {}`",
        shown(log_dir.as_deref()),
        shown(snapshot_dir.as_deref()),
        log_first_index - 1,
        snapshot_index.map_or("none".to_string(), |index| format!("index {index}")),
        shown(log_dir.as_deref().and_then(std::path::Path::parent))
    )]
    SnapshotMissing {
        /// The log's directory, if it has one.
        log_dir: Option<PathBuf>,
        /// The snapshot directory, if there is a snapshot store.
        snapshot_dir: Option<PathBuf>,
        /// The first index the log holds.
        log_first_index: Index,
        /// The index of the newest readable snapshot, if any.
        snapshot_index: Option<Index>,
    },
    /// [`repair_log_dir`](crate::storage::repair_log_dir) would not run;
    /// nothing was changed.
    #[error("not repairing the log in {dir}: {reason}")]
    RepairRefused {
        /// The log directory.
        dir: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
    /// A chunk of an incoming snapshot does not continue the bytes received
    /// so far (a caller bug); nothing was written.
    #[error("a snapshot chunk at byte {offset} does not follow the {received} bytes received")]
    SnapshotGap {
        /// Where the chunk was to go.
        offset: u64,
        /// The bytes durably received so far.
        received: u64,
    },
    /// The data of an incoming snapshot, once every chunk is in, is not the
    /// data its leader announced (length or checksum): a sender bug, or a
    /// transfer spliced from two snapshots. The transfer was discarded.
    #[error(
        "a received snapshot does not hold what its leader announced: {received_bytes} bytes \
         with CRC32C {received_crc32c:#010x}, announced {announced_bytes} bytes with CRC32C \
         {announced_crc32c:#010x}; the transfer was discarded and starts over"
    )]
    SnapshotContentMismatch {
        /// The length announced.
        announced_bytes: u64,
        /// The checksum announced.
        announced_crc32c: u32,
        /// The length received.
        received_bytes: u64,
        /// The checksum of the data received.
        received_crc32c: u32,
    },
}

/// The node's data directory for a damaged log file (`DIR/wal/<file>`).
fn data_dir_of(file: &std::path::Path) -> Option<&std::path::Path> {
    file.parent()?.parent()
}

/// A directory for a message, or what stands in for one.
fn shown(dir: Option<&std::path::Path>) -> String {
    dir.map_or_else(
        || "(no directory)".to_string(),
        |dir| dir.display().to_string(),
    )
}

/// A resource whose exhaustion made a storage operation fail. Worth telling
/// apart from other I/O errors: the fix is outside the node (free space,
/// raise the limit), a client can be told so, and retries should back off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exhausted {
    /// No space left on the device (`ENOSPC`), or the disk quota is used up
    /// (`EDQUOT`).
    DiskSpace,
    /// The process or the system is out of file descriptors (`EMFILE`,
    /// `ENFILE`).
    FileDescriptors,
}

impl Exhausted {
    /// The resource exhausted by `error`, if any (its kind, or Linux error
    /// numbers). The one place that reads them: the runtime's snapshot
    /// retries and the server's "disk full" answers both ask this.
    pub fn of(error: &io::Error) -> Option<Exhausted> {
        use crate::storage::fs::{EDQUOT, EMFILE, ENFILE, ENOSPC};
        if matches!(
            error.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
        ) {
            return Some(Exhausted::DiskSpace);
        }
        match error.raw_os_error()? {
            ENOSPC | EDQUOT => Some(Exhausted::DiskSpace),
            EMFILE | ENFILE => Some(Exhausted::FileDescriptors),
            _ => None,
        }
    }
}

impl StorageError {
    /// The resource whose exhaustion caused this error (directly, or the
    /// failure that poisoned the store), if one did.
    pub fn exhausted(&self) -> Option<Exhausted> {
        match self {
            StorageError::Io { source, .. } => Exhausted::of(source),
            StorageError::Poisoned { exhausted, .. } => *exhausted,
            _ => None,
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        StorageError::Corrupt {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }
}

/// Reads report storage failures to the core as [`LogReadError::Storage`], which
/// the core treats as fatal.
impl From<StorageError> for LogReadError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Compacted { index, first_index } => {
                LogReadError::Compacted { index, first_index }
            }
            StorageError::OutOfRange { index, last_index } => {
                LogReadError::Unavailable { index, last_index }
            }
            other => LogReadError::Storage {
                message: other.to_string(),
            },
        }
    }
}
