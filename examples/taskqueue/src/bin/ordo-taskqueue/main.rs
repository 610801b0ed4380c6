//! `ordo-taskqueue`: run a task queue node, talk to a cluster, or watch a
//! 3-node demo.
//!
//! ```text
//! ordo-taskqueue demo                                   # 3 nodes, workers, a leader killed
//! ordo-taskqueue serve --id 1 --peer-listen 127.0.0.1:7101 --client-listen 127.0.0.1:7201 \
//!     --member 2=127.0.0.1:7102/127.0.0.1:7202 --member 3=127.0.0.1:7103/127.0.0.1:7203 --data data/1
//! ordo-taskqueue enqueue --nodes 127.0.0.1:7201,127.0.0.1:7202 jobs 'resize photo 42'
//! ordo-taskqueue claim   --nodes 127.0.0.1:7201 jobs --worker w1 --visibility-timeout-ms 30000
//! ordo-taskqueue ack     --nodes 127.0.0.1:7201 TASK_ID TOKEN
//! ```

mod demo;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use ordo_taskqueue::{Client, PeerAddresses, QueueNode, QueueNodeConfig};

#[derive(Parser)]
#[command(name = "ordo-taskqueue", about = "A replicated task queue on Ordo")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one node until Ctrl-C.
    Serve(ServeArgs),
    /// Enqueue a task; prints its id.
    Enqueue {
        #[command(flatten)]
        nodes: Nodes,
        /// The queue.
        queue: String,
        /// The task's payload (text).
        payload: String,
    },
    /// Claim a task; prints `ID TOKEN PAYLOAD`, or `none`.
    Claim {
        #[command(flatten)]
        nodes: Nodes,
        /// The queue.
        queue: String,
        /// Who claims.
        #[arg(long, default_value = "cli")]
        worker: String,
        /// How long the claim lasts.
        #[arg(long, default_value_t = 30_000)]
        visibility_timeout_ms: u64,
    },
    /// Mark a claimed task done.
    Ack {
        #[command(flatten)]
        nodes: Nodes,
        /// The task.
        task_id: u64,
        /// The claim's token.
        token: u64,
    },
    /// Give a claimed task back.
    Nack {
        #[command(flatten)]
        nodes: Nodes,
        /// The task.
        task_id: u64,
        /// The claim's token.
        token: u64,
    },
    /// Print counts of a queue's tasks (of all queues without one).
    Stats {
        #[command(flatten)]
        nodes: Nodes,
        /// The queue.
        queue: Option<String>,
    },
    /// Start 3 nodes in this process, run workers, kill the leader mid-way.
    Demo(demo::DemoArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// This node's id.
    #[arg(long)]
    id: u64,
    /// Where peers reach this node.
    #[arg(long)]
    peer_listen: SocketAddr,
    /// Where clients reach this node.
    #[arg(long)]
    client_listen: SocketAddr,
    /// Another member: `ID=PEER_HOST:PORT/CLIENT_HOST:PORT` (repeat).
    #[arg(long = "member", value_parser = parse_member)]
    members: Vec<PeerAddresses>,
    /// The node's log and snapshots.
    #[arg(long)]
    data: PathBuf,
    /// The cluster's name (nodes of another are refused).
    #[arg(long, default_value = "taskqueue")]
    cluster: String,
    /// Claims per task before it is dead-lettered.
    #[arg(long, default_value_t = 5)]
    max_attempts: u32,
}

#[derive(clap::Args)]
struct Nodes {
    /// Client addresses of the cluster's nodes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:7201")]
    nodes: Vec<String>,
}

impl Nodes {
    fn client(self) -> Client {
        Client::new(self.nodes)
    }
}

fn parse_member(text: &str) -> Result<PeerAddresses, String> {
    let usage = || format!("expected ID=PEER_HOST:PORT/CLIENT_HOST:PORT, got {text:?}");
    let (id, addresses) = text.split_once('=').ok_or_else(usage)?;
    let (peer, client) = addresses.split_once('/').ok_or_else(usage)?;
    Ok(PeerAddresses {
        id: id.parse().map_err(|_| usage())?,
        peer: peer.to_owned(),
        client: client.to_owned(),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Enqueue {
            nodes,
            queue,
            payload,
        } => {
            let id = nodes.client().enqueue(&queue, payload.into_bytes()).await?;
            println!("{id}");
            Ok(())
        }
        Command::Claim {
            nodes,
            queue,
            worker,
            visibility_timeout_ms,
        } => {
            let timeout = Duration::from_millis(visibility_timeout_ms);
            match nodes.client().claim(&queue, &worker, timeout).await? {
                Some(task) => {
                    let payload = String::from_utf8_lossy(&task.payload);
                    println!("{} {} {payload}", task.id, task.token);
                }
                None => println!("none"),
            }
            Ok(())
        }
        Command::Ack {
            nodes,
            task_id,
            token,
        } => Ok(nodes.client().ack(task_id, token).await?),
        Command::Nack {
            nodes,
            task_id,
            token,
        } => Ok(nodes.client().nack(task_id, token).await?),
        Command::Stats { nodes, queue } => {
            let stats = nodes.client().stats(queue.as_deref()).await?;
            println!(
                "ready {} claimed {} acked {} dead-lettered {}",
                stats.ready, stats.claimed, stats.acked, stats.dead_lettered
            );
            Ok(())
        }
        Command::Demo(args) => demo::run(args).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if args.members.iter().any(|member| member.id == args.id) {
        bail!("--member lists this node's own id {}", args.id);
    }
    let mut config = QueueNodeConfig::new(args.id, args.peer_listen, args.client_listen);
    config.peers = args.members;
    config.data_dir = args.data;
    config.cluster = args.cluster;
    config.max_attempts = args.max_attempts;
    let node = QueueNode::start(config)
        .await
        .context("starting the node")?;
    println!(
        "node {} serving clients on {} (peers on {})",
        node.id(),
        node.client_address(),
        node.peer_address()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    node.stop().await;
    Ok(())
}
