//! An exclusive lock on a store's directory, held while the store is open.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;

use crate::storage::error::StorageError;

/// Holds an exclusive advisory lock (`flock`) on `<dir>/LOCK` until dropped. A
/// second opener, in this process or another, gets [`StorageError::Locked`].
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<Self, StorageError> {
        let path: PathBuf = dir.join("LOCK");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| StorageError::io("create the lock file", &path, source))?;
        match file.try_lock_exclusive() {
            Ok(true) => Ok(DirLock { _file: file }),
            Ok(false) => Err(StorageError::Locked { path }),
            Err(source) => Err(StorageError::io("lock", &path, source)),
        }
    }
}
