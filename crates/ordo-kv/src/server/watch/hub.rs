//! [`WatchHub`]: the registry of a node's watchers, told about every applied
//! revision by the store (it is the store's [`ChangeObserver`]).
//!
//! # The apply path
//! [`applied`](ChangeObserver::applied) runs inside the state machine's
//! apply, so it only routes: under a read lock of the registry, each
//! event's key is looked up in the `WatchIndex`; the revision's events are
//! shared (one `Arc`) by every watcher they reach, each with the indexes of
//! the events its range holds. A watcher whose queue is full is marked
//! behind instead of waited for. Then `last_revision` is stored.
//!
//! # Invariant
//! Every revision at or below `last_revision` has been offered to every
//! watcher registered before it was routed: so a live stream whose queue is
//! empty, having read `last_revision` *before* looking at its queue, has
//! sent every event up to it (what progress messages report).

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::Semaphore;

use crate::server::watch::index::{WatchIndex, WatchRange, WatcherId};
use crate::server::watch::queue::{Delivery, Offered, QueueLimits, WatcherQueue};
use crate::store::{ChangeObserver, Event};

/// Limits on a hub's watchers and what they hold.
#[derive(Clone, Copy, Debug)]
pub struct WatchLimits {
    /// Most watchers on the node; more are refused with 429 `busy`.
    pub max_watchers: usize,
    /// Most revisions one watcher's queue holds before it falls behind.
    pub queue_revisions: usize,
    /// Most event bytes one watcher's queue holds before it falls behind.
    pub queue_bytes: usize,
    /// Most event bytes every queue together holds: past it, the watcher
    /// that would go over falls behind.
    pub total_queue_bytes: usize,
    /// Most events one history read answers (a catching-up stream holds at
    /// most one such page).
    pub history_page_events: usize,
    /// Most history reads in flight at once, so that many catching-up
    /// watchers queue up rather than flood the apply thread.
    pub concurrent_history_reads: usize,
}

impl Default for WatchLimits {
    fn default() -> Self {
        WatchLimits {
            max_watchers: 100_000,
            queue_revisions: 1024,
            queue_bytes: 1 << 20,
            total_queue_bytes: 256 << 20,
            history_page_events: 64,
            concurrent_history_reads: 4,
        }
    }
}

/// Why a watcher could not be registered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The node has as many watchers as it takes.
    #[error("the node has {0} watchers, its limit: retry later or on another node")]
    TooMany(usize),
    /// The hub is closed (the node is stopping).
    #[error("{0}")]
    Closed(String),
}

/// Watch counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct WatchCounters {
    /// Events sent to watchers.
    pub events: AtomicU64,
    /// Watchers that fell behind and caught up from history.
    pub resyncs: AtomicU64,
    /// Watchers that fell behind (a full queue or a restore).
    pub fell_behind: AtomicU64,
}

#[derive(Default)]
struct Registry {
    index: WatchIndex,
    queues: HashMap<WatcherId, Arc<WatcherQueue>>,
    /// Set once the hub is closed: no watcher is registered after it.
    closed: Option<String>,
}

/// Every watcher of one node.
pub struct WatchHub {
    registry: RwLock<Registry>,
    /// The last revision routed (see the module's invariant).
    last_revision: AtomicU64,
    next_id: AtomicU64,
    queued_bytes: Arc<AtomicUsize>,
    limits: WatchLimits,
    /// Bounds the history reads in flight.
    pub(crate) history_reads: Semaphore,
    /// Counters for `/metrics`.
    pub counters: WatchCounters,
}

impl std::fmt::Debug for WatchHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchHub")
            .field("watchers", &self.watchers())
            .field("last_revision", &self.last_revision())
            .finish_non_exhaustive()
    }
}

/// One registered watcher; dropping it unregisters it.
#[derive(Debug)]
pub struct Registration {
    hub: Arc<WatchHub>,
    id: WatcherId,
    range: WatchRange,
    /// Its queue.
    pub(crate) queue: Arc<WatcherQueue>,
}

impl Registration {
    /// The keys watched.
    pub(crate) fn range(&self) -> &WatchRange {
        &self.range
    }

    /// The hub it is registered with.
    pub(crate) fn hub(&self) -> &WatchHub {
        &self.hub
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut registry = self.hub.write();
        registry.index.remove(self.id, &self.range);
        registry.queues.remove(&self.id);
    }
}

impl WatchHub {
    /// An empty hub.
    pub fn new(limits: WatchLimits) -> Self {
        WatchHub {
            registry: RwLock::new(Registry::default()),
            last_revision: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            queued_bytes: Arc::new(AtomicUsize::new(0)),
            limits,
            history_reads: Semaphore::new(limits.concurrent_history_reads.max(1)),
            counters: WatchCounters::default(),
        }
    }

    /// The hub's limits.
    pub fn limits(&self) -> WatchLimits {
        self.limits
    }

