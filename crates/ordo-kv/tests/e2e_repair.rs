//! End-to-end: a node whose log is damaged mid-way refuses to start and
//! names `ordo repair`; after the repair it rejoins under its own id, the
//! leader brings it back, and every acknowledged write is on it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::path::Path;

use e2e_support::{Cluster, PATIENCE, eventually, run_ordo};
use ordo_kv::client::{Client, Consistency};

/// Every key `key/00 .. key/{count}` holds its value on `node` (stale
/// reads: what that node itself has applied).
async fn has_all(node: &Client, count: u32) -> Result<(), String> {
    for index in 0..count {
        let key = format!("key/{index:02}");
        let found = node
            .get(&key, Consistency::Stale)
            .await
            .map_err(|error| error.to_string())?;
        match found {
            Some(versioned) if versioned.value == format!("value {index}").as_bytes() => {}
            other => return Err(format!("{key}: {other:?}")),
        }
    }
    Ok(())
}

async fn eventually_has_all(node: &Client, count: u32, what: &str) {
    let what = format!("{what} to hold all {count} keys");
    eventually(&what, || has_all(node, count)).await;
}

async fn put_range(client: &Client, range: std::ops::Range<u32>) {
    for index in range {
        client
            .put(&format!("key/{index:02}"), format!("value {index}"), None)
            .await
            .unwrap();
    }
}

/// Flips a bit in the middle of the first (oldest) log segment in `data`.
fn damage_first_segment(data: &Path) {
    let mut segments: Vec<_> = std::fs::read_dir(data.join("wal"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "wal"))
        .collect();
    segments.sort();
    assert!(segments.len() >= 2, "a restarted node has several segments");
    let mut bytes = std::fs::read(&segments[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x04;
    std::fs::write(&segments[0], bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_damaged_mid_log_is_repaired_and_brought_back_by_the_leader() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-repair", dir.path(), 3);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let client = cluster.client();
    put_range(&client, 0..20).await;
    let damaged = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    // A restart starts a new segment: the damage below is then mid-log.
    cluster.terminate(damaged).await;
    cluster.start(damaged);
    eventually_has_all(&cluster.client_of(damaged), 20, "the restarted node").await;
    cluster.terminate(damaged).await;
    let data = cluster.spec(damaged).data.clone();
    damage_first_segment(&data);

    let serve_args = cluster.serve_args(damaged);
    let args: Vec<&str> = serve_args.iter().map(String::as_str).collect();
    let refused = run_ordo(&args, PATIENCE).await;
    assert_ne!(refused.code, Some(0), "{refused}");
    let repair_hint = format!("ordo repair --data {}", data.display());
    assert!(refused.stderr.contains(&repair_hint), "{refused}");

    let repaired = run_ordo(&["repair", "--data", data.to_str().unwrap()], PATIENCE).await;
    assert_eq!(repaired.code, Some(0), "{repaired}");
    assert!(repaired.stdout.contains("rebuilt"), "{repaired}");
    let aside: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("damaged-"))
        .collect();
    assert_eq!(aside.len(), 1, "the damaged files are kept: {aside:?}");

    // Acknowledged by the other two while the repaired node is down.
    put_range(&client, 20..30).await;
    cluster.start(damaged);
    // A leader whose progress for this node predates the repair keeps probing
    // above the node's (now empty) log: issue 11's second bug, fixed in the
    // core on another branch. Until that lands, the other two are restarted
    // so that whichever leads starts with fresh progress; then this can go.
    for other in cluster.ids().into_iter().filter(|&id| id != damaged) {
        cluster.terminate(other).await;
        cluster.start(other);
    }
    eventually_has_all(&cluster.client_of(damaged), 30, "the repaired node").await;
    let logs = cluster.logs();
    assert!(!logs.contains("panicked"), "{logs}");
}
