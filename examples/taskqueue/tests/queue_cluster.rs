//! The task queue on a 3-node cluster over loopback TCP: the contract under
//! leader kills, the checker against planted bugs, expiry on the leader's
//! clock, and the seed's `submit_command`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use ordo_taskqueue::checker::{History, Violation};
use ordo_taskqueue::command::Query;
use ordo_taskqueue::state::PlantedBug;
use ordo_taskqueue::{Client, Op, RaftResult};
use support::Cluster;
use support::workload::{self, QUEUE, Workload};

fn full_workload() -> Workload {
    Workload {
        tasks: 10_000,
        producers: 32,
        workers: 8,
        nack_every: 50,
        abandon_every: 97,
        visibility_timeout: Duration::from_millis(1_000),
        deadline: Duration::from_secs(40),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_workers_ack_ten_thousand_tasks_exactly_once_across_two_leader_kills() {
    let cluster = Cluster::start(3, None).await;
    let addresses = cluster.nodes.client_addresses();
    let history = Arc::new(History::new());
    let workload = full_workload();

    // Kill the leader after 2,500 and 6,000 acks; each comes back from its
    // WAL and snapshots half a second later, so a quorum remains.
    let killer = {
        let history = history.clone();
        tokio::spawn(async move {
            let mut cluster = cluster;
            let mut killed = Vec::new();
            for acks in [2_500, 6_000] {
                while history.ack_count() < acks {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let index = cluster.kill_leader().await;
                tokio::time::sleep(Duration::from_millis(500)).await;
                cluster.nodes.restart(index).await.unwrap();
                killed.push(index);
            }
            (cluster, killed)
        })
    };
    let ending = workload::run(&workload, &addresses, &history).await;
    let killer = tokio::time::timeout(Duration::from_secs(10), killer);
    let (cluster, killed) = killer.await.expect("both kills happened").unwrap();
    let report = history.check(workload::payloads(&workload));
    println!(
        "{ending:?}; killed nodes at {killed:?}; {} tasks, {} deliveries ({} again), {} acks",
        report.tasks, report.deliveries, report.duplicate_deliveries, report.acks
    );

    assert!(ending.drained, "the queue did not drain: {ending:?}");
    assert_eq!(killed.len(), 2, "two leaders killed mid-workload");
    assert_eq!(report.violations, vec![], "the contract broke");
    assert!(report.tasks >= workload.tasks);
    assert!(
        report.duplicate_deliveries > 0,
        "abandoned claims are delivered again"
    );

    // Every replica, the restarted ones too, reaches the same state: every
    // task the clients know acked, nothing else.
    let leader = cluster.wait_for_leader().await;
    let expected = Client::new(vec![addresses[leader].clone()])
        .stats(None)
        .await
        .unwrap();
    assert_eq!(
        (
            expected.acked,
            expected.ready,
            expected.claimed,
            expected.dead_lettered
        ),
        (report.tasks as u64, 0, 0, 0)
    );
    for node in cluster.nodes.running() {
        let mut stats = None;
        for _ in 0..100 {
            let answer = node
                .queue()
                .raft()
                .read_stale(Query::Stats(None))
                .await
                .unwrap();
            stats = Some(answer);
            if stats == Some(ordo_taskqueue::command::Answer::Stats(expected)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            stats,
            Some(ordo_taskqueue::command::Answer::Stats(expected)),
            "node {}",
            node.id()
        );
    }
    cluster.stop().await;
}

/// A small run against a cluster with `bug` planted, no kills.
async fn run_with_bug(bug: PlantedBug) -> Vec<Violation> {
    let cluster = Cluster::start(3, Some(bug)).await;
    let addresses = cluster.nodes.client_addresses();
    let history = Arc::new(History::new());
    let workload = Workload {
        tasks: 300,
        producers: 4,
        workers: 4,
        nack_every: 10,
        abandon_every: u64::MAX,
        visibility_timeout: Duration::from_millis(1_000),
        deadline: Duration::from_secs(4),
    };
    workload::run(&workload, &addresses, &history).await;
    cluster.stop().await;
    history.check(workload::payloads(&workload)).violations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checker_catches_a_queue_that_loses_nacked_tasks() {
    let violations = run_with_bug(PlantedBug::LoseNack).await;
    let lost = violations
        .iter()
        .filter(|v| matches!(v, Violation::Lost(_)))
        .count();
    assert_eq!(
        lost, 30,
        "every nacked task (ids 10, 20, … 300) is lost: {violations:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checker_catches_a_queue_that_redelivers_acked_tasks() {
    let violations = run_with_bug(PlantedBug::RedeliverAcked).await;
    assert!(
        violations
            .iter()
            .any(|v| matches!(v, Violation::DeliveredAfterAck(_))),
        "{violations:?}"
    );
    assert!(
        violations
            .iter()
            .any(|v| matches!(v, Violation::AckedTwice { .. })),
        "{violations:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_claim_is_delivered_again_and_its_token_no_longer_acks() {
    let cluster = Cluster::start(3, None).await;
    let mut client = Client::new(cluster.nodes.client_addresses());
    let id = client.enqueue(QUEUE, b"slow".to_vec()).await.unwrap();
    let first = client
        .claim(QUEUE, "a", Duration::from_millis(200))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.id, first.attempt), (id, 1));
    assert_eq!(
        client
            .claim(QUEUE, "b", Duration::from_secs(5))
            .await
            .unwrap(),
        None
    );

    // Nobody writes: the leader's expiry loop alone brings the task back.
    let mut stats = client.stats(Some(QUEUE)).await.unwrap();
    for _ in 0..100 {
        if stats.ready == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        stats = client.stats(Some(QUEUE)).await.unwrap();
    }
    assert_eq!(
        (stats.ready, stats.claimed),
        (1, 0),
        "expired by the leader's tick"
    );

    let second = client
        .claim(QUEUE, "b", Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.id, second.attempt), (id, 2));
    assert!(second.deadline_ms >= first.deadline_ms + 4_000);
    let stale = client.ack(first.id, first.token).await;
    assert!(
        matches!(
            stale,
            Err(ordo_taskqueue::ClientError::Refused(
                ordo_taskqueue::Refusal::TokenMismatch
            ))
        ),
        "{stale:?}"
    );
    client.ack(second.id, second.token).await.unwrap();
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_command_answers_success_with_the_index_or_names_the_leader() {
    let cluster = Cluster::start(3, None).await;
    let leader = cluster.wait_for_leader().await;
    let leader_id = leader as u64 + 1;
    // Followers learn the leader from its first append.
    for node in cluster.nodes.running() {
        node.queue()
            .raft()
            .wait_for_leader(Duration::from_secs(5))
            .await
            .unwrap();
    }
    let enqueue = Op::Enqueue {
        queue: QUEUE.into(),
        payload: b"x".to_vec(),
        max_attempts: 3,
    };
    for node in cluster.nodes.running() {
        let result = node.queue().submit_command(enqueue.clone()).await;
        match result {
            RaftResult::Success(index) if node.id() == leader_id => assert!(index > 0),
            RaftResult::NotLeader {
                leader_id: Some(named),
            } if node.id() != leader_id => {
                assert_eq!(named, leader_id);
            }
            other => panic!("node {}: {other:?}", node.id()),
        }
    }
    cluster.stop().await;
}
