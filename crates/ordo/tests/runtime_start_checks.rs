//! At start, the snapshot and the log must agree: a log compacted behind a
//! snapshot that is gone is refused with the repair path; a snapshot install
//! interrupted between publishing the snapshot and resetting the log is
//! finished.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::path::Path;
use std::sync::Arc;

use ordo::storage::{LogStore, SnapshotStore, StorageError, WalConfig, WalLogStore};
use ordo::transport::InProcessNetwork;
use ordo::{Event, RaftConfig, RaftError, RaftNode};
use ordo_core::{HardState, LogRead};
use runtime_support::{Answer, Kv, add, config, get};

const COMMANDS: u64 = 25;

/// Entries kept behind the newest snapshot: few, or enough to reach back to
/// the snapshot before it.
const RETENTION_SHORT: u64 = 2;
const RETENTION_PAST_PREVIOUS: u64 = 12;

fn snapshotting(log_retention_entries: u64) -> RaftConfig {
    RaftConfig {
        snapshot_threshold_entries: 10,
        log_retention_entries,
        ..config(1, &[1])
    }
}

fn open_wal(dir: &Path) -> Arc<WalLogStore> {
    Arc::new(WalLogStore::open(dir.join("wal"), WalConfig::default()).unwrap())
}

fn node_on(dir: &Path, log: Arc<WalLogStore>) -> RaftNode<Kv> {
    node_retaining(dir, log, RETENTION_SHORT)
}

fn node_retaining(dir: &Path, log: Arc<WalLogStore>, retention: u64) -> RaftNode<Kv> {
    let config = snapshotting(retention);
    RaftNode::builder(
        config,
        Kv::default(),
        log,
        InProcessNetwork::new().transport(1),
    )
    .snapshot_store(SnapshotStore::open(dir.join("snapshots")).unwrap())
    .build()
    .unwrap()
}

/// Runs a one-node group in `dir` until it has snapshotted and compacted
/// its log, then stops it. Returns the newest snapshot's index.
async fn compacted_node(dir: &Path) -> u64 {
    compacted_node_retaining(dir, RETENTION_SHORT).await
}

async fn compacted_node_retaining(dir: &Path, retention: u64) -> u64 {
    let node = node_retaining(dir, open_wal(dir), retention);
    let mut events = node.events();
    node.start().await.unwrap();
    node.wait_for_leader(runtime_support::PATIENCE)
        .await
        .unwrap();
    for i in 0..COMMANDS {
        node.propose(add("n", i)).await.unwrap();
    }
    let mut snapshot_at = 0;
    while let Some(event) = events.try_recv().unwrap() {
        if let Event::SnapshotTaken { last_index } = event {
            snapshot_at = last_index;
        }
    }
    node.stop().await;
    drop(node);
    assert!(
        snapshot_at >= 20,
        "snapshots every 10 entries: {snapshot_at}"
    );
    let log = open_wal(dir);
    assert!(log.first_index() > 1, "the log was compacted");
    snapshot_at
}

fn snapshot_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join("snapshots"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "snap")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_log_without_its_snapshot_is_refused_naming_the_repair() {
    let dir = tempfile::tempdir().unwrap();
    compacted_node(dir.path()).await;
    for snapshot in snapshot_files(dir.path()) {
        std::fs::remove_file(snapshot).unwrap();
    }
    let node = node_on(dir.path(), open_wal(dir.path()));
    let error = node.start().await.unwrap_err();
    let RaftError::Storage(storage) = &error else {
        panic!("expected a storage error: {error}")
    };
    assert!(
        matches!(
            storage.as_ref(),
            StorageError::SnapshotMissing {
                snapshot_index: None,
                ..
            }
        ),
        "{error}"
    );
    let message = error.to_string();
    for needed in [
        dir.path().join("wal").display().to_string(),
        dir.path().join("snapshots").display().to_string(),
        format!("ordo repair --data {}", dir.path().display()),
    ] {
        assert!(
            message.contains(&needed),
            "{needed:?} missing from: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_interrupted_before_the_log_reset_is_finished_at_start() {
    let source = tempfile::tempdir().unwrap();
    let snapshot_at = compacted_node(source.path()).await;
    // The receiving node: its own short log at term 1, its hard state already
    // at the sender's term (it heard from that leader), and the received
    // snapshot published; then the process stopped before the log reset.
    let dir = tempfile::tempdir().unwrap();
    let log = open_wal(dir.path());
    let snapshot_term = {
        let snapshots = SnapshotStore::open(source.path().join("snapshots")).unwrap();
        snapshots.latest().unwrap().unwrap().term
    };
    log.append(&ordo::storage::conformance::entries(1, 3, 1))
        .unwrap();
    log.save_hard_state(HardState {
        term: snapshot_term,
        voted_for: None,
    })
    .unwrap();
    log.sync().unwrap();
    drop(log);
    std::fs::create_dir_all(dir.path().join("snapshots")).unwrap();
    for snapshot in snapshot_files(source.path()) {
        std::fs::copy(
            &snapshot,
            dir.path()
                .join("snapshots")
                .join(snapshot.file_name().unwrap()),
        )
        .unwrap();
    }

    let log = open_wal(dir.path());
    let node = node_on(dir.path(), Arc::clone(&log));
    node.start()
        .await
        .expect("the install is finished, not refused");
    assert_eq!(log.first_index(), snapshot_at + 1, "the log was reset");
    node.wait_for_leader(runtime_support::PATIENCE)
        .await
        .unwrap();
    let answer = node.read_index(get("n")).await.unwrap();
    // The leader's no-op and its address entry come before the commands.
    let sum_in_snapshot: u64 = (0..snapshot_at - 2).sum();
    assert_eq!(answer, Answer::Value(Some(sum_in_snapshot)));
    node.stop().await;
}

/// Flips a bit in the middle of the snapshot file at `index`.
fn damage_snapshot(dir: &Path, index: u64) {
    let path = snapshot_files(dir)
        .into_iter()
        .find(|path| {
            path.to_string_lossy()
                .contains(&format!("snap-{index:020}-"))
        })
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&path, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_newest_snapshot_falls_back_to_the_previous_one_the_log_reaches() {
    let dir = tempfile::tempdir().unwrap();
    let newest = compacted_node_retaining(dir.path(), RETENTION_PAST_PREVIOUS).await;
    assert_eq!(
        snapshot_files(dir.path()).len(),
        2,
        "the previous snapshot is kept"
    );
    damage_snapshot(dir.path(), newest);
    let node = node_retaining(dir.path(), open_wal(dir.path()), RETENTION_PAST_PREVIOUS);
    node.start()
        .await
        .expect("start from the previous snapshot");
    node.wait_for_leader(runtime_support::PATIENCE)
        .await
        .unwrap();
    let answer = node.read_index(get("n")).await.unwrap();
    assert_eq!(answer, Answer::Value(Some((0..COMMANDS).sum())));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_newest_snapshot_the_log_does_not_reach_past_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let newest = compacted_node(dir.path()).await;
    damage_snapshot(dir.path(), newest);
    let node = node_on(dir.path(), open_wal(dir.path()));
    let error = node.start().await.unwrap_err();
    let RaftError::Storage(storage) = &error else {
        panic!("expected a storage error: {error}")
    };
    assert!(
        matches!(
            storage.as_ref(),
            StorageError::SnapshotMissing {
                snapshot_index: Some(previous),
                ..
            } if *previous < newest
        ),
        "{error}"
    );
}
