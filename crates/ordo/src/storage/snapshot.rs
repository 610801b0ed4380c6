//! [`SnapshotStore`]: snapshot files, written and read as streams.
//!
//! A snapshot is one file, `snap-<index:020>-<term:020>.snap`:
//!
//! ```text
//! header  := magic "ORDOSNAP" | format version u32 | metadata length u32 | CRC32C(metadata) u32
//! meta    := SnapshotMeta as JSON (self-describing, so fields can be added),
//!            with its indexes named `last_index` and `last_term`
//! data    := the state machine's bytes, as streamed
//! trailer := data length u64 | CRC32C(data) u32 | magic "ORDOSEND"
//! ```
//!
//! Writing goes to `<name>.tmp`; [`SnapshotWriter::finish`] appends the trailer,
//! fdatasyncs, renames into place and fsyncs the directory, and only *then*
//! removes older snapshots but one: the previous snapshot stays until a newer
//! one is durable, so that a damaged newest snapshot can fall back to it
//! ([`SnapshotStore::open_newest_verified`]; the node uses it only if its log
//! still reaches back to it). A crash at any point leaves the previous
//! snapshot intact; stray `.tmp` files are removed at open. The store's
//! directory is fsynced with its parent when opened, so a newly created
//! `snapshots/` survives a power loss. A snapshot received from
//! a leader is written through an
//! [`IncomingSnapshotFile`](crate::storage::IncomingSnapshotFile) instead, durable
//! chunk by chunk so that the transfer survives a restart, and published the
//! same way. Neither side ever holds a
//! whole snapshot in memory: data moves through [`std::io::Write`] and
//! [`std::io::Read`] in chunks of at most [`SNAPSHOT_CHUNK_BYTES`].

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ordo_core::{Index, Membership, SnapshotContent, SnapshotMeta, Term};
use serde::{Deserialize, Serialize};

use crate::storage::error::StorageError;
use crate::storage::fs::{FileSystem, FsFile, StdFs, create_dir_durably};
use crate::storage::lock::DirLock;

const MAGIC: [u8; 8] = *b"ORDOSNAP";
const TRAILER_MAGIC: [u8; 8] = *b"ORDOSEND";
const FORMAT_VERSION: u32 = 1;
const HEADER_BYTES: u64 = 20;
const TRAILER_BYTES: u64 = 20;
const META_BYTES_MAX: u32 = 16 << 20;

/// Size of the writer's buffer: data reaches the file in chunks of this size.
pub const SNAPSHOT_CHUNK_BYTES: usize = 256 << 10;

/// [`SnapshotMeta`] as a snapshot file's header stores it. The format is older
/// than the one `SnapshotMeta` (the core's): its names stay `last_index` and
/// `last_term`, so files written before and after the rename read the same
/// (the field order too, as the JSON is checksummed but never compared).
#[derive(Serialize, Deserialize)]
struct MetaOnDisk {
    last_index: Index,
    last_term: Term,
    membership: Membership,
}

impl From<&SnapshotMeta> for MetaOnDisk {
    fn from(meta: &SnapshotMeta) -> Self {
        MetaOnDisk {
            last_index: meta.index,
            last_term: meta.term,
            membership: meta.membership.clone(),
        }
    }
}

impl From<MetaOnDisk> for SnapshotMeta {
    fn from(on_disk: MetaOnDisk) -> Self {
        SnapshotMeta {
            index: on_disk.last_index,
            term: on_disk.last_term,
            membership: on_disk.membership,
        }
    }
}

/// A directory of snapshot files; keeps the newest durable one.
#[derive(Debug)]
pub struct SnapshotStore {
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    _lock: DirLock,
}

