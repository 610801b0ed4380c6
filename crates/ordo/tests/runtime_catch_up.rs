//! A node down while the group took many writes catches up through a
//! snapshot, not by replaying the log.
//!
//! 100,000 writes, as the issue asks (about 5 s in a debug build on two
//! cores); `ORDO_CATCH_UP_WRITES=<n>` runs another count. With
//! `-- --nocapture` it prints how long writing and catching up took (see
//! TESTING.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ordo::storage::{SnapshotStore, WalConfig, WalLogStore};
use ordo::transport::InProcessNetwork;
use ordo::{Event, NodeId, RaftConfig, RaftError, RaftNode};
use runtime_support::{Answer, Cluster, Kv, add, config, get, wait_until_async};

const IDS: [NodeId; 3] = [1, 2, 3];
const WRITES_DEFAULT: u64 = 100_000;
/// Concurrent clients: proposals arriving together are appended together.
const CLIENTS: u64 = 64;

fn writes() -> u64 {
    std::env::var("ORDO_CATCH_UP_WRITES")
        .ok()
        .and_then(|writes| writes.parse().ok())
        .unwrap_or(WRITES_DEFAULT)
}

fn node_config(id: NodeId, writes: u64) -> RaftConfig {
    RaftConfig {
        // About twenty snapshots over the run; the log keeps little before each.
        snapshot_threshold_entries: (writes / 20).max(100),
        log_retention_entries: 100,
        snapshot_chunk_bytes: 64 << 10,
        ..config(id, &IDS)
    }
}

/// Node `id` on its write-ahead log and snapshot store in `dir` (not started).
fn node(cluster: &Cluster, dir: &Path, id: NodeId, writes: u64, kv: Kv) -> RaftNode<Kv> {
    let wal = WalLogStore::open(dir.join(format!("log-{id}")), WalConfig::default()).unwrap();
    let snapshots = SnapshotStore::open(dir.join(format!("snapshots-{id}"))).unwrap();
    let transport = cluster.network.transport(id);
    RaftNode::builder(node_config(id, writes), kv, Arc::new(wal), transport)
        .snapshot_store(snapshots)
        .build()
        .unwrap()
}

/// `writes` additions of 1 to "n", from [`CLIENTS`] concurrent clients,
/// each retried until acknowledged.
async fn add_many(nodes: Vec<RaftNode<Kv>>, writes: u64) {
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let nodes = nodes.clone();
            let count = writes / CLIENTS + u64::from(client < writes % CLIENTS);
            tokio::spawn(async move {
                for _ in 0..count {
                    wait_until_async("a write to be acknowledged", || async {
                        write_once(&nodes).await.then_some(())
                    })
                    .await;
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
}

/// One attempt; false if it certainly was not applied (retry).
async fn write_once(nodes: &[RaftNode<Kv>]) -> bool {
    let Some(leader) = nodes.iter().find(|node| node.is_leader()) else {
        return false;
    };
    match leader.propose(add("n", 1)).await {
        Ok(_) => true,
        Err(
            RaftError::NotLeader { .. }
            | RaftError::Busy { .. }
            | RaftError::ProposalDropped
            | RaftError::TransferInProgress { .. },
        ) => false,
        // An unknown outcome would make the count below unknowable.
        Err(error) => panic!("write failed: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_down_for_many_writes_catches_up_through_a_snapshot() {
    let writes = writes();
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster {
        network: InProcessNetwork::new(),
        ids: IDS.to_vec(),
        nodes: Default::default(),
    };
    for id in IDS {
        let node = node(&cluster, dir.path(), id, writes, Kv::default());
        node.start().await.unwrap();
        cluster.nodes.insert(id, node);
    }
    let leader = cluster.leader().await;
    let down = cluster.follower_of(leader);
    cluster.stop_node(down).await;

    let started = Instant::now();
    add_many(cluster.nodes.values().cloned().collect(), writes).await;
    let writing = started.elapsed();

    let kv = Kv::default();
    let applied_here = Arc::clone(&kv.apply_calls);
    let returning = node(&cluster, dir.path(), down, writes, kv);
    let mut events = returning.events();
    let started = Instant::now();
    returning.start().await.unwrap();
    cluster.nodes.insert(down, returning.clone());
    cluster.converged(writes).await;
    let catching_up = started.elapsed();

    let mut installed = None;
    while let Some(event) = events.try_recv().unwrap() {
        if let Event::SnapshotInstalled { last_index } = event {
            installed = Some(last_index);
        }
    }
    let installed = installed.expect("the returning node installed a snapshot");
    let replayed = applied_here.load(Ordering::Relaxed);
    println!(
        "{writes} writes in {writing:.2?} while node {down} was down; it caught up in \
         {catching_up:.2?} from a snapshot of index {installed}, applying {replayed} entries itself"
    );
    assert!(installed >= writes / 2, "snapshot at {installed}");
    assert!(
        replayed < writes / 2,
        "caught up from the snapshot, not the log: {replayed} applied"
    );
    let answer = returning.read_index(get("n")).await.unwrap();
    assert_eq!(answer, Answer::Value(Some(writes)));
    cluster.stop_all().await;
}
