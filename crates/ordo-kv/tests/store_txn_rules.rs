//! The txn rules (etcd's), one behaviour per test, tables where the rule
//! has cases.

#![allow(clippy::unwrap_used)]

mod store_support;

use ordo_kv::store::{
    CompareResult::{Equal, Greater, Less, NotEqual},
    CompareTarget, KeyRange, KvCommand, KvError, KvStore, PutRequest, RangeRequest, RequestOp,
    ResponseOp, TxnRequest,
};
use store_support::builders::{
    compare, delete_op, grant, leased_put_op, pairs, put_op, range_op, read_at, refused, run,
    run_txn, txn,
};
use store_support::{put, snapshot, store_with};

#[test]
fn a_txn_with_several_writes_takes_one_revision() {
    let mut store = store_with(vec![put("c", "3")]);
    let answer = run_txn(
        &mut store,
        txn(
            vec![],
            vec![
                put_op("a", "1"),
                put_op("b", "2"),
                delete_op(KeyRange::single("c")),
            ],
            vec![],
        ),
    );
    assert!(answer.succeeded);
    assert_eq!(answer.revision, 2);
    let kvs = read_at(&store, KeyRange::prefix(""), 0).unwrap();
    assert_eq!(
        pairs(&kvs),
        [("a".into(), "1".into()), ("b".into(), "2".into())]
    );
    assert!(
        kvs.iter()
            .all(|kv| kv.mod_revision == 2 && kv.create_revision == 2)
    );
    assert_eq!(store.cluster_revision(), 2);
}

#[test]
fn txns_that_change_nothing_take_no_revision() {
    let cases: Vec<(&str, KvCommand)> = vec![
        (
            "read only",
            txn(vec![], vec![range_op(KeyRange::prefix(""))], vec![]),
        ),
        ("empty", txn(vec![], vec![], vec![])),
        (
            "failed compare, no failure ops",
            txn(
                vec![compare("a", CompareTarget::Version(9), Equal)],
                vec![put_op("a", "x")],
                vec![],
            ),
        ),
        (
            "delete of nothing",
            txn(vec![], vec![delete_op(KeyRange::prefix("zz"))], vec![]),
        ),
    ];
    for (name, command) in cases {
        let mut store = store_with(vec![put("a", "1")]);
        let before = snapshot(&store);
        let answer = run_txn(&mut store, command);
        assert_eq!(answer.revision, 1, "{name}");
        assert_eq!(snapshot(&store), before, "{name}");
    }
}

#[test]
fn compares_on_an_absent_key_see_zeros_and_no_value() {
    let cases = [
        (CompareTarget::Version(0), Equal, true),
        (CompareTarget::CreateRevision(0), Equal, true),
        (CompareTarget::ModRevision(1), Less, true),
        (CompareTarget::Lease(0), Equal, true),
        (CompareTarget::Version(0), Greater, false),
        (CompareTarget::Value("".into()), Equal, false),
        (CompareTarget::Value("x".into()), NotEqual, false),
    ];
    for (target, result, holds) in cases {
        let mut store = store_with(vec![put("other", "1")]);
        let compare = compare("absent", target.clone(), result);
        let answer = run_txn(&mut store, txn(vec![compare], vec![], vec![]));
        assert_eq!(answer.succeeded, holds, "{target:?} {result:?}");
    }
}

#[test]
fn compares_on_a_present_key_read_its_fields() {
    let mut store = store_with(vec![put("k", "v1"), put("k", "v2")]);
    let cases = [
        (CompareTarget::Value("v2".into()), Equal, true),
        (CompareTarget::Value("v1".into()), Greater, true),
        (CompareTarget::Version(2), Equal, true),
        (CompareTarget::CreateRevision(1), Equal, true),
        (CompareTarget::ModRevision(2), Equal, true),
        (CompareTarget::ModRevision(2), NotEqual, false),
        (CompareTarget::Lease(0), Equal, true),
    ];
    for (target, result, holds) in cases {
        let compare = compare("k", target.clone(), result);
        let answer = run_txn(&mut store, txn(vec![compare], vec![], vec![]));
        assert_eq!(answer.succeeded, holds, "{target:?} {result:?}");
    }
}

#[test]
fn a_compare_over_a_range_holds_only_if_every_key_holds() {
    let mut store = store_with(vec![put("p/a", "1"), put("p/b", "1"), put("q", "2")]);
    let over_prefix = |value: &str, result| {
        let range = KeyRange::prefix("p/");
        ordo_kv::store::Compare {
            target: CompareTarget::Value(value.to_owned().into()),
            result,
            key: range.key,
            range_end: range.range_end,
        }
    };
    assert!(
        run_txn(
            &mut store,
            txn(vec![over_prefix("1", Equal)], vec![], vec![])
        )
        .succeeded
    );
    run(&mut store, put("p/b", "2"));
    assert!(
        !run_txn(
            &mut store,
            txn(vec![over_prefix("1", Equal)], vec![], vec![])
        )
        .succeeded
    );
}

