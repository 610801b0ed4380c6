//! [`LeaseKeeper`]: the lease clock shared by the HTTP handlers (grants,
//! keepalives, time-to-live) and the ticker (reconcile, expiry).

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ordo::{RaftError, Term};
use tokio::time::Instant;

use super::clock::{LeaseClock, Renewal};
use super::host::{Leadership, LeaseHost, Revoked};
use super::rules::LeaseRules;
use crate::store::{LeaseCheckpoint, LeaseInfo, LeaseRemaining};

/// Most revokes of expired leases in flight at once; the rest wait for a
/// later tick (each is one proposal).
pub const MAX_REVOKES_IN_FLIGHT: usize = 64;

/// How often the leader checkpoints lease times by default (etcd's
/// default): a lease outlives its ttl after a leader change by at most
/// about this much, and a lease costs at most about two log entries per
/// interval (a checkpoint, and its next keepalive's record).
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(300);

/// Most leases in one checkpoint entry (16 bytes each): a larger
/// checkpoint is proposed in several entries.
pub const MAX_LEASES_PER_CHECKPOINT: usize = 4096;

/// A lease as the leader sees it: the state's record and the time left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseTimeToLive {
    /// The replicated record.
    pub info: LeaseInfo,
    /// Whole seconds left, rounded up (0 once it expired).
    pub remaining_seconds: i64,
}

/// The lease clock of one node, and what it counted.
#[derive(Debug)]
pub struct LeaseKeeper<H> {
    host: H,
    rules: LeaseRules,
    checkpoint_interval: Duration,
    clock: Mutex<LeaseClock>,
    /// A periodic checkpoint is being proposed (one at a time).
    checkpointing: AtomicBool,
    expired: AtomicU64,
    keepalives: AtomicU64,
    checkpointed: AtomicU64,
}

impl<H: LeaseHost> LeaseKeeper<H> {
    /// A keeper for `host`, granting by `rules`.
    pub fn new(host: H, rules: LeaseRules) -> Self {
        LeaseKeeper {
            host,
            rules,
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
            clock: Mutex::new(LeaseClock::default()),
            checkpointing: AtomicBool::new(false),
            expired: AtomicU64::default(),
            keepalives: AtomicU64::default(),
            checkpointed: AtomicU64::default(),
        }
    }

    /// This keeper, checkpointing lease times every `interval` while it
    /// leads (default [`DEFAULT_CHECKPOINT_INTERVAL`]).
    pub fn with_checkpoint_interval(mut self, interval: Duration) -> Self {
        self.checkpoint_interval = interval;
        self
    }

    /// The ttl bounds of grants.
    pub fn rules(&self) -> LeaseRules {
        self.rules
    }

    /// Brings the clock in line with the node's role: the term it leads.
    ///
    /// # Errors
    /// [`RaftError::NotLeader`] (naming the leader if known) when the node
    /// does not lead; the clock then holds no deadline.
    pub fn follow_role(&self) -> Result<Term, RaftError> {
        let leadership = self.host.leadership();
        let mut clock = self.clock();
        match leadership {
            Leadership::Leading(term) => {
                clock.lead(term);
                Ok(term)
            }
            Leadership::NotLeading(error) => {
                clock.step_down();
                Err(error)
            }
        }
    }

    /// A grant was applied on this node: its deadline starts now, if this
    /// node leads.
    pub fn granted(&self, id: i64, ttl_seconds: i64) {
        if let Ok(term) = self.follow_role() {
            self.clock().granted(term, id, ttl_seconds, Instant::now());
        }
    }

    /// A revoke was applied on this node: its deadline goes.
    pub fn revoked(&self, id: i64) {
        let mut clock = self.clock();
        if let Some(term) = clock.leading() {
            clock.forget(term, id);
        }
    }

