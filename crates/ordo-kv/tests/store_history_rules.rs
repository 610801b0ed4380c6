//! Compaction, reads at past revisions, the changes query, the observer and
//! range options.

#![allow(clippy::unwrap_used)]

mod store_support;

use std::sync::{Arc, Mutex};

use ordo::StateMachine;
use ordo_kv::store::{
    ChangeObserver, Event, EventKind, KeyRange, KvAnswer, KvCommand, KvError, KvQuery, KvResponse,
    KvStore, RangeRequest, SortOrder, SortTarget,
};
use store_support::builders::{delete_op, pairs, put_op, read_at, refused, run, run_txn, txn};
use store_support::{put, snapshot, store_with};

/// Revisions: 1 a=1, 2 a=2, 3 b=1, 4 delete a, 5 c=1.
fn history() -> KvStore {
    store_with(vec![
        put("a", "1"),
        put("a", "2"),
        put("b", "1"),
        KvCommand::Delete { key: "a".into() },
        put("c", "1"),
    ])
}

fn changes(
    store: &KvStore,
    range: KeyRange,
    from_revision: u64,
    max_events: usize,
) -> Result<ordo_kv::store::Changes, KvError> {
    match store.query(KvQuery::Changes {
        range,
        from_revision,
        max_events,
    }) {
        KvAnswer::Changes(changes) => Ok(changes),
        KvAnswer::Refused(error) => Err(error),
        other => panic!("{other:?}"),
    }
}

#[test]
fn reads_at_past_revisions_see_that_revision() {
    let store = history();
    let expected: [&[(&str, &str)]; 6] = [
        &[],
        &[("a", "1")],
        &[("a", "2")],
        &[("a", "2"), ("b", "1")],
        &[("b", "1")],
        &[("b", "1"), ("c", "1")],
    ];
    for (revision, expected) in expected.iter().enumerate().skip(1) {
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        assert_eq!(
            pairs(&read_at(&store, KeyRange::prefix(""), revision as u64).unwrap()),
            expected,
            "revision {revision}"
        );
    }
}

#[test]
fn compaction_refuses_bad_revisions_and_then_reads_below_it() {
    let mut store = history();
    assert_eq!(
        refused(&mut store, KvCommand::Compact { revision: 6 }),
        KvError::FutureRevision {
            revision: 6,
            current_revision: 5
        }
    );
    assert_eq!(
        run(&mut store, KvCommand::Compact { revision: 3 }),
        KvResponse::Compacted { revision: 3 }
    );
    assert_eq!(
        refused(&mut store, KvCommand::Compact { revision: 3 }),
        KvError::Compacted {
            revision: 3,
            compact_revision: 3
        }
    );
    assert_eq!(
        read_at(&store, KeyRange::prefix(""), 2),
        Err(KvError::Compacted {
            revision: 2,
            compact_revision: 3
        })
    );
    assert_eq!(
        pairs(&read_at(&store, KeyRange::prefix(""), 3).unwrap()),
        [("a".into(), "2".into()), ("b".into(), "1".into())]
    );
    assert_eq!(read_at(&store, KeyRange::prefix(""), 4).unwrap().len(), 1);
}

#[test]
fn compaction_drops_unneeded_versions_and_forgets_deleted_keys() {
    let mut store = history();
    assert_eq!((store.stats().versions, store.stats().bytes), (5, 9));
    run(&mut store, KvCommand::Compact { revision: 4 });
    // a: its versions up to 4 end in a tombstone: forgotten. b, c: one each.
    assert_eq!(
        (
            store.stats().versions,
            store.stats().bytes,
            store.stats().keys
        ),
        (2, 4, 2)
    );
    let restored = {
        let mut restored = KvStore::new();
        restored.restore(&mut &snapshot(&store)[..]).unwrap();
        restored
    };
    assert_eq!(restored, store);
}

#[test]
fn changes_list_events_in_revision_order_with_previous_kvs() {
    let store = history();
    let all = changes(&store, KeyRange::single("a"), 2, 0).unwrap();
    assert_eq!(all.events.len(), 2);
    assert_eq!((all.next_revision, all.current_revision), (6, 5));
    let Event { kind, kv, prev_kv } = &all.events[1];
    assert_eq!(*kind, EventKind::Delete);
    assert_eq!(
        (
            kv.key.as_ref(),
            kv.mod_revision,
            kv.version,
            kv.create_revision
        ),
        (&b"a"[..], 4, 0, 0)
    );
    assert_eq!(prev_kv.as_ref().unwrap().value, "2");
    assert_eq!(all.events[0].prev_kv.as_ref().unwrap().value, "1");
}

#[test]
fn changes_pages_never_split_a_revision() {
    let mut store = history();
    run_txn(
        &mut store,
        txn(
            vec![],
            vec![
                put_op("x", "1"),
                put_op("y", "1"),
                delete_op(KeyRange::single("b")),
            ],
            vec![],
        ),
    );
    let first = changes(&store, KeyRange::prefix(""), 5, 2).unwrap();
    assert_eq!(first.events.len(), 1);
    assert_eq!(first.next_revision, 6);
    let second = changes(&store, KeyRange::prefix(""), 6, 1).unwrap();
    let keys: Vec<_> = second
        .events
        .iter()
        .map(|event| event.kv.key.clone())
        .collect();
    assert_eq!(
        keys,
        ["x", "y", "b"],
        "in the order of the txn's operations"
    );
    assert_eq!(second.next_revision, 7);
}

