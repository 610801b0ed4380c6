//! [`IncomingSnapshotFile`]: a snapshot received from the leader chunk by chunk
//! and made durable chunk by chunk, so that a transfer survives a restart of
//! the receiver and resumes where it stopped.
//!
//! At most one transfer at a time, in two files of the snapshot directory:
//!
//! ```text
//! incoming.snap.partial   the snapshot file as it will be once finished, minus
//!                         its trailer: header | metadata | data received so far
//! incoming.snap.progress  header | slot | slot
//!   header := magic "ORDOPROG" | format version u32 (= 2)
//!             | announced data bytes u64 | announced CRC32C(data) u32
//!             | CRC32C(the 24 bytes before) u32
//!   slot   := received bytes u64 | CRC32C(data so far) u32
//!             | CRC32C(the 12 bytes before) u32     (two, written alternately)
//! ```
//!
//! The header records which bytes the leader announced for the whole
//! snapshot ([`SnapshotContent`]): the core resumes a transfer only for a
//! chunk announcing the same, because two snapshots of the same index and
//! term may hold different bytes, and splicing them would go unnoticed by
//! the checksum the receiver keeps of what it received. It is written once,
//! with the empty slots, when the transfer starts. A progress file of the
//! first format (two slots, no header, no announced content) is discarded
//! with a warning and the transfer starts over; it cannot be misread (its
//! first 8 bytes would have to claim some 5·10^18 received bytes to look like
//! the magic, and the header's checksum would still have to match).
//!
//! [`IncomingSnapshotFile::append`] writes a chunk after the data and fdatasyncs
//! the data file, *then* records the new length and running checksum in the
//! older slot and fdatasyncs that: a slot never claims bytes that are not
//! durable, and a torn slot leaves the other one intact. Reopening
//! ([`SnapshotStore::open_incoming`]) takes the valid slot with the most
//! bytes, re-reads that many received bytes and resumes only if their
//! CRC32C is the slot's (bytes damaged since they were recorded would
//! otherwise be carried into a published snapshot under a checksum that
//! no longer describes them: such a transfer is discarded and starts over),
//! then cuts the data file back to it (anything past it may be torn).
//! [`IncomingSnapshotFile::finish`] first checks that the data received has the
//! announced length and checksum (else it discards the transfer and returns
//! [`StorageError::SnapshotContentMismatch`]: nothing is published), then
//! appends the trailer and publishes the file as
//! [`SnapshotWriter::finish`](crate::storage::SnapshotWriter::finish) does, so
//! a received snapshot cannot be told from one taken locally.
//!
//! Memory: one chunk at a time, never the snapshot.

use std::path::PathBuf;
use std::sync::Arc;

use ordo_core::{SnapshotContent, SnapshotMeta};

use crate::storage::error::StorageError;
use crate::storage::fs::FsFile;
use crate::storage::snapshot::{SnapshotStore, encode_header, read_header, seal};

const DATA_FILE: &str = "incoming.snap.partial";
const PROGRESS_FILE: &str = "incoming.snap.progress";
const SLOT_BYTES: usize = 16;
const PROGRESS_MAGIC: [u8; 8] = *b"ORDOPROG";
/// Version 1 had no header (and no announced content); 2 is this one.
const PROGRESS_VERSION: u32 = 2;
const PROGRESS_HEADER_BYTES: usize = 28;
/// The buffer reopening reads the received bytes through to verify them.
const VERIFY_BUFFER_BYTES: u64 = 1 << 20;

/// A snapshot being received: the chunks durable so far, kept across
/// restarts. Dropping it keeps the files (that is the point);
/// [`discard`](Self::discard) removes them.
///
/// After an error the handle's view of the files is unknown: drop it and
/// [`SnapshotStore::open_incoming`] again, which recovers what is durable.
#[derive(Debug)]
pub struct IncomingSnapshotFile<'a> {
    store: &'a SnapshotStore,
    meta: SnapshotMeta,
    /// The bytes the leader announced for the whole snapshot.
    content: SnapshotContent,
    data: Arc<dyn FsFile>,
    progress: Arc<dyn FsFile>,
    /// Where the data starts in the data file (after header and metadata).
    data_start: u64,
    /// Data bytes durable, and their CRC32C.
    received_bytes: u64,
    crc: u32,
    /// The slot the next append writes (the older one): 0 or 1.
    next_slot: usize,
}

