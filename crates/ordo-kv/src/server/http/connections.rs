//! [`ConnectionTable`]: the open client connections, capped.
//!
//! Invariants: the table never holds more than `max_connections` entries;
//! a connection is in it from its admission until its task ends or it is
//! evicted; only a connection with no request in flight (idle between
//! requests, or still sending its first request's head) is ever evicted.
//! A new connection at the cap takes the place of the connection idle the
//! longest, so a flood of idle connections cannot lock new clients out;
//! when every connection is busy, the new one is refused (closed at once).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The open client connections.
#[derive(Debug)]
pub(crate) struct ConnectionTable {
    max_connections: usize,
    epoch: Instant,
    open: Mutex<BTreeMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    evicted_total: AtomicU64,
    refused_total: AtomicU64,
}

/// What one connection is doing, read by the table to pick whom to evict.
#[derive(Debug)]
pub(crate) struct Activity {
    in_flight_requests: AtomicUsize,
    /// When the last request ended (or the connection opened), in
    /// milliseconds since the table's epoch.
    last_active_ms: AtomicU64,
    /// When the first byte of a request head arrived on an idle
    /// connection, in milliseconds since the epoch plus one; 0: none since
    /// the last request started.
    head_started_ms: AtomicU64,
    /// Wakes the connection's task when a head begins (its deadline moves up).
    head_began: Notify,
    /// The connection speaks HTTP/2: bytes between requests are frames
    /// (pings, window updates, settings), not the start of a request head,
    /// so only the idle timeout applies between requests.
    multiplexed: AtomicBool,
    evicted: Notify,
    epoch: Instant,
}

/// A connection's place in the table; leaving it (drop) frees the place.
pub(crate) struct Admission {
    id: u64,
    table: Arc<ConnectionTable>,
    /// Shared with the connection's requests.
    pub(crate) activity: Arc<Activity>,
}

/// Marks a request in flight on its connection until dropped.
pub(crate) struct RequestActivity(Arc<Activity>);

impl ConnectionTable {
    /// A table for at most `max_connections` (at least 1).
    pub(crate) fn new(max_connections: usize) -> Arc<Self> {
        assert!(max_connections > 0, "the connection cap must be above 0");
        Arc::new(ConnectionTable {
            max_connections,
            epoch: Instant::now(),
            open: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
            evicted_total: AtomicU64::new(0),
            refused_total: AtomicU64::new(0),
        })
    }

