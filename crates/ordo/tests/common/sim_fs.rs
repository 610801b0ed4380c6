//! A simulated disk for crash tests, behind the stores' file-system seam.
//!
//! Every file keeps two images: what the running system reads (`live`, the page
//! cache) and what survives a power loss (`durable`, as of its last
//! fdatasync). The directory likewise keeps its live entries and those as of
//! its last fsync. [`SimFs::power_loss`] builds the disk a reboot finds, keeping
//! of every unsynced change as much as the caller chooses; dropping a store
//! without a power loss is a process crash (the page cache survives).
//!
//! [`SimFs::hold_next_sync`] and [`SimFs::fail_next_sync`] script the next
//! fdatasync calls, so tests can power off while a flush is in flight or make
//! one flush fail while another succeeds.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ordo::storage::fs::{FileSystem, FsFile};

/// How much of a file's unsynced writes a power loss keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    /// Only what the last fdatasync covered.
    Nothing,
    /// Everything (background writeback got there first).
    Everything,
    /// The durable image extended by this many thousandths of the unsynced
    /// appended bytes: a torn write. Same as `Nothing` unless the live image
    /// extends the durable one.
    Permille(u16),
    /// The durable image extended with zeros to the live length: the size
    /// reached the disk, the appended data did not (ext4, XFS). Same as
    /// `Nothing` unless the live image extends the durable one.
    SizeOnly,
}

/// What the next fdatasync does.
#[derive(Debug)]
enum Scripted {
    Hold {
        entered: mpsc::Sender<()>,
        release: mpsc::Receiver<Release>,
    },
    Fail,
}

/// How a held fdatasync ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// It flushes and succeeds.
    Flush,
    /// It reports success without flushing, as Linux does when another caller
    /// on the same file already took the writeback error.
    SucceedWithoutFlush,
}

/// A fdatasync that [`SimFs::hold_next_sync`] stopped.
#[derive(Debug)]
pub struct HeldSync {
    entered: mpsc::Receiver<()>,
    release: mpsc::Sender<Release>,
}

impl HeldSync {
    /// Waits until some thread is inside the held fdatasync.
    pub fn wait_entered(&self) {
        self.entered
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the held sync was never called");
    }

    /// Lets the held fdatasync finish as `how`.
    pub fn release(self, how: Release) {
        let _ignored = self.release.send(how);
    }
}

#[derive(Debug, Default)]
struct FileData {
    live: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Debug)]
struct SimFile {
    data: Mutex<FileData>,
    disk: Arc<Disk>,
}

#[derive(Debug, Default)]
struct Entries {
    live: BTreeMap<PathBuf, Arc<SimFile>>,
    durable: BTreeMap<PathBuf, Arc<SimFile>>,
}

#[derive(Debug, Default)]
struct Disk {
    entries: Mutex<Entries>,
    script: Mutex<VecDeque<Scripted>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(5)
}

/// The simulated disk. Clones share it.
#[derive(Clone, Debug, Default)]
pub struct SimFs {
    disk: Arc<Disk>,
}

impl SimFs {
    /// An empty disk.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next fdatasync blocks until the returned handle releases it.
    pub fn hold_next_sync(&self) -> HeldSync {
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        lock(&self.disk.script).push_back(Scripted::Hold {
            entered: entered_tx,
            release: release_rx,
        });
        HeldSync {
            entered: entered_rx,
            release: release_tx,
        }
    }

    /// The next fdatasync (after any held one) fails with `EIO`, flushing nothing.
    pub fn fail_next_sync(&self) {
        lock(&self.disk.script).push_back(Scripted::Fail);
    }

    /// The disk after a power loss now: the directory as of its last fsync
    /// (or as it is, if `directory_kept`), each file's data as `kept` says.
    pub fn power_loss(&self, directory_kept: bool, mut kept: impl FnMut(&Path) -> Kept) -> SimFs {
        let after = SimFs::new();
        let entries = lock(&self.disk.entries);
        let names = match directory_kept {
            true => &entries.live,
            false => &entries.durable,
        };
        let mut survivors = BTreeMap::new();
        for (path, file) in names {
            let bytes = file.image_after_power_loss(kept(path));
            let file = Arc::new(SimFile {
                data: Mutex::new(FileData {
                    live: bytes.clone(),
                    durable: bytes,
                }),
                disk: Arc::clone(&after.disk),
            });
            survivors.insert(path.clone(), file);
        }
        *lock(&after.disk.entries) = Entries {
            live: survivors.clone(),
            durable: survivors,
        };
        after
    }

