//! [`CheckedReader`]: reads a backup's primitive fields, checksumming them,
//! counting the offset, and turning a short read into
//! [`BackupError::Truncated`].

use std::io::{self, Read};

use bytes::Bytes;

use super::BackupError;

/// The most a field's buffer takes before its bytes arrive (64 KiB): every
/// key, and most values, fit in one exact allocation.
const EAGER_ALLOCATION_BYTES: usize = 64 << 10;

/// A reader that checksums what it reads, counts its position, and turns a
/// short read into [`BackupError::Truncated`].
pub(super) struct CheckedReader<'a> {
    input: &'a mut dyn Read,
    /// CRC32C of every byte read so far.
    pub(super) crc: u32,
    /// Bytes read so far.
    pub(super) offset: u64,
}

impl<'a> CheckedReader<'a> {
    pub(super) fn new(input: &'a mut dyn Read) -> Self {
        Self {
            input,
            crc: 0,
            offset: 0,
        }
    }

    pub(super) fn exact(&mut self, buf: &mut [u8], part: &'static str) -> Result<(), BackupError> {
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

    /// Reads `len` bytes, allocating at most [`EAGER_ALLOCATION_BYTES`]
    /// before bytes arrive, so a length prefix larger than the input
    /// allocates no more than the input (plus that bound). The result has
    /// no spare capacity: the store keeps it for as long as the key lives.
    pub(super) fn bytes(&mut self, len: u32, part: &'static str) -> Result<Bytes, BackupError> {
        let mut buf = Vec::with_capacity((len as usize).min(EAGER_ALLOCATION_BYTES));
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
        buf.shrink_to_fit();
        Ok(Bytes::from(buf))
    }

    pub(super) fn u8(&mut self, part: &'static str) -> Result<u8, BackupError> {
        let mut buf = [0; 1];
        self.exact(&mut buf, part)?;
        Ok(buf[0])
    }

    pub(super) fn u32(&mut self, part: &'static str) -> Result<u32, BackupError> {
        let mut buf = [0; 4];
        self.exact(&mut buf, part)?;
        Ok(u32::from_le_bytes(buf))
    }

    pub(super) fn u64(&mut self, part: &'static str) -> Result<u64, BackupError> {
        let mut buf = [0; 8];
        self.exact(&mut buf, part)?;
        Ok(u64::from_le_bytes(buf))
    }

    /// Succeeds only if the input has no bytes left.
    pub(super) fn expect_end(&mut self) -> Result<(), BackupError> {
        let mut buf = [0; 1];
        match self.input.read_exact(&mut buf) {
            Ok(()) => Err(BackupError::TrailingData {
                offset: self.offset,
            }),
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(()),
            Err(error) => Err(BackupError::Io(error)),
        }
    }

    pub(super) fn consumed(&mut self, bytes: &[u8]) {
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.offset += bytes.len() as u64;
    }
}
