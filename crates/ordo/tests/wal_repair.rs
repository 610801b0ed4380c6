//! `repair_log_dir`: a log damaged mid-way is rebuilt empty with the node's
//! newest vote and a repair point, the damaged files moved aside.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use ordo::storage::{
    LogStore, RepairOptions, SnapshotMeta, SnapshotStore, StorageError, WalConfig, WalLogStore,
    conformance::entries, repair_log_dir,
};
use ordo_core::{HardState, LogRead, Membership};

const VOTE: HardState = HardState {
    term: 7,
    voted_for: Some(2),
};

/// `DIR/wal` with entries 1..=20 over two opens (so two segments, the
/// second starting with the newest hard state), and a snapshot at 10.
fn node_dir(dir: &Path) -> PathBuf {
    let log_dir = dir.join("wal");
    let store = common::open(&log_dir);
    store.save_hard_state(VOTE).unwrap();
    store.append(&entries(1, 10, 7)).unwrap();
    store.sync().unwrap();
    drop(store);
    let store = common::open(&log_dir);
    store.append(&entries(11, 10, 7)).unwrap();
    store.sync().unwrap();
    drop(store);
    let snapshots = SnapshotStore::open(dir.join("snapshots")).unwrap();
    let meta = SnapshotMeta {
        index: 10,
        term: 7,
        membership: Membership::with_voters([1, 2, 3]),
    };
    snapshots.create(meta).unwrap().finish().unwrap();
    log_dir
}

fn damage_middle_of(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

fn options(dir: &Path, force: bool) -> RepairOptions {
    RepairOptions {
        snapshot_dir: Some(dir.join("snapshots")),
        aside_dir: dir.join("damaged-test"),
        force,
        cluster_id: None,
    }
}

/// `node_dir`'s log, its segments naming `cluster_id`, damaged mid-way.
fn damaged_node_of_cluster(dir: &Path, cluster_id: &str) -> PathBuf {
    let log_dir = node_dir(dir);
    // One more open names the cluster in a third segment.
    let config = WalConfig {
        cluster_id: Some(cluster_id.to_owned()),
        ..common::small_config()
    };
    drop(WalLogStore::open(&log_dir, config).unwrap());
    damage_middle_of(&common::segments(&log_dir)[0]);
    log_dir
}

/// Repair keeps the node in its cluster: a log naming another cluster is
/// not rebuilt (its vote is that cluster's), and the rebuilt log names the
/// node's cluster, also when repair is not told it.
#[test]
fn repair_keeps_the_cluster_id_and_refuses_another_clusters_log() {
    const CLUSTER_A: &str = "0123456789abcdef0123456789abcdef";
    const CLUSTER_B: &str = "fedcba9876543210fedcba9876543210";
    let dir = tempfile::tempdir().unwrap();
    let log_dir = damaged_node_of_cluster(dir.path(), CLUSTER_A);
    let as_b = RepairOptions {
        cluster_id: Some(CLUSTER_B.to_owned()),
        ..options(dir.path(), true)
    };
    let refused = repair_log_dir(&log_dir, &as_b).unwrap_err();
    assert!(
        matches!(&refused, StorageError::RepairRefused { reason, .. }
            if reason.contains(CLUSTER_A) && reason.contains(CLUSTER_B)
                && reason.contains("another cluster")),
        "{refused}"
    );
    assert_eq!(common::segments(&log_dir).len(), 3, "nothing changed");

    for (dir, told) in [(dir, Some(CLUSTER_A)), (tempfile::tempdir().unwrap(), None)] {
        let log_dir = match told {
            Some(_) => log_dir.clone(),
            None => damaged_node_of_cluster(dir.path(), CLUSTER_A),
        };
        let repair = RepairOptions {
            cluster_id: told.map(str::to_owned),
            ..options(dir.path(), false)
        };
        repair_log_dir(&log_dir, &repair).unwrap();
        let opened_as = |id: &str| {
            let config = WalConfig {
                cluster_id: Some(id.to_owned()),
                ..common::small_config()
            };
            WalLogStore::open(&log_dir, config).map(drop)
        };
        assert!(
            matches!(
                opened_as(CLUSTER_B),
                Err(StorageError::ClusterMismatch { .. })
            ),
            "told {told:?}: the rebuilt log names no cluster"
        );
        opened_as(CLUSTER_A).unwrap();
    }
}

#[test]
fn a_log_damaged_mid_way_is_rebuilt_with_its_vote_and_a_repair_point() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = node_dir(dir.path());
    damage_middle_of(&common::segments(&log_dir)[0]);
    let refused = ordo::storage::WalLogStore::open(&log_dir, common::small_config()).unwrap_err();
    let message = refused.to_string();
    assert!(matches!(refused, StorageError::Corrupt { .. }), "{message}");
    assert!(
        message.contains(&format!("ordo repair --data {}", dir.path().display())),
        "{message}"
    );

    let report = repair_log_dir(&log_dir, &options(dir.path(), false)).unwrap();
    assert_eq!(report.hard_state, VOTE);
    assert!(
        report.hard_state_proven,
        "the second segment's head holds it"
    );
    assert!(report.repair_point >= 20, "{report:?}");
    assert!(report.damaged_bytes > 0);
    let aside = dir.path().join("damaged-test");
    assert_eq!(
        common::segments(&aside.join("wal")).len(),
        2,
        "moved, not deleted"
    );
    assert!(aside.join("snapshots").is_dir());
    assert!(!dir.path().join("snapshots").exists());

    let store = common::open(&log_dir);
    assert_eq!(store.hard_state(), VOTE, "the vote is kept");
    assert_eq!(store.last_index(), 0, "the log is empty");
    assert_eq!(store.repair_point(), Some(report.repair_point));
}

