//! End-to-end cluster identity (issue 11, bug 4) with real processes: a
//! node started on the data directory of another cluster with the same
//! name, at the same addresses, is refused at every handshake, says so in
//! its log, and never takes part. `tests/cluster_identity.rs` pins the
//! same in-process, with the other cluster's log longer and its term
//! higher (what made such a node lead before cluster ids). A node whose
//! identity file is right but whose `wal/` came from another cluster's
//! node is refused at start: every log segment names its cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::path::Path;
use std::time::Duration;

use e2e_support::writes::Ledger;
use e2e_support::{Cluster, Process};
use ordo_kv::client::Consistency;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clusters_directory_is_refused_at_the_handshake_and_says_so() {
    let root = tempfile::tempdir().unwrap();
    // The other cluster: same name (`ordo`, the default), its own writes.
    let mut other = Cluster::new("ordo", &root.path().join("other"), 3);
    other.start_all();
    other.wait_for_leader().await;
    other.client().put("other", "x", None).await.unwrap();
    let other_id = other.view(1).await.unwrap().cluster_id.unwrap();
    other.terminate_all().await;

    // This cluster, at the same addresses.
    let mut this = Cluster::on_ports_of(&other, "ordo", &root.path().join("this"));
    this.start_all();
    this.wait_for_leader().await;
    this.client()
        .put("acknowledged", "yes", None)
        .await
        .unwrap();
    let this_id = this.view(1).await.unwrap().cluster_id.unwrap();
    assert_ne!(this_id, other_id);

    // Node 1 comes back on the other cluster's directory.
    this.terminate(1).await;
    let mut args = this.serve_args(1);
    let data = args.iter().position(|arg| arg == "--data").unwrap() + 1;
    args[data] = other.spec(1).data.to_str().unwrap().to_owned();
    let mut intruder = Process::spawn("intruder", &args, &root.path().join("logs"));
    tokio::time::sleep(Duration::from_secs(3)).await;

    let leader = this.wait_for_leader().await;
    assert_ne!(leader, 1, "{}", intruder.logs());
    let read = this
        .client()
        .get("acknowledged", Consistency::Linearizable)
        .await
        .unwrap();
    assert_eq!(
        read.map(|entry| entry.value),
        Some(bytes::Bytes::from_static(b"yes"))
    );
    let foreign = this
        .client()
        .get("other", Consistency::Linearizable)
        .await
        .unwrap();
    assert!(foreign.is_none());
    // Both sides name the two cluster ids.
    let refused = intruder.stderr();
    assert!(
        refused.contains("wrong cluster")
            && refused.contains(&this_id)
            && refused.contains(&other_id),
        "{refused}"
    );
    intruder.kill();
    this.terminate_all().await;
}

/// The files in `dir`, sorted, with their lengths.
fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            (name, entry.metadata().unwrap().len())
        })
        .collect();
    files.sort();
    files
}

/// A follower of cluster B restarted with its own identity file but the
/// `wal/` of the same node id of cluster A (same name, `ordo`): `ordo
/// serve` exits 1 at once, naming both cluster ids, the log directory and
/// the way out, and changes nothing in that directory; B's other two keep
/// every acknowledged write and take new ones. Before segment headers
/// named the cluster, the node started on A's log under B's identity (its
/// handshake carries B's id, so B's nodes took it in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clusters_log_under_a_right_identity_is_refused_at_start() {
    let root = tempfile::tempdir().unwrap();
    let mut cluster_a = Cluster::new("ordo", &root.path().join("a"), 3);
    cluster_a.start_all();
    let leader_a = cluster_a.wait_for_leader().await;
    Ledger::new()
        .write_many(&cluster_a.client_of(leader_a), "a", 5)
        .await;
    let id_a = cluster_a.view(1).await.unwrap().cluster_id.unwrap();
    cluster_a.terminate_all().await;

    let mut cluster_b = Cluster::new("ordo", &root.path().join("b"), 3);
    cluster_b.start_all();
    let leader_b = cluster_b.wait_for_leader().await;
    let mut ledger = Ledger::new();
    ledger
        .write_many(&cluster_b.client_of(leader_b), "b", 10)
        .await;
    let id_b = cluster_b.view(1).await.unwrap().cluster_id.unwrap();
    assert_ne!(id_a, id_b);
    let replaced = cluster_b
        .ids()
        .into_iter()
        .find(|id| *id != leader_b)
        .unwrap();
    cluster_b.terminate(replaced).await;
    let wal_b = cluster_b.data(replaced).join("wal");
    std::fs::remove_dir_all(&wal_b).unwrap();
    std::fs::rename(cluster_a.data(replaced).join("wal"), &wal_b).unwrap();
    let before = listing(&wal_b);

    let (status, stderr) = cluster_b.start_refused(replaced, "foreign-wal").await;
    assert_eq!(
        status.and_then(|status| status.code()),
        Some(1),
        "node {replaced} started on cluster A's log\n{stderr}\n{}",
        cluster_b.logs()
    );
    for needed in [
        id_a.as_str(),
        id_b.as_str(),
        &wal_b.display().to_string(),
        "belongs to another cluster",
        "as a new member",
    ] {
        assert!(stderr.contains(needed), "{needed:?} missing:\n{stderr}");
    }
    assert_eq!(listing(&wal_b), before, "the refused start changed the log");

    ledger
        .assert_everywhere(&cluster_b, Duration::from_secs(10))
        .await;
    ledger
        .write(&cluster_b.client_of(leader_b), "b/after", "still served")
        .await;
    cluster_b.terminate_all().await;
}
