//! Whole Raft clusters of `RaftNode`s over `TcpTransport` (and, with the
//! `grpc` feature, `GrpcTransport`) on 127.0.0.1: elect, replicate proposals
//! from many tasks, redirect a follower's proposal to the leader's address,
//! stop the leader, elect another, keep going, and converge on identical
//! state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ordo::storage::{MemLogStore, WalConfig, WalLogStore};
use ordo::transport::ClusterId;
#[cfg(feature = "grpc")]
use ordo::transport::grpc::GrpcWire;
use ordo::transport::tcp::{TcpTransport, TcpWire};
use ordo::transport::{NetworkConfig, NetworkTransport, Wire};
use ordo::{Entry, NodeId, Peer, RaftConfig, RaftError, RaftNode, StateMachine};

const PATIENCE: Duration = Duration::from_secs(20);

/// A counter that also counts the commands it applied.
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
                self.total += entry.command;
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
        let mut bytes = [0u8; 16];
        input.read_exact(&mut bytes)?;
        self.total = u64::from_be_bytes(bytes[..8].try_into().unwrap());
        self.applied = u64::from_be_bytes(bytes[8..].try_into().unwrap());
        Ok(())
    }
}

/// Node `id`'s write-ahead log under `data`.
fn wal(data: &Path, id: NodeId) -> Arc<WalLogStore> {
    Arc::new(WalLogStore::open(data.join(format!("node-{id}")), WalConfig::default()).unwrap())
}

struct Cluster {
    nodes: Vec<RaftNode<Counter>>,
    addresses: Vec<String>,
}

impl Cluster {
    /// `size` nodes over TCP, each transport on an ephemeral port.
    async fn start(size: u64) -> Cluster {
        Self::start_on::<TcpWire>(size).await
    }

    /// `size` nodes over wire `W`, with in-memory logs.
    async fn start_on<W: Wire>(size: u64) -> Cluster {
        Self::start_with::<W>(size, None).await
    }

    /// `size` nodes over wire `W`; with `data`, each logs to a
    /// `WalLogStore` in `data/node-<id>`.
    async fn start_with<W: Wire>(size: u64, data: Option<&Path>) -> Cluster {
        let cluster_id = ClusterId::new("tcp-cluster-test").unwrap();
        let transports: Vec<NetworkTransport<W>> = (1..=size)
            .map(|id| {
                let config = NetworkConfig {
                    reconnect_backoff_max: Duration::from_millis(200),
                    ..NetworkConfig::new(cluster_id.clone(), id, "127.0.0.1:0".parse().unwrap())
                };
                NetworkTransport::<W>::bind(config).unwrap()
            })
            .collect();
        let addresses: Vec<String> = transports
            .iter()
            .map(|t| t.local_addr().to_string())
            .collect();
        let mut nodes = Vec::new();
        for (i, transport) in transports.into_iter().enumerate() {
            let id = i as NodeId + 1;
            let mut peers = Vec::new();
            for (j, address) in addresses.iter().enumerate() {
                let peer = j as NodeId + 1;
                if peer != id {
                    transport.add_peer(peer, address.clone()).unwrap();
                    peers.push(Peer::new(peer, address.clone()));
                }
            }
            let config = RaftConfig {
                node_id: id,
                address: addresses[i].clone(),
                peers,
                rng_seed: Some(id),
                ..RaftConfig::default()
            };
            let node = match data {
                Some(data) => RaftNode::new(config, Counter::default(), wal(data, id), transport),
                None => RaftNode::new(
                    config,
                    Counter::default(),
                    Arc::new(MemLogStore::new()),
                    transport,
                ),
            }
            .unwrap();
            node.start().await.unwrap();
            nodes.push(node);
        }
        Cluster { nodes, addresses }
    }

    fn node(&self, id: NodeId) -> &RaftNode<Counter> {
        &self.nodes[id as usize - 1]
    }

