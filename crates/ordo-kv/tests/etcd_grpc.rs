//! etcd's gRPC API on a real `ordo serve` process, through a client
//! generated from the same protos, for what etcdctl cannot express: many
//! watches multiplexed on one stream with filters and client-chosen ids,
//! sorted and revision-bounded ranges, nested txns, and etcd's errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::time::Duration;

use bytes::Bytes;
use e2e_support::Cluster;
use ordo_kv::server::etcd::pb::etcdserverpb::{
    self as pb, cluster_client::ClusterClient, kv_client::KvClient, lease_client::LeaseClient,
    maintenance_client::MaintenanceClient, watch_client::WatchClient,
};
use ordo_kv::server::etcd::pb::mvccpb::event::EventType;
use ordo_kv::server::etcd::pb::v3lockpb::{LockRequest, UnlockRequest, lock_client::LockClient};
use ordo_kv::server::etcd::snapshot_envelope::framed_backup_length;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Status, Streaming};

/// Longest wait for one watch response.
const WATCH_PATIENCE: Duration = Duration::from_secs(10);

fn bytes(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

async fn put(kv: &mut KvClient<Channel>, key: &str, value: &str) -> i64 {
    let response = kv
        .put(pb::PutRequest {
            key: bytes(key),
            value: bytes(value),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    response.header.unwrap().revision
}

fn put_op(key: &str, value: &str) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
            key: bytes(key),
            value: bytes(value),
            ..Default::default()
        })),
    }
}

fn create(key: &str, range_end: &[u8], watch_id: i64, filters: Vec<i32>) -> pb::WatchRequest {
    pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
            pb::WatchCreateRequest {
                key: bytes(key),
                range_end: Bytes::copy_from_slice(range_end),
                watch_id,
                filters,
                ..Default::default()
            },
        )),
    }
}

/// A watch stream on `channel`: where to send its requests, and its answers.
async fn watch_stream(
    channel: Channel,
) -> (mpsc::Sender<pb::WatchRequest>, Streaming<pb::WatchResponse>) {
    let (requests, outbox) = mpsc::channel(8);
    let responses = WatchClient::new(channel)
        .watch(ReceiverStream::new(outbox))
        .await
        .unwrap()
        .into_inner();
    (requests, responses)
}

