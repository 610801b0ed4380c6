//! The one write path: every command that changes keys (legacy put and
//! delete, txn, lease revoke) opens a [`PendingWrite`], writes through it,
//! and finishes it, so the revision, the counters, the lease attachments,
//! the change log and the observer are kept in one place.
//!
//! A pending write stamps every version it writes with the *next* revision
//! and with its place among the write's versions (the sub-revision, as
//! etcd's): the order the command's operations ran in, which is the order
//! its events are listed in, live and from history, before and after a
//! restore. The cluster revision moves to the revision only when
//! [`KvStore::finish_write`] sees at least one key written, so a write of
//! nothing takes no revision.

use bytes::Bytes;

use super::KeyValue;
use super::changes::{Event, EventKind};
use super::keys::WrittenKey;
use super::range::KeyRange;
use super::state::KvStore;
use super::version::{Stamp, Version};

/// Writes in progress, all at one revision.
pub(super) struct PendingWrite {
    /// The revision every version written here carries.
    revision: u64,
    /// The versions written (each key at most once), in the order written:
    /// a version's index here is its sub-revision.
    written: Vec<WrittenKey>,
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
        let previous = store.keys.get(key).and_then(|history| history.live());
        let previous_kv = previous
            .filter(|_| want_previous || self.events.is_some())
            .map(Version::key_value);
        let sub_revision = self.next_sub_revision();
        let stamp = match previous {
            Some(previous) => Stamp {
                create_revision: previous.create_revision(),
                mod_revision: self.revision,
                version: previous.version() + 1,
                lease,
                sub_revision,
            },
            None => Stamp {
                create_revision: self.revision,
                mod_revision: self.revision,
                version: 1,
                lease,
                sub_revision,
            },
        };
        let previous_lease = previous.map_or(0, Version::lease);
        let previous_bytes = previous.map(Version::bytes);
        let version = Version::put(key, &value, stamp);
        if previous_lease != lease {
            store.detach(previous_lease, key);
            store.attach(lease, key);
        }
        store.versions += 1;
        store.bytes += version.bytes();
        store.live_bytes += version.bytes();
        match previous_bytes {
            Some(previous_bytes) => store.live_bytes -= previous_bytes,
            None => store.live_keys += 1,
        }
        let event = self.events.is_some().then(|| Event {
            kind: EventKind::Put,
            kv: version.key_value(),
            prev_kv: previous_kv.clone(),
        });
        self.record(store, version, event);
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
        let Some(live) = store.keys.get(key).and_then(|history| history.live()) else {
            return false;
        };
        let previous_kv = (previous.is_some() || self.events.is_some()).then(|| live.key_value());
        let (lease, live_bytes) = (live.lease(), live.bytes());
        store.detach(lease, key);
        let tombstone = Version::tombstone(key, self.revision, self.next_sub_revision());
        store.versions += 1;
        store.bytes += tombstone.bytes();
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
        self.record(store, tombstone, event);
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
        let live: Vec<Version> = match range.bounds() {
            Some(bounds) => store
                .keys
                .range(bounds)
                .filter_map(|history| history.live().cloned())
                .collect(),
            None => Vec::new(),
        };
        for version in &live {
            let deleted = self.delete(store, version.key(), previous.as_deref_mut());
            assert!(deleted, "a key live a moment ago was not deleted");
        }
        live.len() as u64
    }

    /// The sub-revision of the next version written.
    ///
    /// # Panics
    /// Past `u32::MAX` writes at one revision (billions of versions held in
    /// memory at once: not a state the store can reach).
    fn next_sub_revision(&self) -> u32 {
        u32::try_from(self.written.len())
            .unwrap_or_else(|_| panic!("over u32::MAX keys were written at one revision"))
    }

    /// Stores `version` as its key's newest and notes the write.
    fn record(&mut self, store: &mut KvStore, version: Version, event: Option<Event>) {
        assert_eq!(
            version.sub_revision() as usize,
            self.written.len(),
            "versions are recorded in sub-revision order"
        );
        if let (Some(events), Some(event)) = (&mut self.events, event) {
            events.push(event);
        }
        self.written.push(WrittenKey(version.clone()));
        store.keys.push(version);
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
    /// its revision, the change log and the observer learn its keys (in the
    /// order written). Returns the cluster revision after it.
    pub(super) fn finish_write(&mut self, write: PendingWrite) -> u64 {
        let PendingWrite {
            revision,
            written,
            events,
        } = write;
        if written.is_empty() {
            return self.cluster_revision;
        }
        assert_keys_written_once(&written);
        self.cluster_revision = revision;
        self.changes
            .extend(written.into_iter().map(|key| (revision, key)));
        if let Some(observer) = &self.observer.0 {
            // None: nobody wanted them when the write began.
            observer.applied(revision, &events.unwrap_or_default());
        }
        revision
    }
}

/// Asserts that no key is among `written` twice: a txn's check refuses
/// such a request (etcd's "duplicate key"), and a range delete visits each
/// live key once.
fn assert_keys_written_once(written: &[WrittenKey]) {
    let mut keys: Vec<&[u8]> = written.iter().map(|key| &key[..]).collect();
    keys.sort_unstable();
    assert!(
        keys.windows(2).all(|pair| pair[0] != pair[1]),
        "a key was written twice at one revision"
    );
}
