//! [`KvError`]: why the store refused a command or a query.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Why a command or query was refused. A refused command changed nothing.
/// Every refusal is decided from the state and the command alone, so every
/// node refuses the same commands the same way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
    /// The revision asked for has been compacted away.
    #[error("revision {revision} is compacted (the compact revision is {compact_revision})")]
    Compacted {
        /// The revision asked for.
        revision: u64,
        /// The store's compact revision.
        compact_revision: u64,
    },
    /// The revision asked for is after the current one.
    #[error("revision {revision} is in the future (the current revision is {current_revision})")]
    FutureRevision {
        /// The revision asked for.
        revision: u64,
        /// The store's cluster revision.
        current_revision: u64,
    },
    /// No lease has this id.
    #[error("lease {id} not found")]
    LeaseNotFound {
        /// The id.
        id: i64,
    },
    /// A lease with this id exists already.
    #[error("lease {id} already exists")]
    LeaseExists {
        /// The id.
        id: i64,
    },
    /// Lease ids are positive.
    #[error("lease id {id} is not positive")]
    InvalidLeaseId {
        /// The id.
        id: i64,
    },
    /// A ttl outside `1..=MAX_LEASE_TTL_SECONDS`.
    #[error("lease ttl {ttl} s is outside 1..={max}", max = super::MAX_LEASE_TTL_SECONDS)]
    InvalidTtl {
        /// The ttl asked for, in seconds.
        ttl: i64,
    },
    /// Every lease id up to `i64::MAX` has been handed out.
    #[error("no lease id is left to assign")]
    LeaseIdsExhausted,
    /// etcd's "duplicate key given in txn request": a branch writes a key
    /// twice (two puts, or a put inside a delete range).
    #[error("duplicate key given in txn request: {key:?}")]
    DuplicateKey {
        /// The key written twice.
        key: Bytes,
    },
    /// A put with `ignore_value` or `ignore_lease` names a key that does not exist.
    #[error("key not found: {key:?}")]
    KeyNotFound {
        /// The key.
        key: Bytes,
    },
    /// A key longer than [`MAX_KEY_BYTES`](super::MAX_KEY_BYTES).
    #[error("key of {len} bytes is over the limit of {max} bytes", max = super::MAX_KEY_BYTES)]
    KeyTooLong {
        /// Its length.
        len: usize,
    },
    /// A value longer than [`MAX_VALUE_BYTES`](super::MAX_VALUE_BYTES).
    #[error("value of {len} bytes is over the limit of {max} bytes", max = super::MAX_VALUE_BYTES)]
    ValueTooLong {
        /// Its length.
        len: usize,
    },
    /// etcd's "key is not provided": a put, a delete or a compare names the
    /// empty key.
    #[error("key is not provided")]
    EmptyKey,
    /// The cluster revision is `u64::MAX`: no write can take a new one.
    #[error("the cluster revision is exhausted")]
    RevisionsExhausted,
    /// An auth command was refused.
    #[error("{0}")]
    Auth(crate::auth::AuthError),
}
