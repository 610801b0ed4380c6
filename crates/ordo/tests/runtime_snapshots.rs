//! Snapshots through the runtime: the leader snapshots and compacts its log,
//! and a follower that fell behind the compaction catches up from a snapshot
//! sent in chunks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ordo::storage::{LogStore, MemLogStore, SnapshotStore, WalConfig, WalLogStore};
use ordo::transport::InProcessNetwork;
use ordo::{Event, NodeId, RaftConfig, RaftNode};
use runtime_support::recording::{Recorder, RecordingTransport, Sent};
use runtime_support::{Answer, Cluster, Kv, add, config, get, set, wait_until};

const IDS: [NodeId; 3] = [1, 2, 3];

fn snapshotting(id: NodeId) -> RaftConfig {
    RaftConfig {
        snapshot_threshold: 20,
        log_retention_entries: 5,
        // Small chunks: a transfer takes many messages.
        snapshot_chunk_bytes: 64,
        ..config(id, &IDS)
    }
}

async fn start(
    cluster: &mut Cluster,
    dir: &Path,
    id: NodeId,
    store: Arc<impl LogStore + 'static>,
    kv: Kv,
) -> RaftNode<Kv> {
    let snapshots = SnapshotStore::open(dir.join(format!("snapshots-{id}"))).unwrap();
    let node = RaftNode::builder(snapshotting(id), kv, store, cluster.network.transport(id))
        .snapshot_store(snapshots)
        .build()
        .unwrap();
    node.start().await.unwrap();
    cluster.nodes.insert(id, node.clone());
    node
}

