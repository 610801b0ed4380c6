//! Membership changes through the runtime: a new node joins as a learner,
//! becomes a voter, an old one leaves; bad changes are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::sync::Arc;
use std::time::Duration;

use ordo::storage::MemLogStore;
use ordo::{Event, NodeId, RaftConfig, RaftError, RaftNode, Role};
use runtime_support::writers::{Directory, Writers, check_every_write};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_grows_to_five_and_shrinks_to_three_under_writes() {
    let mut cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let directory = Directory::new(&cluster.nodes);
    let writers = Writers::start(&directory, "write-", 4);
    writers.progress(200).await;

    for id in [4, 5] {
        let node = cluster.join(id, Arc::new(MemLogStore::new())).await;
        directory.insert(node);
        writers.progress(200).await;
    }
    let grown = cluster.node(leader).status().await.unwrap();
    assert_eq!(
        grown.peers.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 4, 5],
        "the leader tracks five members"
    );

    // Two of the original members leave (the leader stays, so writes keep
    // flowing through it); they are stopped once the change committed.
    let leaving: Vec<NodeId> = [1, 2, 3].into_iter().filter(|&id| id != leader).collect();
    for &id in &leaving {
        cluster
            .change(
                "remove",
                |leader| async move { leader.remove_node(id).await },
            )
            .await;
        directory.remove(id);
        cluster.stop_node(id).await;
        cluster.ids.retain(|&member| member != id);
        writers.progress(200).await;
    }
    let outcome = writers.finish().await;

    let members: Vec<RaftNode<Kv>> = cluster.nodes.values().cloned().collect();
    let ids: Vec<NodeId> = members.iter().map(RaftNode::id).collect();
    assert_eq!(ids, [vec![leader], vec![4, 5]].concat());
    let status = cluster.node(leader).status().await.unwrap();
    assert_eq!(status.peers.keys().copied().collect::<Vec<_>>(), ids);
    check_every_write(&members, "write-", &outcome).await;
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_leader_hands_the_group_to_the_others_undisturbed() {
    // A write the removed leader took after the change never hears its
    // outcome there (it gets no more entries): it times out as unknown.
    let mut cluster = Cluster::start_with(3, |config| {
        config.propose_timeout = Duration::from_secs(2);
    })
    .await;
    let old = cluster.leader().await;
    let directory = Directory::new(&cluster.nodes);
    let writers = Writers::start(&directory, "write-", 4);
    writers.progress(200).await;

    // The leader removes itself; it answers once the change is applied
    // there, and steps down once it commits.
    let mut removed_events = cluster.node(old).events();
    cluster.node(old).remove_node(old).await.unwrap();
    let removed = cluster.node(old).clone();
    cluster.ids.retain(|&id| id != old);
    let others: Vec<RaftNode<Kv>> = cluster
        .nodes
        .values()
        .filter(|node| node.id() != old)
        .cloned()
        .collect();
    let new = wait_until("a new leader among the others", || {
        others
            .iter()
            .find(|node| node.is_leader())
            .map(RaftNode::id)
    })
    .await;
    writers.progress(200).await;

    // The removed node keeps running (and ticking) but never campaigns,
    // however many election timeouts pass.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut roles = Vec::new();
    while let Some(event) = removed_events.try_recv().unwrap() {
        if let Event::RoleChanged { current, .. } = event {
            roles.push(current);
        }
    }
    assert_eq!(
        roles,
        [Role::Follower],
        "the removed node only stepped down"
    );
    assert!(!removed.is_leader());
    assert_ne!(cluster.leader().await, old);
    let outcome = writers.finish().await;
    let status = cluster.node(new).status().await.unwrap();
    assert!(!status.peers.contains_key(&old), "{:?}", status.peers);
    check_every_write(&others, "write-", &outcome).await;
    cluster.stop_all().await;
}

/// The configurations `events` reported, in order.
fn memberships(events: &mut ordo::EventStream) -> Vec<ordo::Membership> {
    let mut changes = Vec::new();
    while let Some(event) = events.try_recv().unwrap() {
        if let Event::MembershipChanged { membership } = event {
            changes.push(membership);
        }
    }
    changes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_node_catches_a_new_node_up_as_a_learner_before_it_votes() {
    for promote_after_catch_up in [true, false] {
        let mut cluster = Cluster::start_with(3, |config| {
            config.promote_after_catch_up = promote_after_catch_up;
        })
        .await;
        for i in 0..100 {
            cluster.propose(set("k", i)).await;
        }
        let leader = cluster.leader().await;
        let mut events = cluster.node(leader).events();
        let new = cluster
            .start_node(
                runtime_support::joining(4, &[1, 2, 3]),
                Kv::default(),
                Arc::new(MemLogStore::new()),
            )
            .await;
        cluster
            .node(leader)
            .add_node(4, runtime_support::address(4))
            .await
            .unwrap();
        let changes = memberships(&mut events);
        let last = changes.last().unwrap();
        assert!(last.voters.contains(&4) && !last.learners.contains(&4));
        if promote_after_catch_up {
            assert_eq!(changes.len(), 2, "a learner, then a voter: {changes:?}");
            assert!(changes[0].learners.contains(&4) && !changes[0].voters.contains(&4));
            // It had caught up when it was promoted.
            let Answer::Fingerprint { applied, .. } = new
                .read_stale(runtime_support::Query::Fingerprint)
                .await
                .unwrap()
            else {
                panic!("a fingerprint");
            };
            assert!(applied >= 100, "promoted having applied {applied}");
        } else {
            assert_eq!(changes.len(), 1, "a voter at once: {changes:?}");
        }
        let status = cluster.node(leader).status().await.unwrap();
        assert_eq!(&status.membership, last);
        cluster.stop_all().await;
    }
}
