//! The store's rules, one test each: puts, compare-and-set, deletes, the
//! queries, the limits, and what `apply`, `snapshot` and `restore` promise.

#![allow(clippy::unwrap_used)]

mod store_support;

use bytes::Bytes;
use ordo::{Entry, StateMachine};
use ordo_kv::store::{
    KvAnswer, KvCommand, KvQuery, KvResponse, KvStore, MAX_KEY_BYTES, MAX_VALUE_BYTES, StoredValue,
};
fn key(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn put(store: &mut KvStore, k: &str, v: &str, if_revision: Option<u64>) -> KvResponse {
    store.apply_command(KvCommand::Put {
        key: key(k),
        value: key(v),
        if_revision,
    })
}

fn delete(store: &mut KvStore, k: &str) -> KvResponse {
    store.apply_command(KvCommand::Delete { key: key(k) })
}

fn list(store: &KvStore, prefix: &str, limit: usize) -> (Vec<String>, bool) {
    let KvAnswer::List {
        items,
        more,
        cluster_revision,
    } = store.query(KvQuery::List {
        prefix: key(prefix),
        limit,
    })
    else {
        panic!("a list query answered something else");
    };
    assert_eq!(cluster_revision, store.cluster_revision());
    let keys = items
        .iter()
        .map(|(k, _)| String::from_utf8(k.to_vec()).unwrap())
        .collect();
    (keys, more)
}

/// Live keys, live key and value bytes, and the cluster revision.
fn stats(store: &KvStore) -> (u64, u64, u64) {
    let KvAnswer::Stats(stats) = store.query(KvQuery::Stats) else {
        panic!("a stats query answered something else");
    };
    (stats.keys, stats.live_bytes, stats.cluster_revision)
}

/// A store whose next write would overflow the cluster revision.
fn saturated() -> KvStore {
    let mut store = KvStore::new();
    let backup = store_support::backup(u64::MAX, &[(b"a", b"1", u64::MAX)]);
    store.restore(&mut &backup[..]).unwrap();
    store
}

#[test]
fn a_new_store_is_empty_at_revision_zero() {
    let store = KvStore::new();
    assert_eq!(stats(&store), (0, 0, 0));
    assert!(store.is_empty());
}

#[test]
fn an_unconditional_put_takes_the_next_cluster_revision() {
    let mut store = KvStore::new();
    assert_eq!(
        put(&mut store, "a", "1", None),
        KvResponse::Written { revision: 1 }
    );
    assert_eq!(
        put(&mut store, "b", "2", None),
        KvResponse::Written { revision: 2 }
    );
    assert_eq!(
        put(&mut store, "a", "3", None),
        KvResponse::Written { revision: 3 }
    );
    assert_eq!(
        store.get(b"a"),
        Some(StoredValue {
            value: key("3"),
            revision: 3
        })
    );
    assert_eq!(
        store.get(b"b"),
        Some(StoredValue {
            value: key("2"),
            revision: 2
        })
    );
    assert_eq!(store.cluster_revision(), 3);
}

#[test]
fn a_conditional_put_succeeds_when_the_revision_matches() {
    let mut store = KvStore::new();
    put(&mut store, "a", "1", None);
    put(&mut store, "b", "1", None);
    assert_eq!(
        put(&mut store, "a", "2", Some(1)),
        KvResponse::Written { revision: 3 }
    );
    assert_eq!(
        store.get(b"a"),
        Some(StoredValue {
            value: key("2"),
            revision: 3
        })
    );
}

#[test]
fn a_conditional_put_that_fails_changes_nothing_and_reports_the_current_revision() {
    let mut store = KvStore::new();
    put(&mut store, "a", "1", None);
    put(&mut store, "b", "1", None);
    let before = store.clone();
    assert_eq!(
        put(&mut store, "a", "2", Some(2)),
        KvResponse::CompareFailed { current: 1 }
    );
    assert_eq!(
        put(&mut store, "a", "2", Some(0)),
        KvResponse::CompareFailed { current: 1 }
    );
    assert_eq!(
        put(&mut store, "z", "2", Some(1)),
        KvResponse::CompareFailed { current: 0 }
    );
    assert_eq!(store, before);
}

#[test]
fn if_revision_zero_means_the_key_must_not_exist() {
    let mut store = KvStore::new();
    assert_eq!(
        put(&mut store, "a", "1", Some(0)),
        KvResponse::Written { revision: 1 }
    );
    assert_eq!(
        put(&mut store, "a", "2", Some(0)),
        KvResponse::CompareFailed { current: 1 }
    );
    delete(&mut store, "a");
    assert_eq!(
        put(&mut store, "a", "3", Some(0)),
        KvResponse::Written { revision: 3 }
    );
}

#[test]
fn deleting_a_present_key_removes_it_and_takes_the_next_revision() {
    let mut store = KvStore::new();
    put(&mut store, "a", "1", None);
    assert_eq!(
        delete(&mut store, "a"),
        KvResponse::Deleted {
            deleted: true,
            revision: 2
        }
    );
    assert_eq!(store.get(b"a"), None);
    assert_eq!(stats(&store), (0, 0, 2));
}

#[test]
fn deleting_an_absent_key_changes_nothing() {
    let mut store = KvStore::new();
    put(&mut store, "a", "1", None);
    let before = store.clone();
    assert_eq!(
        delete(&mut store, "b"),
        KvResponse::Deleted {
            deleted: false,
            revision: 1
        }
    );
    assert_eq!(store, before);
}

#[test]
fn get_answers_the_value_and_the_cluster_revision() {
    let mut store = KvStore::new();
    put(&mut store, "a", "1", None);
    put(&mut store, "b", "2", None);
    let get = |k: &str| store.query(KvQuery::Get { key: key(k) });
    let a = StoredValue {
        value: key("1"),
        revision: 1,
    };
    assert_eq!(
        get("a"),
        KvAnswer::Get {
            value: Some(a),
            cluster_revision: 2
        }
    );
    assert_eq!(
        get("c"),
        KvAnswer::Get {
            value: None,
            cluster_revision: 2
        }
    );
}

#[test]
fn list_returns_keys_with_the_prefix_in_byte_order_up_to_the_limit() {
    let mut store = KvStore::new();
    for k in ["b/2", "a", "b/1", "b", "b/3", "c", "b0"] {
        put(&mut store, k, "v", None);
    }
    assert_eq!(
        list(&store, "b/", 10),
        (vec!["b/1".into(), "b/2".into(), "b/3".into()], false)
    );
    assert_eq!(
        list(&store, "b/", 2),
        (vec!["b/1".into(), "b/2".into()], true)
    );
    assert!(!list(&store, "b/", 3).1, "exactly the limit: nothing more");
    assert_eq!(list(&store, "b/", 0), (vec![], true));
    assert_eq!(list(&store, "x", 0), (vec![], false));
    assert_eq!(list(&store, "b", 10).0, ["b", "b/1", "b/2", "b/3", "b0"]);
    assert_eq!(
        list(&store, "", 3),
        (vec!["a".into(), "b".into(), "b/1".into()], true)
    );
    assert!(!list(&store, "", 7).1);
}

#[test]
fn list_handles_prefixes_of_high_bytes() {
    let mut store = KvStore::new();
    for k in [&b"\xff"[..], b"\xff\xff", b"\xff\x00", b"\xfe\xff", b""] {
        let command = KvCommand::Put {
            key: Bytes::copy_from_slice(k),
            value: key("v"),
            if_revision: None,
        };
        store.apply_command(command);
    }
    let KvAnswer::List { items, more, .. } = store.query(KvQuery::List {
        prefix: Bytes::from_static(b"\xff"),
        limit: 10,
    }) else {
        panic!("a list query answered something else");
    };
    let keys: Vec<&[u8]> = items.iter().map(|(k, _)| &k[..]).collect();
    assert_eq!(keys, [&b"\xff"[..], b"\xff\x00", b"\xff\xff"]);
    assert!(!more);
}

#[test]
fn stats_bytes_follow_every_write() {
    let mut store = KvStore::new();
    put(&mut store, "ab", "123", None);
    assert_eq!(stats(&store), (1, 5, 1));
    put(&mut store, "ab", "1", None);
    assert_eq!(stats(&store), (1, 3, 2));
    put(&mut store, "c", "", None);
    assert_eq!(stats(&store), (2, 4, 3));
    put(&mut store, "c", "99", Some(7));
    assert_eq!(stats(&store), (2, 4, 3));
    delete(&mut store, "ab");
    assert_eq!(stats(&store), (1, 1, 4));
    delete(&mut store, "ab");
    assert_eq!(stats(&store), (1, 1, 4));
}

#[test]
fn apply_answers_each_entry_in_order() {
    let mut store = KvStore::new();
    let commands = vec![
        KvCommand::Put {
            key: key("a"),
            value: key("1"),
            if_revision: None,
        },
        KvCommand::Delete { key: key("b") },
        KvCommand::Put {
            key: key("a"),
            value: key("2"),
            if_revision: Some(5),
        },
        KvCommand::Delete { key: key("a") },
    ];
    let entries = commands
        .into_iter()
        .zip(10..)
        .map(|(command, index)| Entry {
            index,
            term: 2,
            command,
        })
        .collect();
    assert_eq!(
        store.apply(entries),
        [
            KvResponse::Written { revision: 1 },
            KvResponse::Deleted {
                deleted: false,
                revision: 1
            },
            KvResponse::CompareFailed { current: 1 },
            KvResponse::Deleted {
                deleted: true,
                revision: 2
            },
        ]
    );
    assert!(store.apply(Vec::new()).is_empty());
}

#[test]
fn oversized_puts_are_refused_without_a_change() {
    let mut store = KvStore::new();
    put(&mut store, "a", "1", None);
    let before = store.clone();
    let long_key = Bytes::from(vec![b'k'; MAX_KEY_BYTES as usize + 1]);
    let long_value = Bytes::from(vec![b'v'; MAX_VALUE_BYTES as usize + 1]);
    let refused = [
        (
            KvCommand::Put {
                key: long_key,
                value: key("v"),
                if_revision: None,
            },
            0,
        ),
        (
            KvCommand::Put {
                key: key("a"),
                value: long_value,
                if_revision: Some(1),
            },
            1,
        ),
    ];
    for (command, current) in refused {
        assert_eq!(
            store.apply_command(command),
            KvResponse::CompareFailed { current }
        );
    }
    assert_eq!(store, before);
}

#[test]
fn keys_and_values_at_the_limits_are_accepted_and_round_trip() {
    let mut store = KvStore::new();
    let long_key = Bytes::from(vec![b'k'; MAX_KEY_BYTES as usize]);
    let long_value = Bytes::from(vec![b'v'; MAX_VALUE_BYTES as usize]);
    let command = KvCommand::Put {
        key: long_key,
        value: long_value,
        if_revision: None,
    };
    assert_eq!(
        store.apply_command(command),
        KvResponse::Written { revision: 1 }
    );
    let mut restored = KvStore::new();
    restored.restore(&mut &store.backup()[..]).unwrap();
    assert_eq!(restored, store);
}

#[test]
fn no_write_overflows_the_cluster_revision() {
    let mut store = saturated();
    let before = store.clone();
    assert_eq!(
        put(&mut store, "b", "2", None),
        KvResponse::CompareFailed { current: 0 }
    );
    assert_eq!(
        delete(&mut store, "a"),
        KvResponse::Deleted {
            deleted: false,
            revision: u64::MAX
        }
    );
    assert_eq!(store, before);
}

#[test]
fn backup_and_the_snapshot_write_the_same_bytes() {
    let mut store = KvStore::new();
    put(&mut store, "a", "1", None);
    put(&mut store, "b", "2", None);
    let mut snapshot = Vec::new();
    store.snapshot(&mut snapshot).unwrap();
    assert_eq!(store.backup(), Bytes::from(snapshot));
}

#[test]
fn restore_replaces_the_whole_state() {
    let mut source = KvStore::new();
    put(&mut source, "a", "1", None);
    put(&mut source, "b", "22", None);
    let mut target = KvStore::new();
    put(&mut target, "z", "old", None);
    target.restore(&mut &source.backup()[..]).unwrap();
    assert_eq!(target, source);
    assert_eq!(stats(&target), (2, 5, 2));
}

/// As etcd's HashKV: a hash at or below the compact revision is refused
/// (the versions the compaction dropped would have been in it), one above
/// it answers, and 0 hashes the current revision. Hashed at the compact
/// revision before.
#[test]
fn a_hash_at_or_below_the_compact_revision_is_refused() {
    let mut store = KvStore::new();
    put(&mut store, "a", "1", None);
    put(&mut store, "a", "2", None);
    put(&mut store, "a", "3", None);
    store.apply_command(KvCommand::Compact { revision: 2 });
    for revision in [1, 2] {
        assert_eq!(
            store.query(KvQuery::Hash { revision }),
            KvAnswer::Refused(ordo_kv::store::KvError::Compacted {
                revision,
                compact_revision: 2
            })
        );
    }
    let KvAnswer::Hash(current) = store.query(KvQuery::Hash { revision: 0 }) else {
        panic!("a hash query answered something else");
    };
    assert_eq!((current.revision, current.compact_revision), (3, 2));
    assert_eq!(
        store.query(KvQuery::Hash { revision: 3 }),
        KvAnswer::Hash(current)
    );
}