    /// A place for a new connection: a free one, or the place of the
    /// connection idle the longest (told to close). `None` when every
    /// connection has a request in flight.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<Admission> {
        let mut open = self.lock();
        if open.len() >= self.max_connections {
            let Some(victim) = longest_idle(&open) else {
                self.refused_total.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            if let Some(activity) = open.remove(&victim) {
                activity.evicted.notify_one();
                self.evicted_total.fetch_add(1, Ordering::Relaxed);
            }
        }
        assert!(
            open.len() < self.max_connections,
            "the table is over its cap"
        );
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity {
            in_flight_requests: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(elapsed_ms(self.epoch)),
            head_started_ms: AtomicU64::new(0),
            head_began: Notify::new(),
            multiplexed: AtomicBool::new(false),
            evicted: Notify::new(),
            epoch: self.epoch,
        });
        open.insert(id, Arc::clone(&activity));
        Some(Admission {
            id,
            table: Arc::clone(self),
            activity,
        })
    }

    /// Connections open now.
    pub(crate) fn open_connections(&self) -> usize {
        self.lock().len()
    }

    /// Idle connections closed to make room for new ones, since start.
    pub(crate) fn evicted_total(&self) -> u64 {
        self.evicted_total.load(Ordering::Relaxed)
    }

    /// Connections refused because every open one was busy, since start.
    pub(crate) fn refused_total(&self) -> u64 {
        self.refused_total.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<Activity>>> {
        // A panic while holding the lock leaves the map consistent (every
        // change is one insert or remove), so a poisoned lock is still usable.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn longest_idle(open: &BTreeMap<u64, Arc<Activity>>) -> Option<u64> {
    open.iter()
        .filter(|(_, activity)| activity.in_flight_requests.load(Ordering::Relaxed) == 0)
        .min_by_key(|(_, activity)| activity.last_active_ms.load(Ordering::Relaxed))
        .map(|(id, _)| *id)
}

fn elapsed_ms(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Activity {
    /// Marks a request in flight until the returned guard is dropped (when
    /// its response has been sent, or abandoned).
    pub(crate) fn request_started(self: &Arc<Self>) -> RequestActivity {
        self.in_flight_requests.fetch_add(1, Ordering::Relaxed);
        self.head_started_ms.store(0, Ordering::Relaxed);
        RequestActivity(Arc::clone(self))
    }

    /// Notes bytes received: on a connection with no request in flight,
    /// they begin a request head, which must then be whole in time.
    pub(crate) fn bytes_received(&self) {
        if self.multiplexed.load(Ordering::Relaxed) {
            return;
        }
        if self.in_flight_requests.load(Ordering::Relaxed) == 0 {
            let now_ms = elapsed_ms(self.epoch).saturating_add(1);
            let began = self
                .head_started_ms
                .compare_exchange(0, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
            if began {
                self.head_began.notify_one();
            }
        }
    }

    /// Marks the connection as HTTP/2 (it began with the client preface).
    /// The preface's first bytes, read before it was whole, began no head.
    pub(crate) fn speaks_http2(&self) {
        self.multiplexed.store(true, Ordering::Relaxed);
        self.head_started_ms.store(0, Ordering::Relaxed);
    }

    /// Resolves when a request head begins (see [`Activity::bytes_received`]).
    pub(crate) async fn head_began(&self) {
        self.head_began.notified().await;
    }

    /// Resolves once the table evicted this connection to make room.
    pub(crate) async fn evicted(&self) {
        self.evicted.notified().await;
    }

    /// How long until this connection must be closed; `None` once it must:
    /// a request head begun `header_timeout` ago and still not whole, or
    /// no request for `idle_timeout`. A connection with a request in
    /// flight is never due (its body has its own deadline).
    pub(crate) fn time_left(
        &self,
        header_timeout: Duration,
        idle_timeout: Duration,
    ) -> Option<Duration> {
        if self.in_flight_requests.load(Ordering::Relaxed) > 0 {
            return Some(idle_timeout);
        }
        let now_ms = elapsed_ms(self.epoch);
        let head_started_ms = self.head_started_ms.load(Ordering::Relaxed);
        let (since_ms, timeout) = if head_started_ms > 0 {
            (head_started_ms - 1, header_timeout)
        } else {
            (self.last_active_ms.load(Ordering::Relaxed), idle_timeout)
        };
        let waited = Duration::from_millis(now_ms.saturating_sub(since_ms));
        timeout.checked_sub(waited).filter(|left| !left.is_zero())
    }
}

impl Drop for RequestActivity {
    fn drop(&mut self) {
        self.0
            .last_active_ms
            .store(elapsed_ms(self.0.epoch), Ordering::Relaxed);
        self.0.in_flight_requests.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.table.lock().remove(&self.id);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room_and_busy_ones_never_do() {
        let table = ConnectionTable::new(2);
        let first = table.admit().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let second = table.admit().unwrap();
        let _busy = second.activity.request_started();
        let third = table.admit().expect("the idle first connection makes room");
        assert_eq!(table.open_connections(), 2);
        assert_eq!(table.evicted_total(), 1);
        let _also_busy = third.activity.request_started();
        assert!(table.admit().is_none(), "every connection is busy");
        assert_eq!(table.refused_total(), 1);
        // The evicted connection's own drop must not free anyone else's place.
        drop(first);
        assert_eq!(table.open_connections(), 2);
        drop(third);
        assert_eq!(table.open_connections(), 1);
    }

    #[test]
    fn a_connection_is_due_after_its_idle_timeout_or_a_begun_heads_timeout() {
        let table = ConnectionTable::new(1);
        let admission = table.admit().unwrap();
        let activity = &admission.activity;
        let long = Duration::from_secs(60);
        let short = Duration::from_millis(30);
        // Idle, nothing sent: the idle timeout counts.
        assert!(activity.time_left(long, long).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(activity.time_left(long, short), None);
        // A request in flight is never due; its end restarts the idle clock.
        let request = activity.request_started();
        assert!(activity.time_left(short, short).is_some());
        drop(request);
        assert!(activity.time_left(long, short).is_some());
        // Bytes of a next head: the header timeout counts from them.
        activity.bytes_received();
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(activity.time_left(short, long), None);
        assert_eq!(
            activity.time_left(short, long),
            None,
            "later bytes do not restart it"
        );
        let request = activity.request_started();
        drop(request);
        assert!(
            activity.time_left(short, long).is_some(),
            "a request clears the head"
        );
    }
}