async fn lagging_follower_catches_up_from_a_snapshot(durable: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster {
        network: InProcessNetwork::new(),
        ids: IDS.to_vec(),
        nodes: Default::default(),
    };
    for id in IDS {
        if durable {
            let wal = WalLogStore::open(dir.path().join(format!("log-{id}")), WalConfig::default());
            start(
                &mut cluster,
                dir.path(),
                id,
                Arc::new(wal.unwrap()),
                Kv::default(),
            )
            .await;
        } else {
            let store = Arc::new(MemLogStore::new());
            start(&mut cluster, dir.path(), id, store, Kv::default()).await;
        }
    }
    let leader = cluster.leader().await;
    let lagging = cluster.follower_of(leader);
    let mut events = cluster.node(lagging).events();
    cluster.network.isolate(lagging);
    for i in 0..100 {
        cluster.propose(add("n", i)).await;
    }
    // The leader snapshotted and compacted past what the follower has.
    let status = cluster.node(leader).status().await.unwrap();
    assert!(status.commit_index > 100);
    let calls_before = {
        let answer = cluster
            .node(lagging)
            .read_stale(runtime_support::Query::Fingerprint);
        match answer.await.unwrap() {
            Answer::Fingerprint { applied, .. } => applied,
            other => panic!("{other:?}"),
        }
    };
    assert!(calls_before < 100);
    cluster.network.heal();
    cluster.converged(100).await;
    let mut installed = None;
    while let Some(event) = events.try_recv().unwrap() {
        if let Event::SnapshotInstalled { last_index } = event {
            installed = Some(last_index);
        }
    }
    let installed = installed.expect("the follower installed a snapshot");
    assert!(installed > 20, "{installed}");
    let answer = cluster.node(lagging).read_index(get("n")).await.unwrap();
    assert_eq!(answer, Answer::Value(Some((0..100).sum())));
    // And it keeps replicating normally afterwards.
    cluster.propose(add("n", 1)).await;
    cluster.converged(101).await;
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_follower_catches_up_from_a_snapshot_in_memory() {
    lagging_follower_catches_up_from_a_snapshot(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_follower_catches_up_from_a_snapshot_on_disk() {
    lagging_follower_catches_up_from_a_snapshot(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_resumes_from_its_snapshot_and_compacted_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster {
        network: InProcessNetwork::new(),
        ids: IDS.to_vec(),
        nodes: Default::default(),
    };
    let wal = |id: NodeId| {
        Arc::new(
            WalLogStore::open(dir.path().join(format!("log-{id}")), WalConfig::default()).unwrap(),
        )
    };
    for id in IDS {
        start(&mut cluster, dir.path(), id, wal(id), Kv::default()).await;
    }
    for i in 0..60 {
        cluster.propose(add("n", i)).await;
    }
    cluster.converged(60).await;
    let leader = cluster.leader().await;
    let restarted = cluster.follower_of(leader);
    cluster.stop_node(restarted).await;
    let kv = Kv::default();
    let applied_here = Arc::clone(&kv.apply_calls);
    start(&mut cluster, dir.path(), restarted, wal(restarted), kv).await;
    cluster.propose(add("n", 1000)).await;
    cluster.converged(61).await;
    let replayed = applied_here.load(Ordering::Relaxed);
    assert!(
        replayed < 61 - 20,
        "restored from a snapshot, not replayed: {replayed}"
    );
    wait_until("nothing", || Some(())).await;
    cluster.stop_all().await;
}

fn long_key(i: u64) -> String {
    format!("key-{i:03}-{}", "x".repeat(24))
}

/// Bytes of snapshot the follower receives before it is restarted.
const RECEIVED_BEFORE_RESTART: u64 = 10 * 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_restarted_mid_transfer_resumes_from_its_durable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new();
    let mut cluster = Cluster {
        network: InProcessNetwork::new(),
        ids: IDS.to_vec(),
        nodes: Default::default(),
    };
    let logs: Vec<Arc<MemLogStore>> = IDS.iter().map(|_| Arc::new(MemLogStore::new())).collect();
    let start_recorded = |cluster: &Cluster, id: NodeId| {
        let snapshots = SnapshotStore::open(dir.path().join(format!("snapshots-{id}"))).unwrap();
        let transport = RecordingTransport::new(cluster.network.transport(id), recorder.clone());
        let log = Arc::clone(&logs[id as usize - 1]);
        RaftNode::builder(snapshotting(id), Kv::default(), log, transport)
            .snapshot_store(snapshots)
            .build()
            .unwrap()
    };
    for id in IDS {
        let node = start_recorded(&cluster, id);
        node.start().await.unwrap();
        cluster.nodes.insert(id, node);
    }
    let leader = cluster.leader().await;
    let lagging = cluster.follower_of(leader);
    cluster.network.isolate(lagging);
    // Many long keys, so the snapshot takes dozens of 64-byte chunks.
    for i in 0..100 {
        cluster.propose(set(&long_key(i), i)).await;
    }
    // The transfer gets stuck after a known number of bytes, deterministically.
    recorder.gate(lagging, RECEIVED_BEFORE_RESTART);
    cluster.network.heal();
    wait_until(
        "the follower to acknowledge the bytes before the gate",
        || (recorder.acknowledged(lagging) == RECEIVED_BEFORE_RESTART).then_some(()),
    )
    .await;
    cluster.stop_node(lagging).await;

    // What it holds durably: exactly what it acknowledged.
    let snapshot_dir = dir.path().join(format!("snapshots-{lagging}"));
    {
        let store = SnapshotStore::open(&snapshot_dir).unwrap();
        let incoming = store.open_incoming().unwrap().expect("a partial transfer");
        assert_eq!(incoming.received_bytes(), RECEIVED_BEFORE_RESTART);
    }

    let mark = recorder.mark();
    recorder.open();
    let restarted = start_recorded(&cluster, lagging);
    let mut events = restarted.events();
    restarted.start().await.unwrap();
    cluster.nodes.insert(lagging, restarted.clone());
    cluster.converged(100).await;

    // The chunks the follower made durable since the restart, by the
    // offsets it acknowledged (retransmissions and probes aside, those are
    // what it received).
    let acks: Vec<u64> = recorder
        .since(mark)
        .iter()
        .filter_map(|sent| match sent {
            Sent::Ack {
                from,
                next_offset,
                installed: false,
                ..
            } if *from == lagging => Some(*next_offset),
            _ => None,
        })
        .collect();
    let furthest = *acks.iter().max().expect("the transfer went on");
    assert!(
        furthest > 3 * RECEIVED_BEFORE_RESTART,
        "the snapshot spans many chunks: {furthest}"
    );
    assert!(
        acks.iter().all(|&next| next >= RECEIVED_BEFORE_RESTART),
        "the transfer started over: {acks:?}"
    );
    assert!(
        acks[0] <= RECEIVED_BEFORE_RESTART + 64,
        "it went on right from its durable offset: {acks:?}"
    );
    let mut installed = false;
    while let Some(event) = events.try_recv().unwrap() {
        installed |= matches!(event, Event::SnapshotInstalled { .. });
    }
    assert!(installed, "the resumed snapshot was installed");
    let answer = restarted.read_index(get(&long_key(42))).await.unwrap();
    assert_eq!(answer, Answer::Value(Some(42)));
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_is_taken_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let network = InProcessNetwork::new();
    let config = RaftConfig {
        snapshot_threshold: 0, // never by itself
        ..config(1, &[1])
    };
    let store = Arc::new(MemLogStore::new());
    let snapshots = SnapshotStore::open(dir.path()).unwrap();
    let node = RaftNode::builder(config.clone(), Kv::default(), store, network.transport(1))
        .snapshot_store(snapshots)
        .build()
        .unwrap();
    let mut events = node.events();
    node.start().await.unwrap();
    node.wait_for_leader(runtime_support::PATIENCE)
        .await
        .unwrap();
    for i in 0..10 {
        node.propose(add("n", i)).await.unwrap();
    }
    let applied = node.status().await.unwrap().applied_index;
    let index = node.snapshot().await.unwrap();
    assert!(
        index >= applied,
        "{index} covers what was applied ({applied})"
    );
    let mut taken = Vec::new();
    while let Some(event) = events.try_recv().unwrap() {
        if let Event::SnapshotTaken { last_index } = event {
            taken.push(last_index);
        }
    }
    assert_eq!(taken, [index], "exactly the one asked for");
    node.stop().await;
    let reopened = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(reopened.latest().unwrap().unwrap().last_index, index);

    // Without a snapshot store there is nothing to take it into.
    let plain = RaftNode::new(
        config,
        Kv::default(),
        Arc::new(MemLogStore::new()),
        network.transport(1),
    )
    .unwrap();
    plain.start().await.unwrap();
    assert!(matches!(
        plain.snapshot().await,
        Err(ordo::RaftError::Snapshot(_))
    ));
    plain.stop().await;
}
