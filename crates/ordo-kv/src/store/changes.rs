//! Events, the change feed and the [`KvQuery::Changes`](super::KvQuery::Changes)
//! query that watch is built on.
//!
//! Events come in revision order; within one revision in the order its
//! command wrote them, as etcd: a txn's in the order of its operations
//! (nested txns' where they stand, a range delete's keys in key order), a
//! lease revocation's in key order. Each version carries its place (its
//! sub-revision, see `version.rs`), and backups record it, so a store
//! restored from a snapshot answers the same. A revision's events are never
//! split between two answers.
//!
//! A query runs on the apply thread, so its cost is bounded whatever it
//! asks: it seeks to its first revision by binary search on the change log
//! (in revision order) and visits at most [`MAX_CHANGES_SCANNED`] change-log
//! entries (more only to finish the revision it is in), however few of them
//! are in its range; `next_revision` says where to resume.

use serde::{Deserialize, Serialize};

use super::range::KeyRange;
use std::sync::Arc;

use super::state::KvStore;
use super::{KeyValue, KvError, KvStats};
use crate::auth::AuthState;

/// Most change-log entries one [`KvQuery::Changes`](super::KvQuery::Changes)
/// visits (in range or not) before it stops at a revision boundary.
pub const MAX_CHANGES_SCANNED: usize = 16_384;

/// What an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// A put.
    Put,
    /// A delete.
    Delete,
}

/// One key's change at one revision, as etcd's `mvccpb.Event`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// A put: the new kv. A delete: the key and `mod_revision` = the delete's
    /// revision, every other field zero (as etcd).
    pub kv: KeyValue,
    /// The kv before the change, if the key was live.
    pub prev_kv: Option<KeyValue>,
}

/// The answer to [`KvQuery::Changes`](super::KvQuery::Changes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// The events, in revision order (the order written within a revision).
    pub events: Vec<Event>,
    /// Where to resume: the first revision not covered by this answer.
    pub next_revision: u64,
    /// The cluster revision when answered.
    pub current_revision: u64,
    /// The compact revision when answered.
    pub compact_revision: u64,
}

/// Hears about every change the store applies, after it is applied.
///
/// Called on the thread that applies, inside `apply`: keep it short (hand the
/// events to a channel). It only receives; nothing it does can change what
/// the store decides.
///
/// Building events costs a clone of every written key and previous value,
/// so the store asks [`wants_events`](Self::wants_events) as each command
/// begins and builds none when no observer wants them: `applied` then gets
/// an empty slice (a revision always changes some key, so empty means "not
/// built"). An observer that starts wanting events (a watcher registers)
/// may thus be told of a revision without its events, but only of one
/// whose command began before it asked; whoever registers must then learn
/// the revision through a query, which the apply thread answers only after
/// that command, as the watch hub does (it reads the current revision, or
/// history, after registering).
pub trait ChangeObserver: Send + Sync {
    /// One revision changed keys: `events` are its events in the order
    /// written (see the module docs), with
    /// `prev_kv` filled whenever the key was live before; empty if no
    /// observer wanted events when the command began.
    fn applied(&self, revision: u64, events: &[Event]);

    /// Whether this observer needs the events of the commands that begin
    /// now (read once per command, on the apply thread: keep it cheap).
    fn wants_events(&self) -> bool {
        true
    }

    /// A snapshot restore replaced the whole state: watchers must resync
    /// from `revision` (or learn that `compact_revision` passed them).
    fn restored(&self, revision: u64, compact_revision: u64);

    /// The store's counters after a batch of applied commands or a restore
    /// (what the quota and the metrics read, without a query per write).
    fn stats(&self, stats: &KvStats) {
        let _ = stats;
    }

    /// The auth state after an applied auth command or a restore (what the
    /// HTTP API checks requests against, without a query per request).
    fn auth_changed(&self, auth: &Arc<AuthState>) {
        let _ = auth;
    }
}

/// Two observers heard in turn: how [`KvStore::with_observer`] composes a
/// second observer with the first (watch and the quota gauge both listen).
pub(super) struct BothObservers {
    pub(super) first: Arc<dyn ChangeObserver>,
    pub(super) second: Arc<dyn ChangeObserver>,
}

impl ChangeObserver for BothObservers {
    fn applied(&self, revision: u64, events: &[Event]) {
        self.first.applied(revision, events);
        self.second.applied(revision, events);
    }

    /// Either wants them: both are told them.
    fn wants_events(&self) -> bool {
        self.first.wants_events() || self.second.wants_events()
    }

    fn restored(&self, revision: u64, compact_revision: u64) {
        self.first.restored(revision, compact_revision);
        self.second.restored(revision, compact_revision);
    }

    fn stats(&self, stats: &KvStats) {
        self.first.stats(stats);
        self.second.stats(stats);
    }

    fn auth_changed(&self, auth: &Arc<AuthState>) {
        self.first.auth_changed(auth);
        self.second.auth_changed(auth);
    }
}

impl KvStore {
    /// The events in `range` from `from_revision` on, at most `max_events`
    /// (0: no limit) unless the first revision alone holds more.
    ///
    /// # Errors
    /// [`KvError::Compacted`] if `from_revision <= compact_revision` (and the
    /// store was compacted): events at or below it may be gone.
    pub(super) fn changes_since(
        &self,
        range: &KeyRange,
        from_revision: u64,
        max_events: usize,
    ) -> Result<Changes, KvError> {
        self.changes_scanning(range, from_revision, max_events, MAX_CHANGES_SCANNED)
            .map(|(changes, _scanned)| changes)
    }