impl SnapshotStore {
    /// Starts receiving the snapshot `meta`, whose leader announced its data
    /// as `content`, discarding any partly received one. The new (empty)
    /// transfer is durable when this returns.
    ///
    /// # Errors
    /// I/O errors.
    pub fn create_incoming(
        &self,
        meta: SnapshotMeta,
        content: SnapshotContent,
    ) -> Result<IncomingSnapshotFile<'_>, StorageError> {
        self.remove_incoming()?;
        let (data_path, progress_path) = (self.incoming_path(), self.progress_path());
        let data = self.create_file(&data_path)?;
        let header = encode_header(&meta, &data_path)?;
        data.write_all_at(&header, 0)
            .map_err(|source| StorageError::io("write to", &data_path, source))?;
        data.sync_data()
            .map_err(|source| StorageError::io("fdatasync", &data_path, source))?;
        let progress = self.create_file(&progress_path)?;
        let mut record = encode_progress_header(content).to_vec();
        record.extend_from_slice(&[0; 2 * SLOT_BYTES]);
        progress
            .write_all_at(&record, 0)
            .map_err(|source| StorageError::io("write to", &progress_path, source))?;
        progress
            .sync_data()
            .map_err(|source| StorageError::io("fdatasync", &progress_path, source))?;
        self.sync_dir()?;
        Ok(IncomingSnapshotFile {
            store: self,
            meta,
            content,
            data,
            progress,
            data_start: header.len() as u64,
            received_bytes: 0,
            crc: 0,
            next_slot: 0,
        })
    }

    /// The snapshot partly received before (a restart), if any, with as many
    /// bytes as were made durable, re-read and checked against the progress
    /// record. A transfer whose files are incomplete or damaged (received
    /// bytes included), or whose progress record is of the first format
    /// (which did not record the announced content), is discarded with a
    /// warning (it starts over; nothing was lost that the leader does not
    /// still have).
    ///
    /// # Errors
    /// I/O errors.
    pub fn open_incoming(&self) -> Result<Option<IncomingSnapshotFile<'_>>, StorageError> {
        let (data_path, progress_path) = (self.incoming_path(), self.progress_path());
        let names = self.list()?;
        if !names.contains(&data_path) || !names.contains(&progress_path) {
            // Interrupted while starting or finishing: nothing to resume.
            self.remove_incoming()?;
            return Ok(None);
        }
        let (meta, data, data_start) = match read_header(self.fs(), &data_path) {
            Ok(opened) => opened,
            Err(error @ StorageError::Io { .. }) => return Err(error),
            Err(error) => {
                tracing::warn!(%error, "discarding a damaged incoming snapshot");
                self.remove_incoming()?;
                return Ok(None);
            }
        };
        let progress = self
            .fs()
            .open(&progress_path)
            .map_err(|source| StorageError::io("open", &progress_path, source))?;
        let content = match read_progress_header(progress.as_ref(), &progress_path)? {
            Ok(content) => content,
            Err(reason) => {
                tracing::warn!(
                    file = %progress_path.display(),
                    reason,
                    "discarding an incoming snapshot's progress record; the transfer starts over"
                );
                self.remove_incoming()?;
                return Ok(None);
            }
        };
        let (slot, received_bytes, crc) = newest_slot(progress.as_ref(), &progress_path)?;
        let data_end = data_start + received_bytes;
        let size = data
            .size_bytes()
            .map_err(|source| StorageError::io("stat", &data_path, source))?;
        if size < data_end {
            tracing::warn!(
                received_bytes,
                size,
                "an incoming snapshot claims more than its file holds; discarding it"
            );
            self.remove_incoming()?;
            return Ok(None);
        }
        let on_disk = crc_of_range(data.as_ref(), &data_path, data_start, received_bytes)?;
        if on_disk != crc {
            tracing::warn!(
                received_bytes,
                recorded_crc32c = crc,
                on_disk_crc32c = on_disk,
                "an incoming snapshot's received bytes do not match its progress record \
                 (damaged since); discarding it, the transfer starts over"
            );
            self.remove_incoming()?;
            return Ok(None);
        }
        if size > data_end {
            // Written after the last durable chunk: possibly torn.
            data.set_len(data_end)
                .map_err(|source| StorageError::io("truncate", &data_path, source))?;
        }
        Ok(Some(IncomingSnapshotFile {
            store: self,
            meta,
            content,
            data,
            progress,
            data_start,
            received_bytes,
            crc,
            next_slot: slot.map_or(0, |newest| 1 - newest),
        }))
    }

    /// Removes the partly received snapshot, if any.
    ///
    /// # Errors
    /// I/O errors.
    pub fn remove_incoming(&self) -> Result<(), StorageError> {
        let names = self.list()?;
        let mut removed = false;
        for path in [self.incoming_path(), self.progress_path()] {
            if names.contains(&path) {
                self.fs()
                    .remove_file(&path)
                    .map_err(|source| StorageError::io("remove", &path, source))?;
                removed = true;
            }
        }
        if removed {
            self.sync_dir()?;
        }
        Ok(())
    }

    fn incoming_path(&self) -> PathBuf {
        self.dir().join(DATA_FILE)
    }

    fn progress_path(&self) -> PathBuf {
        self.dir().join(PROGRESS_FILE)
    }

    fn create_file(&self, path: &std::path::Path) -> Result<Arc<dyn FsFile>, StorageError> {
        self.fs()
            .create(path)
            .map_err(|source| StorageError::io("create", path, source))
    }
}

