//! The client library's coordination calls against one real `ordo serve`
//! node (issue 13): the paths `client_coordination.rs` checks only against
//! a fake server. Each step below is one call and what the real node must
//! answer: read headers, list pages at a revision, txn answers, leases,
//! compaction's errors, and a watch with the `progress_interval` the
//! client spells (`500ms`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::time::Duration;

use e2e_support::Cluster;
use ordo_kv::api::{CompareOp, OpResult};
use ordo_kv::client::recipes::{Mutex, RecipeError, Session};
use ordo_kv::client::{
    ClientError, Cmp, DeleteOutcome, GetOptions, ListOptions, Op, PutOptions, PutOutcome, Txn,
    WatchItem, WatchOptions,
};

const STREAM_PATIENCE: Duration = Duration::from_secs(10);

fn written(outcome: PutOutcome) -> u64 {
    match outcome {
        PutOutcome::Written { revision } => revision,
        other => panic!("not written: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_coordination_call_of_the_client_against_a_real_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-client-coordination", dir.path(), 1);
    cluster.start_all();
    cluster.wait_for_leader().await;
    let client = cluster.client();

    // Leases: grant, keepalive one and many, info with the attached key.
    let lease = client.grant(30).await.unwrap();
    assert_eq!(lease.ttl, 30);
    let other = client.grant(30).await.unwrap();
    assert_eq!(client.keepalive(lease.id).await.unwrap().ttl, 30);
    let renewed = client
        .keepalive_many(&[lease.id, other.id, 0x7fff_0001])
        .await
        .unwrap();
    let ttls: Vec<(i64, i64)> = renewed.leases.iter().map(|l| (l.id, l.ttl)).collect();
    assert_eq!(
        ttls,
        [(lease.id, 30), (other.id, 30), (0x7fff_0001, 0)],
        "one answer per id, in order; 0 for an unknown lease"
    );

    // get_with: every header the node sends, now and at a past revision.
    let first = written(
        client
            .put_with(
                "cfg/a",
                "one",
                PutOptions {
                    lease: Some(lease.id),
                    ..PutOptions::default()
                },
            )
            .await
            .unwrap(),
    );
    let second = written(client.put("cfg/a", "two", None).await.unwrap());
    let read = client
        .get_with("cfg/a", GetOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            &read.kv.value[..],
            read.kv.create_revision,
            read.kv.mod_revision,
            read.kv.version,
            read.kv.lease,
            read.cluster_revision
        ),
        (&b"two"[..], first, second, 2, 0, second),
        "a plain put detaches the lease, as in etcd"
    );
    let past = GetOptions {
        revision: Some(first),
        ..GetOptions::default()
    };
    let then = client.get_with("cfg/a", past).await.unwrap().unwrap();
    assert_eq!(
        (&then.kv.value[..], then.kv.version, then.kv.lease),
        (&b"one"[..], 1, lease.id)
    );
    assert!(
        client
            .get_with("cfg/none", GetOptions::default())
            .await
            .unwrap()
            .is_none()
    );

    // lease_info names the keys attached now (none: the put detached it).
    written(
        client
            .put_with(
                "cfg/b",
                "leased",
                PutOptions {
                    lease: Some(lease.id),
                    ..PutOptions::default()
                },
            )
            .await
            .unwrap(),
    );
    let info = client.lease_info(lease.id).await.unwrap();
    assert_eq!(
        (info.id, info.ttl, info.keys),
        (lease.id, 30, vec!["cfg/b".to_owned()])
    );
    assert!((1..=30).contains(&info.remaining), "{}", info.remaining);
    assert!(matches!(
        client.lease_info(0x7fff_0001).await,
        Err(ClientError::LeaseNotFound { .. })
    ));

    // list_page and list_all: pages at one revision, start_after.
    for index in 0..5 {
        written(
            client
                .put(&format!("page/{index}"), "v", None)
                .await
                .unwrap(),
        );
    }
    let before_more = client
        .get_with("page/4", GetOptions::default())
        .await
        .unwrap()
        .unwrap();
    let listed_at = before_more.cluster_revision;
    written(client.put("page/5", "later", None).await.unwrap());
    let page = client
        .list_page(&ListOptions {
            prefix: "page/".to_owned(),
            limit: Some(2),
            start_after: Some("page/0".to_owned()),
            revision: Some(listed_at),
            ..ListOptions::default()
        })
        .await
        .unwrap();
    let keys: Vec<&str> = page.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!((keys, page.more), (vec!["page/1", "page/2"], true));
    assert_eq!(page.revision, Some(listed_at));
    let all = client
        .list_all(&ListOptions {
            prefix: "page/".to_owned(),
            limit: Some(2),
            revision: Some(listed_at),
            ..ListOptions::default()
        })
        .await
        .unwrap();
    let keys: Vec<&str> = all.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["page/0", "page/1", "page/2", "page/3", "page/4"]);
    assert!(
        all.items
            .iter()
            .all(|kv| kv.create_revision > 0 && kv.version == 1)
    );
    let now = client
        .list_all(&ListOptions {
            prefix: "page/".to_owned(),
            limit: Some(4),
            ..ListOptions::default()
        })
        .await
        .unwrap();
    assert_eq!(
        now.items.len(),
        6,
        "list_all pins the first page's revision"
    );

    // txn: which branch ran and each operation's result.
    let answer = client
        .txn(
            &Txn::new()
                .when([Cmp::value("cfg/a", CompareOp::Equal, "two")])
                .then([
                    Op::put("cfg/c", "x"),
                    Op::get("cfg/a"),
                    Op::delete("page/5"),
                ])
                .otherwise([Op::get("cfg/a")])
                .build(),
        )
        .await
        .unwrap();
    assert!(answer.succeeded);
    assert!(
        matches!(answer.results[0], OpResult::Put { .. }),
        "{answer:?}"
    );
    match &answer.results[1] {
        OpResult::Range(range) => assert_eq!(range.items[0].value.as_deref(), Some("two")),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(answer.results[2], OpResult::Delete { deleted: 1, .. }),
        "{answer:?}"
    );
    let failed = client
        .txn(
            &Txn::new()
                .when([Cmp::absent("cfg/a")])
                .then([Op::put("cfg/a", "never")])
                .otherwise([Op::prefix("page/")])
                .build(),
        )
        .await
        .unwrap();
    assert!(!failed.succeeded);
    assert_eq!(
        failed.revision, answer.revision,
        "a read-only branch writes nothing"
    );
    match &failed.results[0] {
        OpResult::Range(range) => assert_eq!(range.count, 5),
        other => panic!("{other:?}"),
    }

    // A conditional put sees the node's current revision on conflict.
    let conflict = client
        .put_with(
            "cfg/a",
            "stale",
            PutOptions {
                if_revision: Some(first),
                ..PutOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        conflict,
        PutOutcome::CompareFailed {
            current_revision: second
        }
    );

    // Compaction: ok, then below it is 410 compacted; the future is refused.
    let compacted = client.compact(listed_at).await.unwrap();
    assert_eq!(compacted.compact_revision, listed_at);
    assert!(matches!(
        client.get_with("cfg/a", past).await,
        Err(ClientError::Compacted { compact_revision, .. }) if compact_revision == listed_at
    ));
    assert!(matches!(
        client.compact(first).await,
        Err(ClientError::Compacted { .. })
    ));
    let future = client.compact(answer.revision + 100).await;
    assert!(
        matches!(future, Err(ClientError::Server { status: 400, .. })),
        "{future:?}"
    );

    // A watch with a 500ms progress interval: accepted, progress while quiet,
    // then the change.
    let mut options = WatchOptions::prefix("w/");
    options.progress_interval = Some(Duration::from_millis(500));
    let mut stream = client.watch(options);
    let start = match tokio::time::timeout(STREAM_PATIENCE, stream.next()).await {
        Ok(Some(Ok(WatchItem::Progress { revision }))) => revision,
        other => panic!("the first item: {other:?}"),
    };
    match tokio::time::timeout(STREAM_PATIENCE, stream.next()).await {
        Ok(Some(Ok(WatchItem::Progress { revision }))) => assert_eq!(revision, start),
        other => panic!("a quiet stream's progress: {other:?}"),
    }
    let put = written(client.put("w/x", "1", None).await.unwrap());
    loop {
        match tokio::time::timeout(STREAM_PATIENCE, stream.next()).await {
            Ok(Some(Ok(WatchItem::Progress { .. }))) => continue,
            Ok(Some(Ok(WatchItem::Change(change)))) => {
                assert_eq!(change.revision, put);
                break;
            }
            other => panic!("the change: {other:?}"),
        }
    }

    // Revoking the lease deletes its key.
    client.revoke(lease.id).await.unwrap();
    assert!(
        client
            .get_with("cfg/b", GetOptions::default())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_lease_lists_binary_values_and_prev_kv_against_a_real_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-client-deletes", dir.path(), 1);
    cluster.start_all();
    cluster.wait_for_leader().await;
    let client = cluster.client();

    // A watch from now with previous values, over a prefix.
    let mut options = WatchOptions::prefix("bin/").with_prev_kv();
    options.progress_interval = Some(Duration::from_millis(500));
    let mut stream = client.watch(options);
    assert!(matches!(
        tokio::time::timeout(STREAM_PATIENCE, stream.next()).await,
        Ok(Some(Ok(WatchItem::Progress { .. })))
    ));

    // A value that is not UTF-8 reads back byte for byte everywhere.
    let bytes: &[u8] = &[0xff, 0x00, 0xfe, b'x'];
    let put = written(client.put("bin/a", bytes.to_vec(), None).await.unwrap());
    let second = written(client.put("bin/a", "text", None).await.unwrap());
    let read = client
        .get_with(
            "bin/a",
            GetOptions {
                revision: Some(put),
                ..GetOptions::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&read.kv.value[..], bytes);
    let listed = client
        .list_all(&ListOptions {
            prefix: "bin/".to_owned(),
            revision: Some(put),
            ..ListOptions::default()
        })
        .await
        .unwrap();
    assert_eq!(&listed.items[0].value[..], bytes);
    let mut changes = Vec::new();
    while changes.len() < 2 {
        match tokio::time::timeout(STREAM_PATIENCE, stream.next()).await {
            Ok(Some(Ok(WatchItem::Change(change)))) => changes.push(change),
            Ok(Some(Ok(WatchItem::Progress { .. }))) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        changes
            .iter()
            .map(|change| change.revision)
            .collect::<Vec<_>>(),
        [put, second]
    );
    let event = &changes[1].events[0];
    let prev = ordo_kv::client::KeyValue::from_json(event.prev.clone().expect("prev_kv")).unwrap();
    assert_eq!((&prev.value[..], prev.mod_revision), (bytes, put));
    let first = ordo_kv::client::KeyValue::from_json(changes[0].events[0].kv.clone()).unwrap();
    assert_eq!(&first.value[..], bytes);

    // delete_if: a stale revision is CompareFailed with the current one.
    assert_eq!(
        client.delete_if("bin/a", put).await.unwrap(),
        DeleteOutcome::CompareFailed {
            current_revision: second
        }
    );
    let deleted = client.delete_if("bin/a", second).await.unwrap();
    assert!(
        matches!(deleted, DeleteOutcome::Deleted { existed: true, revision } if revision == second + 1),
        "{deleted:?}"
    );

    // delete_prefix: every key at one revision, the others kept.
    for key in ["tmp/1", "tmp/2", "tmp/3", "keep"] {
        written(client.put(key, "v", None).await.unwrap());
    }
    let range = client.delete_prefix("tmp/").await.unwrap();
    assert_eq!(range.deleted, 3);
    let left = client.list_all(&ListOptions::default()).await.unwrap();
    let keys: Vec<&str> = left.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["keep"]);
    assert!(
        client.delete_prefix("").await.is_err(),
        "an empty prefix is refused"
    );

    // leases(): every lease with its ttl; a revoked one is gone.
    let one = client.grant(20).await.unwrap();
    let two = client.grant(40).await.unwrap();
    let mut leases = client.leases().await.unwrap().leases;
    leases.sort_by_key(|lease| lease.id);
    let mut expected = vec![(one.id, 20), (two.id, 40)];
    expected.sort_unstable();
    let seen: Vec<(i64, i64)> = leases.iter().map(|lease| (lease.id, lease.ttl)).collect();
    assert_eq!(seen, expected);
    client.revoke(one.id).await.unwrap();
    let after: Vec<i64> = client
        .leases()
        .await
        .unwrap()
        .leases
        .iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(after, [two.id]);
    assert!(matches!(
        client.revoke(one.id).await,
        Err(ClientError::LeaseNotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_session_and_a_compacted_watch_end_with_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-client-losses", dir.path(), 1);
    cluster.start_all();
    cluster.wait_for_leader().await;
    let client = cluster.client();

    // A session holds the lock; another waits. Revoking the waiter's lease
    // from outside: its keeper reports the loss and its lock() gives up.
    let holder = Session::new(&client, 3).await.unwrap();
    let guard = Mutex::new(&holder, "m").lock().await.unwrap();
    let waiter = Session::new(&client, 3).await.unwrap();
    let waiting = tokio::spawn({
        let waiter = waiter.clone();
        async move { Mutex::new(&waiter, "m").lock().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.revoke(waiter.lease()).await.unwrap();
    let lost = tokio::time::timeout(STREAM_PATIENCE, waiter.lost()).await;
    assert!(
        matches!(lost, Ok(RecipeError::SessionLost { lease }) if lease == waiter.lease()),
        "{lost:?}"
    );
    let waited = tokio::time::timeout(STREAM_PATIENCE, waiting)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(waited, Err(RecipeError::SessionLost { .. })),
        "{waited:?}"
    );
    let held = client
        .get_with(guard.key(), GetOptions::default())
        .await
        .unwrap()
        .expect("the holder's key stays");
    assert_eq!(held.kv.create_revision, guard.revision());
    guard.unlock().await.unwrap();

    // A watch from a compacted revision ends with Compacted.
    for index in 0..3 {
        written(client.put(&format!("c/{index}"), "v", None).await.unwrap());
    }
    let read = client
        .get_with("c/2", GetOptions::default())
        .await
        .unwrap()
        .unwrap();
    client.compact(read.cluster_revision).await.unwrap();
    let mut stream = client.watch(WatchOptions::prefix("c/").from_revision(1));
    match tokio::time::timeout(STREAM_PATIENCE, stream.next()).await {
        Ok(Some(Err(ClientError::Compacted {
            compact_revision, ..
        }))) => assert_eq!(compact_revision, read.cluster_revision),
        other => panic!("{other:?}"),
    }
    assert!(
        tokio::time::timeout(STREAM_PATIENCE, stream.next())
            .await
            .unwrap()
            .is_none(),
        "the stream ends after its error"
    );
}