    /// The leader a majority of the running nodes agree on.
    async fn leader(&self, running: &[NodeId]) -> NodeId {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let mut votes = std::collections::BTreeMap::new();
            for &id in running {
                let state = self.node(id).soft_state();
                if let Some(leader) = state.leader {
                    *votes.entry((state.term, leader)).or_insert(0) += 1;
                }
            }
            if let Some((&(_, leader), _)) =
                votes.iter().find(|(_, count)| **count > running.len() / 2)
                && running.contains(&leader)
                && self.node(leader).is_leader()
            {
                return leader;
            }
            assert!(Instant::now() < deadline, "no leader among {running:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Proposes `count` adds of 1 from `tasks` concurrent tasks on `leader`.
    async fn propose_concurrently(&self, leader: NodeId, tasks: u64, count: u64) {
        let mut handles = Vec::new();
        for _ in 0..tasks {
            let node = self.node(leader).clone();
            handles.push(tokio::spawn(async move {
                for _ in 0..count {
                    node.propose(1).await.unwrap();
                }
            }));
        }
        for handle in handles {
            handle.await.unwrap();
        }
    }

    /// Waits until every running node has applied `applied` commands summing
    /// to `total`.
    async fn converged(&self, running: &[NodeId], applied: u64, total: u64) {
        let deadline = Instant::now() + PATIENCE;
        for &id in running {
            loop {
                let state = self.node(id).read_stale(()).await.unwrap();
                if state == (applied, total) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "node {id} stuck at {state:?}, expected {:?}",
                    (applied, total)
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    async fn stop_all(&self) {
        for node in &self.nodes {
            node.stop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_over_tcp_elect_replicate_and_survive_the_leader_stopping() {
    let cluster = Cluster::start(3).await;
    let mut running = vec![1, 2, 3];
    let first = cluster.leader(&running).await;
    cluster.propose_concurrently(first, 8, 25).await;
    cluster.converged(&running, 200, 200).await;

    // A follower redirects to the leader, naming its address.
    let follower = *running.iter().find(|&&id| id != first).unwrap();
    match cluster.node(follower).propose(1).await {
        Err(RaftError::NotLeader {
            leader: Some((leader, address)),
        }) => {
            assert_eq!(leader, first);
            assert_eq!(address, cluster.addresses[first as usize - 1]);
        }
        other => panic!("expected NotLeader, got {other:?}"),
    }

    // The leader stops (its transport closes with it): the others elect a
    // new one and keep going.
    cluster.node(first).stop().await;
    running.retain(|&id| id != first);
    let second = cluster.leader(&running).await;
    assert_ne!(second, first);
    cluster.propose_concurrently(second, 4, 25).await;
    cluster.converged(&running, 300, 300).await;
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_read_index_sees_a_write_acknowledged_just_before() {
    let cluster = Cluster::start(3).await;
    let running = [1, 2, 3];
    let leader = cluster.leader(&running).await;
    let follower = *running.iter().find(|&&id| id != leader).unwrap();
    for expected in 1..=20 {
        assert_eq!(cluster.node(leader).propose(1).await.unwrap(), expected);
        // Linearizable: the follower confirms with the leader over TCP and
        // waits to apply up to the read index before answering.
        let (applied, total) = cluster.node(follower).read_index(()).await.unwrap();
        assert!(
            total >= expected && applied >= expected,
            "{total} < {expected}"
        );
    }
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_on_its_wal_catches_up_over_tcp() {
    let data = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start_with::<TcpWire>(3, Some(data.path())).await;
    let all = [1, 2, 3];
    let leader = cluster.leader(&all).await;
    cluster.propose_concurrently(leader, 2, 10).await;
    cluster.converged(&all, 20, 20).await;

    // Node 3 stops; the other two go on without it.
    let restarted: NodeId = 3;
    cluster.node(restarted).stop().await;
    let survivors = [1, 2];
    let leader = cluster.leader(&survivors).await;
    cluster.propose_concurrently(leader, 2, 15).await;
    cluster.converged(&survivors, 50, 50).await;

    // It comes back on the same port and the same log, and catches up.
    let address = cluster.addresses[restarted as usize - 1].clone();
    let mut network = NetworkConfig::new(
        ClusterId::new("tcp-cluster-test").unwrap(),
        restarted,
        address.parse().unwrap(),
    );
    let mut peers = Vec::new();
    for &peer in &survivors {
        let peer_address = cluster.addresses[peer as usize - 1].clone();
        network = network.with_peer(peer, peer_address.clone());
        peers.push(Peer::new(peer, peer_address));
    }
    let transport = bind_retrying(network).await;
    let config = RaftConfig {
        node_id: restarted,
        address,
        peers,
        rng_seed: Some(restarted),
        ..RaftConfig::default()
    };
    let node = RaftNode::new(
        config,
        Counter::default(),
        wal(data.path(), restarted),
        transport,
    )
    .unwrap();
    node.start().await.unwrap();
    cluster.nodes[restarted as usize - 1] = node;
    cluster.converged(&all, 50, 50).await;
    let leader = cluster.leader(&all).await;
    cluster.propose_concurrently(leader, 1, 5).await;
    cluster.converged(&all, 55, 55).await;
    cluster.stop_all().await;
}

/// Binds `config`, retrying while the stopped node's listener is still
/// closing (the node's stop does not wait for its transport's sockets).
async fn bind_retrying(config: NetworkConfig) -> TcpTransport {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match TcpTransport::bind(config.clone()) {
            Ok(transport) => return transport,
            Err(error) => {
                assert!(Instant::now() < deadline, "cannot rebind: {error}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_over_tcp_survive_two_leaders_stopping() {
    let cluster = Cluster::start(5).await;
    let mut running = vec![1, 2, 3, 4, 5];
    let mut applied = 0;
    for _ in 0..2 {
        let leader = cluster.leader(&running).await;
        cluster.propose_concurrently(leader, 4, 20).await;
        applied += 80;
        cluster.converged(&running, applied, applied).await;
        cluster.node(leader).stop().await;
        running.retain(|&id| id != leader);
    }
    // Three of five remain: still a quorum.
    let leader = cluster.leader(&running).await;
    cluster.propose_concurrently(leader, 4, 20).await;
    applied += 80;
    cluster.converged(&running, applied, applied).await;
    cluster.stop_all().await;
}

#[cfg(feature = "grpc")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_over_grpc_elect_replicate_and_survive_the_leader_stopping() {
    let cluster = Cluster::start_on::<GrpcWire>(3).await;
    let mut running = vec![1, 2, 3];
    let first = cluster.leader(&running).await;
    cluster.propose_concurrently(first, 4, 25).await;
    cluster.converged(&running, 100, 100).await;
    cluster.node(first).stop().await;
    running.retain(|&id| id != first);
    let second = cluster.leader(&running).await;
    assert_ne!(second, first);
    cluster.propose_concurrently(second, 4, 25).await;
    cluster.converged(&running, 200, 200).await;
    cluster.stop_all().await;
}