impl SnapshotStore {
    /// Opens (or creates) the store in `dir` on the real file system.
    ///
    /// # Errors
    /// [`StorageError::Locked`] if another store holds `dir`; I/O errors.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::open_with_fs(dir, Arc::new(StdFs))
    }

    /// Opens (or creates) the store in `dir` through `fs`.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with_fs(
        dir: impl AsRef<Path>,
        fs: Arc<dyn FileSystem>,
    ) -> Result<Self, StorageError> {
        let dir = dir.as_ref().to_path_buf();
        create_dir_durably(fs.as_ref(), &dir)?;
        let lock = DirLock::acquire(&dir)?;
        let store = SnapshotStore {
            dir,
            fs,
            _lock: lock,
        };
        for path in store.list()? {
            if path.extension().is_some_and(|extension| extension == "tmp") {
                tracing::info!(file = %path.display(), "removing an unfinished snapshot");
                store
                    .fs
                    .remove_file(&path)
                    .map_err(|source| StorageError::io("remove", &path, source))?;
            }
        }
        Ok(store)
    }

    /// The metadata of the newest snapshot, if any.
    ///
    /// # Errors
    /// I/O errors; [`StorageError::SnapshotMetadata`] if its header is damaged.
    pub fn latest(&self) -> Result<Option<SnapshotMeta>, StorageError> {
        match self.newest_path()? {
            Some(path) => Ok(Some(read_header(self.fs.as_ref(), &path)?.0)),
            None => Ok(None),
        }
    }

    /// Starts writing a snapshot described by `meta`. Stream the data into the
    /// returned writer, then call [`SnapshotWriter::finish`]; dropping it
    /// unfinished discards it.
    ///
    /// # Errors
    /// I/O errors creating the temporary file.
    pub fn create(&self, meta: SnapshotMeta) -> Result<SnapshotWriter<'_>, StorageError> {
        let path = self.snapshot_path(meta.index, meta.term);
        let tmp_path = path.with_extension("snap.tmp");
        let file = self
            .fs
            .create(&tmp_path)
            .map_err(|source| StorageError::io("create", &tmp_path, source))?;
        let header = encode_header(&meta, &tmp_path)?;
        file.write_all_at(&header, 0)
            .map_err(|source| StorageError::io("write to", &tmp_path, source))?;
        Ok(SnapshotWriter {
            store: self,
            meta,
            file,
            tmp_path,
            path,
            offset: header.len() as u64,
            data_bytes: 0,
            crc: 0,
            buffer: Vec::with_capacity(SNAPSHOT_CHUNK_BYTES),
            finished: false,
        })
    }

    /// Opens the newest snapshot for reading, if any.
    ///
    /// # Errors
    /// I/O errors; [`StorageError::SnapshotMetadata`] if its header is damaged.
    pub fn open_latest(&self) -> Result<Option<SnapshotReader>, StorageError> {
        match self.newest_path()? {
            Some(path) => Ok(Some(self.reader(&path)?)),
            None => Ok(None),
        }
    }

    /// Opens the newest snapshot that reads back whole (header, trailer and
    /// data checksum), if any. A damaged newer one is skipped with a warning
    /// naming it: the caller falls back to the one before (kept for this, see
    /// the module docs). Reads every candidate once to verify it.
    ///
    /// # Errors
    /// I/O errors listing the directory. A snapshot that cannot be read is
    /// skipped, not an error.
    pub fn open_newest_verified(&self) -> Result<Option<SnapshotReader>, StorageError> {
        for path in self.finished()?.iter().rev() {
            match self.verify(path) {
                Ok(()) => return Ok(Some(self.reader(path)?)),
                Err(error) => tracing::warn!(
                    file = %path.display(),
                    %error,
                    "a snapshot is unreadable; falling back to the one before it"
                ),
            }
        }
        Ok(None)
    }

    /// Reads the snapshot at `path` through, checking every checksum.
    fn verify(&self, path: &Path) -> Result<(), StorageError> {
        let mut reader = self.reader(path)?;
        io::copy(&mut reader, &mut io::sink())
            .map(|_| ())
            .map_err(|source| StorageError::io("read", path, source))
    }

    /// Opens the snapshot at (`index`, `term`) for reading.
    ///
    /// # Errors
    /// [`StorageError::NoSnapshot`] if it does not exist (any more); I/O errors.
    pub fn open_snapshot(&self, index: Index, term: Term) -> Result<SnapshotReader, StorageError> {
        let path = self.snapshot_path(index, term);
        if !self.list()?.contains(&path) {
            return Err(StorageError::NoSnapshot { index, term });
        }
        self.reader(&path)
    }

    fn reader(&self, path: &Path) -> Result<SnapshotReader, StorageError> {
        let (meta, file, data_start) = read_header(self.fs.as_ref(), path)?;
        let len = file
            .size_bytes()
            .map_err(|source| StorageError::io("stat", path, source))?;
        let mut trailer = [0u8; TRAILER_BYTES as usize];
        let bad_trailer = || StorageError::SnapshotMetadata {
            path: path.to_path_buf(),
            reason: "the trailer is missing or damaged".to_string(),
        };
        let trailer_at = len
            .checked_sub(TRAILER_BYTES)
            .filter(|&at| at >= data_start)
            .ok_or_else(bad_trailer)?;
        file.read_exact_at(&mut trailer, trailer_at)
            .map_err(|source| StorageError::io("read", path, source))?;
        let data_bytes = u64::from_le_bytes(field(&trailer[0..8]));
        // `data_bytes` comes from disk: no unchecked arithmetic on it.
        let data_end = data_start.checked_add(data_bytes);
        if trailer[12..20] != TRAILER_MAGIC || data_end != Some(trailer_at) {
            return Err(bad_trailer());
        }
        Ok(SnapshotReader {
            meta,
            file,
            path: path.to_path_buf(),
            offset: data_start,
            end: trailer_at,
            data_bytes,
            crc: 0,
            expected_crc: u32::from_le_bytes(field(&trailer[8..12])),
        })
    }

    pub(super) fn snapshot_path(&self, index: Index, term: Term) -> PathBuf {
        self.dir.join(format!("snap-{index:020}-{term:020}.snap"))
    }

    /// The directory the store owns.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(super) fn fs(&self) -> &dyn FileSystem {
        self.fs.as_ref()
    }

    pub(super) fn list(&self) -> Result<Vec<PathBuf>, StorageError> {
        self.fs
            .list_dir(&self.dir)
            .map_err(|source| StorageError::io("list", &self.dir, source))
    }

    /// Finished snapshot files, oldest first (names sort by index, then term).
    fn finished(&self) -> Result<Vec<PathBuf>, StorageError> {
        let mut paths: Vec<PathBuf> = self
            .list()?
            .into_iter()
            .filter(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with("snap-") && name.ends_with(".snap"))
            })
            .collect();
        paths.sort();
        Ok(paths)
    }

    fn newest_path(&self) -> Result<Option<PathBuf>, StorageError> {
        Ok(self.finished()?.pop())
    }

    /// The snapshot at `path` was just renamed into place: makes that
    /// durable (directory fsync), then removes every older snapshot but the
    /// newest of them, the fallback should this one be damaged later.
    pub(super) fn published(&self, path: &Path) -> Result<(), StorageError> {
        self.sync_dir()?;
        let mut older: Vec<PathBuf> = self
            .finished()?
            .into_iter()
            .filter(|older| older.as_path() < path)
            .collect();
        older.pop();
        for older in &older {
            self.fs
                .remove_file(older)
                .map_err(|source| StorageError::io("remove", older, source))?;
        }
        if !older.is_empty() {
            self.sync_dir()?;
        }
        Ok(())
    }

    pub(super) fn sync_dir(&self) -> Result<(), StorageError> {
        self.fs
            .sync_dir(&self.dir)
            .map_err(|source| StorageError::io("fsync the directory", &self.dir, source))
    }
}

