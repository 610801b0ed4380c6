//! The replicated key-value state: what every node applies, in log order.
//!
//! The model is etcd v3's multi-version store:
//! - Keys and values are bytes. Each live key has a [`KeyValue`]:
//!   `create_revision`, `mod_revision`, `version` (writes since creation) and
//!   the `lease` it is attached to (0: none).
//! - The *cluster revision* starts at 0 and goes up by exactly one for each
//!   applied command that changed a key, however many keys it changed (a
//!   [`TxnRequest`] with five puts takes one revision). A command that changes
//!   no key (a delete of nothing, a read-only or failed txn, a lease grant)
//!   leaves it alone.
//! - Every version of every key is kept until a [`KvCommand::Compact`] drops
//!   those no read at or after the compacted revision needs, so ranges can be
//!   read at past revisions and the changes since a revision listed in order
//!   ([`KvQuery::Changes`], the base of watch).
//! - The auth state (users, roles, the auth switch; [`crate::auth`]) is
//!   replicated with the keys, in snapshots and backups, changed only by
//!   [`KvCommand::Auth`].
//! - Leases are replicated records `{ id, ttl, keys }` with the remaining
//!   time their leader last checkpointed ([`KvCommand::LeaseCheckpoint`]);
//!   revoking one deletes its keys in one revision. Deciding *when* a lease
//!   expires is the leader's job, outside the store.
//!
//! The command, query and answer types here are the contract between the
//! server and [`KvStore`]. Files: `keys.rs` (per-key history), `range.rs`
//! (key ranges and range reads), `txn.rs`, `txn_check.rs` and `txn_nesting.rs`
//! (transactions), `txn_read.rs` (read-only ones, as queries), `hash.rs` (etcd's HashKV),
//! `writes.rs` (the one write path every command takes), `leases.rs`,
//! `lease_checkpoint.rs`, `compaction.rs`, `changes.rs` (events, the change log, the observer),
//! `state.rs` (the store and its dispatch), `error.rs`, `backup/` (the
//! snapshot format, also the format of `ordo snapshot save`).
//!
//! # Log compatibility
//! Commands travel through the log serialized with postcard, which encodes an
//! enum variant by its position: the first two variants of [`KvCommand`] are
//! the original ones and must stay first, with the same fields and meaning.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::auth::{AuthCommand, AuthState};

mod backup;
mod changes;
mod compaction;
mod error;
mod hash;
mod keys;
mod lease_checkpoint;
mod leases;
mod range;
mod state;
mod txn;
mod txn_check;
mod txn_nesting;
mod txn_read;
mod version;
mod writes;

pub use backup::{BackupError, BackupSummary, MAX_KEY_BYTES, MAX_VALUE_BYTES, read_backup_summary};
pub use changes::{ChangeObserver, Changes, Event, EventKind, MAX_CHANGES_SCANNED};
pub use error::KvError;
pub use hash::KvHash;
pub use lease_checkpoint::{CheckpointStamp, LeaseCheckpoint, LeaseRemaining, LeaseTime};
pub use leases::{LeaseInfo, MAX_LEASE_TTL_SECONDS};
pub use range::{KeyRange, RangeRequest, RangeResponse, SortOrder, SortTarget};
pub use state::KvStore;
pub use txn::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, PutRequest, RequestOp, ResponseOp,
    TxnRequest, TxnResponse,
};
pub use txn_nesting::MAX_TXN_NESTING;
pub use txn_read::ReadOnlyTxn;

