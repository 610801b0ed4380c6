//! [`LocalCluster`]: N queue nodes in one process, on loopback TCP, each
//! with its own data directory. For the demo and the tests: a node can be
//! killed (as a crash would) and started again on its directory and ports.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ordo::NodeId;

use crate::node::{PeerAddresses, QueueNode, QueueNodeConfig, StartError};

/// Nodes of one cluster; a killed node's slot is empty until restarted.
pub struct LocalCluster {
    configs: Vec<QueueNodeConfig>,
    nodes: Vec<Option<QueueNode>>,
}

impl LocalCluster {
    /// Starts `size` nodes (ids 1…size) under `data_dir`, on free loopback
    /// ports; `configure` adjusts each node's configuration first.
    ///
    /// # Errors
    /// [`StartError`] from the first node that fails.
    pub async fn start(
        size: u64,
        data_dir: &Path,
        configure: impl Fn(&mut QueueNodeConfig),
    ) -> Result<LocalCluster, StartError> {
        let ports = free_ports(2 * size as usize).map_err(|source| StartError::ClientPort {
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            source,
        })?;
        let members: Vec<PeerAddresses> = (1..=size)
            .zip(ports.chunks(2))
            .map(|(id, pair)| PeerAddresses {
                id,
                peer: pair[0].to_string(),
                client: pair[1].to_string(),
            })
            .collect();
        let configs = members.iter().zip(ports.chunks(2)).map(|(own, pair)| {
            let mut config = QueueNodeConfig::new(own.id, pair[0], pair[1]);
            config.peers = members.iter().filter(|p| p.id != own.id).cloned().collect();
            config.data_dir = data_dir.join(own.id.to_string());
            configure(&mut config);
            config
        });
        let configs: Vec<QueueNodeConfig> = configs.collect();
        let mut cluster = LocalCluster {
            nodes: configs.iter().map(|_| None).collect(),
            configs,
        };
        for index in 0..cluster.configs.len() {
            cluster.restart(index).await?;
        }
        Ok(cluster)
    }

    /// Every node's client address, running or not.
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

    /// Waits up to `timeout` for a running node that leads; its index.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<usize> {
        let give_up = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < give_up {
            let leading = self
                .nodes
                .iter()
                .position(|node| node.as_ref().is_some_and(|node| node.queue().is_leader()));
            if leading.is_some() {
                return leading;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Kills the node at `index` as a crash would; returns its id, or
    /// `None` if it was not running.
    pub async fn kill(&mut self, index: usize) -> Option<NodeId> {
        let node = self.nodes.get_mut(index)?.take()?;
        let id = node.id();
        node.kill().await;
        Some(id)
    }

    /// Starts the node at `index` again on its data directory and ports.
    ///
    /// # Errors
    /// [`StartError`]; the slot stays empty.
    ///
    /// # Panics
    /// If the node is running, or `index` is out of range.
    pub async fn restart(&mut self, index: usize) -> Result<(), StartError> {
        assert!(self.nodes[index].is_none(), "node at {index} is running");
        let node = QueueNode::start(self.configs[index].clone()).await?;
        self.nodes[index] = Some(node);
        Ok(())
    }

    /// Stops every running node gracefully.
    pub async fn stop(self) {
        for node in self.nodes.into_iter().flatten() {
            node.stop().await;
        }
    }
}

/// Free loopback ports: all bound at once (so none repeats), then released
/// for the nodes to bind. Another process may take one meanwhile; the node
/// then fails to start, loudly.
fn free_ports(count: usize) -> std::io::Result<Vec<SocketAddr>> {
    let listeners = (0..count).map(|_| std::net::TcpListener::bind("127.0.0.1:0"));
    let listeners: Vec<std::net::TcpListener> = listeners.collect::<Result<_, _>>()?;
    listeners
        .iter()
        .map(std::net::TcpListener::local_addr)
        .collect()
}