fn encode_progress_header(content: SnapshotContent) -> [u8; PROGRESS_HEADER_BYTES] {
    let mut header = [0u8; PROGRESS_HEADER_BYTES];
    header[0..8].copy_from_slice(&PROGRESS_MAGIC);
    header[8..12].copy_from_slice(&PROGRESS_VERSION.to_le_bytes());
    header[12..20].copy_from_slice(&content.data_bytes.to_le_bytes());
    header[20..24].copy_from_slice(&content.crc32c.to_le_bytes());
    let check = crc32c::crc32c(&header[0..24]);
    header[24..28].copy_from_slice(&check.to_le_bytes());
    header
}

/// The announced content from a progress file's header; the inner error
/// says why the file cannot be used (an older format, or damage).
fn read_progress_header(
    progress: &dyn FsFile,
    path: &std::path::Path,
) -> Result<Result<SnapshotContent, &'static str>, StorageError> {
    let size = progress
        .size_bytes()
        .map_err(|source| StorageError::io("stat", path, source))?;
    let mut header = [0u8; PROGRESS_HEADER_BYTES];
    let readable = (header.len() as u64).min(size) as usize;
    progress
        .read_exact_at(&mut header[..readable], 0)
        .map_err(|source| StorageError::io("read", path, source))?;
    if readable < PROGRESS_MAGIC.len() || header[0..8] != PROGRESS_MAGIC {
        return Ok(Err(
            "no header: the first format, which did not record the snapshot's announced \
             content (or damage)",
        ));
    }
    let check = u32::from_le_bytes(field(&header[24..28]));
    if readable < PROGRESS_HEADER_BYTES || crc32c::crc32c(&header[0..24]) != check {
        return Ok(Err("the header is torn or damaged"));
    }
    if u32::from_le_bytes(field(&header[8..12])) != PROGRESS_VERSION {
        return Ok(Err("an unknown format version"));
    }
    Ok(Ok(SnapshotContent {
        data_bytes: u64::from_le_bytes(field(&header[12..20])),
        crc32c: u32::from_le_bytes(field(&header[20..24])),
    }))
}

fn field<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    out
}

/// The valid slot with the most bytes: (which slot, bytes, CRC32C of them).
/// No valid slot: nothing durable yet.
fn newest_slot(
    progress: &dyn FsFile,
    path: &std::path::Path,
) -> Result<(Option<usize>, u64, u32), StorageError> {
    let size = progress
        .size_bytes()
        .map_err(|source| StorageError::io("stat", path, source))?;
    let mut newest = (None, 0, 0);
    for slot in 0..2 {
        let at = (PROGRESS_HEADER_BYTES + slot * SLOT_BYTES) as u64;
        if at + SLOT_BYTES as u64 > size {
            continue;
        }
        let mut bytes = [0u8; SLOT_BYTES];
        progress
            .read_exact_at(&mut bytes, at)
            .map_err(|source| StorageError::io("read", path, source))?;
        if let Some((received, crc)) = decode_slot(&bytes)
            && (newest.0.is_none() || received > newest.1)
        {
            newest = (Some(slot), received, crc);
        }
    }
    Ok(newest)
}

/// The CRC32C of `length` bytes of `file` from `start`, read a bounded
/// buffer at a time.
fn crc_of_range(
    file: &dyn FsFile,
    path: &std::path::Path,
    start: u64,
    length: u64,
) -> Result<u32, StorageError> {
    let mut buffer = vec![0u8; VERIFY_BUFFER_BYTES.min(length) as usize];
    let (mut crc, mut done) = (0, 0);
    while done < length {
        let take = (length - done).min(buffer.len() as u64) as usize;
        file.read_exact_at(&mut buffer[..take], start + done)
            .map_err(|source| StorageError::io("read", path, source))?;
        crc = crc32c::crc32c_append(crc, &buffer[..take]);
        done += take as u64;
    }
    Ok(crc)
}

