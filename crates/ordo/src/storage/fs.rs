//! The file-system seam: every disk access of the stores goes through
//! [`FileSystem`] and [`FsFile`], so that tests can inject failures
//! ([`FaultInjectingFs`]) and benchmarks can count fdatasyncs.
//!
//! Files are written and read with positional I/O (`pwrite`/`pread`), so one open
//! file can be shared by the writer and by concurrent readers without a seek
//! position to fight over.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::storage::error::StorageError;

/// The directory operations the stores need.
pub trait FileSystem: Send + Sync + fmt::Debug + 'static {
    /// Creates `path` and its parents if missing.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Full paths of the entries of directory `path`, in no particular order.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// Creates (or truncates) `path` for reading and writing.
    fn create(&self, path: &Path) -> io::Result<Arc<dyn FsFile>>;
    /// Opens an existing `path` for reading and writing.
    fn open(&self, path: &Path) -> io::Result<Arc<dyn FsFile>>;
    /// Atomically replaces `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes the file `path`.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// One open file. All methods take `&self`: positional I/O needs no cursor.
pub trait FsFile: Send + Sync + fmt::Debug {
    /// Writes all of `buf` at byte `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Fills `buf` from byte `offset`; fails with `UnexpectedEof` if the file is shorter.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// The file's length in bytes.
    fn size_bytes(&self) -> io::Result<u64>;
    /// Cuts or extends the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes the file's data durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
}

/// Creates `dir` (and its parents) if missing, then fsyncs it and its
/// parent, so that the directory itself survives a power loss: a store
/// whose files outlive their directory entry would come back empty. Done
/// at every open, not only the first: an open whose fsync failed may have
/// left the directory behind, not yet durable.
pub(crate) fn create_dir_durably(fs: &dyn FileSystem, dir: &Path) -> Result<(), StorageError> {
    fs.create_dir_all(dir)
        .map_err(|source| StorageError::io("create", dir, source))?;
    fs.sync_dir(dir)
        .map_err(|source| StorageError::io("fsync the directory", dir, source))?;
    if let Some(parent) = dir.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        fs.sync_dir(parent)
            .map_err(|source| StorageError::io("fsync the directory", parent, source))?;
    }
    Ok(())
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdFs;

#[derive(Debug)]
struct StdFile(File);

impl FileSystem for StdFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        fs::read_dir(path)?
            .map(|entry| entry.map(|entry| entry.path()))
            .collect()
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Arc::new(StdFile(file)))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Arc::new(StdFile(file)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
}

impl FsFile for StdFile {
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }

    fn size_bytes(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
}

/// A failure [`FaultInjectingFs`] can inject. Each stays active until
/// [`FaultInjectingFs::clear`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Every file write fails with an I/O error, writing nothing.
    WriteError,
    /// Every file write stores the first half of its buffer, then fails with
    /// `ENOSPC`, as a full disk does.
    NoSpace,
    /// Every `fdatasync` of a file fails (`EIO`).
    SyncError,
    /// Every directory sync fails (`EIO`).
    SyncDirError,
    /// Every rename fails (`EIO`).
    RenameError,
    /// Every file creation and open fails with `EMFILE`, as when the process
    /// is out of file descriptors.
    NoDescriptors,
}

/// Linux error numbers the storage layer tells apart (one home for them:
/// [`Exhausted::of`](crate::storage::Exhausted::of) reads them, the fault
/// seam injects them).
pub(crate) const EIO: i32 = 5;
pub(crate) const ENFILE: i32 = 23;
pub(crate) const EMFILE: i32 = 24;
pub(crate) const ENOSPC: i32 = 28;
pub(crate) const EDQUOT: i32 = 122;

/// A [`FileSystem`] over the real one that injects [`Fault`]s and counts syncs.
/// A test tool (and the benchmark's fdatasync counter); not for production.
#[derive(Debug, Default)]
pub struct FaultInjectingFs {
    shared: Arc<FaultState>,
}

#[derive(Debug, Default)]
struct FaultState {
    faults: Mutex<Vec<Fault>>,
    data_syncs: AtomicU64,
    dir_syncs: AtomicU64,
}

impl FaultState {
    fn faults(&self) -> MutexGuard<'_, Vec<Fault>> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_active(&self, fault: Fault) -> bool {
        self.faults().contains(&fault)
    }
}

impl FaultInjectingFs {
    /// A pass-through file system with no faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Activates `fault` for every later call, until [`clear`](Self::clear).
    pub fn inject(&self, fault: Fault) {
        self.shared.faults().push(fault);
    }

    /// Deactivates every fault.
    pub fn clear(&self) {
        self.shared.faults().clear();
    }

    /// How many file `fdatasync`s were attempted.
    pub fn data_syncs(&self) -> u64 {
        self.shared.data_syncs.load(Ordering::Relaxed)
    }

    /// How many directory syncs were attempted.
    pub fn dir_syncs(&self) -> u64 {
        self.shared.dir_syncs.load(Ordering::Relaxed)
    }

    /// A second handle on the same faults and counters, to give to a store.
    pub fn handle(&self) -> Self {
        FaultInjectingFs {
            shared: Arc::clone(&self.shared),
        }
    }

    fn wrap(&self, file: Arc<dyn FsFile>) -> Arc<dyn FsFile> {
        Arc::new(FaultyFile {
            inner: file,
            shared: Arc::clone(&self.shared),
        })
    }
}

impl FileSystem for FaultInjectingFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        StdFs.create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        StdFs.list_dir(path)
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        if self.shared.is_active(Fault::NoDescriptors) {
            return Err(io::Error::from_raw_os_error(EMFILE));
        }
        Ok(self.wrap(StdFs.create(path)?))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        if self.shared.is_active(Fault::NoDescriptors) {
            return Err(io::Error::from_raw_os_error(EMFILE));
        }
        Ok(self.wrap(StdFs.open(path)?))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        if self.shared.is_active(Fault::RenameError) {
            return Err(io::Error::from_raw_os_error(EIO));
        }
        StdFs.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdFs.remove_file(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.shared.dir_syncs.fetch_add(1, Ordering::Relaxed);
        if self.shared.is_active(Fault::SyncDirError) {
            return Err(io::Error::from_raw_os_error(EIO));
        }
        StdFs.sync_dir(path)
    }
}

#[derive(Debug)]
struct FaultyFile {
    inner: Arc<dyn FsFile>,
    shared: Arc<FaultState>,
}

impl FsFile for FaultyFile {
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        if self.shared.is_active(Fault::WriteError) {
            return Err(io::Error::from_raw_os_error(EIO));
        }
        if self.shared.is_active(Fault::NoSpace) {
            self.inner.write_all_at(&buf[..buf.len() / 2], offset)?;
            return Err(io::Error::from_raw_os_error(ENOSPC));
        }
        self.inner.write_all_at(buf, offset)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }

    fn size_bytes(&self) -> io::Result<u64> {
        self.inner.size_bytes()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.shared.data_syncs.fetch_add(1, Ordering::Relaxed);
        if self.shared.is_active(Fault::SyncError) {
            return Err(io::Error::from_raw_os_error(EIO));
        }
        self.inner.sync_data()
    }
}
