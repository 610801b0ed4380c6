//! `GET /v1/snapshot` streams from the node's snapshot file: a backup taken
//! while writes go on holds every write acknowledged before it was asked
//! for, and a backup being sent survives the compaction of its file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use support::calls::{put, stop_all};
use support::{http, leader_of, start_cluster, start_one};

/// Reads a backup download to its end.
async fn download(response: reqwest::Response) -> Vec<u8> {
    assert_eq!(response.status(), StatusCode::OK);
    response.bytes().await.unwrap().to_vec()
}

/// One writer puts `key-N` for N = 0, 1, ... on the leader while a follower
/// serves a backup: every write acknowledged before the backup was asked
/// for is in it. Writes are one revision each, in order, so the backup
/// holds the first N writes exactly when its revision is at least N.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_writes_go_on_holds_every_write_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(3, dir.path()).await;
    let leader = leader_of(&nodes).await;
    let leader_url = nodes[leader].client_url.clone();
    let follower_url = nodes[(leader + 1) % 3].client_url.clone();
    let acknowledged = Arc::new(AtomicU64::new(0));
    let writer = {
        let acknowledged = Arc::clone(&acknowledged);
        tokio::spawn(async move {
            for index in 0..u64::MAX {
                put(&leader_url, &format!("key-{index}"), "v").await;
                acknowledged.store(index + 1, Ordering::SeqCst);
            }
        })
    };
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let before = acknowledged.load(Ordering::SeqCst);
        let response = http()
            .get(format!("{follower_url}/v1/snapshot"))
            .send()
            .await
            .unwrap();
        let backup = download(response).await;
        let summary = ordo_kv::store::read_backup_summary(&mut backup.as_slice()).unwrap();
        assert!(
            summary.cluster_revision >= before && summary.keys >= before,
            "round {round}: {before} writes acknowledged before the backup, which holds {summary:?}"
        );
    }
    writer.abort();
    stop_all(nodes).await;
}

/// A backup whose snapshot file is compacted away while it is being sent
/// (two newer snapshots taken meanwhile) is still sent whole, and holds
/// what the file held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_survives_the_compaction_of_its_snapshot_file() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_one(dir.path(), |_| {}).await;
    let url = node.client_url.clone();
    // Larger than what sockets and the stream's read-ahead hold, so the
    // backup is still being read from its file when it is compacted.
    let value = "v".repeat(1 << 20);
    for index in 0..16 {
        put(&url, &format!("big-{index}"), value.clone()).await;
    }
    let mut response = http()
        .get(format!("{url}/v1/snapshot"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut backup = response.chunk().await.unwrap().unwrap().to_vec();
    let snapshots = dir.path().join("node-1").join("snapshots");
    let streamed_from = snapshot_files(&snapshots);
    for index in 0..2 {
        put(&url, &format!("later-{index}"), "v").await;
        node.node.snapshot().await.unwrap();
    }
    let now = snapshot_files(&snapshots);
    assert!(
        streamed_from.iter().all(|file| !now.contains(file)),
        "the backup's file was compacted: before {streamed_from:?}, now {now:?}"
    );
    while let Some(chunk) = response.chunk().await.unwrap() {
        backup.extend_from_slice(&chunk);
    }
    let summary = ordo_kv::store::read_backup_summary(&mut backup.as_slice()).unwrap();
    assert_eq!(summary.keys, 16, "{summary:?}");
    node.stop().await;
}

fn snapshot_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".snap"))
        .collect();
    names.sort();
    names
}
