//! The node-level faults of the test kit take effect: `pause`/`resume`
//! freeze and continue a node's event loop, and `abort` on a crashed
//! `CrashableLogStore` loses exactly what was not synced.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::sync::Arc;
use std::time::Duration;

use ordo::storage::CrashableLogStore;
use ordo::transport::InProcessNetwork;
use ordo::{NodeId, RaftError};
use runtime_support::{Answer, Cluster, Kv, add, config, get, wait_until};

/// A read through the event loop that must not complete: the node is frozen.
async fn stays_unanswered(node: &ordo::RaftNode<Kv>) -> bool {
    tokio::time::timeout(Duration::from_millis(300), node.read_index(get("n")))
        .await
        .is_err()
}

/// Commands the node has applied (the apply stage answers stale reads even
/// while the event loop is paused).
async fn applied(node: &ordo::RaftNode<Kv>) -> u64 {
    match node.read_stale(runtime_support::Query::Fingerprint).await {
        Ok(Answer::Fingerprint { applied, .. }) => applied,
        other => panic!("a fingerprint, not {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_follower_sends_and_handles_nothing_until_resumed() {
    let mut cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let paused = cluster.follower_of(leader);
    cluster.node(paused).pause();
    assert!(cluster.node(paused).is_paused());
    // A round may be under way when the gate closes; then nothing.
    tokio::time::sleep(Duration::from_millis(50)).await;
    cluster.network.reset_traffic();
    let applied_before = applied(cluster.node(paused)).await;
    for i in 0..5 {
        cluster.propose(add("n", i)).await;
    }
    assert!(stays_unanswered(cluster.node(paused)).await);
    assert_eq!(
        applied(cluster.node(paused)).await,
        applied_before,
        "nothing new applied"
    );
    let traffic = cluster.network.traffic();
    for peer in [1, 2, 3].into_iter().filter(|&id| id != paused) {
        assert_eq!(traffic.link(paused, peer).sent, 0, "no ticks, no replies");
        assert!(
            traffic.link(leader, paused).delivered > 0,
            "its inbox fills"
        );
    }
    cluster.node(paused).resume();
    cluster.converged(5).await;
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_is_replaced_and_steps_down_when_resumed() {
    let mut cluster = Cluster::start(3).await;
    let old = cluster.leader().await;
    cluster.node(old).pause();
    let others: Vec<NodeId> = cluster
        .ids
        .iter()
        .copied()
        .filter(|&id| id != old)
        .collect();
    let new = wait_until("the others to elect a new leader", || {
        others
            .iter()
            .copied()
            .find(|&id| cluster.node(id).is_leader())
    })
    .await;
    assert!(
        cluster.node(old).is_leader(),
        "frozen, it still believes it leads"
    );
    cluster.node(old).resume();
    assert_eq!(
        cluster.leader().await,
        new,
        "the resumed node hears the new term"
    );
    cluster.propose(add("n", 1)).await;
    cluster.converged(1).await;
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_keeps_acknowledged_writes_and_loses_unsynced_ones() {
    let network = InProcessNetwork::new();
    let store = Arc::new(CrashableLogStore::new());
    let mut cluster = Cluster {
        network: network.clone(),
        ids: vec![1],
        nodes: Default::default(),
    };
    let node = cluster
        .start_node(config(1, &[1]), Kv::default(), Arc::clone(&store))
        .await;
    cluster.leader().await;
    for i in 1..=5 {
        assert_eq!(
            node.propose(add("n", i)).await.unwrap(),
            Some(i * (i + 1) / 2)
        );
    }
    // The disk stalls: the next write is made but never synced, so never
    // acknowledged (a group of one commits only what it synced).
    store.stall_syncs();
    let unacknowledged = tokio::spawn({
        let node = node.clone();
        async move { node.propose(add("n", 100)).await }
    });
    wait_until("the write to reach the store", || {
        (store.unsynced_writes() > 0).then_some(())
    })
    .await;
    store.crash();
    node.abort().await;
    let answer = tokio::time::timeout(Duration::from_secs(5), unacknowledged).await;
    assert!(
        matches!(answer, Ok(Ok(Err(_)))),
        "never acknowledged: {answer:?}"
    );
    assert!(store.recover() > 0, "the unsynced write is lost");
    cluster.nodes.clear();

    let restarted = cluster
        .start_node(config(1, &[1]), Kv::default(), Arc::clone(&store))
        .await;
    cluster.leader().await;
    let value = restarted.read_index(get("n")).await.unwrap();
    assert_eq!(
        value,
        Answer::Value(Some(15)),
        "1 + … + 5, and not the lost 100"
    );
    cluster.stop_all().await;
    assert!(matches!(
        restarted.propose(add("n", 1)).await,
        Err(RaftError::ShuttingDown)
    ));
}
