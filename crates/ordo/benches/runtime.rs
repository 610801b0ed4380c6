//! The runtime's overhead, on the workload openraft publishes for its own:
//! three nodes in one process, in-memory logs, a state machine that stores
//! nothing, the in-process transport, and N clients each proposing in a loop
//! on the leader. Reports committed-and-answered proposals per second and the
//! mean and 99th-percentile latency of one proposal, sampled: every client
//! times one proposal in [`LATENCY_SAMPLE_EVERY`].
//!
//! `cargo bench -p ordo --bench runtime` (custom harness, prints a table).
//! `ORDO_BENCH_SECS` sets the measured seconds per row (default 3),
//! `ORDO_BENCH_CLIENTS` a comma-separated list of client counts,
//! `ORDO_BENCH_WORKERS` the Tokio worker threads (default 2),
//! `ORDO_BENCH_SNAPSHOT_EVERY` the entries between snapshots (default
//! 1 000 000; each node snapshots its state machine, which stores nothing, and
//! compacts its log, as openraft's benchmark store purges its log; 0: no
//! snapshot store, the logs grow for the whole run).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ordo::storage::{MemLogStore, SnapshotStore};
use ordo::transport::InProcessNetwork;
use ordo::{Entry, Peer, RaftConfig, RaftError, RaftNode, StateMachine};

/// Applies commands and keeps nothing.
struct Nothing;

impl StateMachine for Nothing {
    type Command = u64;
    type Response = ();
    type Query = ();
    type Answer = ();

    fn apply(&mut self, entries: Vec<Entry<u64>>) -> Vec<()> {
        vec![(); entries.len()]
    }
    fn query(&self, _: ()) {}
    fn snapshot(&self, _: &mut dyn Write) -> std::io::Result<()> {
        Ok(())
    }
    fn restore(&mut self, _: &mut dyn Read) -> std::io::Result<()> {
        Ok(())
    }
}

/// CPU time this process has used (every thread), from /proc/self/stat
/// (Linux; `None` elsewhere). Clock-tick resolution (usually 10 ms).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at ") ".
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let per_second = 100; // USER_HZ on every Linux this runs on
    Some(Duration::from_millis(ticks * 1000 / per_second))
}

/// Latency is measured for one proposal in this many (two clock reads and a
/// push cost about as much as a tenth of a proposal); every answered proposal
/// is counted.
const LATENCY_SAMPLE_EVERY: u64 = 16;

struct Row {
    clients: usize,
    cpu: Option<Duration>,
    proposals: u64,
    seconds: f64,
    mean_us: f64,
    p50_us: f64,
    p99_us: f64,
    errors: u64,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Snapshot files go to memory (`/dev/shm`) where there is one, so that a
/// snapshot's fsync costs nothing: the bench measures the runtime, not a disk.
fn snapshot_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ordo-bench-")
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap()
}

/// `snapshot_every == 0`: no snapshot store, so the logs only grow.
async fn start_cluster(
    snapshot_every: u64,
    snapshot_dir: Option<&tempfile::TempDir>,
) -> (Vec<RaftNode<Nothing>>, RaftNode<Nothing>) {
    // No counters: this measures the runtime, not the test kit.
    let network = InProcessNetwork::without_counters();
    let ids = [1u64, 2, 3];
    let mut nodes = Vec::new();
    for id in ids {
        let config = RaftConfig {
            node_id: id,
            peers: ids
                .iter()
                .filter(|&&p| p != id)
                .map(|&p| Peer::new(p, format!("node-{p}")))
                .collect(),
            rng_seed: Some(id),
            snapshot_threshold_entries: snapshot_every,
            ..RaftConfig::default()
        };
        let mut builder = RaftNode::builder(
            config,
            Nothing,
            Arc::new(MemLogStore::new()),
            network.transport(id),
        );
        if let Some(dir) = snapshot_dir {
            builder = builder.snapshot_store(
                SnapshotStore::open(dir.path().join(format!("node-{id}"))).unwrap(),
            );
        }
        let node = builder.build().unwrap();
        node.start().await.unwrap();
        nodes.push(node);
    }
    nodes[0].campaign().await.unwrap();
    let leader = nodes[0]
        .wait_for_leader(Duration::from_secs(10))
        .await
        .unwrap();
    let leader = nodes[leader as usize - 1].clone();
    (nodes, leader)
}

