//! Nodes restarted on their write-ahead logs (and snapshots) catch up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ordo::storage::{SnapshotStore, WalConfig, WalLogStore};
use ordo::{Event, NodeId, RaftConfig, RaftNode};
use ordo_core::LogRead;
use runtime_support::{Answer, Cluster, Kv, Query, add, config, get, set, wait_until};

fn open_wal(dir: &Path, id: NodeId) -> Arc<WalLogStore> {
    Arc::new(WalLogStore::open(dir.join(format!("log-{id}")), WalConfig::default()).unwrap())
}

/// A 3-node cluster whose nodes log to `dir`.
async fn durable_cluster(dir: &Path) -> Cluster {
    let mut cluster = Cluster {
        network: ordo::transport::InProcessNetwork::new(),
        ids: vec![1, 2, 3],
        nodes: Default::default(),
    };
    for id in 1..=3 {
        let store = open_wal(dir, id);
        cluster
            .start_node(config(id, &[1, 2, 3]), Kv::default(), store)
            .await;
    }
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_follower_catches_up_from_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = durable_cluster(dir.path()).await;
    for i in 0..30 {
        cluster.propose(add("n", i)).await;
    }
    let leader = cluster.leader().await;
    let follower = cluster.follower_of(leader);
    cluster.converged(30).await;
    cluster.stop_node(follower).await;
    for i in 0..30 {
        cluster.propose(set("m", i)).await;
    }
    // The store is released at stop, so it reopens with what was durable.
    let store = open_wal(dir.path(), follower);
    assert!(
        store.last_index() >= 31,
        "the first 30 commands and a no-op survive"
    );
    cluster
        .start_node(config(follower, &[1, 2, 3]), Kv::default(), store)
        .await;
    let digest = cluster.converged(60).await;
    assert_ne!(digest, 0);
    let answer = cluster.node(follower).read_index(get("m")).await.unwrap();
    assert_eq!(answer, Answer::Value(Some(29)));
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_cluster_restarts_with_its_data_and_no_stale_leader() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = durable_cluster(dir.path()).await;
    for i in 0..10 {
        cluster.propose(add("n", i)).await;
    }
    let old_term = cluster.node(cluster.leader().await).soft_state().term;
    cluster.stop_all().await;

    let mut restarted = Cluster {
        network: ordo::transport::InProcessNetwork::new(),
        ids: vec![1, 2, 3],
        nodes: Default::default(),
    };
    let mut streams = Vec::new();
    for id in 1..=3 {
        let node = RaftNode::new(
            config(id, &[1, 2, 3]),
            Kv::default(),
            open_wal(dir.path(), id),
            restarted.network.transport(id),
        )
        .unwrap();
        // Before starting, the node knows its term but no leader.
        assert_eq!(node.leader_id(), None);
        streams.push(node.events());
        node.start().await.unwrap();
        restarted.nodes.insert(id, node);
    }
    let leader = restarted.leader().await;
    let new_term = restarted.node(leader).soft_state().term;
    assert!(new_term > old_term, "a restart elects in a new term");
    for stream in &mut streams {
        while let Some(event) = stream.try_recv().unwrap() {
            if let Event::LeaderElected { term, .. } = event {
                assert!(term > old_term, "a leader of the old term was reported");
            }
        }
    }
    restarted.propose(add("n", 100)).await;
    // Everything committed before the restart is applied again, in order.
    restarted.converged(11).await;
    let answer = restarted.node(leader).read_index(get("n")).await.unwrap();
    assert_eq!(answer, Answer::Value(Some(45 + 100)));
    restarted.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_snapshots_restores_instead_of_replaying() {
    let dir = tempfile::tempdir().unwrap();
    let ids = [1];
    let snapshot_config = |id| RaftConfig {
        snapshot_threshold_entries: 10,
        ..config(id, &ids)
    };
    let network = ordo::transport::InProcessNetwork::new();
    let kv = Kv::default();
    let first_run_calls = Arc::clone(&kv.apply_calls);
    let node = RaftNode::builder(
        snapshot_config(1),
        kv,
        open_wal(dir.path(), 1),
        network.transport(1),
    )
    .snapshot_store(SnapshotStore::open(dir.path().join("snapshots")).unwrap())
    .build()
    .unwrap();
    let mut events = node.events();
    node.start().await.unwrap();
    node.wait_for_leader(runtime_support::PATIENCE)
        .await
        .unwrap();
    for i in 0..25 {
        node.propose(add("n", i)).await.unwrap();
    }
    let mut snapshot_at = 0;
    while let Some(event) = events.try_recv().unwrap() {
        if let Event::SnapshotTaken { last_index } = event {
            snapshot_at = last_index;
        }
    }
    assert!(
        snapshot_at >= 20,
        "snapshots every 10 entries: {snapshot_at}"
    );
    assert_eq!(first_run_calls.load(Ordering::Relaxed), 25);
    node.stop().await;
    drop(node);

    let kv = Kv::default();
    let second_run_calls = Arc::clone(&kv.apply_calls);
    let node = RaftNode::builder(
        snapshot_config(1),
        kv,
        open_wal(dir.path(), 1),
        network.transport(1),
    )
    .snapshot_store(SnapshotStore::open(dir.path().join("snapshots")).unwrap())
    .build()
    .unwrap();
    node.start().await.unwrap();
    node.wait_for_leader(runtime_support::PATIENCE)
        .await
        .unwrap();
    node.propose(add("n", 1000)).await.unwrap();
    let answer = node.read_index(Query::Fingerprint).await.unwrap();
    let Answer::Fingerprint { applied, .. } = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(applied, 26, "the restored state counts every command once");
    let replayed = second_run_calls.load(Ordering::Relaxed);
    assert!(
        replayed < 26 - 10,
        "only entries after the snapshot are applied again: {replayed}"
    );
    let answer = node.read_index(get("n")).await.unwrap();
    assert_eq!(answer, Answer::Value(Some((0..25).sum::<u64>() + 1000)));
    node.stop().await;
    wait_until("the stop to complete", || node.is_stopped().then_some(())).await;
}
