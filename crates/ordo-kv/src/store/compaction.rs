//! Compaction: dropping the history no read at or after a revision needs.
//!
//! Compacting at `R` keeps, per key, every version written after `R` and the
//! newest version at or below `R` unless it is a tombstone; a key left with
//! no version is forgotten. Reads at revisions `>= R` answer exactly as
//! before; reads below `R` and changes from `R` or earlier are refused with
//! [`KvError::Compacted`].
//!
//! Cost: the change log is in revision order, so compaction drains its
//! entries up to `R` and visits each of those keys once: O(c log c + v) for
//! c changes compacted and v versions of the keys they name, whatever the
//! number of keys.

use super::KvError;
use super::state::KvStore;

impl KvStore {
    /// Compacts the history up to `revision`.
    ///
    /// # Errors
    /// [`KvError::FutureRevision`] above the cluster revision;
    /// [`KvError::Compacted`] at or below the compact revision (as etcd).
    pub(super) fn compact(&mut self, revision: u64) -> Result<(), KvError> {
        if revision > self.cluster_revision {
            return Err(KvError::FutureRevision {
                revision,
                current_revision: self.cluster_revision,
            });
        }
        if revision <= self.compact_revision {
            return Err(KvError::Compacted {
                revision,
                compact_revision: self.compact_revision,
            });
        }
        let compacted = self
            .changes
            .partition_point(|(written, _)| *written <= revision);
        // Each key once, however often it was written below `revision`:
        // compacting a key walks all its versions, so a hot key visited
        // once per change would cost its versions squared.
        let mut keys: Vec<_> = self
            .changes
            .drain(..compacted)
            .map(|(_, key)| key)
            .collect();
        keys.sort_unstable();
        keys.dedup();
        // A drained log is refilled from the back: give back its spare room.
        if self.changes.capacity() > 2 * self.changes.len() {
            self.changes.shrink_to_fit();
        }
        for key in keys {
            self.compact_key(&key, revision);
        }
        self.compact_revision = revision;
        Ok(())
    }

    /// Drops `key`'s versions that reads at `revision` or later do not need.
    fn compact_key(&mut self, key: &[u8], revision: u64) {
        let freed = self.keys.compact(key, revision);
        self.versions -= freed.versions;
        self.bytes -= freed.bytes;
    }
}
