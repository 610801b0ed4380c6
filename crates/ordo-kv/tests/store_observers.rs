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