#[test]
fn changes_from_the_compact_revision_or_before_are_refused() {
    let mut store = history();
    run(&mut store, KvCommand::Compact { revision: 3 });
    assert_eq!(
        changes(&store, KeyRange::prefix(""), 3, 0),
        Err(KvError::Compacted {
            revision: 3,
            compact_revision: 3
        })
    );
    let rest = changes(&store, KeyRange::prefix(""), 4, 0).unwrap();
    assert_eq!(rest.events.len(), 2);
    assert_eq!(rest.events[0].prev_kv.as_ref().unwrap().value, "2");
}

#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(u64, Vec<Event>)>>,
    restores: Mutex<Vec<(u64, u64)>>,
}

impl ChangeObserver for Recorder {
    fn applied(&self, revision: u64, events: &[Event]) {
        self.calls.lock().unwrap().push((revision, events.to_vec()));
    }
    fn restored(&self, revision: u64, compact_revision: u64) {
        self.restores
            .lock()
            .unwrap()
            .push((revision, compact_revision));
    }
}

#[test]
fn the_observer_hears_each_changing_revision_once_and_each_restore() {
    let recorder = Arc::new(Recorder::default());
    let mut store = KvStore::new().with_observer(recorder.clone());
    run(&mut store, put("a", "1"));
    run(&mut store, KvCommand::Delete { key: "zz".into() });
    run_txn(
        &mut store,
        txn(vec![], vec![put_op("b", "1"), put_op("a", "2")], vec![]),
    );
    let calls = recorder.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].0, 2);
    let keys: Vec<_> = calls[1]
        .1
        .iter()
        .map(|event| event.kv.key.clone())
        .collect();
    assert_eq!(keys, ["b", "a"], "in the order of the txn's operations");
    assert_eq!(calls[1].1[1].prev_kv.as_ref().unwrap().value, "1");
    assert_eq!(
        changes(&store, KeyRange::prefix(""), 2, 0).unwrap().events,
        calls[1].1
    );
    let bytes = snapshot(&history());
    store.restore(&mut &bytes[..]).unwrap();
    assert_eq!(*recorder.restores.lock().unwrap(), [(5, 0)]);
    assert_eq!(store, history(), "equality ignores the observer");
}

#[test]
fn range_options_follow_etcd() {
    let store = store_with(vec![
        put("k1", "ccc"),
        put("k2", "a"),
        put("k3", "bb"),
        put("k1", "d"),
    ]);
    let read = |request: RangeRequest| match store.query(KvQuery::Range(request)) {
        KvAnswer::Range(response) => response,
        other => panic!("{other:?}"),
    };
    let all = || RangeRequest::new(KeyRange::prefix("k"));
    let limited = read(RangeRequest { limit: 2, ..all() });
    assert_eq!(
        (
            limited.kvs.len(),
            limited.more,
            limited.count,
            limited.revision
        ),
        (2, true, 3, 4)
    );
    let capped = read(RangeRequest {
        max_bytes: 1,
        ..all()
    });
    assert_eq!((capped.kvs.len(), capped.more), (1, true));
    let capped = read(RangeRequest {
        max_bytes: 6,
        ..all()
    });
    assert_eq!((capped.kvs.len(), capped.more), (2, true));
    let counted = read(RangeRequest {
        count_only: true,
        ..all()
    });
    assert_eq!((counted.kvs.len(), counted.count), (0, 3));
    let keys = read(RangeRequest {
        keys_only: true,
        ..all()
    });
    assert!(keys.kvs.iter().all(|kv| kv.value.is_empty()));
    let by_value = read(RangeRequest {
        sort_target: SortTarget::Value,
        sort_order: SortOrder::Descend,
        ..all()
    });
    assert_eq!(pairs(&by_value.kvs)[0], ("k1".into(), "d".into()));
    let descending = read(RangeRequest {
        sort_order: SortOrder::Descend,
        limit: 1,
        ..all()
    });
    assert_eq!(pairs(&descending.kvs), [("k3".into(), "bb".into())]);
    let recent = read(RangeRequest {
        min_mod_revision: 3,
        ..all()
    });
    assert_eq!((recent.kvs.len(), recent.count), (2, 3));
    let created_early = read(RangeRequest {
        max_create_revision: 1,
        ..all()
    });
    assert_eq!(pairs(&created_early.kvs), [("k1".into(), "d".into())]);
}

#[test]
fn key_range_constructors_follow_etcd() {
    assert!(KeyRange::prefix("a").contains(b"a\xff\xff") && !KeyRange::prefix("a").contains(b"b"));
    assert_eq!(KeyRange::prefix(&b"a\xff"[..]).range_end, "b");
    assert_eq!(KeyRange::prefix(&b"\xff\xff"[..]).range_end, &[0][..]);
    assert_eq!(KeyRange::prefix("").range_end, &[0][..]);
    assert!(KeyRange::from_key("m").contains(b"\xff") && !KeyRange::from_key("m").contains(b"l"));
    assert!(KeyRange::single("a").contains(b"a") && !KeyRange::single("a").contains(b"ab"));
    let backwards = KeyRange {
        key: "b".into(),
        range_end: "a".into(),
    };
    assert!(!backwards.contains(b"a") && !backwards.contains(b"b"));
    assert_eq!(read_at(&history(), backwards, 0).unwrap(), []);
}