    /// Renews lease `id` to its full ttl; its ttl, or `None` if it does not
    /// exist (never granted, revoked, or expired).
    ///
    /// Succeeds only if this node leads before and after a read proving it
    /// led when the read was served: a deposed leader that has not noticed
    /// must not promise a lease the real leader may expire. If the state
    /// may hold a shorter remaining time for it (a checkpoint), the renewal
    /// is recorded through the log before it is answered, so the next
    /// leader does not expire it early.
    ///
    /// # Errors
    /// [`RaftError::NotLeader`] on a node that does not lead;
    /// [`RaftError::LeadershipChanged`] if leadership moved meanwhile; the
    /// read's errors (a leader cut off from its group times out).
    pub async fn keep_alive(&self, id: i64) -> Result<Option<i64>, RaftError> {
        let Some((term, info)) = self.confirmed(id).await? else {
            return Ok(None);
        };
        if !self.clock().reconciled(term) {
            // A record's stamp must be above the store's: read them first.
            self.reconcile(term).await?;
        }
        let renewal = self.clock().renew(term, id, info.ttl, Instant::now());
        match renewal {
            Renewal::Renewed { record } => {
                if let Some(stamp) = record {
                    let leases = vec![LeaseRemaining::full(id, info.ttl)];
                    self.host
                        .checkpoint(LeaseCheckpoint { stamp, leases })
                        .await?;
                    self.clock().renewal_recorded(term, id, stamp);
                }
                self.keepalives.fetch_add(1, Ordering::Relaxed);
                Ok(Some(info.ttl))
            }
            Renewal::Expired => Ok(None),
            Renewal::NotLeading => Err(RaftError::LeadershipChanged),
        }
    }

    /// Lease `id` with the time it has left, or `None` if it does not exist.
    ///
    /// # Errors
    /// As [`keep_alive`](Self::keep_alive): only the leader knows the time.
    pub async fn time_to_live(&self, id: i64) -> Result<Option<LeaseTimeToLive>, RaftError> {
        let Some((term, info)) = self.confirmed(id).await? else {
            return Ok(None);
        };
        let now = Instant::now();
        let remaining = {
            let mut clock = self.clock();
            clock.start(term, id, info.ttl, now);
            clock.remaining(term, id, now)
        };
        let remaining = remaining.ok_or(RaftError::LeadershipChanged)?;
        Ok(Some(LeaseTimeToLive {
            info,
            remaining_seconds: whole_seconds_up(remaining),
        }))
    }

    /// The lease as the state holds it, read so as to prove this node led
    /// (in the same term before and after) when the read was served.
    async fn confirmed(&self, id: i64) -> Result<Option<(Term, LeaseInfo)>, RaftError> {
        let term = self.follow_role()?;
        let lease = self.host.confirmed_lease(id).await?;
        // A read on a node that lost leadership meanwhile may still succeed
        // (a follower's read goes through the leader): it proves nothing.
        match self.follow_role() {
            Ok(now) if now == term => {}
            _ => return Err(RaftError::LeadershipChanged),
        }
        Ok(lease.map(|info| (term, info)))
    }

    /// One tick of the clock: follows the role; while leading, reconciles
    /// the deadlines with the applied leases and starts a revoke for each
    /// lease whose deadline passed.
    pub async fn tick(self: &Arc<Self>) {
        let Ok(term) = self.follow_role() else {
            return;
        };
        if let Err(error) = self.reconcile(term).await {
            tracing::debug!(%error, "cannot list the leases; next tick");
        }
        let expired = self
            .clock()
            .take_expired(term, Instant::now(), MAX_REVOKES_IN_FLIGHT);
        for id in expired {
            let keeper = Arc::clone(self);
            tokio::spawn(async move { keeper.revoke_expired(term, id).await });
        }
        self.start_periodic_checkpoint(term);
    }

    /// Reconciles the clock of `term` with the applied leases.
    async fn reconcile(&self, term: Term) -> Result<(), RaftError> {
        let min_ttl = Duration::from_secs(self.rules.min_ttl_seconds.max(0) as u64);
        let leases = self.host.applied_leases().await?;
        self.clock()
            .reconcile(term, &leases, Instant::now(), min_ttl);
        Ok(())
    }

