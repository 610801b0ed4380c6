//! The backup format: [`KvStore`](super::KvStore)'s snapshot, the file
//! `ordo snapshot save` writes and the file `ordo snapshot restore` reads.
//!
//! Because a backup is a file users hand us, the reader treats it as hostile:
//! it streams (never more than one record in memory besides the state it is
//! building), bounds every length before allocating for it, and checks every
//! invariant the writer keeps, returning a [`BackupError`] that says what is
//! wrong and where.
//!
//! The layout is documented on [`read_backup_summary`], the public entry
//! point for tools that handle backups.
//!
//! # What it leaves out
//! - Compression: values are stored as given.
//! - Consistency across keys and with the past: that older versions name
//!   leases that once existed, or that revisions are not reused across
//!   unrelated commands, is true of every state the store produces but not
//!   checked (it would cost a set of all revisions).
//! - The remaining time of leases beyond their last checkpoint: the
//!   backup holds what the store holds (see `lease_checkpoint.rs`); the
//!   node serving `GET /v1/snapshot` checkpoints first if it leads.
//! - A check that a revision's sub-revisions (the order of its events) are
//!   distinct: ties are listed in key order, which is how a store restored
//!   from a version 3 or older backup (which has none) lists them.

use std::io::{self, Read};

mod encoder;
mod parse;
mod reader;

pub(super) use encoder::BackupEncoder;
pub(super) use parse::{RestoredState, parse_backup};

/// The first eight bytes of every backup.
const MAGIC: [u8; 8] = *b"ORDOKV01";
/// The format version this build writes (it reads 1 to 4).
const FORMAT_VERSION: u32 = 4;
/// The first format version, still read.
const FORMAT_VERSION_1: u32 = 1;
/// The second format version (leases without their checkpoints), still read.
const FORMAT_VERSION_2: u32 = 2;
/// The third format version (versions without their sub-revisions), still read.
const FORMAT_VERSION_3: u32 = 3;
/// In a lease record (version 3 on), the remaining time of a lease never
/// checkpointed.
const NOT_CHECKPOINTED: u64 = u64::MAX;
/// Tag that starts a version 1 record.
const RECORD_TAG: u8 = b'R';
/// Tag that starts a lease record (version 2 on).
const LEASE_TAG: u8 = b'L';
/// Tag that starts a key record (version 2 on).
const KEY_TAG: u8 = b'K';
/// Tag that starts the auth record (version 3 on).
const AUTH_TAG: u8 = b'A';
/// Tag that starts the end marker.
const END_TAG: u8 = b'E';

/// Longest key the store accepts and a backup may hold, in bytes (64 KiB).
///
/// The server should reject longer keys before proposing them; the store
/// refuses them too (see [`KvStore`](super::KvStore)), so every state it holds
/// can be backed up and restored.
pub const MAX_KEY_BYTES: u32 = 64 << 10;
/// Longest value the store accepts and a backup may hold, in bytes (64 MiB).
pub const MAX_VALUE_BYTES: u32 = 64 << 20;

/// What a backup holds, from [`read_backup_summary`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupSummary {
    /// The format version (1 to 4).
    pub format_version: u32,
    /// Live keys in the backup.
    pub keys: u64,
    /// Key and value bytes of the live keys (the sum of their lengths).
    pub bytes: u64,
    /// Versions in the backup, tombstones included (one per key in version 1).
    pub versions: u64,
    /// Leases in the backup.
    pub leases: u64,
    /// The cluster revision the backup was taken at.
    pub cluster_revision: u64,
    /// The compact revision (0 in version 1).
    pub compact_revision: u64,
    /// Leases with a checkpointed remaining time (0 before version 3).
    pub checkpointed_leases: u64,
    /// Users in the auth state (0 before version 3).
    pub users: u64,
    /// Whether auth is enabled in it (never before version 3).
    pub auth_enabled: bool,
}

