//! The order of one revision's events (etcd's): the order its command wrote
//! them. A txn's come in the order of its operations (a nested txn's where
//! it stands, a range delete's keys in key order); a lease revocation's in
//! key order. The same order from the live feed (the observer), from
//! history (the changes query) and from a store restored from a snapshot;
//! a version 3 backup, which has no order, restores in key order.

#![allow(clippy::unwrap_used)]

mod store_support;

use std::sync::{Arc, Mutex};

use ordo::StateMachine;
use ordo_kv::store::{
    ChangeObserver, Event, EventKind, KeyRange, KvAnswer, KvCommand, KvQuery, KvStore,
};
use store_support::builders::{delete_op, grant, leased_put_op, put_op, run, run_txn, txn};
use store_support::{
    V2, end, header_v3, header_v4, key_record, key_record_v4_subs, put, snapshot, store_with,
};

/// Remembers every revision's events as `(revision, "put k" | "delete k")`.
#[derive(Default)]
struct Recorder {
    heard: Mutex<Vec<(u64, Vec<String>)>>,
}

impl ChangeObserver for Recorder {
    fn applied(&self, revision: u64, events: &[Event]) {
        self.heard
            .lock()
            .unwrap()
            .push((revision, events.iter().map(describe).collect()));
    }
    fn restored(&self, _revision: u64, _compact_revision: u64) {}
}

fn describe(event: &Event) -> String {
    let kind = match event.kind {
        EventKind::Put => "put",
        EventKind::Delete => "delete",
    };
    format!("{kind} {}", String::from_utf8_lossy(&event.kv.key))
}

/// Every event at `revision`, from history, described.
fn history_at(store: &KvStore, revision: u64) -> Vec<String> {
    let query = KvQuery::Changes {
        range: KeyRange::prefix(""),
        from_revision: revision,
        max_events: 0,
    };
    let KvAnswer::Changes(changes) = store.query(query) else {
        panic!("a changes query was refused");
    };
    changes
        .events
        .iter()
        .filter(|event| event.kv.mod_revision == revision)
        .map(describe)
        .collect()
}

/// Revision 1–3 write `c`, `x/1`, `x/2`; revision 4 is a txn writing, in
/// this order: `m`, `b`, a delete of `c`, a nested txn putting `z` then
/// `a`, a delete of the prefix `x/` (its keys in key order), `d`.
fn store_after_an_unordered_txn(observer: Option<Arc<Recorder>>) -> KvStore {
    let mut store = store_with(vec![put("c", "1"), put("x/2", "1"), put("x/1", "1")]);
    if let Some(observer) = observer {
        store = store.with_observer(observer);
    }
    let nested = txn(vec![], vec![put_op("z", "1"), put_op("a", "1")], vec![]);
    let KvCommand::Txn(nested) = nested else {
        unreachable!("txn builds a txn");
    };
    let answer = run_txn(
        &mut store,
        txn(
            vec![],
            vec![
                put_op("m", "1"),
                put_op("b", "1"),
                delete_op(KeyRange::single("c")),
                ordo_kv::store::RequestOp::Txn(nested),
                delete_op(KeyRange::prefix("x/")),
                put_op("d", "1"),
            ],
            vec![],
        ),
    );
    assert_eq!(answer.revision, 4);
    store
}

const TXN_ORDER: [&str; 8] = [
    "put m",
    "put b",
    "delete c",
    "put z",
    "put a",
    "delete x/1",
    "delete x/2",
    "put d",
];

#[test]
fn a_txns_events_come_in_the_order_of_its_operations_live_and_from_history() {
    let recorder = Arc::new(Recorder::default());
    let store = store_after_an_unordered_txn(Some(recorder.clone()));
    let heard = recorder.heard.lock().unwrap().clone();
    assert_eq!(heard, [(4, TXN_ORDER.map(String::from).to_vec())]);
    assert_eq!(history_at(&store, 4), TXN_ORDER);
}

#[test]
fn a_store_restored_from_a_snapshot_lists_a_revisions_events_in_the_same_order() {
    let store = store_after_an_unordered_txn(None);
    let mut restored = KvStore::new();
    restored.restore(&mut &snapshot(&store)[..]).unwrap();
    assert_eq!(history_at(&restored, 4), TXN_ORDER);
    assert_eq!(restored, store);
    // And once more through the restored store's own snapshot.
    let mut again = KvStore::new();
    again.restore(&mut &snapshot(&restored)[..]).unwrap();
    assert_eq!(history_at(&again, 4), TXN_ORDER);
}

#[test]
fn a_backup_records_each_versions_place_in_its_revision() {
    let mut store = KvStore::new();
    run_txn(
        &mut store,
        txn(vec![], vec![put_op("b", "1"), put_op("a", "2")], vec![]),
    );
    let mut expected = header_v4(1, 0, 1);
    key_record_v4_subs(&mut expected, b"a", &[(V2::Put(1, 1, 1, 0, b"2"), 1)]);
    key_record_v4_subs(&mut expected, b"b", &[(V2::Put(1, 1, 1, 0, b"1"), 0)]);
    end(&mut expected, 2);
    assert_eq!(snapshot(&store), expected);
}

#[test]
fn a_version_3_backup_restores_a_revisions_events_in_key_order() {
    // Revision 1 wrote `b` and `a`; version 3 did not record in which order.
    let mut bytes = header_v3(1, 0, 1);
    key_record(&mut bytes, b"a", &[V2::Put(1, 1, 1, 0, b"2")]);
    key_record(&mut bytes, b"b", &[V2::Put(1, 1, 1, 0, b"1")]);
    end(&mut bytes, 2);
    let mut store = KvStore::new();
    store.restore(&mut &bytes[..]).unwrap();
    assert_eq!(history_at(&store, 1), ["put a", "put b"]);
    let mut again = KvStore::new();
    again.restore(&mut &snapshot(&store)[..]).unwrap();
    assert_eq!(history_at(&again, 1), ["put a", "put b"], "and stays so");
}

#[test]
fn a_lease_revocation_deletes_its_keys_in_key_order() {
    let recorder = Arc::new(Recorder::default());
    let mut store = KvStore::new().with_observer(recorder.clone());
    let lease = grant(&mut store, 60);
    run_txn(
        &mut store,
        txn(
            vec![],
            vec![
                leased_put_op("z", "1", lease),
                leased_put_op("a", "1", lease),
            ],
            vec![],
        ),
    );
    run(&mut store, KvCommand::LeaseRevoke { id: lease });
    let heard = recorder.heard.lock().unwrap().clone();
    let expected = [
        (1, vec!["put z".to_string(), "put a".to_string()]),
        (2, vec!["delete a".to_string(), "delete z".to_string()]),
    ];
    assert_eq!(heard, expected);
    assert_eq!(history_at(&store, 2), ["delete a", "delete z"]);
}