#[test]
fn the_failure_branch_runs_when_a_compare_fails() {
    let mut store = store_with(vec![put("lock", "holder")]);
    let claim = txn(
        vec![compare("lock", CompareTarget::CreateRevision(0), Equal)],
        vec![put_op("lock", "me")],
        vec![range_op(KeyRange::single("lock"))],
    );
    let answer = run_txn(&mut store, claim);
    assert!(!answer.succeeded);
    let [ResponseOp::Range(range)] = &answer.responses[..] else {
        panic!("{answer:?}")
    };
    assert_eq!(pairs(&range.kvs), [("lock".into(), "holder".into())]);
}

#[test]
fn later_ops_see_earlier_writes_at_the_txn_revision() {
    let mut store = store_with(vec![put("a", "old")]);
    let answer = run_txn(
        &mut store,
        txn(
            vec![],
            vec![put_op("a", "new"), range_op(KeyRange::single("a"))],
            vec![],
        ),
    );
    let ResponseOp::Range(range) = &answer.responses[1] else {
        panic!("{answer:?}")
    };
    assert_eq!(pairs(&range.kvs), [("a".into(), "new".into())]);
    assert_eq!((range.kvs[0].mod_revision, range.revision), (2, 2));
}

#[test]
fn duplicate_keys_in_a_branch_refuse_the_whole_txn() {
    let nested = |success, failure| {
        RequestOp::Txn(TxnRequest {
            compare: vec![],
            success,
            failure,
        })
    };
    let cases: Vec<(&str, KvCommand)> = vec![
        (
            "two puts",
            txn(vec![], vec![put_op("a", "1"), put_op("a", "2")], vec![]),
        ),
        (
            "put inside a delete range",
            txn(
                vec![],
                vec![delete_op(KeyRange::prefix("a")), put_op("ab", "1")],
                vec![],
            ),
        ),
        (
            "put before a delete of it",
            txn(
                vec![],
                vec![put_op("a", "1"), delete_op(KeyRange::single("a"))],
                vec![],
            ),
        ),
        (
            "in the branch that does not run",
            txn(vec![], vec![], vec![put_op("a", "1"), put_op("a", "2")]),
        ),
        (
            "nested put of an outer key",
            txn(
                vec![],
                vec![put_op("a", "1"), nested(vec![put_op("a", "2")], vec![])],
                vec![],
            ),
        ),
        (
            "nested delete over an outer put",
            txn(
                vec![],
                vec![
                    put_op("a", "1"),
                    nested(vec![], vec![delete_op(KeyRange::single("a"))]),
                ],
                vec![],
            ),
        ),
    ];
    for (name, command) in cases {
        let mut store = store_with(vec![put("a", "0")]);
        let before = snapshot(&store);
        assert!(
            matches!(refused(&mut store, command), KvError::DuplicateKey { .. }),
            "{name}"
        );
        assert_eq!(snapshot(&store), before, "{name}");
    }
}

#[test]
fn a_nested_txn_may_put_one_key_in_both_branches() {
    let nested = RequestOp::Txn(TxnRequest {
        compare: vec![],
        success: vec![put_op("a", "s")],
        failure: vec![put_op("a", "f")],
    });
    let mut store = KvStore::new();
    let answer = run_txn(
        &mut store,
        txn(vec![], vec![nested, put_op("b", "1")], vec![]),
    );
    assert_eq!(answer.revision, 1);
    assert_eq!(
        pairs(&read_at(&store, KeyRange::prefix(""), 0).unwrap()),
        [("a".into(), "s".into()), ("b".into(), "1".into())]
    );
}

#[test]
fn nested_compares_see_the_state_before_the_txn() {
    let nested = RequestOp::Txn(TxnRequest {
        compare: vec![compare("a", CompareTarget::Version(0), Equal)],
        success: vec![put_op("seen", "absent")],
        failure: vec![put_op("seen", "present")],
    });
    let mut store = KvStore::new();
    run_txn(
        &mut store,
        txn(vec![], vec![put_op("a", "1"), nested], vec![]),
    );
    assert_eq!(store.get(b"seen").unwrap().value, "absent");
}