/// Why a backup could not be read. Every variant but [`Io`](Self::Io) means
/// the bytes are not a valid backup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// Reading the input failed.
    #[error("reading the backup failed: {0}")]
    Io(#[from] io::Error),
    /// The input does not start with the backup magic.
    #[error("not an ordo backup: it does not start with \"ORDOKV01\"")]
    BadMagic,
    /// The backup was written in a format version this build cannot read.
    #[error(
        "backup format version {found} is not supported (this build reads versions 1 to {supported})"
    )]
    UnsupportedVersion {
        /// The version in the header.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A header field is impossible (a compact revision above the cluster
    /// revision, a lease counter below 1).
    #[error("bad header: {reason}")]
    BadHeader {
        /// What is wrong.
        reason: &'static str,
    },
    /// A lease record is impossible or out of place.
    #[error("lease record at byte {offset}: {reason}")]
    BadLease {
        /// Where the record starts.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The auth record does not decode or breaks an invariant.
    #[error("auth record at byte {offset}: {reason}")]
    BadAuth {
        /// Where the record starts.
        offset: u64,
        /// What is wrong.
        reason: crate::auth::AuthError,
    },
    /// A key's versions do not form a history the store could have written.
    #[error("record {record}: bad version history: {reason}")]
    BadHistory {
        /// The key record's position, from 0.
        record: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The input ends before the backup does.
    #[error("the backup is truncated: it ends inside the {part} at byte {offset}")]
    Truncated {
        /// What was being read.
        part: &'static str,
        /// How many bytes had been read before this part.
        offset: u64,
    },
    /// A byte where a record or the end marker should start is neither.
    #[error("unknown record tag {tag:#04x} at byte {offset}")]
    UnknownTag {
        /// The byte found.
        tag: u8,
        /// Its position.
        offset: u64,
    },
    /// A key length over [`MAX_KEY_BYTES`].
    #[error(
        "record {record}: key of {len} bytes is longer than the limit of {MAX_KEY_BYTES} bytes"
    )]
    KeyTooLong {
        /// The record's position, from 0.
        record: u64,
        /// The length it declares.
        len: u32,
    },
    /// A value length over [`MAX_VALUE_BYTES`].
    #[error(
        "record {record}: value of {len} bytes is longer than the limit of {MAX_VALUE_BYTES} bytes"
    )]
    ValueTooLong {
        /// The record's position, from 0.
        record: u64,
        /// The length it declares.
        len: u32,
    },
    /// A key equal to the one before it.
    #[error("record {record}: duplicate key (the previous record has the same key)")]
    DuplicateKey {
        /// The record's position, from 0.
        record: u64,
    },
    /// A key that sorts before the one before it.
    #[error("record {record}: key is out of order (it sorts before the previous record's key)")]
    KeyOutOfOrder {
        /// The record's position, from 0.
        record: u64,
    },
    /// A revision of 0 or above the backup's cluster revision.
    #[error("record {record}: revision {revision} is outside 1..={cluster_revision}")]
    BadRevision {
        /// The record's position, from 0.
        record: u64,
        /// The revision it declares.
        revision: u64,
        /// The cluster revision in the header.
        cluster_revision: u64,
    },
    /// The end marker's record count differs from the records read.
    #[error("the end marker counts {declared} records but the backup holds {found}")]
    RecordCountMismatch {
        /// The count in the end marker.
        declared: u64,
        /// The records read.
        found: u64,
    },
    /// The checksum in the end marker does not match the bytes before it.
    #[error(
        "checksum mismatch: the backup says {stored:#010x} but its bytes give {computed:#010x}"
    )]
    ChecksumMismatch {
        /// The checksum in the end marker.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// Bytes follow the end marker.
    #[error("unexpected bytes after the end of the backup at byte {offset}")]
    TrailingData {
        /// Where the end marker ended.
        offset: u64,
    },
}

impl From<BackupError> for io::Error {
    /// An I/O failure keeps its kind; a malformed backup is
    /// [`io::ErrorKind::InvalidData`] with the error's message.
    fn from(error: BackupError) -> Self {
        match error {
            BackupError::Io(error) => error,
            invalid => io::Error::new(io::ErrorKind::InvalidData, invalid),
        }
    }
}

/// Reads a whole backup from `input`, checking everything
/// [`KvStore`](super::KvStore)'s `restore` checks, and says what it holds.
/// Streams: memory use is one key record, whatever the backup's size.
///
/// # Layout (version 4, written by this build)
/// All integers are little-endian.
///
/// ```text
/// header   "ORDOKV01"              8 bytes  magic
///          format version          u32      = 4
///          cluster revision        u64
///          compact revision        u64      <= cluster revision
///          next lease id           i64      >= 1, above every lease id
/// lease*   tag 'L'                 u8
///          id                      i64      in 1..next lease id, increasing
///          ttl                     i64      seconds, in 1..=MAX_LEASE_TTL_SECONDS
///          remaining               u64      ms, <= ttl; u64::MAX: never checkpointed
///          checkpoint term         u64      (0 and 0 when never checkpointed)
///          checkpoint sequence     u64
/// auth?    tag 'A'                 u8       at most one (none: auth never used)
///          length                  u32      <= MAX_AUTH_STATE_BYTES
///          auth state              bytes    JSON (`AuthState::encode`)
/// key*     tag 'K'                 u8
///          key length              u32      <= MAX_KEY_BYTES
///          key                     bytes
///          version count           u32      >= 1
///          version*, oldest first:
///            mod revision          u64      increasing, in 1..=cluster revision
///            sub revision          u32      its place among the revision's writes
///            version               u64      0: a tombstone (nothing follows)
///            create revision       u64      (puts only)
///            lease                 i64      (puts only) >= 0
///            value length          u32      (puts only) <= MAX_VALUE_BYTES
///            value                 bytes    (puts only)
/// end      tag 'E'                 u8
///          key record count        u64
///          CRC32C                  u32      over every byte before it
/// ```
///
/// Leases come before keys; keys are in strictly increasing byte order. A
/// key's versions form a history the store could have written: puts count
/// `version` up from 1 after a tombstone (or from the first retained one)
/// with one `create revision`, no two tombstones in a row, at most the first
/// version at or below the compact revision and then not a tombstone, and
/// the newest version, if live, names 0 or a lease in the backup. A lease
/// restores with its checkpointed remaining time, if it has one, else its
/// full ttl. A revision's events are listed in sub-revision order (the
/// order its command's operations ran in), ties in key order. Version 3 is
/// the same without the sub revisions (a revision's events restore in key
/// order); version 2 is version 3 without the checkpoint fields and the
/// auth record (its leases restore with their full ttl, auth off).
///
/// # Layout (version 1, still read)
/// The header has no compact revision or lease counter; records are
/// `'R'`, key length u32, key, value length u32, value, revision u64 (in
/// `1..=cluster revision`), then the same end marker. Each key restores as
/// version 1, created and modified at its revision, with no lease.
///
/// Nothing may follow the end marker.
///
/// # Errors
/// [`BackupError::Io`] if reading fails; any other variant if the bytes are
/// not a valid backup.
pub fn read_backup_summary(input: &mut dyn Read) -> Result<BackupSummary, BackupError> {
    parse::summarise(input)
}
