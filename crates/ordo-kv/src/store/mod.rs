//! The replicated key-value state: what every node applies, in log order.
//!
//! Keys and values are bytes. Every successful write (a put, or a delete
//! that removed a key) advances the *cluster revision* by one and stamps the
//! key with it, so revisions order every write the cluster acknowledged.
//!
//! The command, query and answer types here are the contract between the
//! server and [`KvStore`]; see `state.rs` for the rules and `backup.rs` for
//! the snapshot format, which is also the format of `ordo snapshot save`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

mod backup;
mod state;

pub use backup::{BackupError, BackupSummary, MAX_KEY_BYTES, MAX_VALUE_BYTES, read_backup_summary};
pub use state::KvStore;

/// A write, replicated through the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvCommand {
    /// Set `key` to `value`. With `if_revision`, only if the key's current
    /// revision is that number (0: only if the key does not exist).
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
    /// The whole state in the backup format (`ordo snapshot save`).
    Backup,
    /// Counters for metrics.
    Stats,
}

/// A stored value and the revision that last wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredValue {
    /// The value.
    pub value: Bytes,
    /// The cluster revision of the write that set it.
    pub revision: u64,
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
    /// For [`KvQuery::Backup`]: the whole state, in the backup format.
    Backup(Bytes),
    /// For [`KvQuery::Stats`].
    Stats {
        /// Keys stored.
        keys: u64,
        /// Key and value bytes stored.
        bytes: u64,
        /// The cluster revision.
        cluster_revision: u64,
    },
}
