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
//! - Uniqueness of revisions across keys: true of every state the store
//!   produces, but not checked (it would cost a set of all revisions).

use std::io::{self, Read, Write};

use bytes::Bytes;

use super::StoredValue;

/// The first eight bytes of every backup.
const MAGIC: [u8; 8] = *b"ORDOKV01";
/// The format version this build writes and reads.
const FORMAT_VERSION: u32 = 1;
/// Tag that starts a record.
const RECORD_TAG: u8 = b'R';
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
    /// Keys in the backup.
    pub keys: u64,
    /// Key and value bytes in the backup (the sum of their lengths).
    pub bytes: u64,
    /// The cluster revision the backup was taken at.
    pub cluster_revision: u64,
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
        "backup format version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedVersion {
        /// The version in the header.
        found: u32,
        /// The version this build reads.
        supported: u32,
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
    /// A key revision of 0 or above the backup's cluster revision.
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
/// Streams: memory use is one record, whatever the backup's size.
///
/// # Layout (version 1)
/// All integers are little-endian.
///
/// ```text
/// header   "ORDOKV01"              8 bytes  magic
///          format version          u32      = 1
///          cluster revision        u64
/// record*  tag 'R'                 u8
///          key length              u32      <= MAX_KEY_BYTES
///          key                     bytes
///          value length            u32      <= MAX_VALUE_BYTES
///          value                   bytes
///          revision                u64      in 1..=cluster revision
/// end      tag 'E'                 u8
///          record count            u64
///          CRC32C                  u32      over every byte before it
/// ```
///
/// Records are in strictly increasing byte order of key (so keys are unique),
/// and nothing follows the end marker.
///
/// # Errors
/// [`BackupError::Io`] if reading fails; any other variant if the bytes are
/// not a valid backup.
pub fn read_backup_summary(input: &mut dyn Read) -> Result<BackupSummary, BackupError> {
    parse_backup(input, |_, _| {})
}

/// Reads a whole backup from `input`, handing each record to `visit` in key
/// order, and returns the summary. A record handed to `visit` has passed its
/// own checks, but the backup as a whole is valid only if this returns `Ok`.
pub(super) fn parse_backup(
    input: &mut dyn Read,
    mut visit: impl FnMut(Bytes, StoredValue),
) -> Result<BackupSummary, BackupError> {
    let mut reader = CheckedReader::new(input);
    let cluster_revision = read_header(&mut reader)?;
    let mut summary = BackupSummary {
        keys: 0,
        bytes: 0,
        cluster_revision,
    };
    let mut previous_key: Option<Bytes> = None;
    loop {
        let offset = reader.offset;
        match reader.u8("record tag")? {
            RECORD_TAG => {
                let (key, versioned) = read_record(&mut reader, &summary)?;
                check_order(previous_key.as_deref(), &key, summary.keys)?;
                summary.keys += 1;
                summary.bytes += key.len() as u64 + versioned.value.len() as u64;
                previous_key = Some(key.clone());
                visit(key, versioned);
            }
            END_TAG => {
                read_end(&mut reader, summary.keys)?;
                return Ok(summary);
            }
            tag => return Err(BackupError::UnknownTag { tag, offset }),
        }
    }
}

