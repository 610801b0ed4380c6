//! Leases, the replicated half: ids, ttls and attached keys.
//!
//! The store records leases and deletes their keys when told to revoke one;
//! it never looks at a clock. Deciding that a lease expired (and proposing
//! its revocation) is the leader's job. What the store keeps of a lease's
//! time is the remaining time its leader last checkpointed
//! (`lease_checkpoint.rs`): after a restart, a restore or a leader change
//! the new leader starts each lease from it (or from its full ttl if none
//! was recorded), so a lease neither expires early nor starts over.

use std::collections::BTreeSet;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::KvError;
use super::keys::Key;
use super::lease_checkpoint::Checkpointed;
use super::state::KvStore;

/// The longest ttl a lease may have, in seconds (etcd's `MaxLeaseTTL`).
pub const MAX_LEASE_TTL_SECONDS: i64 = 9_000_000_000;

/// A lease as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Lease {
    /// Its id, positive.
    pub(super) id: i64,
    /// Its ttl in seconds.
    pub(super) ttl: i64,
    /// The live keys attached to it.
    pub(super) keys: BTreeSet<Key>,
    /// Its last checkpointed remaining time; `None` if never checkpointed.
    pub(super) checkpoint: Option<Checkpointed>,
}

/// The answer to [`KvQuery::Lease`](super::KvQuery::Lease).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    /// The lease id.
    pub id: i64,
    /// Its granted ttl in seconds (the remaining time is the leader's).
    pub ttl: i64,
    /// The keys attached to it, in byte order.
    pub keys: Vec<Bytes>,
}

impl KvStore {
    /// Grants a lease; returns its id.
    ///
    /// # Errors
    /// [`KvError::InvalidLeaseId`] for a negative id, [`KvError::InvalidTtl`],
    /// [`KvError::LeaseExists`], or [`KvError::LeaseIdsExhausted`] when asked
    /// to pick an id and none is left.
    pub(super) fn lease_grant(&mut self, id: i64, ttl: i64) -> Result<i64, KvError> {
        if id < 0 {
            return Err(KvError::InvalidLeaseId { id });
        }
        if !(1..=super::MAX_LEASE_TTL_SECONDS).contains(&ttl) {
            return Err(KvError::InvalidTtl { ttl });
        }
        let id = match id {
            0 if self.next_lease_id == i64::MAX => return Err(KvError::LeaseIdsExhausted),
            // `max(1)`: a store built by `Default` (as the node builds it)
            // starts at 0, and 0 means "no lease" everywhere else.
            0 => self.next_lease_id.max(1),
            id => id,
        };
        if self.leases.contains_key(&id) {
            return Err(KvError::LeaseExists { id });
        }
        // Monotone and above every granted id, so no id is handed out twice.
        self.next_lease_id = self.next_lease_id.max(id.saturating_add(1));
        let keys = BTreeSet::new();
        let checkpoint = None;
        self.leases.insert(
            id,
            Lease {
                id,
                ttl,
                keys,
                checkpoint,
            },
        );
        Ok(id)
    }

    /// Revokes a lease: deletes its keys at one revision (none if it has no
    /// keys) and forgets it. Returns the keys deleted.
    ///
    /// # Errors
    /// [`KvError::LeaseNotFound`]; [`KvError::RevisionsExhausted`] if it has
    /// keys and the revision cannot move.
    pub(super) fn lease_revoke(&mut self, id: i64) -> Result<u64, KvError> {
        let Some(lease) = self.leases.get(&id) else {
            return Err(KvError::LeaseNotFound { id });
        };
        if !lease.keys.is_empty() && self.cluster_revision == u64::MAX {
            return Err(KvError::RevisionsExhausted);
        }
        let keys: Vec<Key> = lease.keys.iter().cloned().collect();
        let mut write = self.begin_write();
        for key in &keys {
            assert!(write.delete(self, key, None), "a lease's key is not live");
        }
        self.finish_write(write);
        let removed = self.leases.remove(&id);
        assert!(
            removed.is_some_and(|lease| lease.keys.is_empty()),
            "a revoked lease kept keys"
        );
        Ok(keys.len() as u64)
    }

    /// One lease.
    pub(super) fn lease_info(&self, id: i64) -> Result<LeaseInfo, KvError> {
        let lease = self.leases.get(&id).ok_or(KvError::LeaseNotFound { id })?;
        Ok(LeaseInfo {
            id,
            ttl: lease.ttl,
            keys: lease
                .keys
                .iter()
                .map(|key| Bytes::copy_from_slice(key))
                .collect(),
        })
    }

    /// Every lease as `(id, ttl)`, in id order.
    pub(super) fn lease_list(&self) -> Vec<(i64, i64)> {
        self.leases
            .values()
            .map(|lease| (lease.id, lease.ttl))
            .collect()
    }

    /// Attaches live `key` to `lease` (nothing for 0).
    pub(super) fn attach(&mut self, lease: i64, key: &[u8]) {
        if lease == 0 {
            return;
        }
        let Some(lease) = self.leases.get_mut(&lease) else {
            panic!("a key was attached to lease {lease}, which does not exist: callers check");
        };
        lease.keys.insert(Key::from(key));
    }

    /// Detaches `key` from `lease` (nothing for 0).
    pub(super) fn detach(&mut self, lease: i64, key: &[u8]) {
        if lease == 0 {
            return;
        }
        let Some(lease) = self.leases.get_mut(&lease) else {
            panic!("a live key names lease {lease}, which does not exist");
        };
        assert!(lease.keys.remove(key), "a lease did not hold its key");
    }
}
