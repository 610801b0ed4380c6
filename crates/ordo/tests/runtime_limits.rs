//! Back-pressure and shutdown: bounded queues answer Busy, a slow state
//! machine sheds load without elections, stop answers everyone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ordo::storage::MemLogStore;
use ordo::{RaftConfig, RaftError};
use runtime_support::{Cluster, Kv, add, config, get, set, wait_until, wait_until_async};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_proposals_gets_busy_instead_of_queueing() {
    let mut cluster = Cluster::start_with(3, |config| config.max_pending_proposals = 32).await;
    let leader = cluster.leader().await;
    let node = cluster.node(leader).clone();
    let mut tasks = Vec::new();
    for i in 0..2000u64 {
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            node.propose(set(&format!("k{i}"), i)).await
        }));
    }
    let (mut accepted, mut busy) = (0u64, 0u64);
    for task in tasks {
        match task.await.unwrap() {
            Ok(None) => accepted += 1,
            Err(RaftError::Busy { .. }) => busy += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(busy > 0, "2000 at once must overflow a limit of 32");
    assert!(accepted > 0);
    cluster.converged(accepted).await;
    let status = node.status().await.unwrap();
    assert_eq!(status.pending_proposals, 0, "every slot given back");
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_state_machine_sheds_load_without_an_election() {
    let ids = [1, 2, 3];
    let mut cluster = Cluster {
        network: ordo::transport::InProcessNetwork::new(),
        ids: ids.to_vec(),
        nodes: Default::default(),
    };
    for id in ids {
        let config = RaftConfig {
            max_backlog_bytes: 64,
            // The state machine sleeps: give it its own thread.
            dedicated_apply_thread: true,
            ..config(id, &ids)
        };
        let kv = Kv {
            apply_delay: Duration::from_millis(20),
            ..Kv::default()
        };
        cluster
            .start_node(config, kv, Arc::new(MemLogStore::new()))
            .await;
    }
    let leader = cluster.leader().await;
    let term = cluster.node(leader).soft_state().term;
    let node = cluster.node(leader).clone();
    // Proposals trickle in while earlier batches sit in the slow apply.
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_micros(i * 500)).await;
            node.propose(set(&format!("key-{i}"), i)).await
        }));
    }
    let (mut saw_backlog, mut accepted) = (false, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => accepted += 1,
            Err(RaftError::Busy { reason: "backlog" }) => saw_backlog = true,
            Err(RaftError::Busy { .. }) => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(saw_backlog, "a backlog over its limit refuses proposals");
    cluster.converged(accepted).await;
    assert_eq!(
        cluster.node(leader).soft_state().term,
        term,
        "a slow state machine must not cause an election"
    );
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_answers_in_flight_proposals_and_reads_with_shutting_down() {
    // Long election timeouts so the cut-off leader keeps its role during the
    // test; campaign() elects node 1 without waiting for them.
    let mut cluster = Cluster::start_with(3, |config| {
        config.election_timeout_min = Duration::from_secs(5);
        config.election_timeout_max = Duration::from_secs(10);
        config.heartbeat_interval = Duration::from_millis(50);
    })
    .await;
    cluster.node(1).campaign().await.unwrap();
    assert_eq!(cluster.leader().await, 1);
    cluster.propose(set("a", 1)).await;
    let node = cluster.node(1).clone();
    let before = node.status().await.unwrap().last_log_index;
    cluster.network.isolate(1);
    let mut proposals = Vec::new();
    for i in 0..10u64 {
        let node = node.clone();
        proposals.push(tokio::spawn(async move { node.propose(add("b", i)).await }));
    }
    let read = tokio::spawn({
        let node = node.clone();
        async move { node.read_index(get("a")).await }
    });
    wait_until_async("the ten proposals to be appended", || {
        let node = node.clone();
        async move {
            let status = node.status().await.unwrap();
            (status.last_log_index >= before + 10 && status.pending_reads == 1).then_some(())
        }
    })
    .await;
    node.stop().await;
    for proposal in proposals {
        let answer = proposal.await.unwrap();
        assert!(matches!(answer, Err(RaftError::ShuttingDown)), "{answer:?}");
    }
    let answer = read.await.unwrap();
    assert!(matches!(answer, Err(RaftError::ShuttingDown)), "{answer:?}");
    // And everything after the stop.
    assert!(matches!(
        node.propose(set("c", 1)).await,
        Err(RaftError::ShuttingDown)
    ));
    assert!(matches!(
        node.read_stale(get("a")).await,
        Err(RaftError::ShuttingDown)
    ));
    assert!(matches!(node.status().await, Err(RaftError::ShuttingDown)));
    assert!(node.is_stopped() && !node.is_leader() && node.leader_id().is_none());
    node.stop().await; // twice is fine
    cluster.nodes.remove(&1);
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_that_cannot_commit_times_out_after_the_propose_timeout() {
    let timeout = Duration::from_millis(300);
    // Without check-quorum the cut-off leader never steps down (stepping
    // down would answer the proposal "outcome unknown" first).
    let mut cluster = Cluster::start_with(3, |config| {
        config.propose_timeout = timeout;
        config.check_quorum = false;
    })
    .await;
    let leader = cluster.leader().await;
    let node = cluster.node(leader).clone();
    assert_eq!(node.propose(set("a", 1)).await.unwrap(), None);
    // Cut off, the leader still accepts the proposal but can never commit it.
    cluster.network.isolate(leader);
    let started = Instant::now();
    let answer = node.propose(set("lost", 2)).await;
    let waited = started.elapsed();
    assert!(matches!(answer, Err(RaftError::Timeout)), "{answer:?}");
    assert!(
        waited >= timeout,
        "answered after {waited:?}, before the timeout"
    );
    assert!(
        waited < timeout + Duration::from_secs(2),
        "answered only after {waited:?}"
    );
    assert_eq!(node.status().await.unwrap().pending_proposals, 0);
    cluster.network.heal();
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_leader_times_out_without_a_quorum() {
    // One node of a three-node group, alone: it can never win.
    let network = ordo::transport::InProcessNetwork::new();
    let node = ordo::RaftNode::new(
        config(1, &[1, 2, 3]),
        Kv::default(),
        Arc::new(MemLogStore::new()),
        network.transport(1),
    )
    .unwrap();
    node.start().await.unwrap();
    let waited = node.wait_for_leader(Duration::from_millis(400)).await;
    assert!(matches!(waited, Err(RaftError::Timeout)), "{waited:?}");
    let read = node.read_index(get("x")).await;
    assert!(
        matches!(read, Err(RaftError::NotLeader { leader: None })),
        "{read:?}"
    );
    let stopper = node.clone();
    let waiting =
        tokio::spawn(async move { stopper.wait_for_leader(Duration::from_secs(60)).await });
    node.stop().await;
    let waited = waiting.await.unwrap();
    assert!(matches!(waited, Err(RaftError::ShuttingDown)), "{waited:?}");
    wait_until("stopped", || node.is_stopped().then_some(())).await;
}
