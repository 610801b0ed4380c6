//! Shared by the in-process server tests: nodes of a cluster started inside
//! the test process, on ports picked free, with data in a temporary directory,
//! [`eventually`], the bounded wait (shared with `e2e_support`), and the
//! HTTP calls the tests share (`calls.rs`).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use ordo_kv::server::RunningNode;
use ordo_kv::server::settings::{AutoCompaction, Bootstrap, Limits, NodeSettings, Timing};

#[path = "../wait_support/mod.rs"]
pub mod wait;

pub mod calls;

// Each test binary uses some of them: re-exported where they used to live.
#[allow(unused_imports)]
pub use calls::{get_json, http};

use wait::{Patience, wait_for};

/// The bound on every wait: the machine is shared, so generous.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `check` every `every` until it returns `Ok`, and returns its value;
/// panics with its last complaint after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, every: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    wait_for(what, Patience { within, every }, check, String::new).await
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Settings for node `id` of a cluster whose node addresses are `peers`.
pub fn settings(id: u64, peers: &BTreeMap<u64, u16>, data: &Path) -> NodeSettings {
    NodeSettings {
        id,
        cluster: "test".into(),
        cluster_id: None,
        first_member_url: None,
        timing: Timing::default(),
        peer_listen: localhost(peers[&id]),
        client_listen: localhost(0),
        advertise_peer: None,
        advertise_client: None,
        data: data.join(format!("node-{id}")),
        bootstrap: Bootstrap::Initial(
            peers
                .iter()
                .map(|(&id, &port)| (id, localhost(port).to_string()))
                .collect(),
        ),
        limits: Limits::default(),
        snapshot_threshold: 10_000,
        peer_tls: None,
        http: ordo_kv::server::http::HttpSettings::default(),
        auto_compaction: AutoCompaction::Off,
        lease_checkpoint_interval: ordo_kv::server::leases::DEFAULT_CHECKPOINT_INTERVAL,
    }
}

/// Starts the first members of a new cluster whose node addresses are
/// `peers`, lowest id first: it generates the cluster's id, and the others
/// learn it from its client URL.
pub async fn start_first_members(peers: &BTreeMap<u64, u16>, data: &Path) -> Vec<RunningNode> {
    let mut nodes: Vec<RunningNode> = Vec::new();
    for &id in peers.keys() {
        let mut settings = settings(id, peers, data);
        settings.first_member_url = nodes.first().map(|first| first.client_url.clone());
        nodes.push(RunningNode::start(settings).await.unwrap());
    }
    nodes
}

/// Starts a one-node cluster with `adjust`ed settings and waits for it to
/// lead.
pub async fn start_one(data: &Path, adjust: impl FnOnce(&mut NodeSettings)) -> RunningNode {
    let peers: BTreeMap<u64, u16> = [(1, free_port())].into();
    let mut settings = settings(1, &peers, data);
    adjust(&mut settings);
    let node = RunningNode::start(settings).await.unwrap();
    node.node
        .wait_for_leader(Duration::from_secs(20))
        .await
        .unwrap();
    node
}

/// Starts `size` nodes and waits for a leader.
pub async fn start_cluster(size: u64, data: &Path) -> Vec<RunningNode> {
    let peers: BTreeMap<u64, u16> = (1..=size).map(|id| (id, free_port())).collect();
    let nodes = start_first_members(&peers, data).await;
    nodes[0]
        .node
        .wait_for_leader(Duration::from_secs(20))
        .await
        .unwrap();
    nodes
}

/// The node that leads, once every node agrees on it and knows its client URL.
pub async fn leader_of(nodes: &[RunningNode]) -> usize {
    let check = || std::future::ready(agreed_leader(nodes));
    let what = "the nodes to agree on a leader whose client URL they all know";
    eventually(what, PATIENCE, Duration::from_millis(10), check).await
}

/// The index of the leader every node names, if each knows its client URL.
fn agreed_leader(nodes: &[RunningNode]) -> Result<usize, String> {
    let leaders: Vec<_> = nodes.iter().map(|node| node.node.leader_id()).collect();
    let Some(Some(leader)) = leaders.first() else {
        return Err(format!("leaders named: {leaders:?}"));
    };
    if !leaders.iter().all(|seen| seen == &Some(*leader)) {
        return Err(format!("leaders named: {leaders:?}"));
    }
    let url_known = nodes.iter().all(|node| {
        node.node
            .member_infos()
            .get(leader)
            .is_some_and(|info| info.address.starts_with("http"))
    });
    if !url_known {
        return Err(format!("not every node knows node {leader}'s client URL"));
    }
    Ok(nodes
        .iter()
        .position(|node| node.node.id() == *leader)
        .expect("the leader is one of the nodes"))
}
