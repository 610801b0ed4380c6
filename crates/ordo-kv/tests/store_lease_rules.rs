//! The replicated lease rules: ids, attaching and detaching keys, and
//! revocation deleting every attached key at one revision.

#![allow(clippy::unwrap_used)]

mod store_support;

use ordo::StateMachine;
use ordo_kv::store::{
    KeyRange, KvAnswer, KvCommand, KvError, KvQuery, KvResponse, KvStore, LeaseInfo, PutRequest,
    RequestOp,
};
use store_support::builders::{grant, leased_put_op, put_op, read_at, refused, run, run_txn, txn};
use store_support::{put, snapshot};

fn keys_of(store: &KvStore, id: i64) -> Vec<String> {
    match store.query(KvQuery::Lease { id }) {
        KvAnswer::Lease(LeaseInfo { keys, .. }) => keys
            .iter()
            .map(|key| String::from_utf8_lossy(key).into_owned())
            .collect(),
        other => panic!("lease {id}: {other:?}"),
    }
}

#[test]
fn ids_are_assigned_in_order_and_never_reused() {
    let mut store = KvStore::new();
    assert_eq!(grant(&mut store, 10), 1);
    assert_eq!(
        run(&mut store, KvCommand::LeaseGrant { id: 5, ttl: 10 }),
        KvResponse::LeaseGranted { id: 5, ttl: 10 }
    );
    assert_eq!(grant(&mut store, 10), 6);
    run(&mut store, KvCommand::LeaseRevoke { id: 6 });
    assert_eq!(grant(&mut store, 10), 7);
    assert_eq!(
        store.query(KvQuery::Leases),
        KvAnswer::Leases(vec![(1, 10), (5, 10), (7, 10)])
    );
}

/// The node builds its store with `Default`: a picked id must still be
/// positive (0 means "no lease" in puts and answers).
#[test]
fn a_default_store_picks_positive_ids() {
    let mut store = KvStore::default();
    assert_eq!(grant(&mut store, 10), 1);
    assert_eq!(grant(&mut store, 10), 2);
}

#[test]
fn bad_grants_and_revocations_are_refused_without_a_change() {
    let cases: Vec<(&str, KvCommand, KvError)> = vec![
        (
            "an existing id",
            KvCommand::LeaseGrant { id: 1, ttl: 5 },
            KvError::LeaseExists { id: 1 },
        ),
        (
            "a negative id",
            KvCommand::LeaseGrant { id: -3, ttl: 5 },
            KvError::InvalidLeaseId { id: -3 },
        ),
        (
            "a zero ttl",
            KvCommand::LeaseGrant { id: 0, ttl: 0 },
            KvError::InvalidTtl { ttl: 0 },
        ),
        (
            "an unknown revoke",
            KvCommand::LeaseRevoke { id: 9 },
            KvError::LeaseNotFound { id: 9 },
        ),
    ];
    for (name, command, expected) in cases {
        let mut store = KvStore::new();
        grant(&mut store, 10);
        let before = snapshot(&store);
        assert_eq!(refused(&mut store, command), expected, "{name}");
        assert_eq!(snapshot(&store), before, "{name}");
    }
}

#[test]
fn puts_attach_move_and_detach_keys_and_deletes_detach() {
    let mut store = KvStore::new();
    let (first, second) = (grant(&mut store, 10), grant(&mut store, 10));
    run_txn(
        &mut store,
        txn(
            vec![],
            vec![
                leased_put_op("a", "1", first),
                leased_put_op("b", "1", first),
            ],
            vec![],
        ),
    );
    assert_eq!(keys_of(&store, first), ["a", "b"]);
    run_txn(
        &mut store,
        txn(vec![], vec![leased_put_op("a", "2", second)], vec![]),
    );
    assert_eq!(
        (keys_of(&store, first), keys_of(&store, second)),
        (vec!["b".to_owned()], vec!["a".to_owned()])
    );
    let keep = RequestOp::Put(PutRequest {
        key: "a".into(),
        value: "3".into(),
        ignore_lease: true,
        ..PutRequest::default()
    });
    run_txn(&mut store, txn(vec![], vec![keep], vec![]));
    assert_eq!(keys_of(&store, second), ["a"]);
    run_txn(&mut store, txn(vec![], vec![put_op("a", "4")], vec![]));
    assert!(keys_of(&store, second).is_empty());
    run(&mut store, KvCommand::Delete { key: "b".into() });
    assert!(keys_of(&store, first).is_empty());
}

#[test]
fn a_legacy_put_detaches_the_key() {
    let mut store = KvStore::new();
    let lease = grant(&mut store, 10);
    run_txn(
        &mut store,
        txn(vec![], vec![leased_put_op("a", "1", lease)], vec![]),
    );
    run(&mut store, put("a", "2"));
    assert!(keys_of(&store, lease).is_empty());
    assert_eq!(
        read_at(&store, KeyRange::single("a"), 0).unwrap()[0].lease,
        0
    );
}

#[test]
fn revoking_deletes_every_attached_key_at_one_revision() {
    let mut store = KvStore::new();
    let lease = grant(&mut store, 10);
    run_txn(
        &mut store,
        txn(
            vec![],
            vec![
                leased_put_op("a", "1", lease),
                leased_put_op("b", "1", lease),
                put_op("c", "1"),
            ],
            vec![],
        ),
    );
    assert_eq!(
        run(&mut store, KvCommand::LeaseRevoke { id: lease }),
        KvResponse::LeaseRevoked {
            deleted: 2,
            revision: 2
        }
    );
    assert_eq!(read_at(&store, KeyRange::prefix(""), 0).unwrap().len(), 1);
    assert_eq!(
        store.query(KvQuery::Lease { id: lease }),
        KvAnswer::Refused(KvError::LeaseNotFound { id: lease })
    );
    let empty = grant(&mut store, 10);
    assert_eq!(
        run(&mut store, KvCommand::LeaseRevoke { id: empty }),
        KvResponse::LeaseRevoked {
            deleted: 0,
            revision: 2
        }
    );
}

#[test]
fn a_default_store_is_a_new_store() {
    // The runtime builds its state machine with `Default`: a default store
    // must back up (its lease counter starts at 1) and grant lease 1.
    let mut store = KvStore::default();
    assert_eq!(store, KvStore::new());
    let mut restored = KvStore::new();
    restored.restore(&mut &snapshot(&store)[..]).unwrap();
    assert_eq!(grant(&mut store, 10), 1);
}
