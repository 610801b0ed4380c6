//! Membership changes through the runtime: a new node joins as a learner,
//! becomes a voter, an old one leaves; bad changes are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::sync::Arc;

use ordo::storage::MemLogStore;
use ordo::{Event, RaftConfig, RaftError};
use runtime_support::{Answer, Cluster, Kv, config, get, set, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joins_as_learner_becomes_a_voter_and_another_leaves() {
    let mut cluster = Cluster::start(3).await;
    for i in 0..10 {
        cluster.propose(set("k", i)).await;
    }
    let leader = cluster.leader().await;
    let mut events = cluster.node(leader).events();

    // Node 4 starts knowing the group it joins; it waits to be added.
    let joining = RaftConfig {
        joining: true,
        ..config(4, &[1, 2, 3, 4])
    };
    let new = cluster
        .start_node(joining, Kv::default(), Arc::new(MemLogStore::new()))
        .await;
    cluster
        .node(leader)
        .add_learner(4, "node-4:7000")
        .await
        .unwrap();
    // The learner catches up on everything, including what came before it.
    cluster.converged(10).await;
    assert!(!new.is_leader());
    cluster
        .node(leader)
        .add_node(4, "node-4:7000")
        .await
        .unwrap();
    let status = cluster.node(leader).status().await.unwrap();
    assert!(status.peers.contains_key(&4), "the leader replicates to 4");

    // A voter leaves; the four others... three remaining voters go on.
    let leaving = *cluster
        .nodes
        .keys()
        .find(|&&id| id != leader && id != 4)
        .unwrap();
    cluster.node(leader).remove_node(leaving).await.unwrap();
    cluster.stop_node(leaving).await;
    cluster.ids = cluster.nodes.keys().copied().collect();
    cluster.propose(set("k", 100)).await;
    cluster.converged(11).await;
    let answer = new.read_index(get("k")).await.unwrap();
    assert_eq!(answer, Answer::Value(Some(100)));

    let mut changes = Vec::new();
    while let Some(event) = events.try_recv().unwrap() {
        if let Event::MembershipChanged { membership } = event {
            changes.push(membership);
        }
    }
    assert!(changes.len() >= 3, "learner, voter, removal: {changes:?}");
    let last = changes.last().unwrap();
    assert!(last.voters.contains(&4) && !last.voters.contains(&leaving));
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_or_misdirected_changes_are_refused() {
    let mut cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    cluster.propose(set("a", 1)).await;
    let follower = cluster.follower_of(leader);
    match cluster.node(follower).add_learner(9, "x").await {
        Err(RaftError::NotLeader { .. }) => {}
        other => panic!("a follower must refuse: {other:?}"),
    }
    match cluster.node(leader).remove_node(42).await {
        Err(RaftError::InvalidMembershipChange(_)) => {}
        other => panic!("removing a stranger must be refused: {other:?}"),
    }
    match cluster.node(leader).add_learner(follower, "x").await {
        Err(RaftError::InvalidMembershipChange(_)) => {}
        other => panic!("a voter cannot become a learner: {other:?}"),
    }
    let joining_alone = RaftConfig {
        joining: true,
        ..config(5, &[5])
    };
    assert!(joining_alone.validate().is_err());
    wait_until("the group to still lead", || {
        cluster.node(leader).is_leader().then_some(())
    })
    .await;
    cluster.stop_all().await;
}
