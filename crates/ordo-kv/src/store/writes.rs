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
use super::keys::{KeyHistory, Version};
use super::range::KeyRange;
use super::state::KvStore;

/// Writes in progress, all at one revision.
pub(super) struct PendingWrite {
    /// The revision every version written here carries.
    revision: u64,
    /// Keys written (each at most once).
    written: Vec<Bytes>,
    /// The events to tell the observer about, if there is one.
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
    /// Returns the previous live kv.
    pub(super) fn put(
        &mut self,
        store: &mut KvStore,
        key: Bytes,
        value: Bytes,
        lease: i64,
    ) -> Option<KeyValue> {
        let previous = store.keys.get(&key).and_then(KeyHistory::live).cloned();
        let version = Version {
            value,
            create_revision: previous
                .as_ref()
                .map_or(self.revision, |previous| previous.create_revision),
            mod_revision: self.revision,
            version: previous.as_ref().map_or(1, |previous| previous.version + 1),
            lease,
        };
        let previous_lease = previous.as_ref().map_or(0, |previous| previous.lease);
        if previous_lease != lease {
            store.detach(previous_lease, &key);
            store.attach(lease, &key);
        }
        store.versions += 1;
        store.bytes += version.bytes(key.len());
        store.live_bytes += version.bytes(key.len());
        match &previous {
            Some(previous) => store.live_bytes -= previous.bytes(key.len()),
            None => store.live_keys += 1,
        }
        let kv = version.key_value(&key);
        self.record(store, key, version, EventKind::Put, kv, previous.as_ref())
    }

    /// Deletes `key` if it is live. Returns the kv it had.
    pub(super) fn delete(&mut self, store: &mut KvStore, key: &Bytes) -> Option<KeyValue> {
        let previous = store.keys.get(key).and_then(KeyHistory::live).cloned()?;
        store.detach(previous.lease, key);
        let tombstone = Version::tombstone(self.revision);
        store.versions += 1;
        store.bytes += tombstone.bytes(key.len());
        store.live_bytes -= previous.bytes(key.len());
        store.live_keys -= 1;
        let kv = KeyValue {
            key: key.clone(),
            mod_revision: self.revision,
            ..KeyValue::default()
        };
        self.record(
            store,
            key.clone(),
            tombstone,
            EventKind::Delete,
            kv,
            Some(&previous),
        )
    }

    /// Deletes every live key in `range`. Returns the kvs they had, in key order.
    pub(super) fn delete_range(&mut self, store: &mut KvStore, range: &KeyRange) -> Vec<KeyValue> {
        let live: Vec<Bytes> = match range.bounds() {
            Some(bounds) => store
                .keys
                .range::<[u8], _>(bounds)
                .filter(|(_, history)| history.live().is_some())
                .map(|(key, _)| key.clone())
                .collect(),
            None => Vec::new(),
        };
        live.iter()
            .filter_map(|key| self.delete(store, key))
            .collect()
    }

    /// Stores `version` under `key` and notes the write.
    fn record(
        &mut self,
        store: &mut KvStore,
        key: Bytes,
        version: Version,
        kind: EventKind,
        kv: KeyValue,
        previous: Option<&Version>,
    ) -> Option<KeyValue> {
        let previous_kv = previous.map(|previous| previous.key_value(&key));
        if let Some(events) = &mut self.events {
            events.push(Event {
                kind,
                kv,
                prev_kv: previous_kv.clone(),
            });
        }
        match store.keys.get_mut(&key) {
            Some(history) => history.push(version),
            None => {
                store.keys.insert(key.clone(), KeyHistory::new(version));
            }
        }
        self.written.push(key);
        previous_kv
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
            events: self.observer.0.as_ref().map(|_| Vec::new()),
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
        if let (Some(observer), Some(mut events)) = (&self.observer.0, events) {
            events.sort_by(|a, b| a.kv.key.cmp(&b.kv.key));
            observer.applied(revision, &events);
        }
        revision
    }
}
