//! `ordo dev`: a local cluster of durable nodes in one process, for trying
//! Ordo out and for development. Each node is a full `ordo serve` node
//! (its own data directory, TCP between nodes, its own HTTP port), so what
//! works against `ordo dev` works against a real cluster.
//!
//! Node `i` keeps its data in `DATA/node-i`, listens for clients on
//! `127.0.0.1:(client_port_base + i)` and for nodes on
//! `127.0.0.1:(peer_port_base + i)`. Starting again on the same `--data`
//! resumes: the nodes restart on their logs. A backup placed in `DATA` by
//! `ordo snapshot restore` seeds a new dev cluster.

use std::collections::BTreeMap;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail, ensure};

use crate::server::data_dir::RESTORE_FILE;
use crate::server::node::RunningNode;
use crate::server::settings::{Bootstrap, DEFAULT_CLUSTER, Limits, NodeSettings};
use crate::server::{init_logging, shutdown_signal, stopped};

/// How long `ordo dev` waits for the first leader.
const LEADER_PATIENCE: Duration = Duration::from_secs(30);

/// `ordo dev` flags.
#[derive(Clone, Debug, clap::Args)]
pub struct DevArgs {
    /// How many nodes (1 to 9).
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// Where the nodes keep their data (one directory each inside).
    #[arg(long, value_name = "DIR", default_value = "./ordo-data")]
    pub data: PathBuf,
    /// Node i serves clients on port BASE+i.
    #[arg(long, value_name = "BASE", default_value_t = 8000)]
    pub client_port_base: u16,
    /// Node i listens for other nodes on port BASE+i.
    #[arg(long, value_name = "BASE", default_value_t = 9000)]
    pub peer_port_base: u16,
}

/// Runs `ordo dev` until Ctrl-C.
///
/// # Errors
/// Bad flags, busy ports, unusable data directories, or no leader in time.
pub async fn dev(args: DevArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    ensure!(
        (1..=9).contains(&args.nodes),
        "--nodes must be between 1 and 9"
    );
    let ids: Vec<u64> = (1..=args.nodes).collect();
    let port = |base: u16, id: u64| -> anyhow::Result<u16> {
        u16::try_from(id)
            .ok()
            .and_then(|id| base.checked_add(id))
            .context("the port base is too high for this many nodes")
    };
    let localhost = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut members = BTreeMap::new();
    for &id in &ids {
        members.insert(id, localhost(port(args.peer_port_base, id)?).to_string());
    }
    fs::create_dir_all(&args.data)
        .with_context(|| format!("cannot create {}", args.data.display()))?;
    let seed = args.data.join(RESTORE_FILE);
    let mut nodes = Vec::new();
    for &id in &ids {
        let data = args.data.join(format!("node-{id}"));
        if seed.exists() && !data.exists() {
            fs::create_dir_all(&data)?;
            fs::copy(&seed, data.join(RESTORE_FILE))
                .with_context(|| format!("cannot copy {} for node {id}", seed.display()))?;
        }
        let settings = NodeSettings {
            id,
            cluster: DEFAULT_CLUSTER.into(),
            peer_listen: localhost(port(args.peer_port_base, id)?),
            client_listen: localhost(port(args.client_port_base, id)?),
            advertise_peer: None,
            advertise_client: None,
            data,
            bootstrap: Bootstrap::Initial(members.clone()),
            limits: Limits::default(),
            snapshot_threshold: 10_000,
        };
        match RunningNode::start(settings).await {
            Ok(node) => nodes.push(node),
            Err(error) => {
                for node in nodes {
                    node.stop().await;
                }
                return Err(error.context(format!("node {id} did not start")));
            }
        }
    }
    if seed.exists() {
        fs::rename(&seed, args.data.join(format!("{RESTORE_FILE}.used")))?;
    }
    let leader = match nodes[0].node.wait_for_leader(LEADER_PATIENCE).await {
        Ok(leader) => leader,
        Err(error) => {
            for node in nodes {
                node.stop().await;
            }
            bail!("no leader was elected within {LEADER_PATIENCE:?}: {error}");
        }
    };
    print_welcome(&nodes, leader, &args);
    let handles: Vec<_> = nodes.iter().map(|node| node.node.clone()).collect();
    let stopped_by_itself = tokio::select! {
        signal = shutdown_signal() => { signal?; false }
        () = stopped(&handles) => true,
    };
    eprintln!("ordo dev: stopping");
    for node in nodes {
        node.stop().await;
    }
    if stopped_by_itself {
        eprintln!("ordo dev: a node stopped after a failure (see the log above)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_welcome(nodes: &[RunningNode], leader: u64, args: &DevArgs) {
    println!(
        "ordo dev: {} nodes, data in {}",
        nodes.len(),
        args.data.display()
    );
    for node in nodes {
        let marker = if node.node.id() == leader {
            "  (leader)"
        } else {
            ""
        };
        println!(
            "  node {}  clients {}  nodes {}{marker}",
            node.node.id(),
            node.client_url,
            node.peer_addr
        );
    }
    let endpoint = &nodes[0].client_url;
    println!(
        "\nTry:\n  curl -L -X PUT --data-binary 'hello' {endpoint}/v1/kv/greeting\n  \
         curl {endpoint}/v1/kv/greeting\n  \
         cargo run --release --bin ordo -- status\n\nCtrl-C stops the cluster; \
         starting it again resumes from {}.",
        args.data.display()
    );
}