async fn run_row(leader: &RaftNode<Nothing>, clients: usize, measure: Duration) -> Row {
    let warmup = Duration::from_millis(500);
    let recording = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let leader = leader.clone();
        let (recording, done) = (Arc::clone(&recording), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            let mut latencies_ns: Vec<u32> = Vec::new();
            let mut answered = 0u64;
            let mut errors = 0u64;
            let mut sequence = client as u64;
            // Every client samples every `LATENCY_SAMPLE_EVERY`-th proposal,
            // starting at a different one, so samples spread evenly.
            let mut attempt = client as u64;
            while !done.load(Ordering::Relaxed) {
                let started = attempt
                    .is_multiple_of(LATENCY_SAMPLE_EVERY)
                    .then(Instant::now);
                let outcome = leader.propose(sequence).await;
                let elapsed = started.map(|started| started.elapsed());
                sequence += clients as u64;
                attempt += 1;
                match outcome {
                    Ok(()) if recording.load(Ordering::Relaxed) => {
                        answered += 1;
                        if let Some(elapsed) = elapsed {
                            latencies_ns
                                .push(u32::try_from(elapsed.as_nanos()).unwrap_or(u32::MAX));
                        }
                    }
                    Ok(()) => {}
                    Err(RaftError::Busy { .. }) => {
                        errors += 1;
                        tokio::task::yield_now().await;
                    }
                    Err(error) => panic!("proposal failed: {error}"),
                }
            }
            (latencies_ns, answered, errors)
        }));
    }
    tokio::time::sleep(warmup).await;
    recording.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let cpu_before = process_cpu();
    tokio::time::sleep(measure).await;
    recording.store(false, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    let cpu = process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    done.store(true, Ordering::Relaxed);
    let mut all: Vec<u32> = Vec::new();
    let mut errors = 0;
    let mut proposals = 0;
    for task in tasks {
        let (latencies, answered, task_errors) = task.await.unwrap();
        all.extend(latencies);
        proposals += answered;
        errors += task_errors;
    }
    all.sort_unstable();
    let percentile = |p: f64| {
        if all.is_empty() {
            return 0.0;
        }
        let rank = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len());
        f64::from(all[rank - 1]) / 1000.0
    };
    let mean_us =
        all.iter().map(|&ns| f64::from(ns)).sum::<f64>() / all.len().max(1) as f64 / 1000.0;
    Row {
        clients,
        cpu,
        proposals,
        seconds,
        mean_us,
        p50_us: percentile(0.50),
        p99_us: percentile(0.99),
        errors,
    }
}

fn main() {
    let measure = Duration::from_secs_f64(env_or("ORDO_BENCH_SECS", 3.0));
    let workers: usize = env_or("ORDO_BENCH_WORKERS", 2);
    let clients: Vec<usize> = std::env::var("ORDO_BENCH_CLIENTS")
        .unwrap_or_else(|_| "1,64,256,1024,4096".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    let snapshot_every: u64 = env_or("ORDO_BENCH_SNAPSHOT_EVERY", 1_000_000);
    let snapshot_dir = (snapshot_every > 0).then(snapshot_dir);
    runtime.block_on(async {
        let (nodes, leader) = start_cluster(snapshot_every, snapshot_dir.as_ref()).await;
        let compaction = if snapshot_every > 0 {
            format!("a snapshot and log compaction every {snapshot_every} entries")
        } else {
            "no snapshots (the logs only grow)".to_string()
        };
        println!(
            "3 nodes, MemLogStore, in-process transport, {workers} Tokio workers, {measure:?} per row, {compaction}"
        );
        println!(
            "| clients | proposals/s | mean latency | p50 | p99 | CPUs busy | CPU per proposal | busy answers |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        for &count in &clients {
            let row = run_row(&leader, count, measure).await;
            let (cpus, cpu_per_proposal) = match row.cpu {
                Some(cpu) => (
                    format!("{:.2}", cpu.as_secs_f64() / row.seconds),
                    format!("{:.2} µs", cpu.as_secs_f64() * 1e6 / row.proposals.max(1) as f64),
                ),
                None => ("-".into(), "-".into()),
            };
            println!(
                "| {} | {:.0} | {:.1} µs | {:.1} µs | {:.1} µs | {cpus} | {cpu_per_proposal} | {} |",
                row.clients,
                row.proposals as f64 / row.seconds,
                row.mean_us,
                row.p50_us,
                row.p99_us,
                row.errors
            );
        }
        for node in nodes {
            node.stop().await;
        }
    });
}
