//! Several observers on one store, and the counters the store reports to
//! them (what the server's quota gauge reads instead of a query per write).

#![allow(clippy::unwrap_used)]

mod store_support;

use std::sync::{Arc, Mutex};

use ordo::StateMachine;
use ordo_kv::store::{ChangeObserver, Event, KvCommand, KvStats, KvStore};
use store_support::builders::run;
use store_support::{put, snapshot, store_with};

#[derive(Default)]
struct Recorder {
    revisions: Mutex<Vec<u64>>,
    stats: Mutex<Vec<KvStats>>,
}

impl ChangeObserver for Recorder {
    fn applied(&self, revision: u64, _events: &[Event]) {
        self.revisions.lock().unwrap().push(revision);
    }
    fn restored(&self, _revision: u64, _compact_revision: u64) {}
    fn stats(&self, stats: &KvStats) {
        self.stats.lock().unwrap().push(*stats);
    }
}

/// An observer that keeps the trait's default `stats`.
#[derive(Default)]
struct EventsOnly(Mutex<Vec<u64>>);

impl ChangeObserver for EventsOnly {
    fn applied(&self, revision: u64, _events: &[Event]) {
        self.0.lock().unwrap().push(revision);
    }
    fn restored(&self, _revision: u64, _compact_revision: u64) {}
}

#[test]
fn every_observer_hears_every_change_and_the_counters_after_each_batch_and_restore() {
    let first = Arc::new(EventsOnly::default());
    let second = Arc::new(Recorder::default());
    let mut store = KvStore::new()
        .with_observer(first.clone())
        .with_observer(second.clone());
    run(&mut store, put("a", "12345"));
    run(&mut store, put("a", "1"));
    run(&mut store, KvCommand::Compact { revision: 2 });
    assert_eq!(
        *first.0.lock().unwrap(),
        [1, 2],
        "the first observer is kept"
    );
    assert_eq!(*second.revisions.lock().unwrap(), [1, 2]);
    let stats = second.stats.lock().unwrap().clone();
    assert_eq!(stats.len(), 3, "once per applied batch");
    assert_eq!((stats[1].bytes, stats[1].versions), (1 + 5 + 1 + 1, 2));
    assert_eq!((stats[2].bytes, stats[2].compact_revision), (2, 2));
    assert_eq!(stats[2], store.stats());

    let restored = store_with(vec![put("b", "1"), put("c", "1")]);
    store.restore(&mut &snapshot(&restored)[..]).unwrap();
    let last = *second.stats.lock().unwrap().last().unwrap();
    assert_eq!(last, restored.stats(), "a restore reports the new counters");
}

/// Records how many events each revision came with; wants them only while
/// `wanting` is set.
#[derive(Default)]
struct Picky {
    wanting: std::sync::atomic::AtomicBool,
    events_per_revision: Mutex<Vec<(u64, usize)>>,
}

impl Picky {
    fn want(&self, wanting: bool) {
        self.wanting
            .store(wanting, std::sync::atomic::Ordering::SeqCst);
    }

    fn heard(&self) -> Vec<(u64, usize)> {
        self.events_per_revision.lock().unwrap().clone()
    }
}

impl ChangeObserver for Picky {
    fn applied(&self, revision: u64, events: &[Event]) {
        self.events_per_revision
            .lock()
            .unwrap()
            .push((revision, events.len()));
    }
    fn restored(&self, _revision: u64, _compact_revision: u64) {}
    fn wants_events(&self) -> bool {
        self.wanting.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn events_are_built_only_while_an_observer_wants_them() {
    let picky = Arc::new(Picky::default());
    let mut store = KvStore::new().with_observer(picky.clone());
    run(&mut store, put("a", "1"));
    picky.want(true);
    run(&mut store, put("a", "2"));
    picky.want(false);
    run(&mut store, KvCommand::Delete { key: "a".into() });
    assert_eq!(
        picky.heard(),
        [(1, 0), (2, 1), (3, 0)],
        "every revision is told, with events only while wanted"
    );
}

#[test]
fn two_observers_get_events_if_either_wants_them() {
    let (first, second) = (Arc::new(Picky::default()), Arc::new(Picky::default()));
    let mut store = KvStore::new()
        .with_observer(first.clone())
        .with_observer(second.clone());
    run(&mut store, put("a", "1"));
    second.want(true);
    run(&mut store, put("b", "1"));
    second.want(false);
    first.want(true);
    run(&mut store, put("c", "1"));
    for picky in [&first, &second] {
        assert_eq!(picky.heard(), [(1, 0), (2, 1), (3, 1)]);
    }
}