    /// [`changes_since`](Self::changes_since), visiting at most
    /// `max_scanned` change-log entries past the first revision's; answers
    /// how many it visited too.
    fn changes_scanning(
        &self,
        range: &KeyRange,
        from_revision: u64,
        max_events: usize,
        max_scanned: usize,
    ) -> Result<(Changes, usize), KvError> {
        if self.compact_revision > 0 && from_revision <= self.compact_revision {
            return Err(KvError::Compacted {
                revision: from_revision,
                compact_revision: self.compact_revision,
            });
        }
        let start = self
            .changes
            .partition_point(|(revision, _)| *revision < from_revision);
        let mut events = Vec::new();
        let mut next_revision = self.cluster_revision.saturating_add(1).max(from_revision);
        // The open revision's events, added to `events` only whole.
        let mut pending: Vec<Event> = Vec::new();
        let mut open_revision = None;
        let mut scanned = 0;
        for (revision, key) in self.changes.range(start..) {
            if open_revision != Some(*revision) {
                if !fits(&events, &pending, max_events) {
                    next_revision = open_revision.unwrap_or(*revision);
                    pending.clear();
                    break;
                }
                events.append(&mut pending);
                if open_revision.is_some() && scanned >= max_scanned {
                    // Everything before this revision was visited.
                    next_revision = *revision;
                    open_revision = None;
                    break;
                }
                open_revision = Some(*revision);
            }
            scanned += 1;
            if range.contains(key) {
                pending.push(self.event_at(key, *revision));
            }
        }
        if fits(&events, &pending, max_events) {
            events.append(&mut pending);
        } else if let Some(open_revision) = open_revision {
            next_revision = next_revision.min(open_revision);
        }
        let changes = Changes {
            events,
            next_revision,
            current_revision: self.cluster_revision,
            compact_revision: self.compact_revision,
        };
        Ok((changes, scanned))
    }

    /// The event that wrote `key` at `revision`, which the change log names.
    fn event_at(&self, key: &[u8], revision: u64) -> Event {
        let written = self
            .keys
            .get(key)
            .and_then(|history| history.written_at(revision));
        let Some((version, before)) = written else {
            panic!("the change log names a version the store does not hold");
        };
        let prev_kv = before
            .filter(|before| !before.is_tombstone())
            .map(|before| before.key_value());
        if version.is_tombstone() {
            let kv = KeyValue {
                key: bytes::Bytes::copy_from_slice(key),
                mod_revision: revision,
                ..KeyValue::default()
            };
            return Event {
                kind: super::EventKind::Delete,
                kv,
                prev_kv,
            };
        }
        Event {
            kind: EventKind::Put,
            kv: version.key_value(),
            prev_kv,
        }
    }
}

/// Whether a revision's `pending` events may join `events` under
/// `max_events` (0: no limit): always when `events` is empty, so the first
/// revision comes whole however large.
fn fits(events: &[Event], pending: &[Event], max_events: usize) -> bool {
    max_events == 0 || events.is_empty() || events.len() + pending.len() <= max_events
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::store::{KvCommand, PutRequest, RequestOp, TxnRequest};

    fn put(store: &mut KvStore, key: &str) {
        store.apply_command(KvCommand::Put {
            key: Bytes::copy_from_slice(key.as_bytes()),
            value: Bytes::from_static(b"v"),
            if_revision: None,
        });
    }

    /// Revisions 1..=100 write `other/N`, 101 writes `watched`.
    fn busy_store() -> KvStore {
        let mut store = KvStore::new();
        for n in 0..100 {
            put(&mut store, &format!("other/{n}"));
        }
        put(&mut store, "watched");
        store
    }

    #[test]
    fn a_query_visits_at_most_its_budget_of_entries_outside_its_range() {
        let store = busy_store();
        let watched = KeyRange::single("watched");
        let (page, scanned) = store.changes_scanning(&watched, 1, 0, 10).unwrap();
        assert_eq!(scanned, 10);
        assert!(page.events.is_empty());
        assert_eq!(page.next_revision, 11, "resume after what was visited");
        // Paging on reaches the event, each page within the budget.
        let mut from = page.next_revision;
        let mut pages = 1;
        let found = loop {
            let (page, scanned) = store.changes_scanning(&watched, from, 0, 10).unwrap();
            assert!(scanned <= 10, "{scanned} entries visited");
            pages += 1;
            if !page.events.is_empty() {
                break page;
            }
            from = page.next_revision;
        };
        assert_eq!(found.events[0].kv.key, "watched");
        assert_eq!(found.next_revision, 102);
        assert_eq!(pages, 11);
    }

    #[test]
    fn a_query_seeks_to_its_first_revision() {
        let store = busy_store();
        let watched = KeyRange::single("watched");
        let (page, scanned) = store.changes_scanning(&watched, 101, 0, 10).unwrap();
        assert_eq!(
            (page.events.len(), scanned),
            (1, 1),
            "only revision 101 visited"
        );
    }

    #[test]
    fn a_revision_larger_than_the_budget_is_visited_whole() {
        let mut store = busy_store();
        let success = (0..30)
            .map(|n| {
                RequestOp::Put(PutRequest {
                    key: Bytes::from(format!("txn/{n:02}")),
                    value: Bytes::from_static(b"v"),
                    ..Default::default()
                })
            })
            .collect();
        store.apply_command(KvCommand::Txn(TxnRequest {
            success,
            ..Default::default()
        }));
        put(&mut store, "txn/after");
        let all = KeyRange::prefix("txn/");
        let (page, scanned) = store.changes_scanning(&all, 102, 0, 10).unwrap();
        assert_eq!((page.events.len(), scanned), (30, 30));
        assert_eq!(page.next_revision, 103);
    }
}