/// The next answer on a watch stream; panics after [`WATCH_PATIENCE`].
async fn next_response(responses: &mut Streaming<pb::WatchResponse>) -> pb::WatchResponse {
    tokio::time::timeout(WATCH_PATIENCE, responses.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
}

/// Asserts that `refused` carries etcd's `code` and `message`.
fn assert_refused(refused: &Status, code: Code, message: &str) {
    assert_eq!(
        (refused.code(), refused.message()),
        (code, message),
        "{refused:?}"
    );
}

/// Two leases of 60 s, granted on `channel`.
async fn two_leases(channel: &Channel) -> (i64, i64) {
    let mut leases = LeaseClient::new(channel.clone());
    let mut ids = Vec::new();
    for _ in 0..2 {
        let granted = leases
            .lease_grant(pb::LeaseGrantRequest { ttl: 60, id: 0 })
            .await;
        ids.push(granted.unwrap().into_inner().id);
    }
    (ids[0], ids[1])
}

async fn started() -> (tempfile::TempDir, Cluster, Channel) {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("etcd-grpc", dir.path(), 1);
    cluster.start_all();
    cluster.wait_for_leader().await;
    let channel = channel_to(&cluster, 1).await;
    (dir, cluster, channel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_watches_share_one_stream_with_their_own_ids_and_filters() {
    let (_dir, _cluster, channel) = started().await;
    let mut kv = KvClient::new(channel.clone());
    let (requests, mut responses) = watch_stream(channel).await;
    let no_put = pb::watch_create_request::FilterType::Noput as i32;
    // A prefix with the client's id 7, a key with the server's id, and the
    // same prefix again with deletes only.
    requests.send(create("a/", b"a0", 7, vec![])).await.unwrap();
    requests.send(create("b", b"", 0, vec![])).await.unwrap();
    requests
        .send(create("a/", b"a0", 0, vec![no_put]))
        .await
        .unwrap();
    // A duplicate id is refused on its own; the others go on.
    requests.send(create("c", b"", 7, vec![])).await.unwrap();
    let mut created = Vec::new();
    while created.len() < 4 {
        let response = next_response(&mut responses).await;
        assert!(response.created, "{response:?}");
        created.push((response.watch_id, response.canceled));
    }
    assert_eq!(created, [(7, false), (0, false), (1, false), (7, true)]);

    put(&mut kv, "a/1", "x").await;
    put(&mut kv, "b", "y").await;
    kv.delete_range(pb::DeleteRangeRequest {
        key: bytes("a/1"),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let response = next_response(&mut responses).await;
        for event in response.events {
            let key = String::from_utf8(event.kv.unwrap().key.to_vec()).unwrap();
            seen.push((response.watch_id, event.r#type, key));
        }
    }
    let put_type = EventType::Put as i32;
    let delete_type = EventType::Delete as i32;
    seen.sort();
    assert_eq!(
        seen,
        [
            (0, put_type, "b".to_owned()),
            (1, delete_type, "a/1".to_owned()),
            (7, put_type, "a/1".to_owned()),
            (7, delete_type, "a/1".to_owned()),
        ]
    );

    // Cancel one: answered, and its events stop.
    let cancel = pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CancelRequest(
            pb::WatchCancelRequest { watch_id: 0 },
        )),
    };
    requests.send(cancel).await.unwrap();
    let response = next_response(&mut responses).await;
    assert!(response.canceled && response.watch_id == 0, "{response:?}");
    put(&mut kv, "b", "z").await;
    put(&mut kv, "a/2", "w").await;
    let response = next_response(&mut responses).await;
    assert_eq!(response.watch_id, 7, "{response:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_sort_and_bound_by_revision_and_errors_are_etcds() {
    let (_dir, _cluster, channel) = started().await;
    let mut kv = KvClient::new(channel.clone());
    let first = put(&mut kv, "k/1", "c").await;
    let second = put(&mut kv, "k/2", "a").await;
    let third = put(&mut kv, "k/3", "b").await;
    let range = |sort_target, sort_order, min_mod, max_mod| pb::RangeRequest {
        key: bytes("k/"),
        range_end: bytes("k0"),
        sort_target,
        sort_order,
        min_mod_revision: min_mod,
        max_mod_revision: max_mod,
        ..Default::default()
    };
    let keys = |response: pb::RangeResponse| -> Vec<String> {
        response
            .kvs
            .into_iter()
            .map(|kv| String::from_utf8(kv.key.to_vec()).unwrap())
            .collect()
    };
    use pb::range_request::{SortOrder, SortTarget};
    let by_value = kv
        .range(range(
            SortTarget::Value as i32,
            SortOrder::Descend as i32,
            0,
            0,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_value.header.as_ref().unwrap().revision, third);
    assert_eq!(keys(by_value), ["k/1", "k/3", "k/2"]);
    let bounded = kv
        .range(range(
            SortTarget::Key as i32,
            SortOrder::None as i32,
            second,
            second,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(keys(bounded), ["k/2"]);
    let limited = kv
        .range(pb::RangeRequest {
            limit: 1,
            revision: first,
            ..range(0, 0, 0, 0)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((limited.count, limited.more), (1, false));

    // Nested txn: the outer compare holds, the inner one fails.
    let nested = pb::TxnRequest {
        compare: vec![pb::Compare {
            key: bytes("k/1"),
            target: pb::compare::CompareTarget::Value as i32,
            result: pb::compare::CompareResult::Equal as i32,
            target_union: Some(pb::compare::TargetUnion::Value(bytes("nope"))),
            ..Default::default()
        }],
        success: vec![put_op("inner-success", "1")],
        failure: vec![put_op("inner-failure", "1")],
    };
    let outer = pb::TxnRequest {
        compare: vec![pb::Compare {
            key: bytes("k/1"),
            target: pb::compare::CompareTarget::Mod as i32,
            result: pb::compare::CompareResult::Equal as i32,
            target_union: Some(pb::compare::TargetUnion::ModRevision(first)),
            ..Default::default()
        }],
        success: vec![pb::RequestOp {
            request: Some(pb::request_op::Request::RequestTxn(nested)),
        }],
        failure: vec![],
    };
    let answer = kv.txn(outer).await.unwrap().into_inner();
    assert!(answer.succeeded);
    let Some(pb::response_op::Response::ResponseTxn(inner)) = answer.responses[0].response.clone()
    else {
        panic!("{answer:?}");
    };
    assert!(!inner.succeeded);

    // etcd's codes and messages.
    let empty_key = kv.range(pb::RangeRequest::default()).await.unwrap_err();
    assert_refused(
        &empty_key,
        Code::InvalidArgument,
        "etcdserver: key is not provided",
    );
    let duplicate = kv
        .txn(pb::TxnRequest {
            success: vec![put_op("d", "1"), put_op("d", "2")],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        duplicate.message(),
        "etcdserver: duplicate key given in txn request"
    );
    let future = kv
        .range(pb::RangeRequest {
            revision: 1_000,
            ..range(0, 0, 0, 0)
        })
        .await
        .unwrap_err();
    assert_refused(
        &future,
        Code::OutOfRange,
        "etcdserver: mvcc: required revision is a future revision",
    );
    let missing = LeaseClient::new(channel)
        .lease_revoke(pb::LeaseRevokeRequest { id: 4242 })
        .await
        .unwrap_err();
    assert_refused(
        &missing,
        Code::NotFound,
        "etcdserver: requested lease not found",
    );
}

/// etcd allows a watch to start exactly at the compact revision (only
/// below it is compacted): that revision's put is delivered, then what
/// follows. Failed before: the start was answered as compacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_may_start_exactly_at_the_compact_revision() {
    let (_dir, _cluster, channel) = started().await;
    let mut kv = KvClient::new(channel.clone());
    put(&mut kv, "c/1", "old").await;
    let compacted = put(&mut kv, "c/2", "kept").await;
    kv.compact(pb::CompactionRequest {
        revision: compacted,
        physical: true,
    })
    .await
    .unwrap();
    let (requests, mut responses) = watch_stream(channel).await;
    let at = |start_revision| pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
            pb::WatchCreateRequest {
                key: bytes("c/"),
                range_end: bytes("c0"),
                start_revision,
                ..Default::default()
            },
        )),
    };
    requests.send(at(compacted)).await.unwrap();
    let created = next_response(&mut responses).await;
    assert!(created.created && !created.canceled, "{created:?}");
    let later = put(&mut kv, "c/3", "new").await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let response = next_response(&mut responses).await;
        assert!(!response.canceled, "{response:?}");
        for event in response.events {
            let kv = event.kv.unwrap();
            seen.push((String::from_utf8(kv.key.to_vec()).unwrap(), kv.mod_revision));
        }
    }
    assert_eq!(
        seen,
        [("c/2".to_owned(), compacted), ("c/3".to_owned(), later)]
    );

    // One below it is compacted.
    requests.send(at(compacted - 1)).await.unwrap();
    let created = next_response(&mut responses).await;
    assert!(created.created, "{created:?}");
    let canceled = next_response(&mut responses).await;
    assert!(canceled.canceled, "{canceled:?}");
    assert_eq!(canceled.compact_revision, compacted);
    assert_eq!(
        canceled.cancel_reason,
        "etcdserver: mvcc: required revision has been compacted"
    );
}

fn member_ids(members: &[pb::Member]) -> Vec<(u64, bool)> {
    members.iter().map(|m| (m.id, m.is_learner)).collect()
}

/// MemberAdd (learner and voter), MemberUpdate, MemberPromote and
/// MemberRemove, with etcd's refusals. The added members are never
/// started: a learner that is not running cannot be promoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_added_updated_promoted_and_removed() {
    let (_dir, _cluster, channel) = started().await;
    let mut members = ClusterClient::new(channel);
    let peer = |port: u16| vec![format!("http://127.0.0.1:{port}")];
    let add = |port, is_learner| pb::MemberAddRequest {
        peer_ur_ls: peer(port),
        is_learner,
    };
    let added = members.member_add(add(1, true)).await.unwrap().into_inner();
    let learner = added.member.unwrap();
    assert_eq!((learner.id, learner.is_learner), (2, true));
    assert_eq!(learner.peer_ur_ls, peer(1));
    assert_eq!(member_ids(&added.members), [(1, false), (2, true)]);

    let taken = members.member_add(add(1, true)).await.unwrap_err();
    assert_refused(
        &taken,
        Code::FailedPrecondition,
        "etcdserver: Peer URLs already exists",
    );

    let updated = members
        .member_update(pb::MemberUpdateRequest {
            id: 2,
            peer_ur_ls: peer(2),
        })
        .await
        .unwrap()
        .into_inner();
    let listed = updated.members.iter().find(|m| m.id == 2).unwrap();
    assert_eq!(listed.peer_ur_ls, peer(2));

    let lagging = members
        .member_promote(pb::MemberPromoteRequest { id: 2 })
        .await
        .unwrap_err();
    assert_refused(
        &lagging,
        Code::FailedPrecondition,
        "etcdserver: can only promote a learner member which is in sync with leader",
    );
    let voter = members
        .member_promote(pb::MemberPromoteRequest { id: 1 })
        .await
        .unwrap_err();
    assert_eq!(
        voter.message(),
        "etcdserver: can only promote a learner member"
    );

    // A voter is added as a learner until it catches up (it never will).
    let as_voter = members
        .member_add(add(3, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        member_ids(&as_voter.members),
        [(1, false), (2, true), (3, true)]
    );

    for id in [2, 3] {
        let left = members
            .member_remove(pb::MemberRemoveRequest { id })
            .await
            .unwrap()
            .into_inner();
        assert!(left.members.iter().all(|m| m.id != id), "{left:?}");
    }
    let unknown = members
        .member_remove(pb::MemberRemoveRequest { id: 2 })
        .await
        .unwrap_err();
    assert_refused(&unknown, Code::NotFound, "etcdserver: member not found");
}

fn range_op(key: &str) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestRange(pb::RangeRequest {
            key: bytes(key),
            ..Default::default()
        })),
    }
}

async fn channel_to(cluster: &Cluster, id: u64) -> Channel {
    let url = format!("http://127.0.0.1:{}", cluster.spec(id).client_port);
    Channel::from_shared(url).unwrap().connect().await.unwrap()
}

async fn raft_index(channel: &Channel) -> u64 {
    let status = MaintenanceClient::new(channel.clone())
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    status.raft_index
}

/// Waits until every member has applied `revision`.
async fn all_at_revision(channels: &[Channel], revision: i64) {
    for channel in channels {
        let mut kv = KvClient::new(channel.clone());
        let deadline = tokio::time::Instant::now() + WATCH_PATIENCE;
        loop {
            let serializable = kv
                .range(pb::RangeRequest {
                    key: bytes("any"),
                    serializable: true,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            if serializable.header.unwrap().revision >= revision {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "not applied");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// On a 3-node cluster, through a follower: a read-only txn is a read
/// (the raft index does not move; a txn that writes moves it), HashKV is
/// equal on every member at one revision, Snapshot streams the backup, and
/// MoveLeader hands leadership over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_txns_hashes_snapshots_and_leader_moves_on_three_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("etcd-grpc-3", dir.path(), 3);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let follower = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    let mut channels = Vec::new();
    for id in cluster.ids() {
        channels.push(channel_to(&cluster, id).await);
    }
    let on_follower = channel_to(&cluster, follower).await;
    let mut kv = KvClient::new(on_follower.clone());
    put(&mut kv, "h/1", "a").await;
    let second = put(&mut kv, "h/2", "b").await;

    // Read-only txns, nested and not, leave the raft index alone.
    let before = raft_index(&on_follower).await;
    for _ in 0..5 {
        let answer = kv
            .txn(pb::TxnRequest {
                compare: vec![pb::Compare {
                    key: bytes("h/1"),
                    target: pb::compare::CompareTarget::Value as i32,
                    result: pb::compare::CompareResult::Equal as i32,
                    target_union: Some(pb::compare::TargetUnion::Value(bytes("a"))),
                    ..Default::default()
                }],
                success: vec![
                    range_op("h/2"),
                    pb::RequestOp {
                        request: Some(pb::request_op::Request::RequestTxn(pb::TxnRequest {
                            success: vec![range_op("h/1")],
                            ..Default::default()
                        })),
                    },
                ],
                failure: vec![range_op("never")],
            })
            .await
            .unwrap()
            .into_inner();
        assert!(answer.succeeded);
        assert_eq!(answer.header.unwrap().revision, second);
        let Some(pb::response_op::Response::ResponseRange(range)) = &answer.responses[0].response
        else {
            panic!("{:?}", answer.responses);
        };
        assert_eq!(range.kvs[0].value, bytes("b"));
    }
    assert_eq!(
        raft_index(&on_follower).await,
        before,
        "a read-only txn was logged"
    );
    kv.txn(pb::TxnRequest {
        success: vec![put_op("h/3", "c")],
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(raft_index(&on_follower).await > before);

    // HashKV: the same on every member at one revision, another at another.
    let last = put(&mut kv, "h/1", "changed").await;
    all_at_revision(&channels, last).await;
    let mut hashes = Vec::new();
    for channel in &channels {
        let mut maintenance = MaintenanceClient::new(channel.clone());
        let at = |revision| pb::HashKvRequest { revision };
        let now = maintenance.hash_kv(at(last)).await.unwrap().into_inner();
        let then = maintenance.hash_kv(at(second)).await.unwrap().into_inner();
        assert_ne!(now.hash, then.hash);
        hashes.push((now.hash, then.hash));
    }
    assert!(
        hashes.windows(2).all(|pair| pair[0] == pair[1]),
        "{hashes:?}"
    );

    // Snapshot: the backup, in chunks counting down to 0.
    let mut chunks = MaintenanceClient::new(on_follower.clone())
        .snapshot(pb::SnapshotRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut backup = Vec::new();
    let mut remaining = u64::MAX;
    while let Some(chunk) = chunks.message().await.unwrap() {
        backup.extend_from_slice(&chunk.blob);
        remaining = chunk.remaining_bytes;
    }
    assert_eq!(remaining, 0);
    // In the frame etcdctl checks: 512-byte blocks and a SHA-256.
    assert_eq!(backup.len() % 512, 32);
    let mut framed = std::io::Cursor::new(&backup);
    let length = framed_backup_length(&mut framed).unwrap().unwrap();
    let length = usize::try_from(length).unwrap();
    let summary = ordo_kv::store::read_backup_summary(&mut &backup[..length]).unwrap();
    assert_eq!(summary.cluster_revision, u64::try_from(last).unwrap());

    // MoveLeader, asked of a follower, to that follower.
    let mut maintenance = MaintenanceClient::new(on_follower);
    let bad = maintenance
        .move_leader(pb::MoveLeaderRequest { target_id: 99 })
        .await
        .unwrap_err();
    assert_eq!(bad.message(), "etcdserver: bad leader transferee");
    maintenance
        .move_leader(pb::MoveLeaderRequest {
            target_id: follower,
        })
        .await
        .unwrap();
    let status = maintenance.status(pb::StatusRequest {}).await.unwrap();
    assert_eq!(status.into_inner().leader, follower);
}

/// `v3lockpb.Lock`: the first caller holds the lock at once, under
/// `name/<lease in hex>`; a second waits until the first unlocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_is_held_by_one_lease_at_a_time() {
    let (_dir, _cluster, channel) = started().await;
    let (first, second) = two_leases(&channel).await;
    let mut locks = LockClient::new(channel.clone());
    let lock = |lease| LockRequest {
        name: bytes("job"),
        lease,
    };
    let held = locks.lock(lock(first)).await.unwrap().into_inner();
    assert_eq!(held.key, bytes(&format!("job/{first:x}")));

    let mut waiter = LockClient::new(channel);
    let waiting = tokio::spawn(async move { waiter.lock(lock(second)).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "a second lease took a held lock");
    locks.unlock(UnlockRequest { key: held.key }).await.unwrap();
    let next = tokio::time::timeout(WATCH_PATIENCE, waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .into_inner();
    assert_eq!(next.key, bytes(&format!("job/{second:x}")));

    let no_lease = locks.lock(lock(0)).await.unwrap_err();
    assert_eq!(no_lease.code(), Code::InvalidArgument);
}

/// A Lock its client gave up on (here: a deadline while waiting) leaves no
/// key in line, as etcd's `Mutex.Lock` deletes its key when its wait ends
/// badly: the next lock is granted once the holder unlocks, although the
/// lease that gave up is still alive. And the recipes' writes are held to
/// the limits a put is: a name past `--max-key-bytes` is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_given_up_leaves_no_key_and_names_are_held_to_the_key_limit() {
    let (_dir, _cluster, channel) = started().await;
    let (holder, quitter) = two_leases(&channel).await;
    let (next, _) = two_leases(&channel).await;
    let mut locks = LockClient::new(channel.clone());
    let lock = |lease| LockRequest {
        name: bytes("job"),
        lease,
    };
    let held = locks.lock(lock(holder)).await.unwrap().into_inner();

    let gave_up = tokio::time::timeout(Duration::from_millis(500), locks.lock(lock(quitter))).await;
    assert!(gave_up.is_err(), "a second lease took a held lock");
    let mut kv = KvClient::new(channel.clone());
    let quitter_key = bytes(&format!("job/{quitter:x}"));
    let deadline = tokio::time::Instant::now() + WATCH_PATIENCE;
    loop {
        let found = kv
            .range(pb::RangeRequest {
                key: quitter_key.clone(),
                ..pb::RangeRequest::default()
            })
            .await
            .unwrap()
            .into_inner();
        if found.kvs.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the key of a lock call given up on is still in line"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    locks.unlock(UnlockRequest { key: held.key }).await.unwrap();
    let granted = tokio::time::timeout(WATCH_PATIENCE, locks.lock(lock(next)))
        .await
        .expect("the next lock waited on a key no one holds")
        .unwrap()
        .into_inner();
    assert_eq!(granted.key, bytes(&format!("job/{next:x}")));

    let long_name = LockRequest {
        name: Bytes::from(vec![b'n'; 5000]),
        lease: next,
    };
    assert_eq!(
        locks.lock(long_name).await.unwrap_err().code(),
        Code::InvalidArgument
    );
}

/// `v3electionpb.Election`: a campaign leads at once when alone, a second
/// waits; Leader and Observe follow proclaims and the resignation that
/// hands over; a Proclaim with a stale leader key is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_election_hands_over_on_resign_and_observers_follow() {
    use ordo_kv::server::etcd::pb::v3electionpb::{
        CampaignRequest, LeaderRequest, ProclaimRequest, ResignRequest,
        election_client::ElectionClient,
    };
    let (_dir, _cluster, channel) = started().await;
    let (first, second) = two_leases(&channel).await;
    let mut election = ElectionClient::new(channel.clone());
    let campaign = |lease, value: &str| CampaignRequest {
        name: bytes("office"),
        lease,
        value: bytes(value),
    };
    let named = || LeaderRequest {
        name: bytes("office"),
    };
    let alice = election
        .campaign(campaign(first, "alice"))
        .await
        .unwrap()
        .into_inner()
        .leader
        .unwrap();
    assert_eq!(alice.key, bytes(&format!("office/{first:x}")));
    let mut observed = election.observe(named()).await.unwrap().into_inner();
    let mut next_value = async || {
        let answer = tokio::time::timeout(WATCH_PATIENCE, observed.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        answer.kv.unwrap().value
    };
    assert_eq!(next_value().await, bytes("alice"));

    let mut rival = ElectionClient::new(channel);
    let waiting = tokio::spawn(async move { rival.campaign(campaign(second, "bob")).await });
    election
        .proclaim(ProclaimRequest {
            leader: Some(alice.clone()),
            value: bytes("alice-2"),
        })
        .await
        .unwrap();
    assert_eq!(next_value().await, bytes("alice-2"));
    let leader = election.leader(named()).await.unwrap().into_inner();
    assert_eq!(leader.kv.unwrap().value, bytes("alice-2"));
    let stale = ordo_kv::server::etcd::pb::v3electionpb::LeaderKey {
        rev: alice.rev + 100,
        ..alice.clone()
    };
    let refused = election
        .proclaim(ProclaimRequest {
            leader: Some(stale),
            value: bytes("x"),
        })
        .await
        .unwrap_err();
    assert_refused(
        &refused,
        Code::FailedPrecondition,
        "etcdserver: election: not leader",
    );
    assert!(!waiting.is_finished(), "bob leads while alice does");

    election
        .resign(ResignRequest {
            leader: Some(alice),
        })
        .await
        .unwrap();
    let bob = tokio::time::timeout(WATCH_PATIENCE, waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .into_inner();
    assert_eq!(
        bob.leader.unwrap().key,
        bytes(&format!("office/{second:x}"))
    );
    assert_eq!(next_value().await, bytes("bob"));
}