fn encode_slot(received_bytes: u64, crc: u32) -> [u8; SLOT_BYTES] {
    let mut slot = [0u8; SLOT_BYTES];
    slot[0..8].copy_from_slice(&received_bytes.to_le_bytes());
    slot[8..12].copy_from_slice(&crc.to_le_bytes());
    let check = crc32c::crc32c(&slot[0..12]);
    slot[12..16].copy_from_slice(&check.to_le_bytes());
    slot
}

fn decode_slot(slot: &[u8; SLOT_BYTES]) -> Option<(u64, u32)> {
    let mut check = [0u8; 4];
    check.copy_from_slice(&slot[12..16]);
    if crc32c::crc32c(&slot[0..12]) != u32::from_le_bytes(check) {
        return None;
    }
    let mut received = [0u8; 8];
    received.copy_from_slice(&slot[0..8]);
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&slot[8..12]);
    Some((u64::from_le_bytes(received), u32::from_le_bytes(crc)))
}

impl IncomingSnapshotFile<'_> {
    /// What the snapshot covers.
    pub fn meta(&self) -> &SnapshotMeta {
        &self.meta
    }

    /// The bytes the leader announced for the whole snapshot.
    pub fn content(&self) -> SnapshotContent {
        self.content
    }

    /// Data bytes durably received: where the next chunk goes.
    pub fn received_bytes(&self) -> u64 {
        self.received_bytes
    }

    /// Writes `data` at `offset` of the snapshot's data and makes it durable
    /// (two fdatasyncs: the data, then the progress record).
    ///
    /// # Errors
    /// [`StorageError::SnapshotGap`] unless `offset` is
    /// [`received_bytes`](Self::received_bytes) (nothing written); I/O errors.
    pub fn append(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        if offset != self.received_bytes {
            return Err(StorageError::SnapshotGap {
                offset,
                received: self.received_bytes,
            });
        }
        let data_path = self.store.dir().join(DATA_FILE);
        self.data
            .write_all_at(data, self.data_start + offset)
            .map_err(|source| StorageError::io("write to", &data_path, source))?;
        self.data
            .sync_data()
            .map_err(|source| StorageError::io("fdatasync", &data_path, source))?;
        let received_bytes = offset + data.len() as u64;
        let crc = crc32c::crc32c_append(self.crc, data);
        let progress_path = self.store.dir().join(PROGRESS_FILE);
        let slot = encode_slot(received_bytes, crc);
        self.progress
            .write_all_at(
                &slot,
                (PROGRESS_HEADER_BYTES + self.next_slot * SLOT_BYTES) as u64,
            )
            .map_err(|source| StorageError::io("write to", &progress_path, source))?;
        self.progress
            .sync_data()
            .map_err(|source| StorageError::io("fdatasync", &progress_path, source))?;
        self.next_slot = 1 - self.next_slot;
        self.received_bytes = received_bytes;
        self.crc = crc;
        Ok(())
    }

    /// Every chunk is in: checks the data against the announced content,
    /// then makes the snapshot the store's newest, exactly as
    /// [`SnapshotWriter::finish`](crate::storage::SnapshotWriter::finish)
    /// does (older snapshots are removed), and removes the transfer's files.
    ///
    /// # Errors
    /// [`StorageError::SnapshotContentMismatch`] if the data received is not
    /// the data announced: the transfer was discarded, nothing published.
    /// I/O errors; the transfer's files then stay, to be reopened.
    pub fn finish(self) -> Result<SnapshotMeta, StorageError> {
        let received = SnapshotContent {
            data_bytes: self.received_bytes,
            crc32c: self.crc,
        };
        if received != self.content {
            let mismatch = StorageError::SnapshotContentMismatch {
                announced_bytes: self.content.data_bytes,
                announced_crc32c: self.content.crc32c,
                received_bytes: received.data_bytes,
                received_crc32c: received.crc32c,
            };
            self.store.remove_incoming()?;
            return Err(mismatch);
        }
        let store = self.store;
        let data_path = store.dir().join(DATA_FILE);
        let path = store.snapshot_path(self.meta.index, self.meta.term);
        seal(
            self.data.as_ref(),
            &data_path,
            self.data_start + self.received_bytes,
            self.received_bytes,
            self.crc,
        )?;
        store
            .fs()
            .rename(&data_path, &path)
            .map_err(|source| StorageError::io("rename into place", &data_path, source))?;
        let progress_path = store.dir().join(PROGRESS_FILE);
        store
            .fs()
            .remove_file(&progress_path)
            .map_err(|source| StorageError::io("remove", &progress_path, source))?;
        store.published(&path)?;
        Ok(self.meta)
    }

    /// Removes the transfer's files.
    ///
    /// # Errors
    /// I/O errors.
    pub fn discard(self) -> Result<(), StorageError> {
        self.store.remove_incoming()
    }
}
