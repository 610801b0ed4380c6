//! SIGTERM to the leader of a real `ordo serve` cluster hands leadership
//! over before the process exits (issue 11): the group does not wait out an
//! election. Asserted on the mechanism (the stopped leader's log says
//! another node took over before it stopped; the survivors lead one term
//! later, with every write), not on time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_to_the_leader_hands_leadership_over_before_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-handoff", dir.path(), 3);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let client = cluster.client();
    client.put("before", "stop", None).await.unwrap();
    let term = cluster.view(leader).await.unwrap().node.term;

    let status = cluster.terminate(leader).await;
    assert!(status.success(), "{status}\n{}", cluster.logs());
    let logs = cluster.logs();
    let stopped_log = logs
        .split("--- node ")
        .find(|section| section.starts_with(&format!("{leader} ")))
        .unwrap_or_default();
    assert!(
        stopped_log.contains("handing leadership over first")
            && stopped_log.contains("leadership handed over"),
        "node {leader} stopped without handing over\n{logs}"
    );
    let new_leader = cluster.wait_for_leader().await;
    assert_ne!(new_leader, leader);
    let view = cluster.view(new_leader).await.unwrap();
    assert_eq!(view.node.term, term + 1, "{}", cluster.logs());
    assert_eq!(
        client
            .get("before", ordo_kv::client::Consistency::Linearizable)
            .await
            .unwrap()
            .map(|found| found.value),
        Some(bytes::Bytes::from_static(b"stop"))
    );
}
