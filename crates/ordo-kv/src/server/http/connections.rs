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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
        RequestActivity(Arc::clone(self))
    }

    /// Resolves once the table evicted this connection to make room.
    pub(crate) async fn evicted(&self) {
        self.evicted.notified().await;
    }

    /// How long to wait before this connection may have been idle for
    /// `idle_timeout`; `None` once it has been (and has no request in flight).
    pub(crate) fn idle_remaining(&self, idle_timeout: Duration) -> Option<Duration> {
        if self.in_flight_requests.load(Ordering::Relaxed) > 0 {
            return Some(idle_timeout);
        }
        let idle_ms =
            elapsed_ms(self.epoch).saturating_sub(self.last_active_ms.load(Ordering::Relaxed));
        idle_timeout
            .checked_sub(Duration::from_millis(idle_ms))
            .filter(|left| !left.is_zero())
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
    fn a_connection_is_idle_only_without_requests_and_after_the_timeout() {
        let table = ConnectionTable::new(1);
        let admission = table.admit().unwrap();
        let timeout = Duration::from_millis(30);
        assert!(admission.activity.idle_remaining(timeout).is_some());
        let request = admission.activity.request_started();
        std::thread::sleep(Duration::from_millis(40));
        assert!(admission.activity.idle_remaining(timeout).is_some());
        drop(request);
        assert!(admission.activity.idle_remaining(timeout).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(admission.activity.idle_remaining(timeout), None);
    }
}