/// A write, replicated through the log.
///
/// The variants' order is part of the log format (see the module docs): new
/// variants go at the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvCommand {
    /// Set `key` to `value` (detaching it from any lease). With
    /// `if_revision`, only if the key's `mod_revision` is that number (0: only
    /// if the key does not exist).
    Put {
        /// The key.
        key: Bytes,
        /// The new value.
        value: Bytes,
        /// Compare-and-set condition.
        if_revision: Option<u64>,
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: Bytes,
    },
    /// An etcd transaction: compares, then one branch of operations, atomic,
    /// all writes at one revision. Answers [`KvResponse::Txn`] or
    /// [`KvResponse::Refused`].
    Txn(TxnRequest),
    /// Creates a lease. Answers [`KvResponse::LeaseGranted`].
    LeaseGrant {
        /// The lease id, positive; 0: the store picks the next unused one.
        id: i64,
        /// Its time to live, in seconds (1..=[`MAX_LEASE_TTL_SECONDS`]).
        ttl: i64,
    },
    /// Deletes every key attached to the lease (in one revision) and the
    /// lease. Answers [`KvResponse::LeaseRevoked`].
    LeaseRevoke {
        /// The lease id.
        id: i64,
    },
    /// Drops the history no read at `revision` or later needs. Answers
    /// [`KvResponse::Compacted`].
    Compact {
        /// The revision to compact up to.
        revision: u64,
    },
    /// A change to users, roles or the auth switch (see [`crate::auth`]).
    /// Answers [`KvResponse::AuthChanged`] or [`KvResponse::Refused`] with
    /// [`KvError::Auth`]; it never changes a key nor the cluster revision.
    Auth(AuthCommand),
    /// Records the remaining time of leases, as their leader counts it, so
    /// that the next leader (or a restored backup) does not restart their
    /// ttls in full. Changes no key and no revision. Answers
    /// [`KvResponse::LeaseCheckpointed`]. The rules are in
    /// `lease_checkpoint.rs`.
    LeaseCheckpoint(LeaseCheckpoint),
}

/// What applying a [`KvCommand`] answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvResponse {
    /// The put was applied at this cluster revision (the key's new revision).
    Written {
        /// The new cluster revision.
        revision: u64,
    },
    /// The put's `if_revision` did not match; nothing changed.
    CompareFailed {
        /// The key's current revision (0: absent).
        current: u64,
    },
    /// A delete: whether the key existed, and the cluster revision after it.
    Deleted {
        /// The key existed and is gone.
        deleted: bool,
        /// The cluster revision after the delete (unchanged when nothing was deleted).
        revision: u64,
    },
    /// A [`KvCommand::Txn`] ran.
    Txn(TxnResponse),
    /// A lease was granted.
    LeaseGranted {
        /// Its id (the one asked for, or the one the store picked).
        id: i64,
        /// Its time to live, in seconds.
        ttl: i64,
    },
    /// A lease was revoked.
    LeaseRevoked {
        /// Keys its revocation deleted.
        deleted: u64,
        /// The cluster revision after it (unchanged when no key was deleted).
        revision: u64,
    },
    /// The history up to `revision` was compacted.
    Compacted {
        /// The new compact revision.
        revision: u64,
    },
    /// A [`KvCommand::LeaseCheckpoint`] was applied.
    LeaseCheckpointed {
        /// Leases whose record it changed (the others are gone, or hold a
        /// newer record).
        recorded: u64,
    },
    /// The command was refused as a whole; nothing changed.
    Refused(KvError),
    /// An auth command was applied.
    AuthChanged {
        /// The new auth revision.
        auth_revision: u64,
    },
}

