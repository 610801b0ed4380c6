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
//! - `recorded` never claims the store holds *more* time than it may: it
//!   says `Unknown` unless the clock read the store's record itself
//!   (reconcile), wrote it (a grant: none, a renewal record once applied)
//!   or proposed it (a checkpoint, counted as held when proposed: if it is
//!   lost the store holds an older, longer record, which errs long). A
//!   keepalive is recorded in the log unless `recorded` is the full ttl,
//!   so the store never holds a time shorter than a renewal promised.
//! - Stamps rise: every checkpoint or renewal record computed in a term
//!   gets the next sequence number, and `recorded` only moves to a record
//!   with a higher stamp than the one it names (the store's rule too).
//! - Stamps of a term are above every stamp in the store: their term part
//!   is fixed by the term's first reconcile at `max(term, highest stamp
//!   term read + 1)` (a backup restored into a new cluster holds the old
//!   cluster's higher terms); until then the clock stamps nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use ordo::Term;
use tokio::time::Instant;

use crate::store::{CheckpointStamp, LeaseCheckpoint, LeaseRemaining, LeaseTime};

/// One lease's deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Deadline {
    /// The lease's ttl, what a keepalive restores.
    ttl_seconds: i64,
    /// When it expires unless kept alive.
    at: Instant,
    /// A revoke for it was handed out and has not been answered.
    revoking: bool,
    /// What the store holds of its time, as far as this clock knows.
    recorded: Recorded,
}

/// What the store holds of a lease's remaining time, as the clock knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recorded {
    /// Maybe a previous leader's record shorter than the ttl.
    Unknown,
    /// This remaining time (the ttl: no record, or a renewal's), recorded
    /// with `stamp` (the zero stamp: read from the store, older than any
    /// this clock computes).
    Remaining {
        remaining: Duration,
        stamp: CheckpointStamp,
    },
}

