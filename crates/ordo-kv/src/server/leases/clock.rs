//! [`LeaseClock`]: the leader's lease deadlines, in memory.
//!
//! Invariants:
//! - Deadlines exist only while the clock is *leading*, and only for the
//!   term it leads: [`lead`](LeaseClock::lead) into another term and
//!   [`step_down`](LeaseClock::step_down) forget every one. Each method
//!   that changes a deadline names the term it acts for and does nothing
//!   for another, so a task started under a leadership that has ended (a
//!   keepalive, a revoke) cannot touch the next leadership's deadlines.
//! - A lease without a deadline never expires: only a deadline that
//!   passes leads to a revoke. A lease the clock has not heard of yet gets
//!   its full ttl from the moment it is heard of.
//! - A lease whose deadline passed is dead for good in this term: a
//!   keepalive cannot bring it back, even while its revoke is in flight.
//! - At most one revoke per lease is in flight (`revoking`).

use std::collections::BTreeMap;
use std::time::Duration;

use ordo::Term;
use tokio::time::Instant;

/// One lease's deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Deadline {
    /// The lease's ttl, what a keepalive restores.
    ttl_seconds: i64,
    /// When it expires unless kept alive.
    at: Instant,
    /// A revoke for it was handed out and has not been answered.
    revoking: bool,
}

/// What a keepalive did to a lease's deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// The deadline is now + ttl.
    Renewed,
    /// Its deadline had passed: it is being revoked.
    Expired,
    /// The clock does not lead the term asked for.
    NotLeading,
}

/// The deadlines of the term this node leads.
#[derive(Debug, Default)]
pub struct LeaseClock {
    /// The term led; `None` while not leading (then `deadlines` is empty).
    leading: Option<Term>,
    deadlines: BTreeMap<i64, Deadline>,
}

impl LeaseClock {
    /// The term the clock leads, if any.
    pub fn leading(&self) -> Option<Term> {
        self.leading
    }

    /// Leads `term`: keeps the deadlines if it already leads it, else
    /// starts with none (a new leader restarts every ttl in full).
    pub fn lead(&mut self, term: Term) {
        if self.leading != Some(term) {
            self.deadlines.clear();
            self.leading = Some(term);
        }
    }

    /// Stops leading: every deadline is forgotten.
    pub fn step_down(&mut self) {
        self.deadlines.clear();
        self.leading = None;
    }

    /// Matches the deadlines to the applied leases `(id, ttl)`: a lease
    /// without a deadline gets `now + ttl`; a deadline whose lease is gone
    /// is dropped.
    pub fn reconcile(&mut self, term: Term, leases: &[(i64, i64)], now: Instant) {
        if self.leading != Some(term) {
            return;
        }
        let applied: BTreeMap<i64, i64> = leases.iter().copied().collect();
        self.deadlines.retain(|id, _| applied.contains_key(id));
        for (id, ttl_seconds) in applied {
            self.deadlines
                .entry(id)
                .or_insert_with(|| fresh(ttl_seconds, now));
        }
    }

    /// A lease was just granted (or found): its deadline starts now unless
    /// it has one.
    pub fn start(&mut self, term: Term, id: i64, ttl_seconds: i64, now: Instant) {
        if self.leading == Some(term) {
            self.deadlines
                .entry(id)
                .or_insert_with(|| fresh(ttl_seconds, now));
        }
    }

    /// A keepalive for a lease the state holds: its deadline becomes
    /// `now + ttl`, unless it already passed.
    pub fn renew(&mut self, term: Term, id: i64, ttl_seconds: i64, now: Instant) -> Renewal {
        if self.leading != Some(term) {
            return Renewal::NotLeading;
        }
        let deadline = self
            .deadlines
            .entry(id)
            .or_insert_with(|| fresh(ttl_seconds, now));
        if deadline.revoking || deadline.at <= now {
            return Renewal::Expired;
        }
        *deadline = fresh(ttl_seconds, now);
        Renewal::Renewed
    }

    /// What is left of a lease's time: `None` without a deadline (not
    /// heard of yet, or not leading), zero once it passed.
    pub fn remaining(&self, term: Term, id: i64, now: Instant) -> Option<Duration> {
        if self.leading != Some(term) {
            return None;
        }
        let deadline = self.deadlines.get(&id)?;
        Some(deadline.at.saturating_duration_since(now))
    }

