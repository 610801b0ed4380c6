//! `ordo dev`: a local cluster of durable nodes in one process, for trying
//! Ordo out and for development. Each node is a full `ordo serve` node
//! (its own data directory, TCP between nodes, its own HTTP port), so what
//! works against `ordo dev` works against a real cluster.
//!
//! Node `i` keeps its data in `DATA/node-i`, listens for clients on
//! `127.0.0.1:(client_port_base + i)` and for nodes on
//! `127.0.0.1:(peer_port_base + i)`. Starting again on the same `--data`
//! resumes: the nodes restart on their logs. A backup placed in `DATA` by
//! `ordo snapshot restore` seeds a new dev cluster. The cluster's id is
//! generated when `DATA` is first used and kept in `DATA/ordo-dev.json`
//! with the node count (a layout written before ids existed goes on with
//! the name, `ordo`, which is what its nodes use).
//!
//! With `--tls` the nodes speak mutual TLS to each other and HTTPS to
//! clients, with certificates made in `DATA/pki` the first time
//! (`dev_tls.rs`); the welcome says how to point a client at them.

use std::collections::BTreeMap;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail, ensure};

use super::dev_tls::DevTls;
use crate::server::cluster_id;
use crate::server::data_dir::RESTORE_FILE;
use crate::server::http::HttpSettings;
use crate::server::node::RunningNode;
use crate::server::settings::{
    AutoCompaction, Bootstrap, DEFAULT_CLUSTER, Limits, NodeSettings, Timing,
};
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
    /// Peer mutual TLS and HTTPS for clients, with certificates made in
    /// DATA/pki the first time (clients trust DATA/pki/ca.crt).
    #[arg(long)]
    pub tls: bool,
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
    let cluster_id = check_layout(&args.data, args.nodes)?;
    let tls = args
        .tls
        .then(|| DevTls::prepare(&args.data, DEFAULT_CLUSTER, &ids))
        .transpose()?;
    let seed = args.data.join(RESTORE_FILE);
    let mut nodes = Vec::new();
    for &id in &ids {
        let data = args.data.join(format!("node-{id}"));
        let fresh = !data.join("ordo-node.json").exists() && !data.join("wal").exists();
        if seed.exists() && fresh {
            let copy = data.join(format!("{RESTORE_FILE}.tmp"));
            fs::copy(&seed, &copy)
                .with_context(|| format!("cannot copy {} for node {id}", seed.display()))?;
            fs::File::open(&copy)?.sync_all()?;
            fs::rename(&copy, data.join(RESTORE_FILE))?;
        }
        let settings = NodeSettings {
            id,
            cluster: DEFAULT_CLUSTER.into(),
            cluster_id: Some(cluster_id.clone()),
            first_member_url: None,
            timing: Timing::default(),
            peer_listen: localhost(port(args.peer_port_base, id)?),
            client_listen: localhost(port(args.client_port_base, id)?),
            advertise_peer: None,
            advertise_client: None,
            data,
            bootstrap: Bootstrap::Initial(members.clone()),
            limits: Limits::default(),
            snapshot_threshold: 10_000,
            peer_tls: tls.as_ref().map(|tls| tls.peer_tls(id)),
            http: HttpSettings {
                tls: tls.as_ref().map(|tls| tls.client_port(id)),
                ..HttpSettings::default()
            },
            auto_compaction: AutoCompaction::Off,
            lease_checkpoint_interval: crate::server::leases::DEFAULT_CHECKPOINT_INTERVAL,
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
    print_welcome(&nodes, leader, &args, tls.as_ref());
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

/// The file recording how many nodes a dev directory was created with.
const LAYOUT_FILE: &str = "ordo-dev.json";

/// Checks (or, the first time, records) that `data` holds a dev cluster of
/// `nodes` nodes, every one of them present, and returns its cluster id. Starting more nodes than the
/// first time would give the new, empty ones a majority of their own (a
/// second cluster beside the first), and a node whose data was wiped would
/// come back as a fresh voter: both are refused.
///
/// # Errors
/// Another node count, missing node directories, or I/O errors.
fn check_layout(data: &Path, nodes: u64) -> anyhow::Result<String> {
    fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))?;
    let layout = data.join(LAYOUT_FILE);
    let existing: Vec<u64> = (1..=9)
        .filter(|id| data.join(format!("node-{id}")).exists())
        .collect();
    match fs::read_to_string(&layout) {
        Ok(text) => {
            let recorded_layout: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is damaged", layout.display()))?;
            let recorded = recorded_layout["nodes"]
                .as_u64()
                .with_context(|| format!("{} names no node count", layout.display()))?;
            ensure!(
                recorded == nodes,
                "{} holds a dev cluster of {recorded} nodes: start it with --nodes {recorded}, \
                 or give a new --data for {nodes}",
                data.display()
            );
            let missing: Vec<u64> = (1..=nodes).filter(|id| !existing.contains(id)).collect();
            ensure!(
                missing.is_empty(),
                "the data of node(s) {missing:?} in {} is gone; a node that lost its data must not \
                 vote again under its old id: start a new --data",
                data.display()
            );
            match recorded_layout.get("cluster_id") {
                None => Ok(DEFAULT_CLUSTER.to_owned()),
                Some(id) => {
                    let id = id
                        .as_str()
                        .with_context(|| format!("{} is damaged", layout.display()))?;
                    cluster_id::check(&format!("{}: cluster_id", layout.display()), id)?;
                    Ok(id.to_owned())
                }
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            ensure!(
                existing.is_empty(),
                "{} holds node directories but no {LAYOUT_FILE}; use a new --data",
                data.display()
            );
            let new_id = cluster_id::generate()?;
            let recorded = serde_json::json!({ "nodes": nodes, "cluster_id": new_id });
            fs::write(&layout, recorded.to_string())
                .with_context(|| format!("cannot write {}", layout.display()))?;
            // Every node's directory at once, so that a node that fails to
            // start this time is not taken for one whose data was wiped.
            for id in 1..=nodes {
                fs::create_dir_all(data.join(format!("node-{id}")))?;
            }
            Ok(new_id)
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", layout.display())),
    }
}

fn print_welcome(nodes: &[RunningNode], leader: u64, args: &DevArgs, tls: Option<&DevTls>) {
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
    println!("\nDashboard: {endpoint}/ui  (every node serves one)");
    match tls {
        None => println!(
            "\nTry:\n  curl -L -X PUT --data-binary 'hello' {endpoint}/v1/kv/greeting\n  \
             curl {endpoint}/v1/kv/greeting\n  \
             cargo run --release --bin ordo -- status"
        ),
        Some(tls) => {
            let ca = tls.ca_certificate().display();
            let endpoints: Vec<&str> = nodes.iter().map(|node| node.client_url.as_str()).collect();
            let (root_cert, root_key) = tls.root_client();
            println!(
                "\nPeers speak mutual TLS; clients speak HTTPS and trust {ca}.\nTry:\n  \
                 curl --cacert {ca} -L -X PUT --data-binary 'hello' {endpoint}/v1/kv/greeting\n  \
                 curl --cacert {ca} {endpoint}/v1/kv/greeting\n  \
                 cargo run --release --bin ordo -- --endpoints {} --cacert {ca} status\n\
                 A client certificate for the user root: --cert {} --key {}",
                endpoints.join(","),
                root_cert.display(),
                root_key.display()
            );
        }
    }
    println!(
        "\nCtrl-C stops the cluster; starting it again resumes from {}.",
        args.data.display()
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::check_layout;

    #[test]
    fn a_dev_directory_keeps_its_node_count_and_all_its_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let id = check_layout(dir.path(), 1).unwrap();
        assert!(dir.path().join("node-1").is_dir());
        // The same cluster id every time; another directory, another id.
        assert_eq!(check_layout(dir.path(), 1).unwrap(), id);
        let elsewhere = tempfile::tempdir().unwrap();
        assert_ne!(check_layout(elsewhere.path(), 1).unwrap(), id);
        // More nodes than the first time: the new ones would outvote node 1.
        let grown = check_layout(dir.path(), 3).unwrap_err().to_string();
        assert!(grown.contains("--nodes 1"), "{grown}");
        // A node whose data is gone must not vote again under its id.
        std::fs::remove_dir(dir.path().join("node-1")).unwrap();
        let wiped = check_layout(dir.path(), 1).unwrap_err().to_string();
        assert!(wiped.contains("[1]"), "{wiped}");
        // Node directories without the layout file: refused.
        let other = tempfile::tempdir().unwrap();
        std::fs::create_dir(other.path().join("node-2")).unwrap();
        assert!(check_layout(other.path(), 3).is_err());
    }
}
