//! A cluster of in-process queue nodes on loopback TCP, which a test can
//! kill and restart, and the workload that runs against it.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

pub mod workload;

use std::net::SocketAddr;
use std::time::Duration;

use ordo::storage::Durability;
use ordo_taskqueue::state::PlantedBug;
use ordo_taskqueue::{PeerAddresses, QueueNode, QueueNodeConfig};
use tempfile::TempDir;

/// Nodes of one cluster; `None` while killed.
pub struct Cluster {
    _dir: TempDir,
    configs: Vec<QueueNodeConfig>,
    nodes: Vec<Option<QueueNode>>,
}

impl Cluster {
    /// Starts `size` nodes (ids 1..=size), with `bug` planted in each.
    pub async fn start(size: u64, bug: Option<PlantedBug>) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let ports = reserve_ports(2 * size as usize);
        let addresses: Vec<PeerAddresses> = (1..=size)
            .map(|id| PeerAddresses {
                id,
                peer: ports[2 * (id as usize - 1)].to_string(),
                client: ports[2 * (id as usize - 1) + 1].to_string(),
            })
            .collect();
        let configs: Vec<QueueNodeConfig> = addresses
            .iter()
            .map(|own| {
                let mut config = QueueNodeConfig::new(
                    own.id,
                    own.peer.parse().unwrap(),
                    own.client.parse().unwrap(),
                );
                config.peers = addresses
                    .iter()
                    .filter(|p| p.id != own.id)
                    .cloned()
                    .collect();
                config.data_dir = dir.path().join(own.id.to_string());
                config.max_attempts = 10;
                // Nodes are killed in-process: what was written reaches the
                // file (the OS keeps it), so fsync would only cost time.
                config.durability = Durability::Never;
                config.snapshot_threshold_entries = 2_000;
                config.planted_bug = bug;
                config
            })
            .collect();
        let mut cluster = Cluster {
            _dir: dir,
            nodes: configs.iter().map(|_| None).collect(),
            configs,
        };
        for index in 0..cluster.configs.len() {
            cluster.restart(index).await;
        }
        cluster
    }

    /// Every node's client address, up or not.
    pub fn client_addresses(&self) -> Vec<String> {
        let configs = self.configs.iter();
        configs
            .map(|config| config.client_listen.to_string())
            .collect()
    }

    /// The running nodes.
    pub fn running(&self) -> impl Iterator<Item = &QueueNode> {
        self.nodes.iter().flatten()
    }

    /// Waits for a running node that leads; returns its index.
    pub async fn wait_for_leader(&self) -> usize {
        for _ in 0..200 {
            let leading = self
                .nodes
                .iter()
                .position(|node| node.as_ref().is_some_and(|node| node.queue().is_leader()));
            if let Some(index) = leading {
                return index;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no leader within 5 s");
    }

    /// Kills the leader as a crash would; returns its index.
    pub async fn kill_leader(&mut self) -> usize {
        let index = self.wait_for_leader().await;
        let node = self.nodes[index].take().unwrap();
        node.kill().await;
        index
    }

    /// Starts node `index` again on its data directory and ports.
    pub async fn restart(&mut self, index: usize) {
        assert!(self.nodes[index].is_none(), "node {index} is running");
        let node = QueueNode::start(self.configs[index].clone()).await.unwrap();
        self.nodes[index] = Some(node);
    }

    /// Stops every running node.
    pub async fn stop(self) {
        for node in self.nodes.into_iter().flatten() {
            node.stop().await;
        }
    }
}

/// Free loopback ports: all bound at once (so none repeats), then released.
fn reserve_ports(count: usize) -> Vec<SocketAddr> {
    let listeners: Vec<std::net::TcpListener> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners.iter().map(|l| l.local_addr().unwrap()).collect()
}
