//! `GET /v1/snapshot` and etcd's Snapshot stream from the node's snapshot
//! file: a backup taken while writes go on holds every write acknowledged
//! before it was asked for, a backup being sent survives the compaction of
//! its file, and both APIs share the node's one backup slot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ordo_kv::server::RunningNode;
use ordo_kv::server::etcd::pb::etcdserverpb::SnapshotRequest;
use ordo_kv::server::etcd::pb::etcdserverpb::maintenance_client::MaintenanceClient;
use ordo_kv::server::etcd::snapshot_envelope::framed_backup_length;
use reqwest::StatusCode;
use support::calls::{put, stop_all};
use support::{http, leader_of, start_cluster, start_one};
use tonic::Code;
use tonic::transport::Channel;

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
    let (node, url) = one_node_with_big_keys(dir.path()).await;
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
    assert_eq!(summary.keys, BIG_KEYS, "{summary:?}");
    node.stop().await;
}

/// etcd's Snapshot while an HTTP backup is still being sent is refused
/// (`RESOURCE_EXHAUSTED`, etcd's "too many requests"); once that one is
/// done, it streams the framed backup from the file, its chunks counting
/// down to 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcds_snapshot_shares_the_backup_slot_and_streams_the_framed_file() {
    let dir = tempfile::tempdir().unwrap();
    let (node, url) = one_node_with_big_keys(dir.path()).await;
    let held = http()
        .get(format!("{url}/v1/snapshot"))
        .send()
        .await
        .unwrap();
    assert_eq!(held.status(), StatusCode::OK);
    let channel = Channel::from_shared(url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut maintenance = MaintenanceClient::new(channel);
    let busy = maintenance.snapshot(SnapshotRequest {}).await.unwrap_err();
    assert_eq!(busy.code(), Code::ResourceExhausted, "{busy:?}");
    let http_backup = download(held).await;

    let mut chunks = maintenance
        .snapshot(SnapshotRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut framed = Vec::new();
    let mut remaining = Vec::new();
    while let Some(chunk) = chunks.message().await.unwrap() {
        framed.extend_from_slice(&chunk.blob);
        remaining.push(chunk.remaining_bytes);
    }
    assert!(remaining.windows(2).all(|pair| pair[0] > pair[1]));
    assert_eq!(remaining.last(), Some(&0));
    assert_eq!(remaining[0] as usize, framed.len() - (64 << 10));
    let length = framed_backup_length(&mut std::io::Cursor::new(&framed))
        .unwrap()
        .unwrap();
    let backup = &framed[..usize::try_from(length).unwrap()];
    let summary = ordo_kv::store::read_backup_summary(&mut &backup[..]).unwrap();
    assert_eq!(summary.keys, BIG_KEYS, "{summary:?}");
    // No write between: the same snapshot file served both.
    assert_eq!(backup, http_backup.as_slice());
    node.stop().await;
}

/// A one-node cluster holding [`BIG_KEYS`] keys of 1 MiB, and its URL: a
/// backup larger than what sockets and the stream's read-ahead hold, so an
/// unread one is still being read from its file.
async fn one_node_with_big_keys(dir: &std::path::Path) -> (RunningNode, String) {
    let node = start_one(dir, |_| {}).await;
    let url = node.client_url.clone();
    let value = "v".repeat(1 << 20);
    for index in 0..BIG_KEYS {
        put(&url, &format!("big-{index}"), value.clone()).await;
    }
    (node, url)
}

/// Keys [`one_node_with_big_keys`] puts.
const BIG_KEYS: u64 = 16;

fn snapshot_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".snap"))
        .collect();
    names.sort();
    names
}
