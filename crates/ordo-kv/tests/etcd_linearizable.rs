//! The linearizability checker (`ordo_sim::linearizability`, the one the
//! simulator uses) over histories taken through etcd's gRPC API from a real
//! 3-node `ordo serve` cluster under faults: concurrent Put, linearizable
//! Range and Txn compare-and-set from four clients, each operation sent to a
//! node picked at random (so writes are forwarded). How operations are
//! recorded, and why each outcome is sound: `etcd_support/history.rs`.
//!
//! - Pause and kill: the leader is paused (SIGSTOP) until the others elect
//!   another, then resumed (a deposed leader that may still believe it
//!   leads, asked for reads), and then the new leader is killed (SIGKILL).
//! - Partitions: the leader is cut off from both followers, both ways,
//!   while clients still reach it (relays in front of the peer listeners:
//!   `e2e_support/relay.rs`), then healed; then a follower is cut off and
//!   healed.
//!
//! The check bites, three times: the pause-and-kill history with one read
//! edited to return a stale value (a value overwritten before the read was
//! called) is refused; so is the history of a planted client that reads
//! `serializable` from a node left behind (killed, then restarted alone
//! after the others wrote on) while recording its reads as linearizable;
//! and so is the partition history with such a read from the cut-off
//! leader added.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;
mod etcd_support;

use std::cell::Cell;
use std::time::{Duration, Instant};

use e2e_support::Cluster;
use e2e_support::relay::PeerRelays;
use etcd_support::history::{self, Reads, Targets, record, with_a_stale_read};
use etcd_support::traffic::{Traffic, assert_linearizable, assert_refused};
use etcd_support::{TIMING, channel, channels, leader_among, others};
use ordo_sim::linearizability::{KvInput, KvOperation, KvOutput};

