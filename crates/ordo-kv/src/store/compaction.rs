//! Compaction: dropping the history no read at or after a revision needs.
//!
//! Compacting at `R` keeps, per key, every version written after `R` and the
//! newest version at or below `R` unless it is a tombstone; a key left with
//! no version is forgotten. Reads at revisions `>= R` answer exactly as
//! before; reads below `R` and changes from `R` or earlier are refused with
//! [`KvError::Compacted`].
//!
//! Cost: the change log is in revision order, so compaction pops its entries
//! up to `R` and visits only those keys: O(changes compacted), whatever the
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
        while self
            .changes
            .front()
            .is_some_and(|(written, _)| *written <= revision)
        {
            let Some((_, key)) = self.changes.pop_front() else {
                unreachable!("the front was just seen");
            };
            self.compact_key(&key, revision);
        }
        self.compact_revision = revision;
        Ok(())
    }

    /// Drops `key`'s versions that reads at `revision` or later do not need.
    fn compact_key(&mut self, key: &bytes::Bytes, revision: u64) {
        let Some(history) = self.keys.get_mut(key) else {
            return; // Forgotten by an earlier entry of the same key.
        };
        let older_needed = history
            .older
            .partition_point(|version| version.mod_revision <= revision);
        // The newest version at or below `revision` is kept; older ones go.
        let (drop_count, newest_at_or_below_is_current) =
            if history.current.mod_revision <= revision {
                (history.older.len(), true)
            } else {
                (older_needed.saturating_sub(1), false)
            };
        let mut freed_versions = 0u64;
        let mut freed_bytes = 0u64;
        for dropped in history.older.drain(..drop_count) {
            freed_versions += 1;
            freed_bytes += dropped.bytes(key.len());
        }
        let forget_key = if newest_at_or_below_is_current {
            history.current.is_tombstone()
        } else {
            let tombstone_kept = history
                .older
                .first()
                .is_some_and(|kept| kept.mod_revision <= revision && kept.is_tombstone());
            if tombstone_kept {
                let tombstone = history.older.remove(0);
                freed_versions += 1;
                freed_bytes += tombstone.bytes(key.len());
            }
            false
        };
        if history.older.is_empty() {
            history.older = Vec::new(); // Give back the buffer.
        }
        if forget_key {
            freed_versions += 1;
            freed_bytes += history.current.bytes(key.len());
            self.keys.remove(key);
        }
        self.versions -= freed_versions;
        self.bytes -= freed_bytes;
    }
}
