//! [`WatchStream`]: one watcher's messages, in order: the first `progress`,
//! then one `change` per revision that touched its range, `progress` when
//! quiet, and an end (`compacted`, `cancelled`) if it cannot go on.
//!
//! A stream is in one of two modes:
//! - **live**: it takes revisions from its queue, which the apply thread
//!   fills;
//! - **catching up**: it reads history pages from `next_revision` (at the
//!   start with a `start_revision`, or after falling behind).
//!
//! Rejoining without a gap or a duplicate: the queue is re-armed (live,
//! empty) *before* history is read. A history answer that covers up to the
//! revision it was read at (`current_revision`) then holds everything the
//! queue missed, and every revision the queue holds above it is new: the
//! queued revisions below `next_revision` are dropped and the stream goes
//! live. If the queue overflowed meanwhile, it is re-armed and reading
//! goes on from where the last page ended.
//!
//! # Invariants
//! - Every event in the range below `next_revision` was sent (or was before
//!   the start); none at or above it was. `next_revision` never goes down.
//! - A `progress` revision never passes an event not yet sent.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use crate::server::watch::history::{History, HistoryError};
use crate::server::watch::hub::{RegisterError, Registration, WatchHub};
use crate::server::watch::index::WatchRange;
use crate::server::watch::queue::Taken;
use crate::store::Event;

/// How long a stream waits before asking a busy node again.
const BUSY_BACKOFF: Duration = Duration::from_millis(20);

/// Where a watch starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// After the revision the node has applied.
    Now,
    /// At this revision (events from it on, from history if past).
    At(u64),
}

/// What a watcher asked for.
#[derive(Clone, Debug)]
pub(crate) struct WatchOptions {
    /// The keys.
    pub(crate) range: WatchRange,
    /// Where it starts.
    pub(crate) start: Start,
    /// Send each event's previous key-value.
    pub(crate) prev_kv: bool,
    /// Send `progress` after this long without a message (None: never).
    pub(crate) progress_interval: Option<Duration>,
}

/// One message of a watch stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Message {
    /// Every event in the range up to this revision was sent.
    Progress(u64),
    /// One revision's events in the range.
    Change(Change),
    /// History the stream needs was compacted: it ends.
    Compacted {
        /// The compact revision.
        compact_revision: u64,
    },
    /// The stream cannot go on, for this reason: it ends.
    Cancelled(String),
}

/// One revision's events in a watcher's range, as the store gave them
/// (each wire turns them into its own form: `json.rs`, `server/etcd/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    /// The revision.
    pub(crate) revision: u64,
    /// Its events in the range; `prev_kv` only if the watcher asked for it.
    pub(crate) events: Vec<Event>,
}

impl Change {
    fn new<'a>(revision: u64, events: impl Iterator<Item = &'a Event>, prev_kv: bool) -> Self {
        let events = events
            .map(|event| Event {
                prev_kv: if prev_kv { event.prev_kv.clone() } else { None },
                ..event.clone()
            })
            .collect();
        Change { revision, events }
    }
}

/// Why a watch could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    /// The hub refused it.
    #[error(transparent)]
    Register(#[from] RegisterError),
    /// Its start revision is compacted.
    #[error("revision {revision} is compacted (the compact revision is {compact_revision})")]
    Compacted {
        /// The start asked for.
        revision: u64,
        /// The compact revision.
        compact_revision: u64,
    },
    /// The node could not read its state.
    #[error("{0}")]
    Unavailable(String),
}

/// One watcher's stream of messages.
#[derive(Debug)]
pub(crate) struct WatchStream<H> {
    registration: Registration,
    history: H,
    options: WatchOptions,
    /// The first revision not yet sent (see the module's invariants).
    next_revision: u64,
    /// Messages ready to go, ahead of anything else (a history page).
    outbox: VecDeque<Message>,
    catching_up: bool,
    /// Fell behind since it was last live (counted as a resync on rejoining).
    resyncing: bool,
    last_sent: Instant,
    ended: bool,
}

impl<H: History> WatchStream<H> {
    /// Registers the watcher and reads where it starts.
    ///
    /// # Errors
    /// [`OpenError`]: the hub is full or closed, the start is compacted, or
    /// the node cannot answer.
    pub(crate) async fn open(
        hub: &Arc<WatchHub>,
        history: H,
        options: WatchOptions,
    ) -> Result<Self, OpenError> {
        let registration = hub.register(options.range.clone())?;
        let mut stream = WatchStream {
            registration,
            history,
            next_revision: 1,
            options,
            outbox: VecDeque::new(),
            catching_up: false,
            resyncing: false,
            last_sent: Instant::now(),
            ended: false,
        };
        match stream.options.start {
            Start::Now => {
                let current = retry_busy(|| stream.history.current_revision())
                    .await
                    .map_err(|error| OpenError::Unavailable(error.to_string()))?;
                stream.next_revision = current.saturating_add(1);
                stream.outbox.push_back(Message::Progress(current));
                stream.try_join();
            }
            Start::At(start) => {
                stream.next_revision = start.max(1);
                stream.catching_up = true;
                let current = match stream.read_first_page().await {
                    Ok(current) => current,
                    Err(HistoryError::Compacted {
                        revision,
                        compact_revision,
                    }) => {
                        return Err(OpenError::Compacted {
                            revision,
                            compact_revision,
                        });
                    }
                    Err(error) => return Err(OpenError::Unavailable(error.to_string())),
                };
                let seen = current.min(start.saturating_sub(1));
                stream.outbox.push_front(Message::Progress(seen));
            }
        }
        Ok(stream)
    }

