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
//! - **A new leader starts each lease from its record** (etcd's lease
//!   checkpointing): on becoming leader, and every [`LEASE_TICK`] while
//!   leading, the clock is reconciled with the applied leases: a lease
//!   without a deadline gets `now` + its checkpointed remaining time (its
//!   full ttl if none), never less than the minimum ttl nor more than its
//!   ttl; a deadline whose lease is gone is dropped. The leases are read
//!   with a leader-lease read, served only once an entry of this term
//!   committed and was applied, so every record of the previous leaders
//!   is in it. Leadership lost: every deadline is forgotten.
//! - **Checkpoints** (`store/lease_checkpoint.rs`): every checkpoint
//!   interval (default [`DEFAULT_CHECKPOINT_INTERVAL`], `--lease-checkpoint-interval-ms`)
//!   the leader proposes the remaining time of each lease whose record
//!   would give a new leader at least half an interval more than it has
//!   left (so a lease whose ttl is under half an interval is never
//!   checkpointed and costs no entry); before a backup, a leadership
//!   transfer and a stop, of every lease. Each checkpoint carries a stamp
//!   `(term, sequence)` the store keeps per lease, applying only a higher
//!   one.
//! - **A keepalive after a checkpoint is recorded before it is answered.**
//!   Once the store may hold a remaining time shorter than the ttl (a
//!   checkpoint, or a previous leader's record the clock has not read), a
//!   keepalive proposes the renewal as a record of the full ttl, with a
//!   fresh stamp, and succeeds only once it is applied: otherwise the next
//!   leader would start the lease from the older, shorter record and
//!   expire it before the renewal's promise. The stamp makes the order of
//!   computation count, not the order of commit: a checkpoint computed
//!   before the keepalive but committed after its record has a lower stamp
//!   and is ignored. So at most about two entries per lease and interval.
//!   Every record errs long: it is computed before it is applied, and a
//!   new leader counts it from its own election.
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
//! A lease may thus live longer than its ttl (after a leader change by up
//! to a checkpoint interval, or the minimum ttl, plus a tick and a commit;
//! by up to a ttl if the leader never checkpointed it), never shorter.
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