    /// Proposes the periodic checkpoint if it is due and none is in flight.
    fn start_periodic_checkpoint(self: &Arc<Self>, term: Term) {
        if self.checkpointing.swap(true, Ordering::AcqRel) {
            return;
        }
        let interval = self.checkpoint_interval;
        // Half an interval: a lease checkpointed every round (jitter would
        // skip one whose gain is a hair under a whole interval).
        let due = self
            .clock()
            .checkpoint_due(term, Instant::now(), interval, interval / 2);
        let Some(checkpoint) = due else {
            self.checkpointing.store(false, Ordering::Release);
            return;
        };
        let keeper = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(error) = keeper.propose_checkpoint(checkpoint).await {
                tracing::debug!(%error, "a lease checkpoint failed; the next one is due in an interval");
            }
            keeper.checkpointing.store(false, Ordering::Release);
        });
    }

    /// Checkpoints every lease whose record is longer than what it has
    /// left, now, if this node leads (before a backup, or handing
    /// leadership over). Nothing to do when not leading.
    ///
    /// # Errors
    /// The proposal's: the records are then older, and longer.
    pub async fn checkpoint_now(&self) -> Result<(), RaftError> {
        let Ok(term) = self.follow_role() else {
            return Ok(());
        };
        let checkpoint = self
            .clock()
            .checkpoint(term, Instant::now(), Duration::ZERO);
        match checkpoint {
            Some(checkpoint) => self.propose_checkpoint(checkpoint).await,
            None => Ok(()),
        }
    }

    /// Proposes `checkpoint` in entries of at most
    /// [`MAX_LEASES_PER_CHECKPOINT`] leases, one after the other.
    async fn propose_checkpoint(&self, checkpoint: LeaseCheckpoint) -> Result<(), RaftError> {
        let LeaseCheckpoint { stamp, leases } = checkpoint;
        for chunk in leases.chunks(MAX_LEASES_PER_CHECKPOINT) {
            let leases = chunk.to_vec();
            self.host
                .checkpoint(LeaseCheckpoint { stamp, leases })
                .await?;
            self.checkpointed
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn revoke_expired(&self, term: Term, id: i64) {
        match self.host.revoke(id).await {
            Ok(Revoked::Now { revision }) => {
                self.expired.fetch_add(1, Ordering::Relaxed);
                tracing::info!(lease = id, revision, "lease expired and was revoked");
                self.clock().forget(term, id);
            }
            Ok(Revoked::AlreadyGone) => self.clock().forget(term, id),
            Err(error) => {
                tracing::debug!(lease = id, %error, "revoking an expired lease failed; next tick");
                self.clock().revoke_failed(term, id);
            }
        }
    }

    /// Leases this node revoked because they expired.
    pub fn expired_total(&self) -> u64 {
        self.expired.load(Ordering::Relaxed)
    }

    /// Keepalives that renewed a lease.
    pub fn keepalives_total(&self) -> u64 {
        self.keepalives.load(Ordering::Relaxed)
    }

    /// Lease times this node, as leader, checkpointed (renewal records not
    /// counted).
    pub fn checkpointed_total(&self) -> u64 {
        self.checkpointed.load(Ordering::Relaxed)
    }

    /// Appends the lease counters to a Prometheus page (the gauge of leases
    /// held, `ordo_leases`, comes with the store's metrics).
    pub fn render_metrics(&self, out: &mut String) {
        let counters = [
            (
                "ordo_lease_expired_total",
                "Leases this node, as leader, revoked because their ttl ran out.",
                self.expired_total(),
            ),
            (
                "ordo_lease_keepalives_total",
                "Keepalives this node, as leader, renewed a lease for.",
                self.keepalives_total(),
            ),
            (
                "ordo_lease_checkpointed_total",
                "Lease remaining times this node, as leader, checkpointed.",
                self.checkpointed_total(),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
    }

    fn clock(&self) -> MutexGuard<'_, LeaseClock> {
        // The clock's methods do not panic midway; a poisoned lock holds a
        // whole clock.
        self.clock.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn whole_seconds_up(duration: Duration) -> i64 {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i64::try_from(seconds).unwrap_or(i64::MAX)
}
