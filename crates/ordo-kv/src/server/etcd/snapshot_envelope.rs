//! The frame around a backup streamed by `Maintenance.Snapshot`, so that
//! `etcdctl snapshot save` accepts it, and its removal by `ordo snapshot
//! restore`.
//!
//! etcdctl 3.4 refuses a snapshot whose size is not a multiple of 512
//! plus 32 (an etcd database file, then its SHA-256). The frame is:
//! the backup, zeros up to 8 bytes short of a multiple of 512, the
//! backup's length (u64, little endian), then the SHA-256 of everything
//! before it.
//!
//! # Invariants
//! - A framed backup is `len % 512 == 32` long, its last 32 bytes are the
//!   SHA-256 of the rest, and the 8 bytes before them give the backup's
//!   length, with only zeros between the backup and the length. A file
//!   that is not all of that is read as a plain backup.

use std::io::{self, Read, Seek, SeekFrom};

use ring::digest::{Context, SHA256, SHA256_OUTPUT_LEN};

/// etcd's database page multiple.
const BLOCK_BYTES: u64 = 512;
/// The length field's size.
const LENGTH_BYTES: u64 = 8;
/// The digest's size.
const DIGEST_BYTES: u64 = SHA256_OUTPUT_LEN as u64;

/// The frame of a backup streamed chunk by chunk: it digests each chunk as
/// it passes, and gives what follows the backup once it has passed whole.
pub(crate) struct Framer {
    digest: Context,
    /// Bytes of backup digested so far.
    seen: u64,
}

impl Framer {
    /// A frame for a backup not yet seen.
    pub(crate) fn new() -> Self {
        Framer {
            digest: Context::new(&SHA256),
            seen: 0,
        }
    }

    /// The framed size of a backup of `length` bytes.
    pub(crate) fn framed_bytes(length: u64) -> u64 {
        (length + LENGTH_BYTES).div_ceil(BLOCK_BYTES) * BLOCK_BYTES + DIGEST_BYTES
    }

    /// The next `chunk` of the backup passes.
    pub(crate) fn update(&mut self, chunk: &[u8]) {
        self.digest.update(chunk);
        self.seen += chunk.len() as u64;
    }

    /// What follows the backup (all of it seen): padding, its length, the
    /// digest.
    pub(crate) fn trailer(mut self) -> Vec<u8> {
        let length = self.seen;
        let padding = Self::framed_bytes(length) - DIGEST_BYTES - LENGTH_BYTES - length;
        let padding = usize::try_from(padding)
            .unwrap_or_else(|_| unreachable!("padding is under {BLOCK_BYTES} bytes"));
        let mut trailer = vec![0; padding];
        trailer.extend_from_slice(&length.to_le_bytes());
        self.digest.update(&trailer);
        trailer.extend_from_slice(self.digest.finish().as_ref());
        trailer
    }
}

/// The length of the backup in `file` if it is framed; `None` if it is a
/// plain backup (or anything else). Leaves `file` at its start.
///
/// # Errors
/// Reading or seeking fails.
pub fn framed_backup_length<F: Read + Seek>(file: &mut F) -> io::Result<Option<u64>> {
    let total = file.seek(SeekFrom::End(0))?;
    let found = if total % BLOCK_BYTES == DIGEST_BYTES && total >= BLOCK_BYTES + DIGEST_BYTES {
        file.seek(SeekFrom::Start(0))?;
        check_frame(file, total - DIGEST_BYTES)?
    } else {
        None
    };
    file.seek(SeekFrom::Start(0))?;
    Ok(found)
}

/// Reads `framed` bytes then the digest; answers the backup length if the
/// frame holds.
fn check_frame(file: &mut impl Read, framed: u64) -> io::Result<Option<u64>> {
    let mut digest = Context::new(&SHA256);
    let mut buffer = vec![0; 64 << 10];
    let mut left = framed;
    // The last two blocks, kept to read the length and padding from (the
    // padding may reach into the block before the length's).
    let mut tail = Vec::new();
    while left > 0 {
        let want = usize::try_from(left.min(buffer.len() as u64)).unwrap_or(buffer.len());
        file.read_exact(&mut buffer[..want])?;
        digest.update(&buffer[..want]);
        tail.extend_from_slice(&buffer[..want]);
        let keep = tail.len().saturating_sub(2 * BLOCK_BYTES as usize);
        tail.drain(..keep);
        left -= want as u64;
    }
    let mut stored = [0; SHA256_OUTPUT_LEN];
    file.read_exact(&mut stored)?;
    if digest.finish().as_ref() != stored {
        return Ok(None);
    }
    let (before, length) = tail.split_at(tail.len() - LENGTH_BYTES as usize);
    let length = u64::from_le_bytes(length.try_into().unwrap_or([0xff; 8]));
    let padding = (framed - LENGTH_BYTES).checked_sub(length);
    let zeros_hold = padding.is_some_and(|padding| {
        padding < BLOCK_BYTES
            && before
                .len()
                .checked_sub(padding as usize)
                .is_some_and(|start| before[start..].iter().all(|byte| *byte == 0))
    });
    Ok(zeros_hold.then_some(length))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn a_framed_backup_has_etcds_size_and_gives_its_length_back() {
        for length in [0, 1, 503, 504, 505, 512, 4000] {
            let backup: Vec<u8> = (0..length).map(|i| (i % 251) as u8 + 1).collect();
            let mut framer = Framer::new();
            for chunk in backup.chunks(100) {
                framer.update(chunk);
            }
            let mut framed = backup.clone();
            framed.extend(framer.trailer());
            assert_eq!(framed.len() as u64 % BLOCK_BYTES, DIGEST_BYTES);
            assert_eq!(framed.len() as u64, Framer::framed_bytes(length as u64));
            let mut file = Cursor::new(framed.clone());
            assert_eq!(
                framed_backup_length(&mut file).unwrap(),
                Some(length as u64)
            );
            // A changed byte breaks the digest: read as a plain file.
            framed[0] ^= 1;
            assert_eq!(
                framed_backup_length(&mut Cursor::new(framed)).unwrap(),
                None
            );
        }
        assert_eq!(
            framed_backup_length(&mut Cursor::new(b"ORDOKV01".to_vec())).unwrap(),
            None
        );
    }
}