#[test]
fn bad_puts_and_reads_refuse_the_whole_txn() {
    let ignoring = |ignore_value, ignore_lease| {
        RequestOp::Put(PutRequest {
            key: "absent".into(),
            ignore_value,
            ignore_lease,
            ..PutRequest::default()
        })
    };
    let at = |revision| {
        RequestOp::Range(RangeRequest {
            revision,
            ..RangeRequest::new(KeyRange::single("a"))
        })
    };
    let too_long = RequestOp::Put(PutRequest {
        key: vec![b'k'; ordo_kv::store::MAX_KEY_BYTES as usize + 1].into(),
        ..PutRequest::default()
    });
    type Check = fn(&KvError) -> bool;
    let cases: Vec<(&str, RequestOp, Check)> = vec![
        ("unknown lease", leased_put_op("a", "1", 42), |e| {
            matches!(e, KvError::LeaseNotFound { id: 42 })
        }),
        (
            "ignore_value on an absent key",
            ignoring(true, false),
            |e| matches!(e, KvError::KeyNotFound { .. }),
        ),
        (
            "ignore_lease on an absent key",
            ignoring(false, true),
            |e| matches!(e, KvError::KeyNotFound { .. }),
        ),
        ("a future revision", at(99), |e| {
            matches!(
                e,
                KvError::FutureRevision {
                    revision: 99,
                    current_revision: 3
                }
            )
        }),
        ("a compacted revision", at(1), |e| {
            matches!(
                e,
                KvError::Compacted {
                    revision: 1,
                    compact_revision: 2
                }
            )
        }),
        ("a key over the limit", too_long, |e| {
            matches!(e, KvError::KeyTooLong { .. })
        }),
    ];
    for (name, op, expected) in cases {
        let mut store = store_with(vec![
            put("a", "1"),
            put("a", "2"),
            put("b", "1"),
            KvCommand::Compact { revision: 2 },
        ]);
        let before = snapshot(&store);
        let error = refused(
            &mut store,
            txn(vec![], vec![put_op("b", "written first"), op], vec![]),
        );
        assert!(expected(&error), "{name}: {error:?}");
        assert_eq!(snapshot(&store), before, "{name}");
    }
}

#[test]
fn ignore_value_and_ignore_lease_keep_what_the_key_has() {
    let mut store = KvStore::new();
    let lease = grant(&mut store, 10);
    run_txn(
        &mut store,
        txn(vec![], vec![leased_put_op("k", "v", lease)], vec![]),
    );
    let keep_value = RequestOp::Put(PutRequest {
        key: "k".into(),
        ignore_value: true,
        ignore_lease: true,
        ..PutRequest::default()
    });
    run_txn(&mut store, txn(vec![], vec![keep_value], vec![]));
    let kv = &read_at(&store, KeyRange::single("k"), 0).unwrap()[0];
    assert_eq!(
        (kv.value.as_ref(), kv.lease, kv.version),
        (&b"v"[..], lease, 2)
    );
}

#[test]
fn version_counts_writes_since_creation_and_a_delete_ends_a_generation() {
    let mut store = store_with(vec![
        put("k", "1"),
        put("k", "2"),
        KvCommand::Delete { key: "k".into() },
        put("k", "3"),
    ]);
    let kv = &read_at(&store, KeyRange::single("k"), 0).unwrap()[0];
    assert_eq!((kv.version, kv.create_revision, kv.mod_revision), (1, 4, 4));
    let old = &read_at(&store, KeyRange::single("k"), 2).unwrap()[0];
    assert_eq!(
        (old.version, old.create_revision, old.mod_revision),
        (2, 1, 2)
    );
    assert_eq!(read_at(&store, KeyRange::single("k"), 3).unwrap(), []);
    run(&mut store, put("k", "4"));
    assert_eq!(
        read_at(&store, KeyRange::single("k"), 0).unwrap()[0].version,
        2
    );
}

/// etcd's "key is not provided": every write or compare of the empty key is
/// refused whole, with nothing changed; a range read from the empty key is
/// not a write and still reads.
#[test]
fn the_empty_key_is_refused_in_puts_deletes_and_compares() {
    let nested = |op| {
        let inner = TxnRequest {
            success: vec![op],
            ..TxnRequest::default()
        };
        txn(vec![], vec![RequestOp::Txn(inner)], vec![])
    };
    let cases: Vec<(&str, KvCommand)> = vec![
        ("a legacy put", put("", "v")),
        ("a legacy delete", KvCommand::Delete { key: "".into() }),
        ("a txn put", txn(vec![], vec![put_op("", "v")], vec![])),
        (
            "a txn put in the branch not taken",
            txn(vec![], vec![put_op("a", "v")], vec![put_op("", "v")]),
        ),
        (
            "a txn delete",
            txn(vec![], vec![delete_op(KeyRange::single(""))], vec![]),
        ),
        (
            "a txn delete of every key",
            txn(
                vec![],
                vec![delete_op(KeyRange {
                    key: "".into(),
                    range_end: "\0".into(),
                })],
                vec![],
            ),
        ),
        (
            "a compare",
            txn(
                vec![compare("", CompareTarget::Version(0), Equal)],
                vec![put_op("a", "v")],
                vec![],
            ),
        ),
        ("a nested put", nested(put_op("", "v"))),
    ];
    for (name, command) in cases {
        let mut store = store_with(vec![put("a", "1")]);
        let before = snapshot(&store);
        assert_eq!(refused(&mut store, command), KvError::EmptyKey, "{name}");
        assert_eq!(snapshot(&store), before, "{name}: the store changed");
    }
    let mut store = store_with(vec![put("a", "1")]);
    let every_key = KeyRange {
        key: "".into(),
        range_end: "\0".into(),
    };
    let read = run_txn(&mut store, txn(vec![], vec![range_op(every_key)], vec![]));
    assert!(read.succeeded);
}
