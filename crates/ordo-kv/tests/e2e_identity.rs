//! End-to-end cluster identity (issue 11, bug 4) with real processes: a
//! node started on the data directory of another cluster with the same
//! name, at the same addresses, is refused at every handshake, says so in
//! its log, and never takes part. `tests/cluster_identity.rs` pins the
//! same in-process, with the other cluster's log longer and its term
//! higher (what made such a node lead before cluster ids).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::time::Duration;

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
