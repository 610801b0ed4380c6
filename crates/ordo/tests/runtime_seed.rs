//! A new group seeded from a copy of an application's state
//! (`ordo::seed_snapshot`): every initial member starts from it, the group
//! keeps going, and a node added later receives it as a snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ordo::storage::{LogStore, MemLogStore, SnapshotStore};
use ordo::transport::InProcessNetwork;
use ordo::{MemberInfo, Membership, RaftNode, StateMachine, seed_snapshot};
use ordo_core::LogRead;
use runtime_support::{Answer, Cluster, Kv, add, address, config, get, joining, wait_until_async};

/// The state to seed with, in `Kv`'s own snapshot format.
fn seed_state() -> Vec<u8> {
    let mut kv = Kv::default();
    kv.map.insert("a".into(), 41);
    kv.map.insert("b".into(), 7);
    let mut bytes = Vec::new();
    kv.snapshot(&mut bytes).unwrap();
    bytes
}

/// What the seed says of the members: a label only the snapshot carries.
fn addresses() -> BTreeMap<u64, MemberInfo> {
    (1..=3)
        .map(|id| (id, MemberInfo::new(address(id)).with_label("seeded", "yes")))
        .collect()
}

async fn start_seeded(cluster: &mut Cluster, dir: &Path, id: u64, seed: bool) -> RaftNode<Kv> {
    let log = Arc::new(MemLogStore::new());
    let snapshots = SnapshotStore::open(dir.join(format!("snapshots-{id}"))).unwrap();
    let config = if seed {
        let voters = Membership::with_voters([1, 2, 3]);
        seed_snapshot(
            log.as_ref(),
            &snapshots,
            voters,
            addresses(),
            &mut &seed_state()[..],
        )
        .unwrap();
        config(id, &[1, 2, 3])
    } else {
        joining(id, &[1, 2, 3])
    };
    let transport = cluster.network.transport(id);
    let node = RaftNode::builder(config, Kv::default(), log, transport)
        .snapshot_store(snapshots)
        .build()
        .unwrap();
    node.start().await.unwrap();
    cluster.nodes.insert(id, node.clone());
    node
}

async fn value(node: &RaftNode<Kv>, key: &str) -> Option<u64> {
    match node.read_stale(get(key)).await.unwrap() {
        Answer::Value(value) => value,
        other => panic!("unexpected answer {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_group_starts_from_the_state_and_hands_it_to_new_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster {
        network: InProcessNetwork::new(),
        ids: vec![1, 2, 3],
        nodes: BTreeMap::new(),
    };
    for id in 1..=3 {
        let node = start_seeded(&mut cluster, dir.path(), id, true).await;
        // Restored before the first election.
        assert_eq!(value(&node, "a").await, Some(41));
        let members = node.member_infos();
        assert_eq!(
            members.get(&2).map(|info| info.labels.len()),
            Some(1),
            "{members:?}"
        );
    }
    assert_eq!(cluster.propose(add("a", 1)).await, Some(42));
    // A node that was not seeded joins and gets the state as a snapshot.
    start_seeded(&mut cluster, dir.path(), 4, false).await;
    cluster
        .change("add node 4", |leader| async move {
            leader.add_node(4, address(4)).await
        })
        .await;
    let joined = cluster.node(4).clone();
    wait_until_async("node 4 to get the seeded state", || async {
        (value(&joined, "a").await == Some(42) && value(&joined, "b").await == Some(7))
            .then_some(())
    })
    .await;
    cluster.stop_all().await;
}

#[test]
fn seeding_refuses_a_store_that_holds_anything() {
    let dir = tempfile::tempdir().unwrap();
    let voters = Membership::with_voters([1]);
    // A log with a term: the node already took part in a group.
    let log = MemLogStore::new();
    log.save_hard_state(ordo::HardState {
        term: 3,
        voted_for: None,
    })
    .unwrap();
    let snapshots = SnapshotStore::open(dir.path().join("a")).unwrap();
    let refused = seed_snapshot(
        &log,
        &snapshots,
        voters.clone(),
        BTreeMap::new(),
        &mut &b"x"[..],
    );
    assert!(refused.is_err(), "a used log must be refused");
    // Seeding twice: the second finds the first.
    let log = MemLogStore::new();
    let snapshots = SnapshotStore::open(dir.path().join("b")).unwrap();
    seed_snapshot(
        &log,
        &snapshots,
        voters.clone(),
        BTreeMap::new(),
        &mut &b"x"[..],
    )
    .unwrap();
    let again = seed_snapshot(
        &log,
        &snapshots,
        voters.clone(),
        BTreeMap::new(),
        &mut &b"x"[..],
    );
    assert!(again.is_err(), "a seeded node must not be seeded again");
}

/// A seed interrupted between its snapshot and its log reset (a crash) is
/// finished by seeding again, not refused: the node can then start.
#[test]
fn an_interrupted_seed_is_finished_by_seeding_again() {
    let dir = tempfile::tempdir().unwrap();
    let voters = Membership::with_voters([1]);
    let snapshots = SnapshotStore::open(dir.path().join("s")).unwrap();
    seed_snapshot(
        &MemLogStore::new(),
        &snapshots,
        voters.clone(),
        BTreeMap::new(),
        &mut &b"x"[..],
    )
    .unwrap();
    // The log the crash lost: empty, beside a durable seeded snapshot.
    let log = MemLogStore::new();
    let newest = snapshots.latest().unwrap().unwrap();
    assert!(ordo::is_unfinished_seed(&log, &newest));
    let finished =
        seed_snapshot(&log, &snapshots, voters, BTreeMap::new(), &mut &b"y"[..]).unwrap();
    assert_eq!((finished.index, finished.term), (1, 1));
    assert_eq!((log.last_index(), log.hard_state().term), (1, 1));
    assert!(!ordo::is_unfinished_seed(&log, &newest));
}