/// A read, answered from the applied state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvQuery {
    /// One key.
    Get {
        /// The key.
        key: Bytes,
    },
    /// Up to `limit` keys starting with `prefix`, in byte order.
    List {
        /// The prefix (empty: every key).
        prefix: Bytes,
        /// Most keys returned.
        limit: usize,
    },
    /// An etcd range read, possibly at a past revision. Answers
    /// [`KvAnswer::Range`] or [`KvAnswer::Refused`].
    Range(RangeRequest),
    /// The changes to `range` from `from_revision` on, in revision order.
    /// Answers [`KvAnswer::Changes`] or [`KvAnswer::Refused`]
    /// ([`KvError::Compacted`] when `from_revision` is at or below the
    /// compact revision).
    Changes {
        /// The keys watched.
        range: KeyRange,
        /// The first revision of interest.
        from_revision: u64,
        /// Most events answered (0: no limit); a revision's events are never
        /// split, so the first revision comes whole even if larger. Whatever
        /// the limit, one query visits at most [`MAX_CHANGES_SCANNED`]
        /// change-log entries (finishing the revision it is in): an answer
        /// may hold fewer events, even none, with `next_revision` short of
        /// the present; read on from there.
        max_events: usize,
    },
    /// One lease. Answers [`KvAnswer::Lease`] or [`KvAnswer::Refused`].
    Lease {
        /// The lease id.
        id: i64,
    },
    /// Every lease id with its ttl, in id order. Answers [`KvAnswer::Leases`].
    Leases,
    /// Every lease with its ttl and checkpointed remaining time, in id
    /// order (what a new leader starts its deadlines from). Answers
    /// [`KvAnswer::LeaseTimes`].
    LeaseTimes,
    /// Counters for metrics and the quota.
    Stats,
    /// The auth state. Answers [`KvAnswer::Auth`].
    Auth,
    /// A txn that cannot write, answered without the log (etcd serves such
    /// txns as reads). Answers [`KvAnswer::Txn`] or [`KvAnswer::Refused`].
    ReadTxn(ReadOnlyTxn),
    /// A checksum of every version up to `revision` (0: the current one),
    /// equal on members at the same revision (etcd's `HashKV`). Answers
    /// [`KvAnswer::Hash`] or [`KvAnswer::Refused`].
    Hash {
        /// The revision hashed up to; 0: the current one.
        revision: u64,
    },
}

/// A stored value and the revision that last wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredValue {
    /// The value.
    pub value: Bytes,
    /// The cluster revision of the write that set it (its `mod_revision`).
    pub revision: u64,
}

/// A key at some revision, as etcd's `mvccpb.KeyValue`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The key.
    pub key: Bytes,
    /// The value (empty in a delete event and in a `keys_only` read).
    pub value: Bytes,
    /// The revision that created the key (its latest creation).
    pub create_revision: u64,
    /// The revision that last wrote it.
    pub mod_revision: u64,
    /// Writes since creation: 1 after the first put (0 in a delete event).
    pub version: u64,
    /// The lease it is attached to; 0: none.
    pub lease: i64,
}

/// The store's counters, for metrics and the storage quota.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvStats {
    /// Live keys.
    pub keys: u64,
    /// Versions retained, live or not (tombstones included).
    pub versions: u64,
    /// Key and value bytes of every retained version (the quota counts this).
    pub bytes: u64,
    /// Key and value bytes of the live keys.
    pub live_bytes: u64,
    /// The cluster revision.
    pub cluster_revision: u64,
    /// The compact revision; 0 if never compacted.
    pub compact_revision: u64,
    /// Leases.
    pub leases: u64,
}

/// The answer to a [`KvQuery`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvAnswer {
    /// For [`KvQuery::Get`].
    Get {
        /// The value, if the key exists.
        value: Option<StoredValue>,
        /// The cluster revision the read saw.
        cluster_revision: u64,
    },
    /// For [`KvQuery::List`].
    List {
        /// Keys and values, in byte order.
        items: Vec<(Bytes, StoredValue)>,
        /// More keys with the prefix follow.
        more: bool,
        /// The cluster revision the read saw.
        cluster_revision: u64,
    },
    /// For [`KvQuery::Range`].
    Range(RangeResponse),
    /// For [`KvQuery::Changes`].
    Changes(Changes),
    /// For [`KvQuery::Lease`].
    Lease(LeaseInfo),
    /// For [`KvQuery::Leases`]: `(id, ttl)` in id order.
    Leases(Vec<(i64, i64)>),
    /// For [`KvQuery::LeaseTimes`], in id order.
    LeaseTimes(Vec<LeaseTime>),
    /// For [`KvQuery::Stats`].
    Stats(KvStats),
    /// The query was refused (a compacted or future revision, an unknown lease).
    Refused(KvError),
    /// For [`KvQuery::Auth`].
    Auth(std::sync::Arc<AuthState>),
    /// For [`KvQuery::ReadTxn`].
    Txn(TxnResponse),
    /// For [`KvQuery::Hash`].
    Hash(KvHash),
}
