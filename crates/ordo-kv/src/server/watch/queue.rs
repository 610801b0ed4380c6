//! [`WatcherQueue`]: one watcher's bounded queue of live revisions, filled
//! by the apply thread and drained by the watcher's stream.
//!
//! # Invariants
//! - The queue holds at most `revisions` deliveries and `bytes` bytes of
//!   their events; a delivery that does not fit marks the watcher
//!   [`Feed::Behind`] and empties the queue (its stream catches up from
//!   history), so a reader that stops reading costs a bounded amount.
//! - Deliveries are queued in revision order (the apply thread is the only
//!   producer, and it applies in order).
//! - A behind or ended watcher's queue is empty and stays empty.
//! - `offer` never blocks on the stream and never panics: it runs inside
//!   the state machine's apply.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::store::Event;

/// One revision's events that a watcher's range holds.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    /// The revision.
    pub(crate) revision: u64,
    /// Every event of the revision, shared by every watcher it reaches.
    pub(crate) events: Arc<[Event]>,
    /// Which of them this watcher watches (indexes into `events`, in order).
    pub(crate) matched: Vec<u32>,
    /// What the matched events weigh, for the queue's byte limit.
    pub(crate) bytes: usize,
}

impl Delivery {
    /// The matched events, in the order written (see `store::changes`).
    pub(crate) fn matched_events(&self) -> impl Iterator<Item = &Event> {
        self.matched
            .iter()
            .filter_map(|index| self.events.get(*index as usize))
    }
}

/// What a watcher gets from the live feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Feed {
    /// Every matching revision is queued.
    Live,
    /// Its queue overflowed (or the store was restored): nothing is queued
    /// until its stream catches up from history and rejoins.
    Behind,
    /// The watcher is over, for this reason (the node is stopping).
    Ended(String),
}

/// How much one watcher's queue may hold.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueueLimits {
    /// Most revisions queued.
    pub(crate) revisions: usize,
    /// Most event bytes queued.
    pub(crate) bytes: usize,
}

/// What [`WatcherQueue::offer`] did with a delivery.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Offered {
    /// Queued.
    Queued,
    /// It did not fit: the watcher is now behind.
    FellBehind,
    /// The watcher is behind or ended: dropped.
    Dropped,
}

/// What the stream finds in its queue.
#[derive(Debug)]
pub(crate) enum Taken {
    /// The oldest queued revision.
    Delivery(Delivery),
    /// Nothing queued; the watcher is live.
    Empty,
    /// The watcher fell behind: catch up from history.
    Behind,
    /// The watcher is over.
    Ended(String),
}

#[derive(Debug)]
struct QueueState {
    deliveries: VecDeque<Delivery>,
    bytes: usize,
    feed: Feed,
}

/// One watcher's queue and the signal that wakes its stream.
#[derive(Debug)]
pub(crate) struct WatcherQueue {
    state: Mutex<QueueState>,
    /// Woken whenever the state changes.
    pub(crate) wake: Notify,
    limits: QueueLimits,
    /// Bytes queued by every watcher of the hub (bounded as a whole too).
    total_bytes: Arc<AtomicUsize>,
    total_bytes_limit: usize,
}

impl WatcherQueue {
    /// An empty, live queue counting its bytes into `total_bytes`.
    pub(crate) fn new(
        limits: QueueLimits,
        total_bytes: Arc<AtomicUsize>,
        total_bytes_limit: usize,
    ) -> Self {
        WatcherQueue {
            state: Mutex::new(QueueState {
                deliveries: VecDeque::new(),
                bytes: 0,
                feed: Feed::Live,
            }),
            wake: Notify::new(),
            limits,
            total_bytes,
            total_bytes_limit,
        }
    }

