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
        snapshot_threshold_entries: 20,
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

/// Three nodes on in-memory logs (kept across restarts) whose snapshot
/// traffic `recorder` sees.
struct Recorded {
    dir: tempfile::TempDir,
    recorder: Recorder,
    logs: Vec<Arc<MemLogStore>>,
    cluster: Cluster,
}

impl Recorded {
    /// Node `id`, on its log and snapshot directory.
    fn node(&self, id: NodeId) -> RaftNode<Kv> {
        let snapshots =
            SnapshotStore::open(self.dir.path().join(format!("snapshots-{id}"))).unwrap();
        let transport =
            RecordingTransport::new(self.cluster.network.transport(id), self.recorder.clone());
        let log = Arc::clone(&self.logs[id as usize - 1]);
        RaftNode::builder(snapshotting(id), Kv::default(), log, transport)
            .snapshot_store(snapshots)
            .build()
            .unwrap()
    }

    /// The acknowledgements (next offsets) `from` sent since `mark`; the
    /// chunks it made durable, retransmissions and probes aside.
    fn acks_since(&self, mark: usize, from: NodeId) -> Vec<u64> {
        self.recorder
            .since(mark)
            .iter()
            .filter_map(|sent| match sent {
                Sent::Ack {
                    from: who,
                    next_offset,
                    installed: false,
                    ..
                } if *who == from => Some(*next_offset),
                _ => None,
            })
            .collect()
    }
}

/// A recorded cluster whose lagging follower (returned) is cut off while
/// the others take 100 long writes and compact past them: it needs a
/// snapshot of dozens of 64-byte chunks once the network heals.
async fn lagging_follower_needing_a_long_snapshot() -> (Recorded, NodeId) {
    let mut recorded = Recorded {
        dir: tempfile::tempdir().unwrap(),
        recorder: Recorder::new(),
        logs: IDS.iter().map(|_| Arc::new(MemLogStore::new())).collect(),
        cluster: Cluster {
            network: InProcessNetwork::new(),
            ids: IDS.to_vec(),
            nodes: Default::default(),
        },
    };
    for id in IDS {
        let node = recorded.node(id);
        node.start().await.unwrap();
        recorded.cluster.nodes.insert(id, node);
    }
    let leader = recorded.cluster.leader().await;
    let lagging = recorded.cluster.follower_of(leader);
    recorded.cluster.network.isolate(lagging);
    for i in 0..100 {
        recorded.cluster.propose(set(&long_key(i), i)).await;
    }
    (recorded, lagging)
}

/// Heals the network and lets the transfer to `lagging` stop, deterministically,
/// after [`RECEIVED_BEFORE_RESTART`] bytes; then stops `lagging`.
async fn interrupt_the_transfer(recorded: &mut Recorded, lagging: NodeId) {
    recorded.recorder.gate(lagging, RECEIVED_BEFORE_RESTART);
    recorded.cluster.network.heal();
    wait_until(
        "the follower to acknowledge the bytes before the gate",
        || (recorded.recorder.acknowledged(lagging) == RECEIVED_BEFORE_RESTART).then_some(()),
    )
    .await;
    recorded.cluster.stop_node(lagging).await;
}