/// A snapshot file's header: magic, version, metadata length and checksum,
/// then the metadata. `path` is only for errors.
pub(super) fn encode_header(meta: &SnapshotMeta, path: &Path) -> Result<Vec<u8>, StorageError> {
    let meta_json = serde_json::to_vec(&MetaOnDisk::from(meta)).map_err(|error| {
        StorageError::SnapshotMetadata {
            path: path.to_path_buf(),
            reason: error.to_string(),
        }
    })?;
    let mut header = Vec::with_capacity(HEADER_BYTES as usize + meta_json.len());
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&(meta_json.len() as u32).to_le_bytes());
    header.extend_from_slice(&crc32c::crc32c(&meta_json).to_le_bytes());
    header.extend_from_slice(&meta_json);
    Ok(header)
}

/// Ends a snapshot file whose data (`data_bytes` of it, with checksum `crc`)
/// ends at `trailer_at`: writes the trailer and fdatasyncs. `path` is only
/// for errors.
pub(super) fn seal(
    file: &dyn FsFile,
    path: &Path,
    trailer_at: u64,
    data_bytes: u64,
    crc: u32,
) -> Result<(), StorageError> {
    let mut trailer = Vec::with_capacity(TRAILER_BYTES as usize);
    trailer.extend_from_slice(&data_bytes.to_le_bytes());
    trailer.extend_from_slice(&crc.to_le_bytes());
    trailer.extend_from_slice(&TRAILER_MAGIC);
    file.write_all_at(&trailer, trailer_at)
        .map_err(|source| StorageError::io("write to", path, source))?;
    file.sync_data()
        .map_err(|source| StorageError::io("fdatasync", path, source))
}

fn field<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    out
}

