//! Writing PEM files: keys private to their owner (0600) from the moment
//! they exist, and nothing replaced unless asked.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::PkiError;

/// Whether an existing file may be replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overwrite {
    /// Refuse: the file stays as it is.
    Keep,
    /// Replace it (`--force`).
    Replace,
}

const KEY_MODE: u32 = 0o600;
const CERTIFICATE_MODE: u32 = 0o644;

pub(super) fn write_key(path: &Path, pem: &str, overwrite: Overwrite) -> Result<(), PkiError> {
    write(path, pem, KEY_MODE, overwrite)
}

pub(super) fn write_certificate(
    path: &Path,
    pem: &str,
    overwrite: Overwrite,
) -> Result<(), PkiError> {
    write(path, pem, CERTIFICATE_MODE, overwrite)
}

pub(super) fn read(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.to_owned(),
        source,
    })
}

pub(super) fn create_dir(dir: &Path) -> Result<(), PkiError> {
    fs::create_dir_all(dir).map_err(|source| PkiError::Io {
        path: dir.to_owned(),
        source,
    })
}

fn write(path: &Path, contents: &str, mode: u32, overwrite: Overwrite) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = OpenOptions::new();
    options.write(true).mode(mode);
    match overwrite {
        Overwrite::Keep => options.create_new(true),
        Overwrite::Replace => options.create(true).truncate(true),
    };
    let mut file = options.open(path).map_err(|error| {
        if error.kind() == std::io::ErrorKind::AlreadyExists {
            PkiError::Exists(path.to_owned())
        } else {
            io(error)
        }
    })?;
    // `mode` applies only to a file this call creates: a replaced one keeps
    // its old mode, which for a key may have been looser.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io)?;
    file.write_all(contents.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}
