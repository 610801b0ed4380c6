//! Lease expiry: the leader's clock over the replicated lease records.
//!
//! The store (`store/leases.rs`) keeps leases as `{ id, ttl, keys }` and
//! deletes a lease's keys at one revision when a `LeaseRevoke` is applied;
//! it never looks at a clock. *When* a lease expires is decided here, by
//! the leader alone, and carried out as a `LeaseRevoke` through the log, so
//! every node deletes the same keys at the same revision.
//!
//! # Rules, and why
//! - **Deadlines live in the leader's memory only** ([`LeaseClock`]),
//!   as `tokio::time::Instant`s, and only while it leads: time is not
//!   replicated state (clocks differ between nodes; a deadline in the log
//!   would expire leases by the writer's clock on replay).
//! - **A new leader restarts every ttl in full** (etcd's rule): on becoming
//!   leader, and every [`LEASE_TICK`] while leading, the clock is
//!   reconciled with the applied leases: a lease without a deadline gets
//!   `now + ttl`, a deadline whose lease is gone is dropped. The new
//!   leader cannot know what its predecessor promised, and restarting is
//!   the only choice that never expires a lease early. Leadership lost:
//!   every deadline is forgotten.
//! - **A keepalive renews only after proving leadership**: the handler
//!   reads the lease with `ReadConsistency::Lease` and checks this node led
//!   the same term before and after. In this runtime that is a true leader
//!   lease: the core answers it at once only on the leader itself, while
//!   a quorum acknowledged a heartbeat within the minimum election timeout
//!   (less the configured clock drift), after an entry of its term
//!   committed and not during a transfer; otherwise it runs a ReadIndex
//!   round. Either way no other leader can have been elected when the read
//!   was served, so the real leader's clock (started after its election)
//!   gives the lease at least what this answer promised. The lease read
//!   relies on bounded clock drift, as lease ttls already do; it saves a
//!   heartbeat round per keepalive over `Linearizable`. A deposed leader
//!   that has not noticed fails the read (its lease ran out, its round
//!   gets no quorum) and answers an error, never success.
//! - **A passed deadline is final for the term**: the leader proposes
//!   `LeaseRevoke` (at most [`MAX_REVOKES_IN_FLIGHT`] at once, one per
//!   lease); a keepalive arriving meanwhile gets "not found"; a failed
//!   proposal is retried on the next tick while still leader; a refusal
//!   with `LeaseNotFound` means someone revoked it first: dropped.
//! - **Minimum ttl** ([`LeaseRules`]): ttls below 1.5 longest election
//!   timeouts (whole seconds, rounded up) are raised to it, as etcd does, so
//!   a lease survives the election after its leader's crash.
//!
//! A lease may thus live longer than its ttl (by up to a ttl after a
//! leader change, plus a tick and a commit), never shorter.
//!
//! Files: `clock.rs` (the deadlines, pure), `keeper.rs` (the clock shared
//! by handlers and the ticker), `host.rs` (the seam to the Raft node),
//! `ticker.rs` (the task), `rules.rs` (ttl bounds).

mod clock;
mod host;
mod keeper;
mod rules;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
mod ticker;

pub use clock::{LeaseClock, Renewal};
pub use host::{Leadership, LeaseHost, Revoked};
pub use keeper::{
    DEFAULT_CHECKPOINT_INTERVAL, LeaseKeeper, LeaseTimeToLive, MAX_LEASES_PER_CHECKPOINT,
    MAX_REVOKES_IN_FLIGHT,
};
pub use rules::{LeaseRules, TtlError};
pub use ticker::{LEASE_TICK, keep_lease_time};

/// The keeper of a running node.
pub type NodeLeases = LeaseKeeper<ordo::RaftNode<crate::store::KvStore>>;