    /// Renames directory `from` to `to` on this disk, for example so that a
    /// power-loss image can be opened while the original store still holds the
    /// real lock on `from`.
    pub fn rename_dir(&self, from: &Path, to: &Path) {
        let mut entries = lock(&self.disk.entries);
        let rebase = |names: &mut BTreeMap<PathBuf, Arc<SimFile>>| {
            *names = std::mem::take(names)
                .into_iter()
                .map(|(name, file)| match name.strip_prefix(from) {
                    Ok(rest) => (to.join(rest), file),
                    Err(_) => (name, file),
                })
                .collect();
        };
        rebase(&mut entries.live);
        rebase(&mut entries.durable);
    }

    /// The disk after a power loss that keeps nothing unsynced.
    pub fn power_loss_keeping_nothing(&self) -> SimFs {
        self.power_loss(false, |_| Kept::Nothing)
    }

    fn new_file(&self) -> Arc<SimFile> {
        Arc::new(SimFile {
            data: Mutex::default(),
            disk: Arc::clone(&self.disk),
        })
    }

    fn not_found(path: &Path) -> io::Error {
        io::Error::new(io::ErrorKind::NotFound, path.display().to_string())
    }
}

impl SimFile {
    fn image_after_power_loss(&self, kept: Kept) -> Vec<u8> {
        let data = lock(&self.data);
        let extends = data.live.starts_with(&data.durable);
        match kept {
            Kept::Nothing => data.durable.clone(),
            Kept::Everything => data.live.clone(),
            Kept::Permille(_) | Kept::SizeOnly if !extends => data.durable.clone(),
            Kept::SizeOnly => {
                let mut image = data.durable.clone();
                image.resize(data.live.len(), 0);
                image
            }
            Kept::Permille(permille) => {
                let unsynced = (data.live.len() - data.durable.len()) as u64;
                let keep = unsynced * u64::from(permille.min(1000)) / 1000;
                data.live[..data.durable.len() + keep as usize].to_vec()
            }
        }
    }
}

impl FileSystem for SimFs {
    fn create_dir_all(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let entries = lock(&self.disk.entries);
        Ok(entries
            .live
            .keys()
            .filter(|name| name.parent() == Some(path))
            .cloned()
            .collect())
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        let mut entries = lock(&self.disk.entries);
        let file = match entries.live.get(path) {
            Some(file) => {
                lock(&file.data).live.clear();
                Arc::clone(file)
            }
            None => {
                let file = self.new_file();
                entries.live.insert(path.to_path_buf(), Arc::clone(&file));
                file
            }
        };
        Ok(file)
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        let entries = lock(&self.disk.entries);
        match entries.live.get(path) {
            Some(file) => Ok(Arc::clone(file) as Arc<dyn FsFile>),
            None => Err(Self::not_found(path)),
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut entries = lock(&self.disk.entries);
        let file = entries
            .live
            .remove(from)
            .ok_or_else(|| Self::not_found(from))?;
        entries.live.insert(to.to_path_buf(), file);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut entries = lock(&self.disk.entries);
        entries
            .live
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| Self::not_found(path))
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut entries = lock(&self.disk.entries);
        let Entries { live, durable } = &mut *entries;
        durable.retain(|name, _| name.parent() != Some(path));
        for (name, file) in live.iter() {
            if name.parent() == Some(path) {
                durable.insert(name.clone(), Arc::clone(file));
            }
        }
        Ok(())
    }
}

impl FsFile for SimFile {
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut data = lock(&self.data);
        let end = offset as usize + buf.len();
        if data.live.len() < end {
            data.live.resize(end, 0);
        }
        data.live[offset as usize..end].copy_from_slice(buf);
        Ok(())
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let data = lock(&self.data);
        let start = offset as usize;
        let Some(bytes) = data.live.get(start..start + buf.len()) else {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        };
        buf.copy_from_slice(bytes);
        Ok(())
    }

    fn size_bytes(&self) -> io::Result<u64> {
        Ok(lock(&self.data).live.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        lock(&self.data).live.resize(len as usize, 0);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let scripted = lock(&self.disk.script).pop_front();
        match scripted {
            None => {}
            Some(Scripted::Fail) => return Err(eio()),
            Some(Scripted::Hold { entered, release }) => {
                let _ignored = entered.send(());
                match release.recv() {
                    Ok(Release::Flush) | Err(_) => {}
                    Ok(Release::SucceedWithoutFlush) => return Ok(()),
                }
            }
        }
        let mut data = lock(&self.data);
        data.durable = data.live.clone();
        Ok(())
    }
}
