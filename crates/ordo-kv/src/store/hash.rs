//! [`KvQuery::Hash`](super::KvQuery::Hash): a checksum of the multi-version
//! state as of a revision (etcd's `HashKV`), to compare members.
//!
//! # Invariants
//! - The hash covers every retained version with `mod_revision` at or
//!   below the revision, in key then revision order, and nothing else:
//!   leases, the change log and counters are left out. Members that applied
//!   the same commands (compactions included) give the same hash at the
//!   same revision, whatever else happened since.
//! - As etcd's, a hash at or below the compact revision is refused
//!   (`Compacted`), though a range may read at the compact revision: the
//!   versions a compaction dropped would have been in it.

use super::KvError;
use super::state::KvStore;
use super::version::Version;

/// The answer to [`KvQuery::Hash`](super::KvQuery::Hash).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvHash {
    /// CRC-32C over the versions covered.
    pub hash: u32,
    /// The revision hashed (the current one when 0 was asked).
    pub revision: u64,
    /// The store's compact revision when hashed.
    pub compact_revision: u64,
}

impl KvStore {
    /// The hash of the state as of `revision` (0: the current one).
    pub(super) fn hash_at(&self, revision: u64) -> Result<KvHash, KvError> {
        if revision > 0 && revision <= self.compact_revision {
            return Err(KvError::Compacted {
                revision,
                compact_revision: self.compact_revision,
            });
        }
        let revision = self.readable_revision(revision)?;
        let hash = self
            .keys
            .iter()
            .flat_map(|history| history.versions())
            .filter(|version| version.mod_revision() <= revision)
            .fold(0, hash_version);
        Ok(KvHash {
            hash,
            revision,
            compact_revision: self.compact_revision,
        })
    }
}

/// `crc` extended by one version: its key, value and numbers.
fn hash_version(crc: u32, version: &Version) -> u32 {
    let numbers = [
        version.create_revision(),
        version.mod_revision(),
        version.version(),
        version.lease().cast_unsigned(),
        version.key().len() as u64,
    ];
    let crc = numbers.iter().fold(crc, |crc, number| {
        crc32c::crc32c_append(crc, &number.to_le_bytes())
    });
    let crc = crc32c::crc32c_append(crc, version.key());
    crc32c::crc32c_append(crc, version.value())
}
