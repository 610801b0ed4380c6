//! Whole clusters over the in-process network: election, replication,
//! concurrent proposals, leader failure, redirects, linearizable reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::time::Duration;

use ordo::transport::{LinkFaults, MessageKind};
use ordo::{RaftError, ReadConsistency, Role};
use runtime_support::{Answer, Cluster, add, get, set, wait_until, wait_until_async};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_and_apply_concurrent_proposals_identically() {
    let mut cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let node = cluster.node(leader).clone();
    let mut tasks = Vec::new();
    for task in 0..16u64 {
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            let mut last = 0;
            for _ in 0..25 {
                last = node
                    .propose(add(&format!("k{task}"), 1))
                    .await
                    .unwrap()
                    .unwrap();
            }
            last
        }));
    }
    for task in tasks {
        assert_eq!(
            task.await.unwrap(),
            25,
            "each task's key counts its own adds"
        );
    }
    cluster.converged(16 * 25).await;
    let status = node.status().await.unwrap();
    assert_eq!(status.role, Role::Leader);
    assert_eq!(status.peers.len(), 3, "progress of every member");
    // Applying trails committing; after convergence both cover the 400 adds.
    assert!(status.commit_index >= 400 && status.applied_index >= 400);
    assert!(status.applied_index <= status.commit_index);
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_survive_their_leader_crashing_twice_and_keep_going() {
    let mut cluster = Cluster::start(5).await;
    for i in 0..20 {
        cluster.propose(set("before", i)).await;
    }
    // A crash, not a stop: no handoff, the others must notice and elect.
    let first = cluster.leader().await;
    cluster.crash_node(first).await;
    let second = cluster.leader().await;
    assert_ne!(first, second);
    for i in 0..20 {
        cluster.propose(set("after", i)).await;
    }
    cluster.converged(40).await;
    // Then a second failure: three of five still make a quorum.
    cluster.crash_node(second).await;
    let third = cluster.leader().await;
    assert!(third != first && third != second);
    assert_eq!(cluster.propose(set("last", 1)).await, None);
    cluster.converged(41).await;
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_refuses_proposals_and_names_the_leader() {
    let mut cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = cluster.follower_of(leader);
    // The follower may still be learning who leads; it must name it soon.
    let named = wait_until_async("the follower to name the leader", || {
        let node = cluster.node(follower).clone();
        async move {
            match node.propose(set("x", 1)).await {
                Err(RaftError::NotLeader {
                    leader: Some(named),
                }) => Some(named),
                Err(RaftError::NotLeader { leader: None }) => None,
                other => panic!("a follower must refuse, got {other:?}"),
            }
        }
    })
    .await;
    assert_eq!(named, (leader, format!("node-{leader}:7000")));
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_read_sees_a_write_acknowledged_just_before() {
    let mut cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = cluster.follower_of(leader);
    // Slow the follower's link so its log lags the commit: the read must
    // wait for the follower to apply, not answer from stale state.
    cluster
        .network
        .set_link_delay(leader, follower, Duration::from_millis(30));
    for value in 1..=20 {
        cluster.node(leader).propose(set("x", value)).await.unwrap();
        let seen = cluster.node(follower).read_index(get("x")).await.unwrap();
        assert_eq!(
            seen,
            Answer::Value(Some(value)),
            "stale read on the follower"
        );
    }
    // The stale read is allowed to lag, and says so in its name.
    let stale = cluster.node(follower).read_stale(get("x")).await.unwrap();
    assert!(matches!(stale, Answer::Value(_)), "{stale:?}");
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_with_takes_the_consistency_as_a_parameter() {
    let mut cluster = Cluster::start_with(3, |config| config.lease_reads = true).await;
    let leader = cluster.leader().await;
    let follower = cluster.follower_of(leader);
    cluster.propose(set("z", 3)).await;
    for consistency in [ReadConsistency::Linearizable, ReadConsistency::Lease] {
        for node in [leader, follower] {
            let answer = cluster
                .node(node)
                .read_with(get("z"), consistency)
                .await
                .unwrap();
            assert_eq!(
                answer,
                Answer::Value(Some(3)),
                "{consistency:?} on node {node}"
            );
        }
    }
    // A stale read answers from local state: the leader has applied the write.
    let answer = cluster
        .node(leader)
        .read_with(get("z"), ReadConsistency::Stale)
        .await
        .unwrap();
    assert_eq!(answer, Answer::Value(Some(3)));
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_reads_answer_on_the_leader() {
    let mut cluster = Cluster::start_with(3, |config| config.lease_reads = true).await;
    let leader = cluster.leader().await;
    cluster.propose(set("y", 7)).await;
    let answer = cluster.node(leader).read_lease(get("y")).await.unwrap();
    assert_eq!(answer, Answer::Value(Some(7)));
    let follower = cluster.follower_of(leader);
    let answer = cluster.node(follower).read_lease(get("y")).await.unwrap();
    assert_eq!(
        answer,
        Answer::Value(Some(7)),
        "a follower falls back to ReadIndex"
    );
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_cut_off_with_its_leader_is_dropped_not_applied() {
    let mut cluster = Cluster::start(3).await;
    cluster.propose(set("k", 1)).await;
    let old = cluster.leader().await;
    cluster.network.isolate(old);
    // The cut-off leader still accepts the proposal (it cannot know yet).
    let stranded = tokio::spawn({
        let node = cluster.node(old).clone();
        async move { node.propose(set("k", 99)).await }
    });
    let new = wait_until("a new leader among the others", || {
        cluster
            .nodes
            .values()
            .find(|node| node.id() != old && node.is_leader())
            .map(|node| node.id())
    })
    .await;
    cluster.node(new).propose(set("k", 2)).await.unwrap();
    cluster.network.heal();
    // Healing lets the new leader overwrite the stranded entry. The old
    // leader, once it steps down (check-quorum), answers "outcome unknown"
    // at once: it cannot tell whether the new leader holds the entry.
    match stranded.await.unwrap() {
        Err(
            RaftError::ProposalDropped | RaftError::NotLeader { .. } | RaftError::OutcomeUnknown,
        ) => {}
        other => panic!("the stranded proposal must not succeed: {other:?}"),
    }
    // That answer may come before the old leader has heard of the new one.
    wait_until("the old leader follows the new one", || {
        (cluster.node(old).leader_id() == Some(new)).then_some(())
    })
    .await;
    let answer = cluster.node(old).read_index(get("k")).await.unwrap();
    assert_eq!(answer, Answer::Value(Some(2)));
    cluster.converged(2).await;
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_moves_on_request() {
    let mut cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let target = cluster.follower_of(leader);
    cluster.propose(set("a", 1)).await;
    cluster
        .node(leader)
        .transfer_leadership(target)
        .await
        .unwrap();
    wait_until("the target to lead", || {
        cluster.node(target).is_leader().then_some(())
    })
    .await;
    assert_eq!(cluster.leader().await, target);
    cluster.propose(set("a", 2)).await;
    cluster.converged(2).await;
    let refused = cluster.node(target).transfer_leadership(42).await;
    assert!(
        matches!(refused, Err(RaftError::NotAVoter(42))),
        "{refused:?}"
    );
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_transferred_to_the_leader_itself_stays_and_keeps_taking_proposals() {
    let mut cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let term = cluster.node(leader).status().await.unwrap().term;
    cluster
        .node(leader)
        .transfer_leadership(leader)
        .await
        .unwrap();
    // Nothing was started: a leader handing over would refuse this with
    // `TransferInProgress` for a whole election timeout.
    let answer = cluster.node(leader).propose(set("a", 1)).await;
    assert!(answer.is_ok(), "{answer:?}");
    let status = cluster.node(leader).status().await.unwrap();
    assert_eq!((status.leader, status.term), (Some(leader), term));

    let follower = cluster.follower_of(leader);
    let refused = cluster.node(follower).transfer_leadership(follower).await;
    assert!(
        matches!(refused, Err(RaftError::NotLeader { .. })),
        "{refused:?}"
    );
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_survives_a_lossy_duplicating_reordering_network() {
    let mut cluster = Cluster::start(3).await;
    cluster.leader().await;
    cluster.network.set_seed(11);
    cluster.network.set_faults(LinkFaults {
        drop_probability: 0.2,
        duplicate_probability: 0.2,
        delay: Duration::from_millis(1),
        delay_jitter: Duration::from_millis(4),
    });
    cluster.network.reset_traffic();
    for i in 0..30 {
        cluster.propose(add("n", i)).await;
    }
    cluster.network.heal();
    cluster.converged(30).await;
    // Each fault took effect on the appends themselves.
    let appends = cluster.network.traffic().kind(MessageKind::Append);
    assert!(appends.dropped > 0 && appends.duplicated > 0, "{appends:?}");
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_moves_to_a_lagging_follower_once_it_caught_up() {
    let mut cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let target = cluster.follower_of(leader);
    cluster.network.isolate(target);
    for i in 0..200 {
        cluster.propose(add("n", i)).await;
    }
    let behind = cluster.node(target).status().await.unwrap();
    let ahead = cluster.node(leader).status().await.unwrap();
    assert!(behind.last_log_index + 200 <= ahead.last_log_index);

    // Back, but its link slow: the transfer starts while it still lags.
    cluster.network.heal();
    cluster
        .network
        .set_link_delay(leader, target, Duration::from_millis(10));
    cluster
        .node(leader)
        .transfer_leadership(target)
        .await
        .unwrap();
    // Meanwhile the old leader takes no proposals.
    match cluster.node(leader).propose(add("n", 1000)).await {
        Err(RaftError::TransferInProgress { target: to }) => assert_eq!(to, target),
        // The transfer already finished.
        Err(RaftError::NotLeader { leader }) => {
            assert!(leader.is_none_or(|(new, _)| new == target));
        }
        other => panic!("a leader handing over must refuse proposals: {other:?}"),
    }
    wait_until("the lagging follower to take over", || {
        cluster.node(target).is_leader().then_some(())
    })
    .await;
    cluster.network.heal();
    // It leads with everything acknowledged before.
    let answer = cluster.node(target).read_index(get("n")).await.unwrap();
    assert_eq!(answer, Answer::Value(Some((0..200).sum())));
    cluster.propose(add("n", 1)).await;
    cluster.converged(201).await;
    cluster.stop_all().await;
}
