//! The one write path: every command that changes keys (legacy put and
//! delete, txn, lease revoke) opens a [`PendingWrite`], writes through it,
//! and finishes it, so the revision, the counters, the lease attachments,
//! the change log and the observer are kept in one place.
//!
//! A pending write stamps every version it writes with the *next* revision;
//! the cluster revision moves to it only when [`KvStore::finish_write`] sees
//! at least one key written, so a write of nothing takes no revision.

use bytes::Bytes;

use super::KeyValue;
use super::changes::{Event, EventKind};
use super::keys::{Key, KeyHistory, Version};
use super::range::KeyRange;
use super::state::KvStore;

/// Writes in progress, all at one revision.
pub(super) struct PendingWrite {
    /// The revision every version written here carries.
    revision: u64,
    /// Keys written (each at most once).
    written: Vec<Key>,
    /// The events to tell the observer about, if there is one and it
    /// wanted them when the write began.
    events: Option<Vec<Event>>,
}

impl PendingWrite {
    /// The revision this write stamps.
    pub(super) fn revision(&self) -> u64 {
        self.revision
    }

    /// Whether anything was written yet.
    pub(super) fn wrote(&self) -> bool {
        !self.written.is_empty()
    }

    /// Sets `key` to `value` attached to `lease` (0: none), which must exist.
    /// Returns the previous live kv if `want_previous` and there was one.
    pub(super) fn put(
        &mut self,
        store: &mut KvStore,
        key: &[u8],
        value: Bytes,
        lease: i64,
        want_previous: bool,
    ) -> Option<KeyValue> {
        let previous = store.keys.get(key).and_then(KeyHistory::live);
        // Cloning a value is not free (a `Bytes` made from a `Vec` allocates
        // on its first clone): copy out only what is needed.
        let previous_kv = previous
            .filter(|_| want_previous || self.events.is_some())
            .map(|previous| previous.key_value(key));
        let facts = previous.map(|previous| {
            let bytes = previous.bytes(key.len());
            (
                previous.create_revision,
                previous.version,
                previous.lease,
                bytes,
            )
        });
        let version = Version {
            value,
            create_revision: facts.map_or(self.revision, |(create, ..)| create),
            mod_revision: self.revision,
            version: facts.map_or(1, |(_, version, ..)| version + 1),
            lease,
        };
        let previous_lease = facts.map_or(0, |(_, _, lease, _)| lease);
        if previous_lease != lease {
            store.detach(previous_lease, key);
            store.attach(lease, key);
        }
        store.versions += 1;
        store.bytes += version.bytes(key.len());
        store.live_bytes += version.bytes(key.len());
        match facts {
            Some((.., previous_bytes)) => store.live_bytes -= previous_bytes,
            None => store.live_keys += 1,
        }
        let event = self.events.is_some().then(|| Event {
            kind: EventKind::Put,
            kv: version.key_value(key),
            prev_kv: previous_kv.clone(),
        });
        self.record(store, key, version, event);
        previous_kv.filter(|_| want_previous)
    }

    /// Deletes `key` if it is live; returns whether it was. Pushes the kv it
    /// had onto `previous`, if given.
    pub(super) fn delete(
        &mut self,
        store: &mut KvStore,
        key: &[u8],
        previous: Option<&mut Vec<KeyValue>>,
    ) -> bool {
        let Some(live) = store.keys.get(key).and_then(KeyHistory::live) else {
            return false;
        };
        let previous_kv =
            (previous.is_some() || self.events.is_some()).then(|| live.key_value(key));
        let (lease, live_bytes) = (live.lease, live.bytes(key.len()));
        store.detach(lease, key);
        let tombstone = Version::tombstone(self.revision);
        store.versions += 1;
        store.bytes += tombstone.bytes(key.len());
        store.live_bytes -= live_bytes;
        store.live_keys -= 1;
        let event = self.events.is_some().then(|| Event {
            kind: EventKind::Delete,
            kv: KeyValue {
                key: Bytes::copy_from_slice(key),
                mod_revision: self.revision,
                ..KeyValue::default()
            },
            prev_kv: previous_kv.clone(),
        });
        self.record(store, key, tombstone, event);
        if let (Some(previous), Some(kv)) = (previous, previous_kv) {
            previous.push(kv);
        }
        true
    }

    /// Deletes every live key in `range`; returns how many. Pushes the kvs
    /// they had onto `previous` (in key order), if given.
    pub(super) fn delete_range(
        &mut self,
        store: &mut KvStore,
        range: &KeyRange,
        mut previous: Option<&mut Vec<KeyValue>>,
    ) -> u64 {
        let live: Vec<Key> = match range.bounds() {
            Some(bounds) => store
                .keys
                .range::<[u8], _>(bounds)
                .filter(|(_, history)| history.live().is_some())
                .map(|(key, _)| key.clone())
                .collect(),
            None => Vec::new(),
        };
        for key in &live {
            let deleted = self.delete(store, key, previous.as_deref_mut());
            assert!(deleted, "a key live a moment ago was not deleted");
        }
        live.len() as u64
    }

    /// Stores `version` under `key` and notes the write.
    fn record(&mut self, store: &mut KvStore, key: &[u8], version: Version, event: Option<Event>) {
        if let (Some(events), Some(event)) = (&mut self.events, event) {
            events.push(event);
        }
        let existing = store
            .keys
            .get_key_value(key)
            .map(|(shared, _)| shared.clone());
        let shared = match existing {
            Some(shared) => {
                let Some(history) = store.keys.get_mut(key) else {
                    unreachable!("the key was just found");
                };
                history.push(version);
                shared
            }
            None => {
                let shared: Key = Key::from(key);
                store.keys.insert(shared.clone(), KeyHistory::new(version));
                shared
            }
        };
        self.written.push(shared);
    }
}

impl KvStore {
    /// Opens a write at the next revision.
    ///
    /// # Panics
    /// If the revision is exhausted: callers refuse writes first.
    pub(super) fn begin_write(&self) -> PendingWrite {
        let Some(revision) = self.cluster_revision.checked_add(1) else {
            panic!("a write was begun at the last revision: callers must refuse it first");
        };
        PendingWrite {
            revision,
            written: Vec::new(),
            events: self
                .observer
                .0
                .as_ref()
                .filter(|observer| observer.wants_events())
                .map(|_| Vec::new()),
        }
    }

    /// Commits `write`: if it wrote anything, the cluster revision moves to
    /// its revision, the change log and the observer learn its keys (in key
    /// order). Returns the cluster revision after it.
    pub(super) fn finish_write(&mut self, write: PendingWrite) -> u64 {
        let PendingWrite {
            revision,
            mut written,
            events,
        } = write;
        if written.is_empty() {
            return self.cluster_revision;
        }
        written.sort_unstable();
        assert!(
            written.windows(2).all(|pair| pair[0] != pair[1]),
            "a key was written twice at one revision"
        );
        self.cluster_revision = revision;
        self.changes
            .extend(written.into_iter().map(|key| (revision, key)));
        if let Some(observer) = &self.observer.0 {
            // None: nobody wanted them when the write began.
            let mut events = events.unwrap_or_default();
            events.sort_by(|a, b| a.kv.key.cmp(&b.kv.key));
            observer.applied(revision, &events);
        }
        revision
    }
}