/// Concurrent clients.
const CLIENTS: u64 = 4;
/// Traffic before the first fault, and between faults.
const CALM: Duration = Duration::from_millis(1500);
/// Longest wait for the survivors to agree on a new leader.
const ELECTION_PATIENCE: Duration = Duration::from_secs(10);
/// The key the partition test's planted operations use: none of the
/// clients' keys, so that only they write it.
const PLANTED_KEY: u64 = history::KEYS;
/// The client that writes [`PLANTED_KEY`], and the one that reads it.
const PLANTED_WRITER: u64 = CLIENTS + 1;
const PLANTED_READER: u64 = CLIENTS + 2;
/// Tries at a write that must be acknowledged (each bounded by the
/// operation timeout), for a leader just elected on a loaded machine.
const ACKNOWLEDGED_WRITE_TRIES: u64 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_through_the_etcd_api_under_pause_and_kill_is_linearizable() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("etcd-linearizable", dir.path(), 3).with_flags(&TIMING);
    cluster.start_all();
    let first_leader = cluster.wait_for_leader().await;
    let targets = Targets::new(channels(&cluster));
    let traffic = Traffic::start(&targets, CLIENTS);

    tokio::time::sleep(CALM).await;
    // The leader freezes; the others elect one of themselves.
    cluster.process(first_leader).signal("STOP");
    let survivors = others(&cluster, first_leader);
    let second_leader = leader_among(&cluster, &survivors, ELECTION_PATIENCE).await;
    tokio::time::sleep(CALM / 2).await;
    // Resumed, the deposed leader is asked again at once.
    cluster.process(first_leader).signal("CONT");
    let resumed_ns = traffic.elapsed_ns();
    tokio::time::sleep(CALM).await;
    // The new leader dies; the other two go on.
    cluster.kill(second_leader);
    targets.take_out(second_leader);
    let killed_ns = traffic.elapsed_ns();
    leader_among(
        &cluster,
        &others(&cluster, second_leader),
        ELECTION_PATIENCE,
    )
    .await;
    tokio::time::sleep(CALM).await;
    let recorded = traffic.stop().await;

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
    assert_linearizable(&history, &cluster);

    // The planted violation: one read made stale is caught.
    let (edited, stale_read) =
        with_a_stale_read(&history).expect("no read followed two writes to its key");
    assert_refused(
        &edited,
        &format!("the planted stale read (operation #{stale_read})"),
    );
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

    assert_refused(&history, "the planted client's serializable read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_through_the_etcd_api_across_partitions_is_linearizable() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::new("etcd-partition", dir.path(), 3).with_flags(&TIMING);
    let relays = PeerRelays::start(&cluster).await;
    let mut cluster = cluster.with_peer_relays(&relays);
    cluster.start_all();
    let first_leader = cluster.wait_for_leader().await;
    let traffic = Traffic::start(&Targets::new(channels(&cluster)), CLIENTS);
    let planted = Planted::new(&cluster, traffic.clock());
    let mut history = planted.acknowledged_write(first_leader).await;
    tokio::time::sleep(CALM).await;

    // The leader is cut off from both followers, which elect one of
    // themselves; clients still send to all three.
    let old_term = term_of(&cluster, first_leader).await;
    let followers = others(&cluster, first_leader);
    relays.isolate(first_leader, &followers);
    let cut_ns = traffic.elapsed_ns();
    let second_leader = leader_among(&cluster, &followers, ELECTION_PATIENCE).await;
    let elected_ns = traffic.elapsed_ns();
    let new_term = term_of(&cluster, second_leader).await;
    let cut_off_term = term_of(&cluster, first_leader).await;
    println!(
        "node {first_leader} cut off at term {old_term} (still {cut_off_term}); \
         node {second_leader} leads at term {new_term}"
    );
    // The partition is real: alone, the old leader cannot even start an
    // election (pre-vote), while the others moved on.
    assert_eq!(cut_off_term, old_term, "the cut-off leader's term moved");
    assert!(new_term > old_term, "the majority did not elect anew");

    // The majority writes on; the cut-off leader must neither answer a
    // linearizable read nor acknowledge a write, and its serializable read
    // is stale: the planted lie.
    let written = planted.acknowledged_write(second_leader).await;
    let last_value = planted_value(written.last());
    history.extend(written);
    let honest_read = planted.read(first_leader, Reads::Linearizable).await;
    assert_eq!(
        honest_read, None,
        "the cut-off leader answered a linearizable read"
    );
    let cut_off_write = planted.write(first_leader).await;
    assert_eq!(
        cut_off_write.output(),
        None,
        "the cut-off leader acknowledged a write"
    );
    history.push(cut_off_write);
    let lie = planted.read(first_leader, Reads::Serializable).await;
    let lie = lie.expect("a node answers serializable reads alone");
    assert_ne!(lie.output(), Some(&KvOutput::Get { value: last_value }));
    tokio::time::sleep(CALM / 2).await;
    relays.heal();
    let healed_ns = traffic.elapsed_ns();
    let leader = leader_among(&cluster, &cluster.ids(), ELECTION_PATIENCE).await;
    assert!(
        term_of(&cluster, first_leader).await >= new_term,
        "the old leader did not rejoin"
    );
    tokio::time::sleep(CALM).await;

    cut_off_a_follower(&cluster, &relays, leader).await;
    let recorded = traffic.stop().await;

    // The partitions met traffic: connections were cut, the cut-off leader
    // was asked, and it answered nothing it could not know.
    let cut_connections: u64 = followers
        .iter()
        .map(|&peer| {
            relays.closed_by_cut((first_leader, peer)) + relays.closed_by_cut((peer, first_leader))
        })
        .sum();
    let asked_while_cut_off = recorded
        .iter()
        .filter(|op| op.node == first_leader)
        .filter(|op| (cut_ns..healed_ns).contains(&op.operation.call_ns))
        .count();
    let answered_while_cut_off = recorded
        .iter()
        .filter(|op| op.node == first_leader && op.operation.call_ns > elected_ns)
        .filter(|op| op.operation.return_ns().is_some_and(|at| at < healed_ns))
        .count();
    println!(
        "{} operations; {cut_connections} peer connections cut; the cut-off leader was \
         asked {asked_while_cut_off} times",
        recorded.len()
    );
    assert!(cut_connections > 0, "the partition cut no connection");
    assert!(asked_while_cut_off > 0, "nobody asked the cut-off leader");
    assert_eq!(
        answered_while_cut_off, 0,
        "the cut-off leader answered once another led"
    );

    history.extend(recorded.into_iter().map(|op| op.operation));
    assert_linearizable(&history, &cluster);

    // The planted client's stale read from the cut-off leader is caught.
    history.push(lie);
    assert_refused(&history, "the cut-off leader's serializable read");
}

