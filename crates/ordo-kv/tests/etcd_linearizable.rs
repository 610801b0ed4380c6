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
//! The check bites, twice: the same history with one read edited to return
//! a stale value (a value overwritten before the read was called) is
//! refused; and so is the history of a planted client that reads
//! `serializable` from a node left behind (killed, then restarted alone
//! after the others wrote on) while recording its reads as linearizable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;
mod etcd_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use e2e_support::Cluster;
use etcd_support::history::{self, Reads, Recorded, Targets, record, with_a_stale_read};
use etcd_support::{TIMING, channel, leader_among, others};
use ordo_sim::linearizability::{Budget, KvInput, KvModel, KvOperation, KvOutput, Verdict, check};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reading_serializably_from_a_node_left_behind_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("etcd-lying-client", dir.path(), 3).with_flags(&TIMING);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let left_behind = others(&cluster, leader)[0];
    let start = Instant::now();
    let write = |value| KvInput::Put { key: 0, value };
    let mut history = Vec::new();
    let on_leader = channel(&cluster, leader);
    let first = record(1, on_leader.clone(), write(1), Reads::Linearizable, start).await;
    history.push(first.expect("a write records an operation"));
    cluster.wait_caught_up(leader, left_behind).await;
    // The node goes down holding 1; the other two commit 2 without it.
    cluster.kill(left_behind);
    let second = record(1, on_leader, write(2), Reads::Linearizable, start).await;
    history.push(second.expect("a write records an operation"));
    assert!(
        history.iter().all(|op| op.output() == Some(&KvOutput::Put)),
        "the writes were not acknowledged: {history:?}"
    );
    for id in others(&cluster, left_behind) {
        cluster.kill(id);
    }
    // Back alone, it can reach nobody: its state stays behind.
    cluster.start(left_behind);
    cluster
        .wait_answers(left_behind, e2e_support::PATIENCE)
        .await;
    let read = KvInput::Get { key: 0 };
    let lagging = channel(&cluster, left_behind);
    let honest = record(2, lagging.clone(), read, Reads::Linearizable, start).await;
    assert_eq!(honest, None, "a lone node answered a linearizable read");
    let lie = record(2, lagging, read, Reads::Serializable, start).await;
    let lie = lie.expect("the node answers serializable reads alone");
    assert_ne!(lie.output(), Some(&KvOutput::Get { value: Some(2) }));
    history.push(lie);

    let verdict = check(&KvModel, &history, &Budget::default()).unwrap();
    let Verdict::Illegal(violation) = verdict else {
        panic!("the serializable read went unseen: {verdict:?}\n{history:?}");
    };
    println!("the planted client's stale read, refused:\n{violation}");
}

fn elapsed_ns(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap()
}
