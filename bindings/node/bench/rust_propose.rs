//! The Rust twin of `bench/propose.js`: the same cluster shape without the
//! binding, to measure what the binding costs. 3 nodes in one process,
//! `MemLogStore`, Ordo's TCP transport on loopback, a dedicated apply thread
//! (as the binding uses), a state machine answering each command with
//! itself, and commands the size of the JS ones in `codec.js`'s encoding.
//! The Tokio runtime has 2 workers, as napi's has on this 2-core machine.
//!
//! `cargo run --release -p ordo-node --example rust_propose_bench`
//! (`BENCH_SECS`, default 3; `BENCH_CLIENTS`, default `1,256`).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ordo::storage::MemLogStore;
use ordo::transport::tcp::TcpTransport;
use ordo::transport::{ClusterId, NetworkConfig};
use ordo::{Entry, Peer, RaftConfig, RaftNode, StateMachine};

/// Answers each command with itself, as the JS bench's `apply` does.
struct Echo;

impl StateMachine for Echo {
    type Command = Bytes;
    type Response = Bytes;
    type Query = ();
    type Answer = ();

    fn apply(&mut self, entries: Vec<Entry<Bytes>>) -> Vec<Bytes> {
        entries.into_iter().map(|entry| entry.command).collect()
    }
    fn query(&self, _: ()) {}
    fn snapshot(&self, _: &mut dyn Write) -> std::io::Result<()> {
        Ok(())
    }
    fn restore(&mut self, _: &mut dyn Read) -> std::io::Result<()> {
        Ok(())
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

type Node = RaftNode<Echo>;

async fn start_cluster() -> Result<(Vec<Node>, Node), Box<dyn std::error::Error>> {
    let ids = [1u64, 2, 3];
    let ports = [free_port()?, free_port()?, free_port()?];
    let address = |id: u64| format!("127.0.0.1:{}", ports[id as usize - 1]);
    let mut nodes = Vec::new();
    for id in ids {
        let listen = address(id).parse()?;
        let transport =
            TcpTransport::bind(NetworkConfig::new(ClusterId::new("bench")?, id, listen))?;
        let config = RaftConfig {
            node_id: id,
            address: address(id),
            peer_address: Some(address(id)),
            peers: ids
                .iter()
                .filter(|&&peer| peer != id)
                .map(|&peer| Peer::new(peer, address(peer)).with_peer_address(address(peer)))
                .collect(),
            dedicated_apply_thread: true,
            ..RaftConfig::default()
        };
        let node = RaftNode::new(config, Echo, Arc::new(MemLogStore::new()), transport)?;
        node.start().await?;
        nodes.push(node);
    }
    let leader = nodes[0].wait_for_leader(Duration::from_secs(10)).await?;
    let leader = nodes[leader as usize - 1].clone();
    Ok((nodes, leader))
}

struct Row {
    per_second: f64,
    mean_us: f64,
    p50_us: f64,
    p99_us: f64,
}

async fn run_row(leader: &Node, clients: usize, measure: Duration) -> Row {
    let recording = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (leader, recording, done) = (leader.clone(), recording.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies_us = Vec::new();
            let mut sequence = client;
            while !done.load(Ordering::Relaxed) {
                // codec.js's encoding of {type:'SET', key:`key-${n}`, value:'value'}.
                let json = format!(r#"{{"type":"SET","key":"key-{sequence}","value":"value"}}"#);
                let command = Bytes::from([&[1u8][..], json.as_bytes()].concat());
                let started = Instant::now();
                if leader.propose(command).await.is_ok() && recording.load(Ordering::Relaxed) {
                    latencies_us.push(started.elapsed().as_secs_f64() * 1e6);
                }
                sequence += clients;
            }
            latencies_us
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    recording.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(measure).await;
    recording.store(false, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    all.sort_by(f64::total_cmp);
    let percentile = |p: f64| {
        let rank = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len().max(1));
        all.get(rank - 1).copied().unwrap_or(0.0)
    };
    Row {
        per_second: all.len() as f64 / seconds,
        mean_us: all.iter().sum::<f64>() / all.len().max(1) as f64,
        p50_us: percentile(0.50),
        p99_us: percentile(0.99),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let measure = Duration::from_secs_f64(env_or("BENCH_SECS", 3.0));
    let clients: Vec<usize> = std::env::var("BENCH_CLIENTS")
        .unwrap_or_else(|_| "1,256".into())
        .split(',')
        .filter_map(|count| count.trim().parse().ok())
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (nodes, leader) = start_cluster().await?;
        println!("Rust: 3 nodes, MemLogStore, TCP on loopback, dedicated apply thread, {measure:?} per row");
        println!("| clients | proposals/s | mean latency | p50 | p99 |");
        println!("|---|---|---|---|---|");
        for &count in &clients {
            let row = run_row(&leader, count, measure).await;
            println!(
                "| {count} | {:.0} | {:.1} µs | {:.1} µs | {:.1} µs |",
                row.per_second, row.mean_us, row.p50_us, row.p99_us
            );
        }
        for node in nodes {
            node.stop().await;
        }
        Ok(())
    })
}