/// Cuts off a follower of `leader` until the other two agree on a leader,
/// with traffic before and after the heal.
async fn cut_off_a_follower(cluster: &Cluster, relays: &PeerRelays, leader: u64) {
    let follower = others(cluster, leader)[0];
    relays.isolate(follower, &others(cluster, follower));
    leader_among(cluster, &others(cluster, follower), ELECTION_PATIENCE).await;
    tokio::time::sleep(CALM).await;
    relays.heal();
    leader_among(cluster, &cluster.ids(), ELECTION_PATIENCE).await;
    tokio::time::sleep(CALM).await;
}

/// The partition test's own operations on [`PLANTED_KEY`], sent to a node
/// of its choice.
struct Planted<'a> {
    cluster: &'a Cluster,
    clock: Instant,
    /// The value the next write puts: each write's own, so that a read
    /// names the write it saw.
    next_value: Cell<u64>,
}

impl<'a> Planted<'a> {
    fn new(cluster: &'a Cluster, clock: Instant) -> Planted<'a> {
        Planted {
            cluster,
            clock,
            next_value: Cell::new(1),
        }
    }

    /// A Put of a new value to node `id`, as recorded.
    async fn write(&self, id: u64) -> KvOperation {
        let value = self.next_value.get();
        self.next_value.set(value + 1);
        let input = KvInput::Put {
            key: PLANTED_KEY,
            value,
        };
        let channel = channel(self.cluster, id);
        let recorded = record(
            PLANTED_WRITER,
            channel,
            input,
            Reads::Linearizable,
            self.clock,
        );
        recorded.await.expect("a write records an operation")
    }

    /// Puts to node `id` until one is acknowledged: every try as
    /// recorded, the acknowledged one last. Panics after
    /// [`ACKNOWLEDGED_WRITE_TRIES`].
    async fn acknowledged_write(&self, id: u64) -> Vec<KvOperation> {
        let mut tries = Vec::new();
        for _ in 0..ACKNOWLEDGED_WRITE_TRIES {
            let written = self.write(id).await;
            let acknowledged = written.output() == Some(&KvOutput::Put);
            tries.push(written);
            if acknowledged {
                return tries;
            }
        }
        panic!(
            "node {id} acknowledged none of {tries:?}\n{}",
            self.cluster.logs()
        );
    }

    /// A Get from node `id`, as recorded (`None`: no answer).
    async fn read(&self, id: u64, reads: Reads) -> Option<KvOperation> {
        let input = KvInput::Get { key: PLANTED_KEY };
        record(
            PLANTED_READER,
            channel(self.cluster, id),
            input,
            reads,
            self.clock,
        )
        .await
    }
}

/// Node `id`'s term, as it reports it.
async fn term_of(cluster: &Cluster, id: u64) -> u64 {
    let view = cluster.view(id).await;
    view.unwrap_or_else(|| panic!("node {id} does not answer"))
        .term
}

/// The value `write` put (a Put on the planted key).
fn planted_value(write: Option<&KvOperation>) -> Option<u64> {
    match write.map(|write| write.input) {
        Some(KvInput::Put { value, .. }) => Some(value),
        other => panic!("not a planted write: {other:?}"),
    }
}