    /// The leases whose deadline passed and that no revoke is in flight
    /// for, at most `limit - revokes in flight`, marked as being revoked.
    pub fn take_expired(&mut self, term: Term, now: Instant, limit: usize) -> Vec<i64> {
        if self.leading != Some(term) {
            return Vec::new();
        }
        let in_flight = self.deadlines.values().filter(|d| d.revoking).count();
        let room = limit.saturating_sub(in_flight);
        let mut expired = Vec::new();
        for (id, deadline) in &mut self.deadlines {
            if expired.len() == room {
                break;
            }
            if !deadline.revoking && deadline.at <= now {
                deadline.revoking = true;
                expired.push(*id);
            }
        }
        expired
    }

    /// A revoke of `id` failed: it is handed out again by the next
    /// [`take_expired`](Self::take_expired) while the term lasts.
    pub fn revoke_failed(&mut self, term: Term, id: i64) {
        if self.leading != Some(term) {
            return;
        }
        if let Some(deadline) = self.deadlines.get_mut(&id) {
            deadline.revoking = false;
        }
    }

    /// The lease is gone (revoked, or found missing): forget its deadline.
    pub fn forget(&mut self, term: Term, id: i64) {
        if self.leading == Some(term) {
            self.deadlines.remove(&id);
        }
    }

    /// Deadlines held.
    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// Whether it holds no deadline (always, while not leading).
    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }
}

fn fresh(ttl_seconds: i64, now: Instant) -> Deadline {
    let ttl = Duration::from_secs(u64::try_from(ttl_seconds.max(0)).unwrap_or(0));
    // The store bounds ttls (9e9 s, some 285 years); past what Instant can
    // hold, the lease simply never expires.
    let at = now
        .checked_add(ttl)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30));
    Deadline {
        ttl_seconds,
        at,
        revoking: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TERM: Term = 3;

    fn leading_clock() -> LeaseClock {
        let mut clock = LeaseClock::default();
        clock.lead(TERM);
        clock
    }

    #[test]
    fn deadlines_belong_to_one_term() {
        let now = Instant::now();
        let mut clock = leading_clock();
        clock.reconcile(TERM, &[(1, 5), (2, 5)], now);
        clock.lead(TERM);
        assert_eq!(clock.len(), 2, "leading the same term again keeps them");
        clock.lead(TERM + 1);
        assert_eq!(clock.len(), 0, "a new term starts over");
        clock.reconcile(TERM, &[(1, 5)], now);
        clock.start(TERM, 1, 5, now);
        assert_eq!(clock.renew(TERM, 1, 5, now), Renewal::NotLeading);
        assert_eq!(clock.len(), 0, "an old term's work changes nothing");
        clock.reconcile(TERM + 1, &[(1, 5)], now);
        assert_eq!(clock.len(), 1);
        clock.step_down();
        assert_eq!((clock.leading(), clock.len()), (None, 0));
    }

    #[test]
    fn reconcile_adds_missing_and_drops_gone_without_moving_the_rest() {
        let start = Instant::now();
        let mut clock = leading_clock();
        clock.reconcile(TERM, &[(1, 5), (2, 9)], start);
        let later = start + Duration::from_secs(3);
        clock.reconcile(TERM, &[(2, 9), (3, 4)], later);
        assert_eq!(clock.remaining(TERM, 1, later), None);
        assert_eq!(
            clock.remaining(TERM, 2, later),
            Some(Duration::from_secs(6))
        );
        assert_eq!(
            clock.remaining(TERM, 3, later),
            Some(Duration::from_secs(4))
        );
    }

    #[test]
    fn a_passed_deadline_is_revoked_once_and_never_renewed() {
        let start = Instant::now();
        let mut clock = leading_clock();
        clock.reconcile(TERM, &[(1, 2), (2, 10)], start);
        let late = start + Duration::from_secs(2);
        assert_eq!(clock.take_expired(TERM, late, 8), vec![1]);
        assert!(clock.take_expired(TERM, late, 8).is_empty(), "in flight");
        assert_eq!(clock.renew(TERM, 1, 2, late), Renewal::Expired);
        clock.revoke_failed(TERM, 1);
        assert_eq!(clock.renew(TERM, 1, 2, late), Renewal::Expired);
        assert_eq!(clock.take_expired(TERM, late, 8), vec![1], "retried");
        clock.forget(TERM, 1);
        assert_eq!(clock.len(), 1);
    }

    #[test]
    fn revokes_in_flight_are_bounded() {
        let start = Instant::now();
        let mut clock = leading_clock();
        let leases: Vec<(i64, i64)> = (1..=10).map(|id| (id, 1)).collect();
        clock.reconcile(TERM, &leases, start);
        let late = start + Duration::from_secs(1);
        assert_eq!(clock.take_expired(TERM, late, 4), vec![1, 2, 3, 4]);
        assert!(clock.take_expired(TERM, late, 4).is_empty());
        clock.forget(TERM, 2);
        assert_eq!(clock.take_expired(TERM, late, 4), vec![5]);
    }
}
