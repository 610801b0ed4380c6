//! `RaftNode::read_snapshot`: the whole state as a linearizable read, from
//! a durable snapshot file. It reuses the newest snapshot when that covers
//! the read, takes one when it does not, and the file it hands out stays
//! readable while newer snapshots compact it away.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ordo::storage::{MemLogStore, SnapshotStore};
use ordo::transport::InProcessNetwork;
use ordo::{Event, EventStream, RaftConfig, RaftNode, SnapshotFile};
use runtime_support::{Kv, add, config};

/// What `Kv::snapshot` writes.
type KvState = (BTreeMap<String, u64>, u64, u64);

fn state_of(mut file: SnapshotFile) -> KvState {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn snapshots_taken(events: &mut EventStream) -> Vec<u64> {
    let mut taken = Vec::new();
    while let Some(event) = events.try_recv().unwrap() {
        if let Event::SnapshotTaken { last_index } = event {
            taken.push(last_index);
        }
    }
    taken
}

fn snapshot_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".snap"))
        .collect();
    names.sort();
    names
}

async fn single_node(dir: &Path) -> RaftNode<Kv> {
    single_node_with(dir, config(1, &[1]), Kv::default()).await
}

async fn single_node_with(dir: &Path, config: RaftConfig, kv: Kv) -> RaftNode<Kv> {
    let config = RaftConfig {
        snapshot_threshold_entries: 0, // only when asked
        ..config
    };
    let store = Arc::new(MemLogStore::new());
    let node = RaftNode::builder(config, kv, store, InProcessNetwork::new().transport(1))
        .snapshot_store(SnapshotStore::open(dir).unwrap())
        .build()
        .unwrap();
    node.start().await.unwrap();
    node.wait_for_leader(runtime_support::PATIENCE)
        .await
        .unwrap();
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_read_holds_every_acknowledged_write_and_reuses_a_snapshot_that_covers_it() {
    let dir = tempfile::tempdir().unwrap();
    let node = single_node(dir.path()).await;
    let mut events = node.events();
    for i in 1..=10 {
        node.propose(add("n", i)).await.unwrap();
    }
    // Nothing on disk covers the writes: one is taken.
    let file = node.read_snapshot().await.unwrap();
    let first = file.meta().index;
    let (map, _, _) = state_of(file);
    assert_eq!(map["n"], 55, "every acknowledged write");
    assert_eq!(snapshots_taken(&mut events), [first]);

    // No write since: the same file serves the next read, none is taken.
    let file = node.read_snapshot().await.unwrap();
    assert_eq!(file.meta().index, first);
    assert_eq!(state_of(file).0["n"], 55);
    assert_eq!(snapshots_taken(&mut events), Vec::<u64>::new());

    // A write since: the newest snapshot no longer covers the read.
    node.propose(add("n", 45)).await.unwrap();
    let file = node.read_snapshot().await.unwrap();
    assert!(file.meta().index > first);
    assert_eq!(state_of(file).0["n"], 100);
    assert_eq!(snapshots_taken(&mut events).len(), 1);
    node.stop().await;
}

/// How long the slow state machine takes to write a snapshot: far longer
/// than [`SHORT_TIMEOUT`].
const SLOW_SNAPSHOT: Duration = Duration::from_millis(1500);
/// The propose timeout of the node with the slow snapshot.
const SHORT_TIMEOUT: Duration = Duration::from_millis(300);

/// A node whose snapshot takes [`SLOW_SNAPSHOT`] (a large store) and whose
/// proposals time out after [`SHORT_TIMEOUT`].
async fn slow_snapshot_node(dir: &Path) -> RaftNode<Kv> {
    let config = RaftConfig {
        propose_timeout: SHORT_TIMEOUT,
        ..config(1, &[1])
    };
    let kv = Kv {
        snapshot_delay: SLOW_SNAPSHOT,
        ..Kv::default()
    };
    single_node_with(dir, config, kv).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_read_waits_for_a_build_longer_than_the_propose_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let node = slow_snapshot_node(dir.path()).await;
    for i in 1..=10 {
        node.propose(add("n", i)).await.unwrap();
    }
    // The newest snapshot (none) is older than the read: one is built, and
    // the build takes five times the propose timeout.
    let file = node.read_snapshot().await.unwrap();
    assert!(
        file.meta().index >= 11,
        "covers the read (ten writes after the no-op)"
    );
    assert_eq!(state_of(file).0["n"], 55, "every acknowledged write");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_read_during_a_build_that_covers_it_waits_for_that_build() {
    let dir = tempfile::tempdir().unwrap();
    let node = Arc::new(slow_snapshot_node(dir.path()).await);
    let mut events = node.events();
    node.propose(add("n", 3)).await.unwrap();
    let first = tokio::spawn({
        let node = Arc::clone(&node);
        async move { node.read_snapshot().await }
    });
    // The first read's snapshot is being built (it takes SLOW_SNAPSHOT).
    tokio::time::sleep(SLOW_SNAPSHOT / 5).await;
    let second = node.read_snapshot().await.unwrap();
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.meta().index, second.meta().index);
    assert_eq!(state_of(second).0["n"], 3);
    assert_eq!(snapshots_taken(&mut events).len(), 1, "one build for both");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_read_given_up_on_leaves_the_node_serving() {
    let dir = tempfile::tempdir().unwrap();
    let node = slow_snapshot_node(dir.path()).await;
    node.propose(add("n", 4)).await.unwrap();
    let gave_up = tokio::time::timeout(SHORT_TIMEOUT, node.read_snapshot()).await;
    assert!(gave_up.is_err(), "the build outlasts the caller's patience");
    // The abandoned build finishes; the next read is served from it.
    let file = node.read_snapshot().await.unwrap();
    assert_eq!(state_of(file).0["n"], 4);
    // A read waiting on a build when the node stops is answered, not left
    // waiting.
    node.propose(add("n", 1)).await.unwrap();
    let (read, ()) = tokio::join!(node.read_snapshot(), async {
        tokio::time::sleep(SLOW_SNAPSHOT / 5).await;
        node.stop().await;
    });
    assert!(read.is_err(), "{read:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_file_being_read_survives_its_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let node = single_node(dir.path()).await;
    node.propose(add("n", 7)).await.unwrap();
    let mut held = node.read_snapshot().await.unwrap();
    let held_index = held.meta().index;
    let mut start = [0u8; 4];
    held.read_exact(&mut start).unwrap();
    // Two newer snapshots: the store keeps one older than the newest, so
    // the held one is removed from the directory.
    for value in [1, 2] {
        node.propose(add("n", value)).await.unwrap();
        node.snapshot().await.unwrap();
    }
    let names = snapshot_files(dir.path());
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        !names
            .iter()
            .any(|name| name.contains(&format!("{held_index:020}"))),
        "snapshot {held_index} was compacted away: {names:?}"
    );
    // Still readable whole, checksum included, with the state it covered.
    let mut rest = Vec::new();
    held.read_to_end(&mut rest).unwrap();
    let bytes = [start.as_slice(), rest.as_slice()].concat();
    let (map, _, _): KvState = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(map["n"], 7);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_read_needs_a_snapshot_store() {
    let node = RaftNode::new(
        config(1, &[1]),
        Kv::default(),
        Arc::new(MemLogStore::new()),
        InProcessNetwork::new().transport(1),
    )
    .unwrap();
    node.start().await.unwrap();
    assert!(matches!(
        node.read_snapshot().await,
        Err(ordo::RaftError::Snapshot(_))
    ));
    node.stop().await;
}