/// Reads the header; returns the cluster revision.
fn read_header(reader: &mut CheckedReader<'_>) -> Result<u64, BackupError> {
    let mut magic = [0; MAGIC.len()];
    reader.exact(&mut magic, "header")?;
    if magic != MAGIC {
        return Err(BackupError::BadMagic);
    }
    let version = reader.u32("header")?;
    if version != FORMAT_VERSION {
        return Err(BackupError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    reader.u64("header")
}

/// Reads one record after its tag and checks its lengths and revision.
fn read_record(
    reader: &mut CheckedReader<'_>,
    summary: &BackupSummary,
) -> Result<(Bytes, StoredValue), BackupError> {
    let record = summary.keys;
    let key_len = reader.u32("key length")?;
    if key_len > MAX_KEY_BYTES {
        return Err(BackupError::KeyTooLong {
            record,
            len: key_len,
        });
    }
    let key = reader.bytes(key_len, "key")?;
    let value_len = reader.u32("value length")?;
    if value_len > MAX_VALUE_BYTES {
        return Err(BackupError::ValueTooLong {
            record,
            len: value_len,
        });
    }
    let value = reader.bytes(value_len, "value")?;
    let revision = reader.u64("revision")?;
    if revision == 0 || revision > summary.cluster_revision {
        return Err(BackupError::BadRevision {
            record,
            revision,
            cluster_revision: summary.cluster_revision,
        });
    }
    Ok((key, StoredValue { value, revision }))
}

/// Checks that `key` sorts strictly after the previous record's key.
fn check_order(previous: Option<&[u8]>, key: &[u8], record: u64) -> Result<(), BackupError> {
    match previous.map(|previous| previous.cmp(key)) {
        None | Some(std::cmp::Ordering::Less) => Ok(()),
        Some(std::cmp::Ordering::Equal) => Err(BackupError::DuplicateKey { record }),
        Some(std::cmp::Ordering::Greater) => Err(BackupError::KeyOutOfOrder { record }),
    }
}

/// Reads the end marker after its tag, then checks that the input ends.
fn read_end(reader: &mut CheckedReader<'_>, records_read: u64) -> Result<(), BackupError> {
    let declared = reader.u64("end marker")?;
    let computed = reader.crc;
    let stored = reader.u32("checksum")?;
    if stored != computed {
        return Err(BackupError::ChecksumMismatch { stored, computed });
    }
    if declared != records_read {
        return Err(BackupError::RecordCountMismatch {
            declared,
            found: records_read,
        });
    }
    reader.expect_end()
}

/// A reader that checksums what it reads, counts its position, and turns a
/// short read into [`BackupError::Truncated`].
struct CheckedReader<'a> {
    input: &'a mut dyn Read,
    /// CRC32C of every byte read so far.
    crc: u32,
    /// Bytes read so far.
    offset: u64,
}

impl<'a> CheckedReader<'a> {
    fn new(input: &'a mut dyn Read) -> Self {
        Self {
            input,
            crc: 0,
            offset: 0,
        }
    }

    fn exact(&mut self, buf: &mut [u8], part: &'static str) -> Result<(), BackupError> {
        match self.input.read_exact(buf) {
            Ok(()) => {
                self.consumed(buf);
                Ok(())
            }
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                Err(BackupError::Truncated {
                    part,
                    offset: self.offset,
                })
            }
            Err(error) => Err(BackupError::Io(error)),
        }
    }

    /// Reads `len` bytes, growing the buffer only as bytes arrive, so a
    /// length prefix larger than the input allocates no more than the input.
    fn bytes(&mut self, len: u32, part: &'static str) -> Result<Bytes, BackupError> {
        let mut buf = Vec::new();
        let read = (&mut *self.input)
            .take(u64::from(len))
            .read_to_end(&mut buf)?;
        self.consumed(&buf);
        if read != len as usize {
            return Err(BackupError::Truncated {
                part,
                offset: self.offset - read as u64,
            });
        }
        Ok(Bytes::from(buf))
    }

    fn u8(&mut self, part: &'static str) -> Result<u8, BackupError> {
        let mut buf = [0; 1];
        self.exact(&mut buf, part)?;
        Ok(buf[0])
    }

    fn u32(&mut self, part: &'static str) -> Result<u32, BackupError> {
        let mut buf = [0; 4];
        self.exact(&mut buf, part)?;
        Ok(u32::from_le_bytes(buf))
    }

    fn u64(&mut self, part: &'static str) -> Result<u64, BackupError> {
        let mut buf = [0; 8];
        self.exact(&mut buf, part)?;
        Ok(u64::from_le_bytes(buf))
    }

    /// Succeeds only if the input has no bytes left.
    fn expect_end(&mut self) -> Result<(), BackupError> {
        let mut buf = [0; 1];
        match self.input.read_exact(&mut buf) {
            Ok(()) => Err(BackupError::TrailingData {
                offset: self.offset,
            }),
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(()),
            Err(error) => Err(BackupError::Io(error)),
        }
    }

    fn consumed(&mut self, bytes: &[u8]) {
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.offset += bytes.len() as u64;
    }
}

/// Writes the backup format piece by piece into a buffer the caller drains,
/// so a snapshot streams one record at a time and a
/// [`KvQuery::Backup`](super::KvQuery::Backup) can keep the whole thing.
pub(super) struct BackupEncoder {
    /// Bytes encoded and not yet taken by the caller.
    buf: Vec<u8>,
    /// CRC32C of every byte encoded so far.
    crc: u32,
    /// Records encoded so far.
    records: u64,
}

impl BackupEncoder {
    /// Starts a backup of a state at `cluster_revision`: encodes the header.
    pub(super) fn new(cluster_revision: u64) -> Self {
        let mut encoder = Self {
            buf: Vec::new(),
            crc: 0,
            records: 0,
        };
        let start = encoder.buf.len();
        encoder.buf.extend_from_slice(&MAGIC);
        encoder.buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        encoder
            .buf
            .extend_from_slice(&cluster_revision.to_le_bytes());
        encoder.checksum_from(start);
        encoder
    }

    /// Encodes one record. Records must come in strictly increasing key order.
    ///
    /// # Panics
    /// If the key or value is over its limit: the store never holds one (see
    /// [`KvStore`](super::KvStore)), and writing one would make a backup that
    /// cannot be restored.
    pub(super) fn record(&mut self, key: &[u8], versioned: &StoredValue) {
        let start = self.buf.len();
        self.buf.push(RECORD_TAG);
        self.buf
            .extend_from_slice(&length_prefix(key.len(), MAX_KEY_BYTES));
        self.buf.extend_from_slice(key);
        self.buf
            .extend_from_slice(&length_prefix(versioned.value.len(), MAX_VALUE_BYTES));
        self.buf.extend_from_slice(&versioned.value);
        self.buf
            .extend_from_slice(&versioned.revision.to_le_bytes());
        self.checksum_from(start);
        self.records += 1;
    }

    /// Writes the bytes encoded so far to `out` and forgets them.
    pub(super) fn drain_to(&mut self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Encodes the end marker and returns every byte not yet drained: the
    /// rest of the backup.
    pub(super) fn finish(mut self) -> Vec<u8> {
        let start = self.buf.len();
        self.buf.push(END_TAG);
        self.buf.extend_from_slice(&self.records.to_le_bytes());
        self.checksum_from(start);
        self.buf.extend_from_slice(&self.crc.to_le_bytes());
        self.buf
    }

    fn checksum_from(&mut self, start: usize) {
        self.crc = crc32c::crc32c_append(self.crc, &self.buf[start..]);
    }
}

/// The little-endian length prefix of a field of `len` bytes.
fn length_prefix(len: usize, max: u32) -> [u8; 4] {
    assert!(
        len <= max as usize,
        "a field of {len} bytes is over the backup limit of {max}: the store let it in"
    );
    (len as u32).to_le_bytes()
}