/// What a keepalive did to a lease's deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// The deadline is now + ttl. With `record`, the store may hold a
    /// shorter remaining time: the renewal must be recorded under that
    /// stamp (a [`LeaseCheckpoint`] with the full ttl) before it is
    /// answered, or the next leader could expire the lease early.
    Renewed {
        /// The stamp to record the renewal with, if it must be.
        record: Option<CheckpointStamp>,
    },
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
    /// The last checkpoint sequence number handed out in the term led.
    sequence: u64,
    /// When the next periodic checkpoint is due; `None` until the first
    /// [`checkpoint_due`](Self::checkpoint_due) of the term.
    next_checkpoint: Option<Instant>,
    /// The term part of this term's stamps, set by its first reconcile.
    stamp_term: Option<u64>,
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
            self.step_down();
            self.leading = Some(term);
        }
    }

    /// Stops leading: every deadline is forgotten.
    pub fn step_down(&mut self) {
        self.deadlines.clear();
        self.leading = None;
        self.sequence = 0;
        self.next_checkpoint = None;
        self.stamp_term = None;
    }

    /// Whether the clock reconciled with the store in `term` (and so may
    /// stamp records).
    pub fn reconciled(&self, term: Term) -> bool {
        self.leading == Some(term) && self.stamp_term.is_some()
    }

    /// Matches the deadlines to the applied leases: a lease without a
    /// deadline gets `now` + its checkpointed remaining time (its ttl if
    /// none), never less than `min_ttl`; a deadline whose lease is gone is
    /// dropped.
    ///
    /// `leases` must be read after every entry of earlier terms was
    /// applied (a read proving leadership): an older read could miss the
    /// previous leader's last records.
    pub fn reconcile(&mut self, term: Term, leases: &[LeaseTime], now: Instant, min_ttl: Duration) {
        if self.leading != Some(term) {
            return;
        }
        if self.stamp_term.is_none() {
            let highest = leases.iter().filter_map(|lease| lease.stamp).max();
            let above = highest.map_or(0, |stamp| stamp.term.saturating_add(1));
            self.stamp_term = Some(term.max(above));
        }
        let applied: BTreeMap<i64, LeaseTime> = leases.iter().map(|l| (l.id, *l)).collect();
        self.deadlines.retain(|id, _| applied.contains_key(id));
        for (id, lease) in applied {
            self.deadlines
                .entry(id)
                .or_insert_with(|| from_record(&lease, now, min_ttl));
        }
    }

    /// A lease was just granted: its deadline starts now (unless it has
    /// one), and the store holds no record of it yet.
    pub fn granted(&mut self, term: Term, id: i64, ttl_seconds: i64, now: Instant) {
        if self.leading == Some(term) {
            self.deadlines.entry(id).or_insert_with(|| {
                let recorded = Recorded::Remaining {
                    remaining: ttl(ttl_seconds),
                    stamp: CheckpointStamp::default(),
                };
                fresh(ttl_seconds, now, recorded)
            });
        }
    }

    /// A lease found in the state before reconcile saw it: its deadline
    /// starts now unless it has one (what the store records is unknown).
    pub fn start(&mut self, term: Term, id: i64, ttl_seconds: i64, now: Instant) {
        if self.leading == Some(term) {
            self.deadlines
                .entry(id)
                .or_insert_with(|| fresh(ttl_seconds, now, Recorded::Unknown));
        }
    }

    /// A keepalive for a lease the state holds: its deadline becomes
    /// `now + ttl`, unless it already passed.
    pub fn renew(&mut self, term: Term, id: i64, ttl_seconds: i64, now: Instant) -> Renewal {
        if self.leading != Some(term) {
            return Renewal::NotLeading;
        }
        let deadline = *self
            .deadlines
            .entry(id)
            .or_insert_with(|| fresh(ttl_seconds, now, Recorded::Unknown));
        if deadline.revoking || deadline.at <= now {
            return Renewal::Expired;
        }
        let recorded_in_full = matches!(
            deadline.recorded,
            Recorded::Remaining { remaining, .. } if remaining >= ttl(ttl_seconds)
        );
        let record = if recorded_in_full {
            None
        } else {
            // Not reconciled yet: no stamp could be trusted above the store's.
            let Some(stamp) = self.next_stamp() else {
                return Renewal::NotLeading;
            };
            Some(stamp)
        };
        self.deadlines
            .insert(id, fresh(ttl_seconds, now, deadline.recorded));
        Renewal::Renewed { record }
    }

    /// The renewal record of lease `id` stamped `stamp` was applied: the
    /// store holds its full ttl, unless a later checkpoint was computed
    /// meanwhile (the store keeps the higher stamp too).
    pub fn renewal_recorded(&mut self, term: Term, id: i64, stamp: CheckpointStamp) {
        if self.leading != Some(term) {
            return;
        }
        let Some(deadline) = self.deadlines.get_mut(&id) else {
            return;
        };
        let newer = match deadline.recorded {
            Recorded::Unknown => true,
            Recorded::Remaining { stamp: held, .. } => held < stamp,
        };
        if newer {
            deadline.recorded = Recorded::Remaining {
                remaining: ttl(deadline.ttl_seconds),
                stamp,
            };
        }
    }

    /// The periodic checkpoint, when due (every `interval` while leading,
    /// the first one `interval` after the first call of the term): the
    /// leases whose record would give a new leader at least `min_gain`
    /// more than they have left, each now counted as recorded. `None` when
    /// not due or when no lease needs it.
    pub fn checkpoint_due(
        &mut self,
        term: Term,
        now: Instant,
        interval: Duration,
        min_gain: Duration,
    ) -> Option<LeaseCheckpoint> {
        if self.leading != Some(term) {
            return None;
        }
        let due = *self.next_checkpoint.get_or_insert(now + interval);
        if now < due {
            return None;
        }
        self.next_checkpoint = Some(now + interval);
        self.checkpoint(term, now, min_gain)
    }

    /// A checkpoint of every lease whose record would give a new leader at
    /// least `min_gain` more than it has left (all of them, for a zero
    /// gain, but those already recorded exactly), each now counted as
    /// recorded. `None` if no lease needs it or not leading `term`.
    pub fn checkpoint(
        &mut self,
        term: Term,
        now: Instant,
        min_gain: Duration,
    ) -> Option<LeaseCheckpoint> {
        if self.leading != Some(term) {
            return None;
        }
        let stamp = self.next_stamp()?;
        let mut leases = Vec::new();
        for (id, deadline) in &mut self.deadlines {
            let left = deadline.at.saturating_duration_since(now);
            if deadline.revoking || left.is_zero() {
                continue;
            }
            let held = match deadline.recorded {
                Recorded::Unknown => ttl(deadline.ttl_seconds),
                Recorded::Remaining { remaining, .. } => remaining,
            };
            let gain = held.saturating_sub(left);
            if gain.is_zero() || gain < min_gain {
                continue;
            }
            deadline.recorded = Recorded::Remaining {
                remaining: left,
                stamp,
            };
            leases.push(LeaseRemaining {
                id: *id,
                remaining_ms: millis_up(left),
            });
        }
        (!leases.is_empty()).then_some(LeaseCheckpoint { stamp, leases })
    }

    fn next_stamp(&mut self) -> Option<CheckpointStamp> {
        let term = self.stamp_term?;
        self.sequence += 1;
        Some(CheckpointStamp {
            term,
            sequence: self.sequence,
        })
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

fn ttl(ttl_seconds: i64) -> Duration {
    Duration::from_secs(u64::try_from(ttl_seconds.max(0)).unwrap_or(0))
}

/// `now + left`; the store bounds ttls (9e9 s, some 285 years): past what
/// an Instant can hold, the lease simply never expires.
fn deadline_after(now: Instant, left: Duration) -> Instant {
    now.checked_add(left)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

fn fresh(ttl_seconds: i64, now: Instant, recorded: Recorded) -> Deadline {
    Deadline {
        ttl_seconds,
        at: deadline_after(now, ttl(ttl_seconds)),
        revoking: false,
        recorded,
    }
}

/// The deadline a new leader gives a lease from the store's record: its
/// checkpointed remaining time, at most its ttl, at least `min_ttl`.
fn from_record(lease: &LeaseTime, now: Instant, min_ttl: Duration) -> Deadline {
    let full = ttl(lease.ttl_seconds);
    let remaining = lease
        .remaining_ms
        .map_or(full, |ms| Duration::from_millis(ms).min(full));
    Deadline {
        ttl_seconds: lease.ttl_seconds,
        at: deadline_after(now, remaining.max(min_ttl)),
        revoking: false,
        recorded: Recorded::Remaining {
            remaining,
            stamp: CheckpointStamp::default(),
        },
    }
}

/// Whole milliseconds, rounded up (a record errs long, never short).
fn millis_up(duration: Duration) -> u64 {
    let millis =
        duration.as_millis() + u128::from(!duration.subsec_nanos().is_multiple_of(1_000_000));
    u64::try_from(millis).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TERM: Term = 3;
    const MIN_TTL: Duration = Duration::from_secs(1);

    /// Leases `(id, ttl)` never checkpointed.
    fn times(leases: &[(i64, i64)]) -> Vec<LeaseTime> {
        leases
            .iter()
            .map(|&(id, ttl_seconds)| LeaseTime {
                id,
                ttl_seconds,
                remaining_ms: None,
                stamp: None,
            })
            .collect()
    }

    fn leading_clock() -> LeaseClock {
        let mut clock = LeaseClock::default();
        clock.lead(TERM);
        clock
    }

    #[test]
    fn deadlines_belong_to_one_term() {
        let now = Instant::now();
        let mut clock = leading_clock();
        clock.reconcile(TERM, &times(&[(1, 5), (2, 5)]), now, MIN_TTL);
        clock.lead(TERM);
        assert_eq!(clock.len(), 2, "leading the same term again keeps them");
        clock.lead(TERM + 1);
        assert_eq!(clock.len(), 0, "a new term starts over");
        clock.reconcile(TERM, &times(&[(1, 5)]), now, MIN_TTL);
        clock.start(TERM, 1, 5, now);
        assert_eq!(clock.renew(TERM, 1, 5, now), Renewal::NotLeading);
        assert_eq!(clock.len(), 0, "an old term's work changes nothing");
        clock.reconcile(TERM + 1, &times(&[(1, 5)]), now, MIN_TTL);
        assert_eq!(clock.len(), 1);
        clock.step_down();
        assert_eq!((clock.leading(), clock.len()), (None, 0));
    }

    #[test]
    fn reconcile_adds_missing_and_drops_gone_without_moving_the_rest() {
        let start = Instant::now();
        let mut clock = leading_clock();
        clock.reconcile(TERM, &times(&[(1, 5), (2, 9)]), start, MIN_TTL);
        let later = start + Duration::from_secs(3);
        clock.reconcile(TERM, &times(&[(2, 9), (3, 4)]), later, MIN_TTL);
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
        clock.reconcile(TERM, &times(&[(1, 2), (2, 10)]), start, MIN_TTL);
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
        clock.reconcile(TERM, &times(&leases), start, MIN_TTL);
        let late = start + Duration::from_secs(1);
        assert_eq!(clock.take_expired(TERM, late, 4), vec![1, 2, 3, 4]);
        assert!(clock.take_expired(TERM, late, 4).is_empty());
        clock.forget(TERM, 2);
        assert_eq!(clock.take_expired(TERM, late, 4), vec![5]);
    }

    #[test]
    fn a_new_leader_starts_from_the_checkpoint_within_the_ttl_and_the_minimum() {
        let now = Instant::now();
        let mut clock = leading_clock();
        let lease = |id, ttl_seconds, remaining_ms| LeaseTime {
            id,
            ttl_seconds,
            remaining_ms,
            stamp: None,
        };
        let leases = [
            lease(1, 100, Some(30_000)),
            lease(2, 100, None),
            lease(3, 100, Some(200)),
            lease(4, 10, Some(60_000)),
        ];
        clock.reconcile(TERM, &leases, now, Duration::from_secs(2));
        let left = |id| clock.remaining(TERM, id, now);
        assert_eq!(
            left(1),
            Some(Duration::from_secs(30)),
            "from the checkpoint"
        );
        assert_eq!(
            left(2),
            Some(Duration::from_secs(100)),
            "never checkpointed"
        );
        assert_eq!(
            left(3),
            Some(Duration::from_secs(2)),
            "never below the minimum"
        );
        assert_eq!(
            left(4),
            Some(Duration::from_secs(10)),
            "never above the ttl"
        );
    }

    #[test]
    fn checkpoints_come_every_interval_for_leases_that_gained_enough() {
        let start = Instant::now();
        let interval = Duration::from_secs(10);
        let gain = interval / 2;
        let mut clock = leading_clock();
        clock.reconcile(TERM, &times(&[(1, 100), (2, 3)]), start, MIN_TTL);
        clock.granted(TERM, 5, 100, start + Duration::from_secs(8));
        assert_eq!(clock.checkpoint_due(TERM, start, interval, gain), None);
        let early = start + Duration::from_secs(9);
        assert_eq!(
            clock.checkpoint_due(TERM, early, interval, gain),
            None,
            "not due"
        );
        let due = start + Duration::from_secs(10);
        let first = clock.checkpoint_due(TERM, due, interval, gain).unwrap();
        // Lease 2 expired, lease 5 lost only 2 s: neither is recorded.
        let expected = LeaseRemaining {
            id: 1,
            remaining_ms: 90_000,
        };
        assert_eq!(first.leases, vec![expected]);
        assert_eq!(
            first.stamp,
            CheckpointStamp {
                term: TERM,
                sequence: 1
            }
        );
        let later = due + interval;
        let second = clock.checkpoint_due(TERM, later, interval, gain).unwrap();
        let ids: Vec<i64> = second.leases.iter().map(|lease| lease.id).collect();
        assert_eq!(ids, vec![1, 5], "lease 1 lost 10 s since its record");
        assert!(second.stamp > first.stamp);
    }

    #[test]
    fn a_keepalive_is_recorded_only_when_the_store_may_hold_less_than_the_ttl() {
        let start = Instant::now();
        let mut clock = leading_clock();
        clock.reconcile(TERM, &times(&[(1, 100)]), start, MIN_TTL);
        clock.granted(TERM, 2, 100, start);
        clock.start(TERM, 3, 100, start);
        let now = start + Duration::from_secs(1);
        let renewed = |record| Renewal::Renewed { record };
        assert_eq!(
            clock.renew(TERM, 1, 100, now),
            renewed(None),
            "full ttl held"
        );
        assert_eq!(
            clock.renew(TERM, 2, 100, now),
            renewed(None),
            "just granted"
        );
        let unknown = clock.renew(TERM, 3, 100, now);
        assert!(
            matches!(unknown, Renewal::Renewed { record: Some(_) }),
            "{unknown:?}"
        );
        // Checkpointed shorter: the next keepalive must record itself.
        let later = start + Duration::from_secs(60);
        let checkpoint = clock.checkpoint(TERM, later, Duration::ZERO).unwrap();
        assert_eq!(checkpoint.leases.len(), 3);
        let Renewal::Renewed {
            record: Some(stamp),
        } = clock.renew(TERM, 1, 100, later)
        else {
            panic!("a renewal after a shorter checkpoint was not recorded");
        };
        assert!(stamp > checkpoint.stamp);
        clock.renewal_recorded(TERM, 1, stamp);
        assert_eq!(
            clock.renew(TERM, 1, 100, later),
            renewed(None),
            "recorded in full"
        );
    }

    #[test]
    fn a_renewal_record_older_than_a_checkpoint_does_not_count_as_held() {
        let start = Instant::now();
        let mut clock = leading_clock();
        let checkpointed = [LeaseTime {
            id: 1,
            ttl_seconds: 100,
            remaining_ms: Some(50_000),
            stamp: Some(CheckpointStamp {
                term: TERM - 1,
                sequence: 4,
            }),
        }];
        clock.reconcile(TERM, &checkpointed, start, MIN_TTL);
        let later = start + Duration::from_secs(20);
        let Renewal::Renewed { record: Some(old) } = clock.renew(TERM, 1, 100, later) else {
            panic!("not recorded");
        };
        // A checkpoint computed while the renewal's record was in flight.
        let much_later = later + Duration::from_secs(60);
        assert!(clock.checkpoint(TERM, much_later, Duration::ZERO).is_some());
        clock.renewal_recorded(TERM, 1, old);
        assert!(
            matches!(
                clock.renew(TERM, 1, 100, much_later),
                Renewal::Renewed { record: Some(_) }
            ),
            "the store keeps the checkpoint's shorter time: the next renewal must be recorded"
        );
    }

    #[test]
    fn stamps_stay_above_a_restored_clusters_higher_terms() {
        let now = Instant::now();
        let mut clock = leading_clock();
        assert!(!clock.reconciled(TERM));
        assert_eq!(
            clock.checkpoint(TERM, now, Duration::ZERO),
            None,
            "no stamp yet"
        );
        let restored = [LeaseTime {
            id: 1,
            ttl_seconds: 100,
            remaining_ms: Some(50_000),
            stamp: Some(CheckpointStamp {
                term: 40,
                sequence: 7,
            }),
        }];
        clock.reconcile(TERM, &restored, now, MIN_TTL);
        assert!(clock.reconciled(TERM));
        let Renewal::Renewed {
            record: Some(stamp),
        } = clock.renew(TERM, 1, 100, now)
        else {
            panic!("not recorded");
        };
        assert_eq!(
            stamp,
            CheckpointStamp {
                term: 41,
                sequence: 1
            }
        );
    }
}
