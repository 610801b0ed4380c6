//! [`QueueNode`]: one member of a task queue cluster. It owns an Ordo
//! [`RaftNode`] (log in a [`WalLogStore`], snapshots in a [`SnapshotStore`],
//! peers over Ordo's [`TcpTransport`]), the leader's expiry loop
//! (`expiry.rs`) and the client port (`server.rs`); the queue operations
//! are [`TaskQueue`]'s.
//!
//! Two ports: peers reach the node on `peer_listen` (Ordo's frames), clients
//! on `client_listen` (this crate's [`protocol`](crate::protocol)). The
//! address a redirect names
//! ([`QueueError::NotLeader`](crate::QueueError::NotLeader)) is the client
//! one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ordo::storage::{Durability, SnapshotStore, StorageError, WalConfig, WalLogStore};
use ordo::transport::tcp::TcpTransport;
use ordo::transport::{ClusterId, ClusterIdError, NetworkConfig, TransportError};
use ordo::{NodeId, Peer, RaftConfig, RaftError, RaftNode};
use tokio::task::JoinHandle;

use crate::machine::TaskQueueMachine;
use crate::queue::TaskQueue;
use crate::state::PlantedBug;

/// Where another member listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddresses {
    /// Its node id.
    pub id: NodeId,
    /// Its peer port (Ordo's TCP transport), `HOST:PORT`.
    pub peer: String,
    /// Its client port, `HOST:PORT`.
    pub client: String,
}

/// How to run one node.
#[derive(Clone, Debug)]
pub struct QueueNodeConfig {
    /// This node's id (not 0).
    pub node_id: NodeId,
    /// The cluster's name: nodes of another cluster are refused.
    pub cluster: String,
    /// Where peers reach this node.
    pub peer_listen: SocketAddr,
    /// Where clients reach this node.
    pub client_listen: SocketAddr,
    /// The other members.
    pub peers: Vec<PeerAddresses>,
    /// The log goes to `DATA/wal`, snapshots to `DATA/snapshots`.
    pub data_dir: PathBuf,
    /// Claims a task gets before it is dead-lettered (stamped on each task
    /// this node enqueues).
    pub max_attempts: u32,
    /// How often the leader looks for expired claims.
    pub expiry_check_interval: Duration,
    /// Whether log writes are fsynced (the default) or not (tests).
    pub durability: Durability,
    /// A snapshot every this many applied entries.
    pub snapshot_threshold_entries: u64,
    /// A deliberate bug (tests only).
    #[doc(hidden)]
    pub planted_bug: Option<PlantedBug>,
}

impl QueueNodeConfig {
    /// A node with the defaults: 5 attempts, expiry checked every 50 ms,
    /// fsynced log, a snapshot every 5,000 entries.
    pub fn new(node_id: NodeId, peer_listen: SocketAddr, client_listen: SocketAddr) -> Self {
        QueueNodeConfig {
            node_id,
            cluster: "taskqueue".into(),
            peer_listen,
            client_listen,
            peers: Vec::new(),
            data_dir: PathBuf::from(format!("taskqueue-data/{node_id}")),
            max_attempts: 5,
            expiry_check_interval: Duration::from_millis(50),
            durability: Durability::Always,
            snapshot_threshold_entries: 5_000,
            planted_bug: None,
        }
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The cluster name is not a valid cluster id.
    #[error("bad cluster name: {0}")]
    ClusterName(#[from] ClusterIdError),
    /// The log or snapshot directory could not be opened.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The peer port could not be bound.
    #[error("peer transport: {0}")]
    Transport(#[from] TransportError),
    /// The client port could not be bound.
    #[error("client port {address}: {source}")]
    ClientPort {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The Raft node refused to start.
    #[error("raft: {0}")]
    Raft(#[from] RaftError),
}

/// One running member of the cluster.
pub struct QueueNode {
    queue: TaskQueue,
    peer_address: SocketAddr,
    client_address: SocketAddr,
    /// The expiry loop and the client port; aborted when the node stops.
    tasks: Vec<JoinHandle<()>>,
}

impl QueueNode {
    /// Opens the node's storage, binds its ports, starts it.
    ///
    /// # Errors
    /// [`StartError`]: bad configuration, storage, ports, or Ordo refusing.
    pub async fn start(config: QueueNodeConfig) -> Result<Self, StartError> {
        let port_error = |source| StartError::ClientPort {
            address: config.client_listen,
            source,
        };
        let clients = tokio::net::TcpListener::bind(config.client_listen)
            .await
            .map_err(port_error)?;
        let client_address = clients.local_addr().map_err(port_error)?;
        let network = NetworkConfig::new(
            ClusterId::new(config.cluster.clone())?,
            config.node_id,
            config.peer_listen,
        );
        let transport = TcpTransport::bind(network)?;
        let peer_address = transport.local_addr();
        let raft = build_raft(&config, transport, client_address, peer_address)?;
        raft.start().await?;
        let queue = TaskQueue::new(raft.clone(), config.max_attempts);
        let tasks = vec![
            tokio::spawn(crate::expiry::run(raft, config.expiry_check_interval)),
            tokio::spawn(crate::server::serve(clients, queue.clone())),
        ];
        Ok(QueueNode {
            queue,
            peer_address,
            client_address,
            tasks,
        })
    }

    /// The queue operations, through this node.
    pub fn queue(&self) -> &TaskQueue {
        &self.queue
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.queue.raft().id()
    }

    /// Where peers reach this node.
    pub fn peer_address(&self) -> SocketAddr {
        self.peer_address
    }

    /// Where clients reach this node.
    pub fn client_address(&self) -> SocketAddr {
        self.client_address
    }

    /// Stops gracefully: a leader hands over first, the log is synced.
    pub async fn stop(self) {
        self.stop_tasks();
        self.queue.raft().stop().await;
    }

    /// Stops at once, as a crash would (no handover; tests and the demo).
    pub async fn kill(self) {
        self.stop_tasks();
        self.queue.raft().abort().await;
    }

    fn stop_tasks(&self) {
        // Aborting the server task drops its connections' tasks with it.
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The Ordo node: log, snapshots, transport and timings.
fn build_raft(
    config: &QueueNodeConfig,
    transport: TcpTransport,
    client_address: SocketAddr,
    peer_address: SocketAddr,
) -> Result<RaftNode<TaskQueueMachine>, StartError> {
    let wal = WalConfig {
        durability: config.durability,
        cluster_id: Some(config.cluster.clone()),
        ..WalConfig::default()
    };
    let log = Arc::new(WalLogStore::open(config.data_dir.join("wal"), wal)?);
    let snapshots = SnapshotStore::open(config.data_dir.join("snapshots"))?;
    let peers = config.peers.iter().map(|peer| {
        // A redirect names `address`: the client port.
        Peer::new(peer.id, peer.client.clone()).with_peer_address(peer.peer.clone())
    });
    let raft_config = RaftConfig {
        node_id: config.node_id,
        address: client_address.to_string(),
        peer_address: Some(peer_address.to_string()),
        peers: peers.collect(),
        snapshot_threshold_entries: config.snapshot_threshold_entries,
        // A proposal stuck behind a dead leader is answered "unknown" soon
        // enough for a client to try the next node.
        propose_timeout: Duration::from_secs(3),
        ..RaftConfig::default()
    };
    let machine = TaskQueueMachine::with_planted_bug(config.planted_bug);
    let builder = RaftNode::builder(raft_config, machine, log, transport);
    Ok(builder.snapshot_store(snapshots).build()?)
}
