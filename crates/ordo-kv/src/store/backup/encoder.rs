//! [`BackupEncoder`]: writes the current format (version 4) piece by piece.

use std::io::{self, Write};

use super::{
    AUTH_TAG, END_TAG, FORMAT_VERSION, KEY_TAG, LEASE_TAG, MAGIC, MAX_KEY_BYTES, MAX_VALUE_BYTES,
    NOT_CHECKPOINTED,
};
use crate::auth::{AuthState, MAX_AUTH_STATE_BYTES};
use crate::store::keys::History;
use crate::store::lease_checkpoint::Checkpointed;

/// Writes the backup format piece by piece into a buffer the caller drains,
/// so a snapshot streams one key at a time (and `KvStore::backup`, for
/// tests and tools, can keep the whole thing).
pub(crate) struct BackupEncoder {
    /// Bytes encoded and not yet taken by the caller.
    buf: Vec<u8>,
    /// CRC32C of every byte encoded so far.
    crc: u32,
    /// Key records encoded so far.
    records: u64,
}

impl BackupEncoder {
    /// Starts a backup: encodes the header.
    pub(crate) fn new(cluster_revision: u64, compact_revision: u64, next_lease_id: i64) -> Self {
        let mut encoder = Self {
            buf: Vec::new(),
            crc: 0,
            records: 0,
        };
        encoder.buf.extend_from_slice(&MAGIC);
        encoder.buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        encoder
            .buf
            .extend_from_slice(&cluster_revision.to_le_bytes());
        encoder
            .buf
            .extend_from_slice(&compact_revision.to_le_bytes());
        encoder.buf.extend_from_slice(&next_lease_id.to_le_bytes());
        encoder.checksum_from(0);
        encoder
    }

    /// Encodes one lease. Leases come before keys, in increasing id order.
    pub(crate) fn lease(&mut self, id: i64, ttl: i64, checkpoint: Option<Checkpointed>) {
        let start = self.buf.len();
        self.buf.push(LEASE_TAG);
        self.buf.extend_from_slice(&id.to_le_bytes());
        self.buf.extend_from_slice(&ttl.to_le_bytes());
        let (remaining_ms, stamp) = match checkpoint {
            Some(held) => (held.remaining_ms, held.stamp),
            None => (NOT_CHECKPOINTED, Default::default()),
        };
        assert_ne!(
            checkpoint.map(|held| held.remaining_ms),
            Some(NOT_CHECKPOINTED),
            "a checkpoint above the ttl: the store caps them"
        );
        self.buf.extend_from_slice(&remaining_ms.to_le_bytes());
        self.buf.extend_from_slice(&stamp.term.to_le_bytes());
        self.buf.extend_from_slice(&stamp.sequence.to_le_bytes());
        self.checksum_from(start);
    }

    /// Encodes the auth state: at most once (a store that never used auth
    /// writes none), after the leases and before the keys.
    pub(crate) fn auth(&mut self, auth: &AuthState) {
        let start = self.buf.len();
        let encoded = auth.encode();
        self.buf.push(AUTH_TAG);
        self.buf
            .extend_from_slice(&length_prefix(encoded.len(), MAX_AUTH_STATE_BYTES as u32));
        self.buf.extend_from_slice(&encoded);
        self.checksum_from(start);
    }

    /// Encodes one key with its versions. Keys must come in strictly
    /// increasing order.
    ///
    /// # Panics
    /// If the key or a value is over its limit: the store never holds one,
    /// and writing one would make a backup that cannot be restored.
    pub(crate) fn key(&mut self, history: &History<'_>) {
        let key = history.key();
        let start = self.buf.len();
        self.buf.push(KEY_TAG);
        self.buf
            .extend_from_slice(&length_prefix(key.len(), MAX_KEY_BYTES));
        self.buf.extend_from_slice(key);
        let count = u32::try_from(history.len())
            .unwrap_or_else(|_| panic!("a key holds over u32::MAX versions"));
        self.buf.extend_from_slice(&count.to_le_bytes());
        for version in history.versions() {
            self.buf
                .extend_from_slice(&version.mod_revision().to_le_bytes());
            self.buf
                .extend_from_slice(&version.sub_revision().to_le_bytes());
            self.buf.extend_from_slice(&version.version().to_le_bytes());
            if version.is_tombstone() {
                continue;
            }
            self.buf
                .extend_from_slice(&version.create_revision().to_le_bytes());
            self.buf.extend_from_slice(&version.lease().to_le_bytes());
            let value = version.value();
            self.buf
                .extend_from_slice(&length_prefix(value.len(), MAX_VALUE_BYTES));
            self.buf.extend_from_slice(value);
        }
        self.checksum_from(start);
        self.records += 1;
    }

    /// Writes the bytes encoded so far to `out` and forgets them.
    pub(crate) fn drain_to(&mut self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Encodes the end marker and returns every byte not yet drained: the
    /// rest of the backup.
    pub(crate) fn finish(mut self) -> Vec<u8> {
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