/// Reads and checks a snapshot's header; returns its metadata, the open file
/// and the offset where data starts.
pub(super) fn read_header(
    fs: &dyn FileSystem,
    path: &Path,
) -> Result<(SnapshotMeta, Arc<dyn FsFile>, u64), StorageError> {
    let file = fs
        .open(path)
        .map_err(|source| StorageError::io("open", path, source))?;
    let bad = |reason: String| StorageError::SnapshotMetadata {
        path: path.to_path_buf(),
        reason,
    };
    let mut header = [0u8; HEADER_BYTES as usize];
    file.read_exact_at(&mut header, 0)
        .map_err(|source| StorageError::io("read", path, source))?;
    if header[0..8] != MAGIC {
        return Err(bad("wrong magic number".to_string()));
    }
    let version = u32::from_le_bytes(field(&header[8..12]));
    if version != FORMAT_VERSION {
        return Err(StorageError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let meta_bytes = u32::from_le_bytes(field(&header[12..16]));
    if meta_bytes > META_BYTES_MAX {
        return Err(bad(format!("metadata length {meta_bytes} is implausible")));
    }
    let mut meta_json = vec![0u8; meta_bytes as usize];
    file.read_exact_at(&mut meta_json, HEADER_BYTES)
        .map_err(|source| StorageError::io("read", path, source))?;
    if crc32c::crc32c(&meta_json) != u32::from_le_bytes(field(&header[16..20])) {
        return Err(bad("metadata checksum does not match".to_string()));
    }
    let meta: MetaOnDisk =
        serde_json::from_slice(&meta_json).map_err(|error| bad(error.to_string()))?;
    Ok((meta.into(), file, HEADER_BYTES + u64::from(meta_bytes)))
}

/// A snapshot being written: an [`io::Write`] sink. Call
/// [`finish`](Self::finish) to make it the store's newest snapshot.
#[derive(Debug)]
pub struct SnapshotWriter<'a> {
    store: &'a SnapshotStore,
    meta: SnapshotMeta,
    file: Arc<dyn FsFile>,
    tmp_path: PathBuf,
    path: PathBuf,
    /// Where the buffer goes in the file.
    offset: u64,
    data_bytes: u64,
    crc: u32,
    buffer: Vec<u8>,
    finished: bool,
}

impl SnapshotWriter<'_> {
    /// Writes the trailer, makes the snapshot durable and visible (fdatasync,
    /// rename, directory fsync), then removes older snapshots.
    ///
    /// # Errors
    /// I/O errors; the previous snapshot then stays the newest, and the
    /// unfinished file is removed.
    pub fn finish(mut self) -> Result<SnapshotMeta, StorageError> {
        self.flush_buffer()
            .map_err(|source| StorageError::io("write to", &self.tmp_path, source))?;
        let fs = self.store.fs.as_ref();
        seal(
            self.file.as_ref(),
            &self.tmp_path,
            self.offset,
            self.data_bytes,
            self.crc,
        )?;
        fs.rename(&self.tmp_path, &self.path)
            .map_err(|source| StorageError::io("rename into place", &self.tmp_path, source))?;
        self.finished = true;
        self.store.published(&self.path)?;
        Ok(self.meta.clone())
    }

    fn flush_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.file.write_all_at(&self.buffer, self.offset)?;
        self.offset += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }
}

impl Write for SnapshotWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let taken = data.len().min(SNAPSHOT_CHUNK_BYTES - self.buffer.len());
        self.buffer.extend_from_slice(&data[..taken]);
        self.crc = crc32c::crc32c_append(self.crc, &data[..taken]);
        self.data_bytes += taken as u64;
        if self.buffer.len() == SNAPSHOT_CHUNK_BYTES {
            self.flush_buffer()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_buffer()
    }
}

impl Drop for SnapshotWriter<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let _ignored = self.store.fs.remove_file(&self.tmp_path);
        }
    }
}

/// A snapshot being read: an [`io::Read`] source of its data. The checksum is
/// verified as the data streams; reaching the end of damaged data returns an
/// [`io::ErrorKind::InvalidData`] error instead of a clean end.
#[derive(Debug)]
pub struct SnapshotReader {
    meta: SnapshotMeta,
    file: Arc<dyn FsFile>,
    path: PathBuf,
    offset: u64,
    end: u64,
    data_bytes: u64,
    crc: u32,
    expected_crc: u32,
}

impl SnapshotReader {
    /// What the snapshot covers.
    pub fn meta(&self) -> &SnapshotMeta {
        &self.meta
    }

    /// Which bytes the snapshot holds, as its trailer records them: what a
    /// leader announces with every chunk it sends of it.
    pub fn content(&self) -> SnapshotContent {
        SnapshotContent {
            data_bytes: self.data_bytes,
            crc32c: self.expected_crc,
        }
    }

    /// Bytes of data not yet read.
    pub fn remaining_bytes(&self) -> u64 {
        self.end - self.offset
    }
}

impl Read for SnapshotReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let wanted = (buf.len() as u64).min(self.end - self.offset) as usize;
        if wanted == 0 && !buf.is_empty() {
            if self.crc != self.expected_crc {
                let message = format!(
                    "snapshot {} is damaged: data checksum does not match",
                    self.path.display()
                );
                return Err(io::Error::new(io::ErrorKind::InvalidData, message));
            }
            return Ok(0);
        }
        self.file.read_exact_at(&mut buf[..wanted], self.offset)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..wanted]);
        self.offset += wanted as u64;
        Ok(wanted)
    }
}