    /// Queues `delivery`, or marks the watcher behind if it does not fit.
    pub(crate) fn offer(&self, delivery: Delivery) -> Offered {
        let mut state = self.lock();
        if state.feed != Feed::Live {
            return Offered::Dropped;
        }
        let fits = state.deliveries.len() < self.limits.revisions
            && state.bytes.saturating_add(delivery.bytes) <= self.limits.bytes
            && self
                .total_bytes
                .load(Ordering::Relaxed)
                .saturating_add(delivery.bytes)
                <= self.total_bytes_limit;
        if !fits {
            self.set_feed(&mut state, Feed::Behind);
            drop(state);
            self.wake.notify_one();
            return Offered::FellBehind;
        }
        state.bytes += delivery.bytes;
        self.total_bytes
            .fetch_add(delivery.bytes, Ordering::Relaxed);
        state.deliveries.push_back(delivery);
        drop(state);
        self.wake.notify_one();
        Offered::Queued
    }

    /// Marks the watcher behind (unless it ended), dropping what is queued.
    pub(crate) fn fall_behind(&self) {
        let mut state = self.lock();
        if state.feed == Feed::Live {
            self.set_feed(&mut state, Feed::Behind);
        }
        drop(state);
        self.wake.notify_one();
    }

    /// Ends the watcher for `reason`, dropping what is queued.
    pub(crate) fn end(&self, reason: &str) {
        let mut state = self.lock();
        if !matches!(state.feed, Feed::Ended(_)) {
            self.set_feed(&mut state, Feed::Ended(reason.to_owned()));
        }
        drop(state);
        self.wake.notify_one();
    }

    /// Takes the oldest queued delivery, or says why there is none.
    pub(crate) fn take(&self) -> Taken {
        let mut state = self.lock();
        match &state.feed {
            Feed::Behind => return Taken::Behind,
            Feed::Ended(reason) => return Taken::Ended(reason.clone()),
            Feed::Live => {}
        }
        let Some(delivery) = state.deliveries.pop_front() else {
            return Taken::Empty;
        };
        state.bytes -= delivery.bytes;
        self.total_bytes
            .fetch_sub(delivery.bytes, Ordering::Relaxed);
        Taken::Delivery(delivery)
    }

    /// A behind watcher is live again from now on, with an empty queue;
    /// its stream must then read history from where it stopped before it
    /// takes from the queue. Does nothing to an ended watcher.
    pub(crate) fn rearm(&self) {
        let mut state = self.lock();
        if state.feed == Feed::Behind {
            state.feed = Feed::Live;
        }
    }

    /// The stream has sent everything below `next_revision` (from history):
    /// drops queued revisions below it. True if the watcher is live (it may
    /// take from the queue from now on); false if it fell behind meanwhile or
    /// ended.
    pub(crate) fn join_at(&self, next_revision: u64) -> bool {
        let mut state = self.lock();
        if state.feed != Feed::Live {
            return false;
        }
        while let Some(front) = state.deliveries.front() {
            if front.revision >= next_revision {
                break;
            }
            let bytes = front.bytes;
            state.deliveries.pop_front();
            state.bytes -= bytes;
            self.total_bytes.fetch_sub(bytes, Ordering::Relaxed);
        }
        true
    }

    /// Why the watcher ended, if it did.
    pub(crate) fn ended(&self) -> Option<String> {
        match &self.lock().feed {
            Feed::Ended(reason) => Some(reason.clone()),
            Feed::Live | Feed::Behind => None,
        }
    }

    /// Revisions and bytes queued now.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> (usize, usize) {
        let state = self.lock();
        (state.deliveries.len(), state.bytes)
    }

    fn set_feed(&self, state: &mut QueueState, feed: Feed) {
        state.deliveries.clear();
        self.total_bytes.fetch_sub(state.bytes, Ordering::Relaxed);
        state.bytes = 0;
        state.feed = feed;
    }

    /// The state, even if a holder panicked: every update leaves it whole.
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for WatcherQueue {
    fn drop(&mut self) {
        let bytes = self.lock().bytes;
        self.total_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}
