//! Network transport benchmark: two nodes in one process over 127.0.0.1,
//! printed as markdown tables.
//!
//! Run: `cargo bench -p ordo --bench transport` (add `--features grpc` for
//! the gRPC rows; set `ORDO_BENCH_SECS` to change the time per measurement,
//! default 2).
//!
//! Measured, for each transport:
//! 1. One-way throughput from node 1 to node 2 with a window of messages in
//!    flight (the sender waits until the window has arrived before sending
//!    the next): heartbeats, and appends of 1 × 256 B, 64 × 256 B and
//!    1 × 1 MiB entries. Messages/s, payload MB/s, and messages per write (how
//!    well the dialer coalesces).
//! 2. Round trip: node 1 sends a heartbeat, node 2 answers as soon as it
//!    arrives; mean and p99 of the time between sending and receiving.

use std::time::{Duration, Instant};

use bytes::Bytes;
use ordo::transport::ClusterId;
#[cfg(feature = "grpc")]
use ordo::transport::grpc::GrpcWire;
use ordo::transport::tcp::TcpWire;
use ordo::transport::{
    Inbound, Inbox, InboxReceiver, NetworkConfig, NetworkTransport, Transport, Wire,
};
use ordo_core::{AppendRequest, Entry, Heartbeat, Message, MessageBody, NodeId};

/// A wire to measure, with the name its rows carry.
trait Measured: Wire {
    const NAME: &'static str;
}

impl Measured for TcpWire {
    const NAME: &'static str = "TCP";
}

#[cfg(feature = "grpc")]
impl Measured for GrpcWire {
    const NAME: &'static str = "gRPC";
}

fn bind<W: Wire>(config: NetworkConfig) -> NetworkTransport<W> {
    NetworkTransport::bind(config).unwrap_or_else(|error| fail("bind", error))
}

fn add_peer<W: Wire>(transport: &NetworkTransport<W>, peer: &NetworkTransport<W>) {
    transport
        .add_peer(peer.node_id(), peer.local_addr().to_string())
        .unwrap_or_else(|error| fail("add a peer", error));
}

fn fail(what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("transport bench: cannot {what}: {error}");
    std::process::exit(1)
}

struct Workload {
    name: &'static str,
    entries: usize,
    entry_bytes: usize,
}

const WORKLOADS: [Workload; 4] = [
    Workload {
        name: "heartbeat",
        entries: 0,
        entry_bytes: 0,
    },
    Workload {
        name: "append 1 × 256 B",
        entries: 1,
        entry_bytes: 256,
    },
    Workload {
        name: "append 64 × 256 B",
        entries: 64,
        entry_bytes: 256,
    },
    Workload {
        name: "append 1 × 1 MiB",
        entries: 1,
        entry_bytes: 1024 * 1024,
    },
];

impl Workload {
    fn message(&self, payload: &Bytes, round: u64) -> Message {
        let body = if self.entries == 0 {
            MessageBody::Heartbeat(Heartbeat { commit: 0, round })
        } else {
            MessageBody::Append(AppendRequest {
                prev_log_index: round,
                prev_log_term: 1,
                entries: (0..self.entries as u64)
                    .map(|i| Entry::command(round + i + 1, 1, payload.clone()))
                    .collect(),
                leader_commit: round,
            })
        };
        Message {
            from: 1,
            to: 2,
            term: 1,
            body,
        }
    }

    /// Messages in flight: 512, or fewer so that at most 64 MiB are.
    fn window(&self) -> usize {
        let bytes = (self.entries * self.entry_bytes).max(1);
        (64 * 1024 * 1024 / bytes).clamp(4, 512)
    }
}

fn config(id: NodeId) -> NetworkConfig {
    let cluster = ClusterId::new("bench").unwrap_or_else(|error| fail("name the cluster", error));
    let any_port = "127.0.0.1:0"
        .parse()
        .unwrap_or_else(|error| fail("parse the address", error));
    NetworkConfig {
        send_queue_messages: 1024,
        ..NetworkConfig::new(cluster, id, any_port)
    }
}

type Pair<W> = (
    NetworkTransport<W>,
    InboxReceiver,
    NetworkTransport<W>,
    InboxReceiver,
);