    /// The next message; `None` once the stream has ended.
    pub(crate) async fn next_message(&mut self) -> Option<Message> {
        loop {
            if self.ended {
                return None;
            }
            if let Some(message) = self.outbox.pop_front() {
                return Some(self.sent(message));
            }
            if self.catching_up {
                self.catch_up().await;
                continue;
            }
            let queue = &self.registration.queue;
            // Read before looking at the queue: see the hub's invariant.
            let seen = self.registration.hub().last_revision();
            match queue.take() {
                Taken::Delivery(delivery) => {
                    if delivery.revision < self.next_revision {
                        continue;
                    }
                    self.next_revision = delivery.revision + 1;
                    let change = Change::new(
                        delivery.revision,
                        delivery.matched_events(),
                        self.options.prev_kv,
                    );
                    return Some(self.sent(Message::Change(change)));
                }
                Taken::Behind => {
                    queue.rearm();
                    self.catching_up = true;
                    self.resyncing = true;
                }
                Taken::Ended(reason) => self.outbox.push_back(Message::Cancelled(reason)),
                Taken::Empty => {
                    if let Some(progress) = self.wait_for_news(seen).await {
                        return Some(self.sent(progress));
                    }
                }
            }
        }
    }

    /// Waits until the queue changes, or, once the progress interval has
    /// passed without a message, answers a progress message at `seen`.
    async fn wait_for_news(&self, seen: u64) -> Option<Message> {
        let wake = self.registration.queue.wake.notified();
        let Some(interval) = self.options.progress_interval else {
            wake.await;
            return None;
        };
        tokio::select! {
            () = wake => None,
            () = tokio::time::sleep_until(self.last_sent + interval) => Some(Message::Progress(seen)),
        }
    }

    /// Reads one history page, or ends the stream if it cannot.
    async fn catch_up(&mut self) {
        if let Some(reason) = self.registration.queue.ended() {
            self.outbox.push_back(Message::Cancelled(reason));
            return;
        }
        match self.read_page().await {
            Ok(_) => {}
            Err(HistoryError::Busy) => tokio::time::sleep(BUSY_BACKOFF).await,
            Err(HistoryError::Compacted {
                compact_revision, ..
            }) => self
                .outbox
                .push_back(Message::Compacted { compact_revision }),
            Err(HistoryError::Unavailable(reason)) => {
                self.outbox.push_back(Message::Cancelled(reason));
            }
        }
    }

    /// Reads the first page, waiting out a busy node.
    async fn read_first_page(&mut self) -> Result<u64, HistoryError> {
        loop {
            match self.read_page().await {
                Err(HistoryError::Busy) => tokio::time::sleep(BUSY_BACKOFF).await,
                other => return other,
            }
        }
    }

    /// Reads the page of history from `next_revision` into the outbox, and
    /// goes live if it reached the present. Answers the revision read at.
    async fn read_page(&mut self) -> Result<u64, HistoryError> {
        let hub = self.registration.hub();
        let page_events = hub.limits().history_page_events;
        let changes = {
            let _permit = hub
                .history_reads
                .acquire()
                .await
                .map_err(|_| HistoryError::Unavailable("the hub is closed".into()))?;
            self.history
                .changes(
                    self.registration.range().key_range(),
                    self.next_revision,
                    page_events,
                )
                .await?
        };
        assert!(
            changes.next_revision >= self.next_revision,
            "a history page went back from {} to {}",
            self.next_revision,
            changes.next_revision
        );
        for (revision, events) in by_revision(&changes.events) {
            assert!(
                (self.next_revision..changes.next_revision).contains(&revision),
                "a history page holds revision {revision} outside [{}, {})",
                self.next_revision,
                changes.next_revision
            );
            let change = Change::new(revision, events.iter(), self.options.prev_kv);
            self.outbox.push_back(Message::Change(change));
        }
        self.next_revision = changes.next_revision;
        if changes.next_revision > changes.current_revision {
            self.try_join();
        }
        Ok(changes.current_revision)
    }

    /// Everything up to `next_revision` is in the outbox: go live, or read
    /// on if the queue overflowed meanwhile.
    fn try_join(&mut self) {
        let queue = &self.registration.queue;
        if queue.join_at(self.next_revision) {
            self.catching_up = false;
            if self.resyncing {
                self.resyncing = false;
                let counters = &self.registration.hub().counters;
                counters.resyncs.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            queue.rearm();
            self.catching_up = true;
        }
    }

    /// Notes that `message` goes out now.
    fn sent(&mut self, message: Message) -> Message {
        self.last_sent = Instant::now();
        match &message {
            Message::Change(change) => {
                let counters = &self.registration.hub().counters;
                counters
                    .events
                    .fetch_add(change.events.len() as u64, Ordering::Relaxed);
            }
            Message::Compacted { .. } | Message::Cancelled(_) => self.ended = true,
            Message::Progress(_) => {}
        }
        message
    }

    /// Revisions and bytes queued for this watcher now.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> (usize, usize) {
        self.registration.queue.queued()
    }
}

/// `events` (in revision order) grouped by revision.
fn by_revision(events: &[Event]) -> Vec<(u64, &[Event])> {
    let mut groups = Vec::new();
    let mut rest = events;
    while let Some(first) = rest.first() {
        let revision = first.kv.mod_revision;
        let length = rest
            .iter()
            .position(|event| event.kv.mod_revision != revision)
            .unwrap_or(rest.len());
        let (group, after) = rest.split_at(length);
        groups.push((revision, group));
        rest = after;
    }
    groups
}

/// Runs `read` until the node is not busy.
async fn retry_busy<T, F, Fut>(mut read: F) -> Result<T, HistoryError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, HistoryError>>,
{
    loop {
        match read().await {
            Err(HistoryError::Busy) => tokio::time::sleep(BUSY_BACKOFF).await,
            other => return other,
        }
    }
}
