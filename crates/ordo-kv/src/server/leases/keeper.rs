//! [`LeaseKeeper`]: the lease clock shared by the HTTP handlers (grants,
//! keepalives, time-to-live) and the ticker (reconcile, expiry).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ordo::{RaftError, Term};
use tokio::time::Instant;

use super::clock::{LeaseClock, Renewal};
use super::host::{Leadership, LeaseHost, Revoked};
use super::rules::LeaseRules;
use crate::store::LeaseInfo;

/// Most revokes of expired leases in flight at once; the rest wait for a
/// later tick (each is one proposal).
pub const MAX_REVOKES_IN_FLIGHT: usize = 64;

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
    clock: Mutex<LeaseClock>,
    expired: AtomicU64,
    keepalives: AtomicU64,
}

impl<H: LeaseHost> LeaseKeeper<H> {
    /// A keeper for `host`, granting by `rules`.
    pub fn new(host: H, rules: LeaseRules) -> Self {
        LeaseKeeper {
            host,
            rules,
            clock: Mutex::new(LeaseClock::default()),
            expired: AtomicU64::default(),
            keepalives: AtomicU64::default(),
        }
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
            self.clock().start(term, id, ttl_seconds, Instant::now());
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
    /// must not promise a lease the real leader may expire.
    ///
    /// # Errors
    /// [`RaftError::NotLeader`] on a node that does not lead;
    /// [`RaftError::LeadershipChanged`] if leadership moved meanwhile; the
    /// read's errors (a leader cut off from its group times out).
    pub async fn keep_alive(&self, id: i64) -> Result<Option<i64>, RaftError> {
        let Some((term, info)) = self.confirmed(id).await? else {
            return Ok(None);
        };
        let renewal = self.clock().renew(term, id, info.ttl, Instant::now());
        match renewal {
            Renewal::Renewed => {
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
        match self.host.applied_leases().await {
            Ok(leases) => self.clock().reconcile(term, &leases, Instant::now()),
            Err(error) => tracing::debug!(%error, "cannot list the leases; next tick"),
        }
        let expired = self
            .clock()
            .take_expired(term, Instant::now(), MAX_REVOKES_IN_FLIGHT);
        for id in expired {
            let keeper = Arc::clone(self);
            tokio::spawn(async move { keeper.revoke_expired(term, id).await });
        }
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
