//! Small checksummed files beside the log (`VOTE`, `REPAIR`, `POISONED`): one
//! way to write, read and remove them.
//!
//! ```text
//! file := magic (8) | body (fixed length per kind) | CRC32C of magic and body u32
//! ```
//!
//! Invariants: a file is replaced atomically (temporary file, fdatasync,
//! rename, directory fsync), so a crash leaves the old contents or the new,
//! never neither and never a mix; a file of the wrong length, magic or
//! checksum is reported damaged, never read as absent (each kind's caller
//! decides what damage means, and none may ignore it).

use std::io;
use std::path::{Path, PathBuf};

use crate::storage::error::StorageError;
use crate::storage::fs::FileSystem;

/// One kind of marker file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MarkerFile {
    /// Its name in the log directory.
    pub(crate) name: &'static str,
    /// The temporary name it is written under before the rename.
    pub(crate) temporary_name: &'static str,
    /// Its first 8 bytes.
    pub(crate) magic: [u8; 8],
    /// Its body's length.
    pub(crate) body_bytes: usize,
}

/// Why a marker file cannot be read: its caller words the error.
#[derive(Debug)]
pub(crate) enum Damage {
    /// It is `len` bytes long, not the kind's length.
    Length(u64),
    /// Its magic or checksum is wrong.
    Checksum,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Length(len) => write!(f, "it is {len} bytes long"),
            Damage::Checksum => f.write_str("bad magic or checksum"),
        }
    }
}

impl MarkerFile {
    fn file_bytes(&self) -> usize {
        8 + self.body_bytes + 4
    }

    /// Its path in `dir`.
    pub(crate) fn path(&self, dir: &Path) -> PathBuf {
        dir.join(self.name)
    }

    /// The body of the file in `dir`: `Ok(None)` if there is no file,
    /// `Ok(Some(Err(damage)))` if it is damaged.
    ///
    /// # Errors
    /// I/O errors.
    pub(crate) fn read(
        &self,
        fs: &dyn FileSystem,
        dir: &Path,
    ) -> Result<Option<Result<Vec<u8>, Damage>>, StorageError> {
        let path = self.path(dir);
        let file = match fs.open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StorageError::io("open", &path, source)),
        };
        let len = file
            .size_bytes()
            .map_err(|source| StorageError::io("stat", &path, source))?;
        if len != self.file_bytes() as u64 {
            return Ok(Some(Err(Damage::Length(len))));
        }
        let mut bytes = vec![0u8; self.file_bytes()];
        file.read_exact_at(&mut bytes, 0)
            .map_err(|source| StorageError::io("read", &path, source))?;
        let (checked, crc) = bytes.split_at(8 + self.body_bytes);
        let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if checked[0..8] != self.magic || crc32c::crc32c(checked) != crc {
            return Ok(Some(Err(Damage::Checksum)));
        }
        Ok(Some(Ok(checked[8..].to_vec())))
    }

    /// Replaces the file in `dir` with one holding `body`; durably unless
    /// `flush` is off (a log opened with
    /// [`Durability::Never`](crate::storage::Durability::Never)).
    ///
    /// # Errors
    /// I/O errors.
    pub(crate) fn write(
        &self,
        fs: &dyn FileSystem,
        dir: &Path,
        body: &[u8],
        flush: bool,
    ) -> Result<(), StorageError> {
        assert_eq!(body.len(), self.body_bytes, "{} body length", self.name);
        let mut bytes = Vec::with_capacity(self.file_bytes());
        bytes.extend_from_slice(&self.magic);
        bytes.extend_from_slice(body);
        let crc = crc32c::crc32c(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        let temporary = dir.join(self.temporary_name);
        let file = fs
            .create(&temporary)
            .map_err(|source| StorageError::io("create", &temporary, source))?;
        file.write_all_at(&bytes, 0)
            .map_err(|source| StorageError::io("write to", &temporary, source))?;
        if flush {
            file.sync_data()
                .map_err(|source| StorageError::io("fdatasync", &temporary, source))?;
        }
        let path = self.path(dir);
        fs.rename(&temporary, &path)
            .map_err(|source| StorageError::io("rename into", &path, source))?;
        if flush {
            fs.sync_dir(dir)
                .map_err(|source| StorageError::io("fsync the directory", dir, source))?;
        }
        Ok(())
    }

    /// Removes the file in `dir`, durably (nothing to do if there is none).
    ///
    /// # Errors
    /// I/O errors.
    pub(crate) fn remove(&self, fs: &dyn FileSystem, dir: &Path) -> Result<(), StorageError> {
        let path = self.path(dir);
        match fs.remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(StorageError::io("remove", &path, source)),
        }
        fs.sync_dir(dir)
            .map_err(|source| StorageError::io("fsync the directory", dir, source))
    }
}

/// The little-endian u64 at `at` in `body`.
pub(crate) fn u64_at(body: &[u8], at: usize) -> u64 {
    let mut value = [0u8; 8];
    value.copy_from_slice(&body[at..at + 8]);
    u64::from_le_bytes(value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::storage::fs::StdFs;

    const KIND: MarkerFile = MarkerFile {
        name: "TEST",
        temporary_name: "TEST.tmp",
        magic: *b"ORDOTEST",
        body_bytes: 4,
    };

    #[test]
    fn a_marker_reads_back_and_any_damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let fs = StdFs;
        assert!(KIND.read(&fs, dir.path()).unwrap().is_none(), "no file yet");
        KIND.write(&fs, dir.path(), b"abcd", true).unwrap();
        let body = KIND.read(&fs, dir.path()).unwrap().unwrap().unwrap();
        assert_eq!(body, b"abcd");
        assert!(!dir.path().join("TEST.tmp").exists());

        let path = KIND.path(dir.path());
        let bytes = std::fs::read(&path).unwrap();
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            std::fs::write(&path, &flipped).unwrap();
            let read = KIND.read(&fs, dir.path()).unwrap();
            assert!(matches!(read, Some(Err(Damage::Checksum))), "bit {bit}");
        }
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let read = KIND.read(&fs, dir.path()).unwrap();
        assert!(matches!(read, Some(Err(Damage::Length(15)))), "{read:?}");

        KIND.remove(&fs, dir.path()).unwrap();
        assert!(KIND.read(&fs, dir.path()).unwrap().is_none());
        KIND.remove(&fs, dir.path()).unwrap();
    }
}
