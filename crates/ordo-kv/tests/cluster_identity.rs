//! Cluster identity (issue 11, bug 4): a data directory of another cluster
//! with the same name and the same addresses must never take part in this
//! one. Before cluster ids, such a node joined, won an election with its
//! longer log of a higher term, and replicated the other cluster's log over
//! this one's acknowledged writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use ordo_kv::api::ClusterResponse;
use ordo_kv::server::RunningNode;
use reqwest::StatusCode;
use support::{eventually, free_port, get_json, http, leader_of};

/// How long the waits on elections and transfers here may take.
const ELECTION_PATIENCE: Duration = Duration::from_secs(15);

async fn put(url: &str, key: &str, value: &str) {
    let response = http()
        .put(format!("{url}/v1/kv/{key}"))
        .body(value.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "PUT {key} on {url}");
}

/// The leader's client URL, once every node agrees on it.
async fn leader_url(nodes: &[RunningNode]) -> String {
    nodes[leader_of(nodes).await].client_url.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clusters_directory_with_the_same_name_and_addresses_never_takes_part() {
    let root = tempfile::tempdir().unwrap();
    let peers: BTreeMap<u64, u16> = (1..=3).map(|id| (id, free_port())).collect();

    // Cluster "other": a longer log at a higher term than the one to come.
    let other_dir = root.path().join("other");
    let other = support::start_first_members(&peers, &other_dir).await;
    let url = leader_url(&other).await;
    for i in 0..20 {
        put(&url, &format!("other-{i}"), "x").await;
    }
    // Leadership moves a few times: each move is a new term.
    let other_ref = &other;
    let move_every = Duration::from_millis(300);
    eventually(
        "the term to reach 5",
        ELECTION_PATIENCE,
        move_every,
        || async move {
            let term = other_ref[0].node.status().await.unwrap().term;
            if term >= 5 {
                return Ok(());
            }
            let leader = leader_of(other_ref).await;
            let to = other_ref[(leader + 1) % 3].node.id();
            let _ = other_ref[leader].node.transfer_leadership(to).await;
            Err(format!("term {term}"))
        },
    )
    .await;
    let other_term = other[0].node.status().await.unwrap().term;
    let other_id = other[0].cluster_id.clone();
    for node in other {
        node.stop().await;
    }

    // Cluster "this": the same name ("test") and node addresses.
    let this_dir = root.path().join("this");
    let mut this = support::start_first_members(&peers, &this_dir).await;
    assert_ne!(this[0].cluster_id, other_id, "two bootstraps, two ids");
    let url = leader_url(&this).await;
    put(&url, "acknowledged", "here").await;
    let this_term = this[0].node.status().await.unwrap().term;
    assert!(other_term > this_term, "{other_term} > {this_term}");

    // Node 1 comes back on the other cluster's directory.
    this.remove(0).stop().await;
    let this_ref = &this;
    let what = "nodes 2 and 3 to follow one of themselves";
    eventually(what, ELECTION_PATIENCE, Duration::from_millis(20), || {
        let leaders: Vec<_> = this_ref.iter().map(|node| node.node.leader_id()).collect();
        std::future::ready(if leaders.iter().all(|l| matches!(l, Some(2 | 3))) {
            Ok(())
        } else {
            Err(format!("leaders named: {leaders:?}"))
        })
    })
    .await;
    let intruder = RunningNode::start(support::settings(1, &peers, &other_dir))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline {
        assert!(!intruder.node.is_leader(), "the other cluster's node leads");
        for node in &this {
            assert_ne!(node.node.leader_id(), Some(1), "node {}", node.node.id());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Refused at the handshake, both ways.
    let refused: u64 = this
        .iter()
        .map(|node| node.transport.stats().handshakes_refused)
        .sum();
    assert!(refused > 0, "the other cluster's node was never refused");
    assert!(intruder.transport.stats().connections_opened == 0);

    // This cluster kept its write, and never saw the other cluster's.
    let url = leader_url(&this).await;
    let acknowledged = http()
        .get(format!("{url}/v1/kv/acknowledged"))
        .send()
        .await
        .unwrap();
    assert_eq!(acknowledged.status(), StatusCode::OK);
    assert_eq!(acknowledged.text().await.unwrap(), "here");
    let foreign = http()
        .get(format!("{url}/v1/kv/other-0"))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    let cluster: ClusterResponse = get_json(&format!("{url}/v1/cluster")).await;
    assert_eq!(cluster.cluster, "test");
    assert_eq!(
        cluster.cluster_id.as_deref(),
        Some(this[0].cluster_id.as_str())
    );
    intruder.stop().await;
    for node in this {
        node.stop().await;
    }
}

/// The operator's `--cluster-id` is checked against the directory at
/// start, with a message that says whose directory it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_is_refused_at_start_when_the_given_cluster_id_differs() {
    let root = tempfile::tempdir().unwrap();
    let peers: BTreeMap<u64, u16> = [(1, free_port())].into();
    let node = RunningNode::start(support::settings(1, &peers, root.path()))
        .await
        .unwrap();
    let recorded = node.cluster_id.clone();
    node.stop().await;
    let mut settings = support::settings(1, &peers, root.path());
    settings.cluster_id = Some("ffffffffffffffffffffffffffffffff".into());
    let error = match RunningNode::start(settings.clone()).await {
        Ok(_) => panic!("another cluster's directory was accepted"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.contains(&recorded) && error.contains("another cluster"),
        "{error}"
    );
    // On a new port: the old one may have gone to a connection of another
    // test in this process meanwhile (an address the node moved to is fine).
    let moved: BTreeMap<u64, u16> = [(1, free_port())].into();
    let mut settings = support::settings(1, &moved, root.path());
    settings.cluster_id = Some(recorded.clone());
    let node = RunningNode::start(settings).await.unwrap();
    assert_eq!(node.cluster_id, recorded);
    node.stop().await;
}

/// A first member that is not the lowest cannot make up an id of its own:
/// without the lowest member's URL (or `--cluster-id`) it refuses to start,
/// saying what to give, and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_member_without_a_way_to_learn_the_id_refuses_to_start() {
    let root = tempfile::tempdir().unwrap();
    let peers: BTreeMap<u64, u16> = (1..=2).map(|id| (id, free_port())).collect();
    let settings = support::settings(2, &peers, root.path());
    let data = settings.data.clone();
    let error = match RunningNode::start(settings).await {
        Ok(_) => panic!("node 2 made up a cluster id"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.contains("1=PEER_ADDR@http://HOST:PORT") && error.contains("--cluster-id"),
        "{error}"
    );
    assert!(!data.join("ordo-node.json").exists());
    assert!(!data.join("wal").exists());
}

/// A node whose log segments were all deleted, the `wal/` directory kept,
/// refuses to start as if `wal/` were gone: under its old id, with an
/// empty log and a forgotten vote, it could help elect a leader that lacks
/// acknowledged writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_log_segments_were_deleted_refuses_to_start() {
    let root = tempfile::tempdir().unwrap();
    let peers: BTreeMap<u64, u16> = [(1, free_port())].into();
    let node = RunningNode::start(support::settings(1, &peers, root.path()))
        .await
        .unwrap();
    node.node
        .wait_for_leader(Duration::from_secs(10))
        .await
        .unwrap();
    put(&node.client_url, "acknowledged", "yes").await;
    node.stop().await;
    let wal = root.path().join("node-1").join("wal");
    let mut deleted = 0;
    for entry in std::fs::read_dir(&wal).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "wal") {
            std::fs::remove_file(path).unwrap();
            deleted += 1;
        }
    }
    assert!(deleted > 0);
    let error = match RunningNode::start(support::settings(1, &peers, root.path())).await {
        Ok(_) => panic!("a node without its log started"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.contains(&wal.display().to_string())
            && error.contains("*.wal")
            && error.contains("ordo repair --data"),
        "{error}"
    );
}
