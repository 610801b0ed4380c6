//! Coordination recipes built only on the public calls of
//! [`Client`](super::Client), like etcd's `concurrency` package: a
//! [`Session`] (a lease kept alive), a [`Mutex`] and an [`Election`].
//!
//! Both recipes order contenders by the `create_revision` of their key
//! `NAME/<lease id in hex>`: the smallest holds the lock (is the leader).
//! A waiter watches only the key created just before its own (a range
//! read with `max_create_revision` = its own − 1, sorted by
//! `create_revision` descending, limit 1) until it is deleted, then looks
//! again; so a release wakes one waiter, not all of them (no herd). A
//! contender's key is attached to its session's lease: a crashed holder's
//! key goes when its lease expires, and the next in line takes over.
//!
//! A transaction whose answer is lost (the node died mid-request:
//! `ConnectionLost`) is sent again, a few times: each one the recipes send
//! is a read, or a write guarded so that a second run changes nothing.
//!
//! Left out: re-entrancy, and fencing tokens beyond the key's
//! `create_revision` (which [`MutexGuard::revision`] exposes for that use).

pub(crate) mod contend;
pub(crate) mod election;
mod mutex;
mod session;

pub use election::{Election, LeaderStream, LeaderValue};
pub use mutex::{Mutex, MutexGuard};
pub use session::Session;

/// Why a recipe call failed.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// A call to the cluster failed.
    #[error(transparent)]
    Client(#[from] super::ClientError),
    /// The session's lease was lost: what it guarded is gone.
    #[error("session lease {lease:x} lost")]
    SessionLost {
        /// The lease.
        lease: i64,
    },
    /// The lock is held by another session (from `try_lock`).
    #[error("locked by another session")]
    Locked,
    /// This session is not (or no longer) the leader.
    #[error("not the leader")]
    NotLeader,
    /// The cluster answered something the recipe cannot use.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}