/// Restarts `lagging` with the gate open; returns it and the recorder's mark
/// from before the restart.
async fn restart_and_converge(recorded: &mut Recorded, lagging: NodeId) -> (RaftNode<Kv>, usize) {
    let mark = recorded.recorder.mark();
    recorded.recorder.open();
    let restarted = recorded.node(lagging);
    let mut events = restarted.events();
    restarted.start().await.unwrap();
    recorded.cluster.nodes.insert(lagging, restarted.clone());
    recorded.cluster.converged(100).await;
    let mut installed = false;
    while let Some(event) = events.try_recv().unwrap() {
        installed |= matches!(event, Event::SnapshotInstalled { .. });
    }
    assert!(installed, "a snapshot was installed");
    let answer = restarted.read_index(get(&long_key(42))).await.unwrap();
    assert_eq!(answer, Answer::Value(Some(42)));
    (restarted, mark)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_restarted_mid_transfer_resumes_from_its_durable_offset() {
    let (mut recorded, lagging) = lagging_follower_needing_a_long_snapshot().await;
    interrupt_the_transfer(&mut recorded, lagging).await;

    // What it holds durably: exactly what it acknowledged.
    let snapshot_dir = recorded.dir.path().join(format!("snapshots-{lagging}"));
    {
        let store = SnapshotStore::open(&snapshot_dir).unwrap();
        let incoming = store.open_incoming().unwrap().expect("a partial transfer");
        assert_eq!(incoming.received_bytes(), RECEIVED_BEFORE_RESTART);
    }

    let (_, mark) = restart_and_converge(&mut recorded, lagging).await;
    let acks = recorded.acks_since(mark, lagging);
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
    recorded.cluster.stop_all().await;
}

/// Makes the partial transfer in `snapshot_dir` announce other content (its
/// checksum field, then the header's own checksum), as if the bytes received
/// so far came from another leader's snapshot of the same index and term.
fn announce_other_content(snapshot_dir: &Path) {
    let path = snapshot_dir.join("incoming.snap.progress");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] ^= 0xff;
    let check = crc32c::crc32c(&bytes[0..24]);
    bytes[24..28].copy_from_slice(&check.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_snapshot_of_other_content_is_not_resumed_but_started_over() {
    let (mut recorded, lagging) = lagging_follower_needing_a_long_snapshot().await;
    interrupt_the_transfer(&mut recorded, lagging).await;
    let snapshot_dir = recorded.dir.path().join(format!("snapshots-{lagging}"));
    announce_other_content(&snapshot_dir);
    {
        let store = SnapshotStore::open(&snapshot_dir).unwrap();
        let incoming = store.open_incoming().unwrap().expect("a partial transfer");
        assert_eq!(incoming.received_bytes(), RECEIVED_BEFORE_RESTART);
    }

    let (_, mark) = restart_and_converge(&mut recorded, lagging).await;
    let acks = recorded.acks_since(mark, lagging);
    assert_eq!(
        acks.first(),
        Some(&0),
        "resumed onto another snapshot's bytes instead of starting over: {:?}",
        &acks[..acks.len().min(4)]
    );
    recorded.cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_damaged_in_flight_is_never_installed_and_is_sent_again() {
    let (mut recorded, lagging) = lagging_follower_needing_a_long_snapshot().await;
    recorded.recorder.damage_last_chunk(lagging);
    let follower = recorded.cluster.nodes[&lagging].clone();
    let mut events = follower.events();
    let mark = recorded.recorder.mark();
    recorded.cluster.network.heal();
    recorded.cluster.converged(100).await;

    let sent = recorded.recorder.since(mark);
    let last_chunks: Vec<usize> = sent
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Sent::Chunk { to, done: true, dropped: false, .. } if *to == lagging))
        .map(|(at, _)| at)
        .collect();
    let first_last = *last_chunks.first().expect("the last chunk was sent");
    let started_over = sent[first_last..].iter().any(|s| {
        matches!(s, Sent::Ack { from, next_offset: 0, installed: false, .. } if *from == lagging)
    });
    assert!(
        started_over,
        "the damaged snapshot was installed instead of sent again"
    );
    assert!(last_chunks.len() >= 2, "the last chunk went again");
    let mut installed = 0;
    while let Some(event) = events.try_recv().unwrap() {
        installed += usize::from(matches!(event, Event::SnapshotInstalled { .. }));
    }
    assert_eq!(installed, 1, "only the whole, undamaged snapshot");
    let answer = follower.read_index(get(&long_key(42))).await.unwrap();
    assert_eq!(answer, Answer::Value(Some(42)));
    recorded.cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_is_taken_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let network = InProcessNetwork::new();
    let config = RaftConfig {
        snapshot_threshold_entries: 0, // never by itself
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
    assert_eq!(reopened.latest().unwrap().unwrap().index, index);

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

/// A follower whose `max_snapshot_bytes` is below the leader's snapshot
/// refuses it (counted once in its metrics, however often the leader
/// resends), keeps nothing of it, and stays a healthy follower that is
/// behind: it answers status, does not campaign the group away, and the
/// others go on committing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_over_the_followers_cap_is_refused_and_the_follower_stays_healthy() {
    const CAPPED: NodeId = 3;
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster {
        network: InProcessNetwork::new(),
        ids: IDS.to_vec(),
        nodes: Default::default(),
    };
    for id in IDS {
        let mut config = snapshotting(id);
        if id == CAPPED {
            config.max_snapshot_bytes = 1;
        }
        let snapshots = SnapshotStore::open(dir.path().join(format!("snapshots-{id}"))).unwrap();
        let node = RaftNode::builder(
            config,
            Kv::default(),
            Arc::new(MemLogStore::new()),
            cluster.network.transport(id),
        )
        .snapshot_store(snapshots)
        .build()
        .unwrap();
        node.start().await.unwrap();
        cluster.nodes.insert(id, node);
    }
    let leader = cluster.leader().await;
    if leader == CAPPED {
        cluster.node(leader).transfer_leadership(1).await.unwrap();
        wait_until("node 1 leads", || cluster.node(1).is_leader().then_some(())).await;
    }
    cluster.network.isolate(CAPPED);
    for i in 0..100 {
        cluster.propose(add("n", i)).await;
    }
    cluster.network.heal();
    let capped = cluster.node(CAPPED).clone();
    runtime_support::wait_until_async("the capped follower refuses the snapshot", || {
        let node = capped.clone();
        async move {
            let status = node.status().await.ok()?;
            (status.metrics.refused_snapshots == 1).then_some(())
        }
    })
    .await;
    cluster.propose(add("n", 1)).await;
    let status = capped.status().await.unwrap();
    assert_eq!(status.metrics.refused_snapshots, 1, "reported once");
    assert!(!capped.is_leader());
    assert!(
        status.commit_index < 100,
        "it has not caught up: {status:?}"
    );
    let applied = match capped
        .read_stale(runtime_support::Query::Fingerprint)
        .await
        .unwrap()
    {
        Answer::Fingerprint { applied, .. } => applied,
        other => panic!("{other:?}"),
    };
    assert!(applied < 100, "nothing of the snapshot was installed");
    cluster.stop_all().await;
}
