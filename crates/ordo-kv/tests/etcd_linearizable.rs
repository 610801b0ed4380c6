//! The linearizability checker (`ordo_sim::linearizability`, the one the
//! simulator uses) over a history taken through etcd's gRPC API from a
//! real 3-node `ordo serve` cluster under faults: concurrent Put, linearizable
//! Range and Txn compare-and-set from four clients, each operation sent to a
//! node picked at random (so writes are forwarded), while the leader is
//! paused (SIGSTOP) until the others elect another, then resumed (a deposed
//! leader that may still believe it leads, asked for reads), and then the
//! new leader is killed (SIGKILL). How operations are recorded, and why each
//! outcome is sound: `etcd_support/history.rs`.
//!
//! The check bites: the same history with one read edited to return a
//! stale value (a value overwritten before the read was called) is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;
mod etcd_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use e2e_support::Cluster;
use etcd_support::history::{self, Recorded, Targets, with_a_stale_read};
use etcd_support::{TIMING, channel, leader_among, others};
use ordo_sim::linearizability::{Budget, KvModel, KvOperation, Verdict, check};

/// Concurrent clients.
const CLIENTS: u64 = 4;
/// Traffic before the first fault, and between faults.
const CALM: Duration = Duration::from_millis(1500);
/// Longest wait for the survivors to agree on a new leader.
const ELECTION_PATIENCE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_through_the_etcd_api_under_pause_and_kill_is_linearizable() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("etcd-linearizable", dir.path(), 3).with_flags(&TIMING);
    cluster.start_all();
    let first_leader = cluster.wait_for_leader().await;
    let channels: BTreeMap<u64, _> = cluster
        .ids()
        .into_iter()
        .map(|id| (id, channel(&cluster, id)))
        .collect();
    let targets = Targets::new(channels);
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (1..=CLIENTS)
        .map(|client| {
            let run = history::run_client(client, targets.clone(), start, Arc::clone(&stop));
            tokio::spawn(run)
        })
        .collect();

    tokio::time::sleep(CALM).await;
    // The leader freezes; the others elect one of themselves.
    cluster.process(first_leader).signal("STOP");
    let survivors = others(&cluster, first_leader);
    let second_leader = leader_among(&cluster, &survivors, ELECTION_PATIENCE).await;
    tokio::time::sleep(CALM / 2).await;
    // Resumed, the deposed leader is asked again at once.
    cluster.process(first_leader).signal("CONT");
    let resumed_ns = elapsed_ns(start);
    tokio::time::sleep(CALM).await;
    // The new leader dies; the other two go on.
    cluster.kill(second_leader);
    targets.take_out(second_leader);
    let killed_ns = elapsed_ns(start);
    leader_among(
        &cluster,
        &others(&cluster, second_leader),
        ELECTION_PATIENCE,
    )
    .await;
    tokio::time::sleep(CALM).await;
    stop.store(true, Ordering::Relaxed);

    let mut recorded: Vec<Recorded> = Vec::new();
    for client in clients {
        recorded.extend(client.await.unwrap());
    }
    let after = |since_ns: u64, node: Option<u64>| {
        recorded
            .iter()
            .filter(|op| op.operation.call_ns > since_ns && op.operation.output().is_some())
            .filter(|op| node.is_none_or(|node| op.node == node))
            .count()
    };
    let indeterminate = recorded
        .iter()
        .filter(|op| op.operation.output().is_none())
        .count();
    let resumed_answers = after(resumed_ns, Some(first_leader));
    let answers_after_kill = after(killed_ns, None);
    println!(
        "{} operations, {indeterminate} indeterminate; {resumed_answers} answered by the \
         resumed former leader, {answers_after_kill} answered after the kill",
        recorded.len()
    );
    // The faults met traffic: otherwise the check proves little.
    assert!(indeterminate > 0, "no operation was cut off by a fault");
    assert!(
        resumed_answers > 0,
        "the resumed former leader answered nothing"
    );
    assert!(
        answers_after_kill > 0,
        "nothing was answered after the kill"
    );

    let history: Vec<KvOperation> = recorded.into_iter().map(|op| op.operation).collect();
    let verdict = check(&KvModel, &history, &Budget::default()).unwrap();
    match verdict {
        Verdict::Linearizable => {}
        Verdict::Illegal(violation) => {
            panic!("not linearizable:\n{violation}\n{}", cluster.logs())
        }
        Verdict::Unknown(undecided) => panic!("undecided within the budget: {undecided:?}"),
    }

    // The planted violation: one read made stale is caught.
    let (edited, stale_read) =
        with_a_stale_read(&history).expect("no read followed two writes to its key");
    let verdict = check(&KvModel, &edited, &Budget::default()).unwrap();
    let Verdict::Illegal(violation) = verdict else {
        panic!("a stale read (operation #{stale_read}) went unseen: {verdict:?}");
    };
    println!("the planted stale read, refused:\n{violation}");
}

fn elapsed_ns(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap()
}