async fn pair<W: Wire>() -> Pair<W> {
    let one = bind::<W>(config(1));
    let two = bind::<W>(config(2));
    add_peer(&one, &two);
    add_peer(&two, &one);
    let (inbox, one_inbox) = Inbox::bounded(8192);
    one.start(inbox)
        .unwrap_or_else(|error| fail("start", error));
    let (inbox, two_inbox) = Inbox::bounded(8192);
    two.start(inbox)
        .unwrap_or_else(|error| fail("start", error));
    (one, one_inbox, two, two_inbox)
}

async fn next(inbox: &mut InboxReceiver) -> Message {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), inbox.recv()).await {
            Ok(Some(Inbound::Message(message))) => return message,
            Ok(Some(Inbound::Unreachable(_))) => continue,
            Ok(None) | Err(_) => fail("receive", "nothing arrived within 10 s"),
        }
    }
}

async fn throughput<W: Measured>(budget: Duration) {
    let (one, _one_inbox, two, mut two_inbox) = pair::<W>().await;
    // Warm up: the first messages wait for the connection.
    one.send(Workload::message(&WORKLOADS[0], &Bytes::new(), 0));
    next(&mut two_inbox).await;
    for workload in &WORKLOADS {
        let payload = Bytes::from(vec![7u8; workload.entry_bytes]);
        let window = workload.window();
        let before = one.stats();
        let started = Instant::now();
        let mut messages = 0u64;
        while started.elapsed() < budget {
            for i in 0..window as u64 {
                one.send(workload.message(&payload, messages + i));
            }
            for _ in 0..window {
                next(&mut two_inbox).await;
            }
            messages += window as u64;
        }
        let seconds = started.elapsed().as_secs_f64();
        let after = one.stats();
        let dropped = after.dropped_queue_full - before.dropped_queue_full;
        let writes = after.batches_sent - before.batches_sent;
        let payload_mb = (messages * (workload.entries * workload.entry_bytes) as u64) as f64 / 1e6;
        println!(
            "| {} | {} | {window} | {:.0} | {:.1} | {:.1} | {dropped} |",
            W::NAME,
            workload.name,
            messages as f64 / seconds,
            payload_mb / seconds,
            messages as f64 / writes.max(1) as f64,
        );
    }
    one.shutdown().await;
    two.shutdown().await;
}

async fn round_trip<W: Measured>(budget: Duration) {
    let (one, mut one_inbox, two, mut two_inbox) = pair::<W>().await;
    let ping = |round| Message {
        from: 1,
        to: 2,
        term: 1,
        body: MessageBody::Heartbeat(Heartbeat { commit: 0, round }),
    };
    let pong = |round| Message {
        from: 2,
        to: 1,
        term: 1,
        body: MessageBody::Heartbeat(Heartbeat { commit: 0, round }),
    };
    one.send(ping(0));
    next(&mut two_inbox).await;
    two.send(pong(0));
    next(&mut one_inbox).await;
    let mut samples = Vec::new();
    let started = Instant::now();
    let mut round = 1;
    while started.elapsed() < budget {
        let sent = Instant::now();
        one.send(ping(round));
        next(&mut two_inbox).await;
        two.send(pong(round));
        next(&mut one_inbox).await;
        samples.push(sent.elapsed());
        round += 1;
    }
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len().max(1) as u32;
    let p99 = samples
        .get(samples.len() * 99 / 100)
        .copied()
        .unwrap_or_default();
    println!(
        "| {} | {} | {:.1} | {:.1} |",
        W::NAME,
        samples.len(),
        mean.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
    one.shutdown().await;
    two.shutdown().await;
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        println!("transport: bench");
        return;
    }
    let seconds = std::env::var("ORDO_BENCH_SECS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(2.0);
    let budget = Duration::from_secs_f64(seconds);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|error| fail("build a runtime", error));
    runtime.block_on(async {
        println!("### One-way throughput, node 1 to node 2 ({seconds} s per row)\n");
        println!("| transport | workload | window | messages/s | payload MB/s | messages per write | dropped |");
        println!("|---|---|---|---|---|---|---|");
        throughput::<TcpWire>(budget).await;
        #[cfg(feature = "grpc")]
        throughput::<GrpcWire>(budget).await;
        println!("\n### Round trip (heartbeat and answer)\n");
        println!("| transport | round trips | mean µs | p99 µs |");
        println!("|---|---|---|---|");
        round_trip::<TcpWire>(budget).await;
        #[cfg(feature = "grpc")]
        round_trip::<GrpcWire>(budget).await;
    });
}