    /// Registers a live watcher of `range`: every revision routed from now
    /// on that touches it is queued for it.
    ///
    /// # Errors
    /// [`RegisterError`] when the hub is full or closed.
    pub(crate) fn register(
        self: &Arc<Self>,
        range: WatchRange,
    ) -> Result<Registration, RegisterError> {
        let queue = Arc::new(WatcherQueue::new(
            QueueLimits {
                revisions: self.limits.queue_revisions,
                bytes: self.limits.queue_bytes,
            },
            Arc::clone(&self.queued_bytes),
            self.limits.total_queue_bytes,
        ));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut registry = self.write();
        if let Some(reason) = &registry.closed {
            return Err(RegisterError::Closed(reason.clone()));
        }
        if registry.queues.len() >= self.limits.max_watchers {
            return Err(RegisterError::TooMany(registry.queues.len()));
        }
        registry.index.insert(id, &range);
        registry.queues.insert(id, Arc::clone(&queue));
        drop(registry);
        Ok(Registration {
            hub: Arc::clone(self),
            id,
            range,
            queue,
        })
    }

    /// Ends every watcher with `reason` (`cancelled`) and refuses new ones:
    /// the node is stopping.
    pub fn close(&self, reason: &str) {
        let mut registry = self.write();
        registry.closed = Some(reason.to_owned());
        for queue in registry.queues.values() {
            queue.end(reason);
        }
    }

    /// The last revision routed to the watchers.
    pub fn last_revision(&self) -> u64 {
        self.last_revision.load(Ordering::Acquire)
    }

    /// Watchers registered now.
    pub fn watchers(&self) -> usize {
        self.read().queues.len()
    }

    /// Event bytes queued by every watcher together.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Relaxed)
    }

    /// Appends the watch metrics to a Prometheus page.
    pub fn render_metrics(&self, out: &mut String) {
        let counters = [
            (
                "ordo_watch_events_total",
                "Events sent to watchers.",
                &self.counters.events,
            ),
            (
                "ordo_watch_resyncs_total",
                "Watchers that fell behind and caught up from history.",
                &self.counters.resyncs,
            ),
            (
                "ordo_watch_fell_behind_total",
                "Watchers whose queue overflowed (or that a restore overtook).",
                &self.counters.fell_behind,
            ),
        ];
        let _ = writeln!(
            out,
            "# HELP ordo_watchers Watch streams open on this node.\n\
             # TYPE ordo_watchers gauge\nordo_watchers {}",
            self.watchers()
        );
        let _ = writeln!(
            out,
            "# HELP ordo_watch_queued_bytes Event bytes queued for watchers.\n\
             # TYPE ordo_watch_queued_bytes gauge\nordo_watch_queued_bytes {}",
            self.queued_bytes()
        );
        for (name, help, value) in counters {
            let value = value.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The watchers `events` reach, each with the indexes of its events.
    fn route(registry: &Registry, events: &[Event]) -> HashMap<WatcherId, Vec<u32>> {
        let mut reached: HashMap<WatcherId, Vec<u32>> = HashMap::new();
        for (index, event) in events.iter().enumerate() {
            let Ok(index) = u32::try_from(index) else {
                break;
            };
            registry.index.for_each_watching(&event.kv.key, |id| {
                reached.entry(id).or_default().push(index);
            });
        }
        reached
    }
}

/// What an event weighs in a queue: its keys and values, and a little for
/// the rest.
fn event_bytes(event: &Event) -> usize {
    let kv = event.kv.key.len() + event.kv.value.len();
    let prev = event
        .prev_kv
        .as_ref()
        .map_or(0, |prev| prev.key.len() + prev.value.len());
    kv + prev + 64
}

impl ChangeObserver for WatchHub {
    fn applied(&self, revision: u64, events: &[Event]) {
        let registry = self.read();
        let reached = Self::route(&registry, events);
        if !reached.is_empty() {
            let shared: Arc<[Event]> = Arc::from(events);
            for (id, matched) in reached {
                let Some(queue) = registry.queues.get(&id) else {
                    continue;
                };
                let bytes = matched
                    .iter()
                    .filter_map(|index| shared.get(*index as usize))
                    .map(event_bytes)
                    .sum();
                let delivery = Delivery {
                    revision,
                    events: Arc::clone(&shared),
                    matched,
                    bytes,
                };
                if queue.offer(delivery) == Offered::FellBehind {
                    self.counters.fell_behind.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        drop(registry);
        self.last_revision.store(revision, Ordering::Release);
    }

    /// Only while a watcher is registered. A watcher registering while a
    /// command that built no events is applied misses nothing: it reads
    /// the current revision (or history) after registering, and the apply
    /// thread answers that read only after the command.
    fn wants_events(&self) -> bool {
        !self.read().queues.is_empty()
    }

    fn restored(&self, revision: u64, _compact_revision: u64) {
        let registry = self.read();
        for queue in registry.queues.values() {
            queue.fall_behind();
        }
        self.counters
            .fell_behind
            .fetch_add(registry.queues.len() as u64, Ordering::Relaxed);
        drop(registry);
        self.last_revision.store(revision, Ordering::Release);
    }
}