/// A log from before the `VOTE` file: only the log can tell the vote.
#[test]
fn damage_after_the_newest_hard_state_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = node_dir(dir.path());
    std::fs::remove_file(log_dir.join("VOTE")).unwrap();
    damage_middle_of(common::segments(&log_dir).last().unwrap());
    let refused = repair_log_dir(&log_dir, &options(dir.path(), false)).unwrap_err();
    assert!(
        matches!(&refused, StorageError::RepairRefused { reason, .. } if reason.contains("--force")),
        "{refused}"
    );
    assert_eq!(common::segments(&log_dir).len(), 2, "nothing changed");
    assert!(!dir.path().join("damaged-test").exists());

    let report = repair_log_dir(&log_dir, &options(dir.path(), true)).unwrap();
    assert!(!report.hard_state_proven);
    assert_eq!(report.hard_state, VOTE, "the newest readable one");
    assert!(report.repair_point >= 20, "{report:?}");
}

/// Every segment deleted: nothing bounds what the node acknowledged or whom
/// it voted for, so no repair point could be sound, even with `--force`.
#[test]
fn a_log_with_no_segment_is_never_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = node_dir(dir.path());
    for segment in common::segments(&log_dir) {
        std::fs::remove_file(segment).unwrap();
    }
    for force in [false, true] {
        let refused = repair_log_dir(&log_dir, &options(dir.path(), force)).unwrap_err();
        assert!(
            matches!(&refused, StorageError::RepairRefused { reason, .. } if reason.contains("no segment")),
            "{refused}"
        );
    }
    assert!(!dir.path().join("damaged-test").exists(), "nothing moved");
}

#[test]
fn a_log_in_use_is_not_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = node_dir(dir.path());
    let store = common::open(&log_dir);
    let refused = repair_log_dir(&log_dir, &options(dir.path(), true)).unwrap_err();
    assert!(matches!(refused, StorageError::Locked { .. }), "{refused}");
    assert_eq!(store.last_index(), 20);
}

/// Every hard state a sync reported durable was written to the `VOTE` file
/// first, so damage in the log after the last hard state read loses no vote.
#[test]
fn the_vote_file_proves_the_hard_state_whatever_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = node_dir(dir.path());
    damage_middle_of(common::segments(&log_dir).last().unwrap());
    let report = repair_log_dir(&log_dir, &options(dir.path(), false)).unwrap();
    assert!(report.hard_state_proven, "{report:?}");
    assert_eq!(report.hard_state, VOTE);
    assert!(
        log_dir.join("VOTE").is_file(),
        "the rebuilt log has its own"
    );
    assert_eq!(common::open(&log_dir).hard_state(), VOTE);
}

#[test]
fn a_damaged_vote_file_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = node_dir(dir.path());
    damage_middle_of(&log_dir.join("VOTE"));
    let refused = repair_log_dir(&log_dir, &options(dir.path(), false)).unwrap_err();
    assert!(
        matches!(&refused, StorageError::RepairRefused { reason, .. } if reason.contains("--force")),
        "{refused}"
    );
    let report = repair_log_dir(&log_dir, &options(dir.path(), true)).unwrap();
    assert_eq!(report.hard_state, VOTE, "the log's own copy");
}
