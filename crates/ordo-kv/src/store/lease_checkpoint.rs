//! Lease checkpoints: the remaining time of leases, replicated so that a
//! leader change or a restored backup does not restart every ttl in full
//! (etcd's lease checkpointing).
//!
//! Time is not state: the store never reads a clock. The leader counts
//! each lease's deadline in memory (`server/leases/`) and now and then
//! proposes a [`LeaseCheckpoint`]: for some leases, the time they had left
//! when it was computed. A keepalive that renews a lease whose record is
//! shorter than its ttl records the renewal the same way, with the full
//! ttl, before it is answered.
//!
//! # Rules
//! - **Newest computation wins, not newest application.** Every checkpoint
//!   carries a [`CheckpointStamp`] `(term, sequence)`: the leader's term and
//!   a counter its clock raises each time it computes one. A lease keeps the
//!   record with the highest stamp; an entry with a stamp at or below the
//!   lease's is ignored. A leader's proposals may reach the log in another
//!   order than it computed them (a checkpoint computed before a keepalive
//!   and committed after the keepalive's record would otherwise shorten a
//!   lease the keepalive had just promised in full); and every entry of an
//!   older term is before every entry of a newer one in the log, so terms
//!   order leaders.
//! - **Never longer than the ttl**: a recorded remaining time is capped at
//!   the lease's ttl.
//! - **A record only ever errs long.** A remaining time is computed before
//!   it is applied, and a new leader counts it from when it took over, so a
//!   lease restarted from its record lives at least as long as its leader
//!   promised (the leader's own rules: `server/leases/mod.rs`).
//! - Unknown leases (revoked meanwhile) are skipped: a checkpoint is never
//!   refused, changes no key and takes no revision.

use serde::{Deserialize, Serialize};

use super::state::KvStore;

/// Orders checkpoints: the term of the leader that computed one, then its
/// clock's counter within that term. Compared lexicographically.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct CheckpointStamp {
    /// The leader's term.
    pub term: u64,
    /// Raised by the leader for every checkpoint it computes in the term.
    pub sequence: u64,
}

/// One lease's remaining time in a [`LeaseCheckpoint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRemaining {
    /// The lease id.
    pub id: i64,
    /// Milliseconds it had left when the leader computed the checkpoint
    /// (its ttl, for a keepalive's record).
    pub remaining_ms: u64,
}

impl LeaseRemaining {
    /// A renewal's record: lease `id` has its whole ttl left.
    pub fn full(id: i64, ttl_seconds: i64) -> Self {
        LeaseRemaining {
            id,
            remaining_ms: ttl_ms(ttl_seconds),
        }
    }
}

/// The body of [`KvCommand::LeaseCheckpoint`](super::KvCommand::LeaseCheckpoint).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseCheckpoint {
    /// When it was computed, in the leader's order.
    pub stamp: CheckpointStamp,
    /// The leases it records.
    pub leases: Vec<LeaseRemaining>,
}

/// What the store holds for one lease's time, from
/// [`KvQuery::LeaseTimes`](super::KvQuery::LeaseTimes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTime {
    /// The lease id.
    pub id: i64,
    /// Its ttl in seconds.
    pub ttl_seconds: i64,
    /// Its last recorded remaining time in milliseconds (at most the ttl);
    /// `None` if none was ever recorded (then a new leader gives it its ttl).
    pub remaining_ms: Option<u64>,
    /// The stamp of that record: a leader's own stamps must be above every
    /// stamp the store holds (a backup restored into a new cluster brings
    /// the old cluster's terms).
    pub stamp: Option<CheckpointStamp>,
}

/// A lease's recorded remaining time and the stamp of the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Checkpointed {
    /// Milliseconds left, at most the ttl.
    pub(super) remaining_ms: u64,
    /// The stamp of the checkpoint that recorded it.
    pub(super) stamp: CheckpointStamp,
}

/// A ttl in milliseconds (ttls are at most 9e9 s: no overflow).
pub(super) fn ttl_ms(ttl_seconds: i64) -> u64 {
    u64::try_from(ttl_seconds).unwrap_or(0).saturating_mul(1000)
}

impl KvStore {
    /// Applies a checkpoint; returns how many leases' records it changed.
    pub(super) fn lease_checkpoint(&mut self, checkpoint: &LeaseCheckpoint) -> u64 {
        let mut recorded = 0;
        for entry in &checkpoint.leases {
            let Some(lease) = self.leases.get_mut(&entry.id) else {
                continue;
            };
            if lease
                .checkpoint
                .is_some_and(|held| held.stamp >= checkpoint.stamp)
            {
                continue;
            }
            lease.checkpoint = Some(Checkpointed {
                remaining_ms: entry.remaining_ms.min(ttl_ms(lease.ttl)),
                stamp: checkpoint.stamp,
            });
            recorded += 1;
        }
        recorded
    }

    /// Every lease's time, in id order.
    pub(super) fn lease_times(&self) -> Vec<LeaseTime> {
        self.leases
            .values()
            .map(|lease| LeaseTime {
                id: lease.id,
                ttl_seconds: lease.ttl,
                remaining_ms: lease.checkpoint.map(|held| held.remaining_ms),
                stamp: lease.checkpoint.map(|held| held.stamp),
            })
            .collect()
    }
}
