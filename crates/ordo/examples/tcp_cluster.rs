//! One node of a Raft cluster over TCP, in its own process. Start three, in
//! three terminals:
//!
//! ```text
//! cargo run -p ordo --example tcp_cluster -- --id 1 --listen 127.0.0.1:7001 --peer 2=127.0.0.1:7002 --peer 3=127.0.0.1:7003
//! cargo run -p ordo --example tcp_cluster -- --id 2 --listen 127.0.0.1:7002 --peer 1=127.0.0.1:7001 --peer 3=127.0.0.1:7003
//! cargo run -p ordo --example tcp_cluster -- --id 3 --listen 127.0.0.1:7003 --peer 1=127.0.0.1:7001 --peer 2=127.0.0.1:7002
//! ```
//!
//! Add `--data DIR` to keep the log on disk (a `WalLogStore`), so a node
//! stopped and started again catches up from where it was; `--cluster NAME`
//! to name the cluster (default `ordo-example`).
//!
//! Each node replicates a counter. Type commands on its standard input; each
//! gets one line of answer on standard output:
//!
//! ```text
//! propose N   ->  ok TOTAL                      (N added, on the leader)
//!                 not-leader LEADER ADDRESS     (on a follower: go there)
//!                 not-leader none               (no leader known yet)
//!                 error TEXT
//! status      ->  status ROLE TERM LEADER APPLIED TOTAL
//! quit        ->  (stops the node and exits)
//! ```
//!
//! `tests/transport_tcp_processes.rs` drives three of these processes: it
//! waits for a leader, proposes, kills the leader, and checks that the other
//! two elect a new one and keep counting.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use ordo::storage::{LogStore, MemLogStore, WalConfig, WalLogStore};
use ordo::transport::ClusterId;
use ordo::transport::NetworkConfig;
use ordo::transport::tcp::TcpTransport;
use ordo::{Entry, NodeId, Peer, RaftConfig, RaftError, RaftNode, StateMachine};
use tokio::sync::mpsc;

/// The replicated state: a running total.
#[derive(Debug, Default)]
struct Counter {
    total: u64,
    applied: u64,
}

impl StateMachine for Counter {
    type Command = u64;
    type Response = u64;
    type Query = ();
    type Answer = (u64, u64);

    fn apply(&mut self, entries: Vec<Entry<u64>>) -> Vec<u64> {
        entries
            .into_iter()
            .map(|entry| {
                self.applied += 1;
                self.total = self.total.wrapping_add(entry.command);
                self.total
            })
            .collect()
    }

    fn query(&self, _query: ()) -> (u64, u64) {
        (self.applied, self.total)
    }

    fn snapshot(&self, out: &mut dyn Write) -> std::io::Result<()> {
        out.write_all(&self.total.to_be_bytes())?;
        out.write_all(&self.applied.to_be_bytes())
    }

    fn restore(&mut self, input: &mut dyn Read) -> std::io::Result<()> {
        let mut total = [0u8; 8];
        let mut applied = [0u8; 8];
        input.read_exact(&mut total)?;
        input.read_exact(&mut applied)?;
        self.total = u64::from_be_bytes(total);
        self.applied = u64::from_be_bytes(applied);
        Ok(())
    }
}

/// The command line.
struct Args {
    id: NodeId,
    listen: String,
    peers: Vec<(NodeId, String)>,
    data: Option<PathBuf>,
    cluster: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        id: 0,
        listen: String::new(),
        peers: Vec::new(),
        data: None,
        cluster: "ordo-example".into(),
    };
    let mut words = std::env::args().skip(1);
    while let Some(flag) = words.next() {
        let value = words
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--id" => args.id = value.parse().map_err(|_| format!("bad --id {value:?}"))?,
            "--listen" => args.listen = value,
            "--peer" => {
                let (id, address) = value
                    .split_once('=')
                    .ok_or_else(|| format!("--peer takes ID=HOST:PORT, not {value:?}"))?;
                let id = id
                    .parse()
                    .map_err(|_| format!("bad peer id in {value:?}"))?;
                args.peers.push((id, address.to_owned()));
            }
            "--data" => args.data = Some(PathBuf::from(value)),
            "--cluster" => args.cluster = value,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.id == 0 || args.listen.is_empty() {
        return Err("usage: tcp_cluster --id N --listen HOST:PORT [--peer ID=HOST:PORT]... [--data DIR] [--cluster NAME]".into());
    }
    Ok(args)
}

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("tcp_cluster: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let network = NetworkConfig::new(
        ClusterId::new(args.cluster.clone())?,
        args.id,
        args.listen.parse()?,
    );
    // The transport starts with no peers: the node tells it where each
    // member is (`Transport::update_peer`), from this configuration and,
    // for members added later, from the log.
    let peers = args
        .peers
        .iter()
        .map(|(id, address)| Peer::new(*id, address.clone()).with_peer_address(address.clone()))
        .collect();
    let transport = TcpTransport::bind(network)?;
    let own = transport.local_addr().to_string();
    let config = RaftConfig {
        node_id: args.id,
        address: own.clone(),
        peer_address: Some(own),
        peers,
        ..RaftConfig::default()
    };
    match &args.data {
        Some(dir) => {
            serve(
                config,
                Arc::new(WalLogStore::open(dir, WalConfig::default())?),
                transport,
            )
            .await
        }
        None => serve(config, Arc::new(MemLogStore::new()), transport).await,
    }
}

async fn serve<L: LogStore + 'static>(
    config: RaftConfig,
    log: Arc<L>,
    transport: TcpTransport,
) -> Result<(), Box<dyn std::error::Error>> {
    let address = transport.local_addr();
    let node = RaftNode::new(config, Counter::default(), log, transport)?;
    node.start().await?;
    println!("ready {} {address}", node.id());
    let mut lines = stdin_lines();
    while let Some(line) = lines.recv().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["propose", amount] => match amount.parse::<u64>() {
                Ok(amount) => propose(&node, amount).await,
                Err(_) => format!("error not a number: {amount}"),
            },
            ["status"] => status(&node).await,
            ["quit"] => break,
            [] => continue,
            _ => format!("error unknown command: {line}"),
        };
        println!("{answer}");
    }
    node.stop().await;
    Ok(())
}

/// Lines of standard input, read on a thread of their own (stdin blocks).
fn stdin_lines() -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if sender.blocking_send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

async fn propose(node: &RaftNode<Counter>, amount: u64) -> String {
    match node.propose(amount).await {
        Ok(total) => format!("ok {total}"),
        Err(RaftError::NotLeader {
            leader: Some((id, address)),
        }) => format!("not-leader {id} {address}"),
        Err(RaftError::NotLeader { leader: None }) => "not-leader none".into(),
        Err(error) => format!("error {error}"),
    }
}

async fn status(node: &RaftNode<Counter>) -> String {
    let state = node.soft_state();
    let leader = state.leader.map_or("none".to_owned(), |id| id.to_string());
    match node.read_stale(()).await {
        Ok((applied, total)) => format!(
            "status {:?} {} {leader} {applied} {total}",
            state.role, state.term
        ),
        Err(error) => format!("error {error}"),
    }
}
