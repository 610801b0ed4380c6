//! [`RegistryNode`]: one member of a registry group, running. An Ordo node
//! whose peers talk over Ordo's gRPC transport on one port, whose log
//! ([`WalLogStore`]) and snapshots ([`SnapshotStore`]) live in its data
//! directory, and whose client API (`Registry` and `BackupService`) is
//! served on a second port.
//!
//! Starting is two steps, [`Listeners::bind`] then [`RegistryNode::start`],
//! so that a group on ports chosen by the system (tests, the demo) can
//! learn every member's addresses before any member starts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ordo::storage::{SnapshotStore, StorageError, WalConfig, WalLogStore};
use ordo::transport::grpc::GrpcTransport;
use ordo::transport::{ClusterId, ClusterIdError, NetworkConfig, TransportError};
use ordo::{NodeId, Peer, RaftConfig, RaftError, RaftNode};
use thiserror::Error;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use crate::backup::BackupApi;
use crate::proto::backup_service_server::BackupServiceServer;
use crate::proto::registry_server::RegistryServer;
use crate::service::RegistryApi;
use crate::state_machine::RouterStateMachine;

/// How long a stopping node waits for its client API to finish the
/// requests in flight before it drops them.
const API_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Where one member listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberAddresses {
    /// Raft traffic between members (the gRPC transport).
    pub raft: SocketAddr,
    /// The client API (`Registry`, `BackupService`).
    pub api: SocketAddr,
}

/// One member's configuration.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This member's id (not 0).
    pub id: NodeId,
    /// The group's name; members of another group are refused.
    pub cluster: String,
    /// Where the log and snapshots live (`log/`, `snapshots/`).
    pub data_dir: PathBuf,
    /// Every initial member, this one included.
    pub members: BTreeMap<NodeId, MemberAddresses>,
    /// A snapshot is taken every this many applied entries.
    pub snapshot_threshold_entries: u64,
}

impl NodeConfig {
    /// A member of `cluster` with the default snapshot threshold.
    pub fn new(
        id: NodeId,
        cluster: impl Into<String>,
        data_dir: impl Into<PathBuf>,
        members: BTreeMap<NodeId, MemberAddresses>,
    ) -> Self {
        NodeConfig {
            id,
            cluster: cluster.into(),
            data_dir: data_dir.into(),
            members,
            snapshot_threshold_entries: RaftConfig::default().snapshot_threshold_entries,
        }
    }

    fn raft_config(&self, own: MemberAddresses) -> RaftConfig {
        let peers = self
            .members
            .iter()
            .filter(|(id, _)| **id != self.id)
            .map(|(id, at)| {
                Peer::new(*id, at.api.to_string()).with_peer_address(at.raft.to_string())
            })
            .collect();
        RaftConfig {
            node_id: self.id,
            // What a follower's redirect names: the client API.
            address: own.api.to_string(),
            peer_address: Some(own.raft.to_string()),
            peers,
            snapshot_threshold_entries: self.snapshot_threshold_entries,
            ..RaftConfig::default()
        }
    }
}

/// Why a node could not start.
#[derive(Debug, Error)]
pub enum NodeError {
    /// The cluster name is not a valid cluster id.
    #[error("invalid cluster name: {0}")]
    ClusterName(#[from] ClusterIdError),
    /// The raft port could not be bound or the transport not started.
    #[error("raft transport: {0}")]
    Transport(#[from] TransportError),
    /// The API port could not be bound.
    #[error("client API port: {0}")]
    Api(#[from] std::io::Error),
    /// The log or snapshots could not be opened.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The node refused to start.
    #[error("raft: {0}")]
    Raft(#[from] RaftError),
}

/// A member's two ports, bound, before it starts.
pub struct Listeners {
    transport: GrpcTransport,
    api: std::net::TcpListener,
}

impl Listeners {
    /// Binds `at` (port 0: any free port) for member `id` of `cluster`.
    ///
    /// # Errors
    /// An invalid cluster name, or a port that cannot be bound.
    pub fn bind(cluster: &str, id: NodeId, at: MemberAddresses) -> Result<Self, NodeError> {
        let network = NetworkConfig::new(ClusterId::new(cluster)?, id, at.raft);
        let transport = GrpcTransport::bind(network)?;
        let api = std::net::TcpListener::bind(at.api)?;
        api.set_nonblocking(true)?;
        Ok(Listeners { transport, api })
    }

    /// The addresses actually bound.
    ///
    /// # Errors
    /// If the API socket cannot tell its address.
    pub fn addresses(&self) -> Result<MemberAddresses, NodeError> {
        Ok(MemberAddresses {
            raft: self.transport.local_addr(),
            api: self.api.local_addr()?,
        })
    }
}

/// One member, running. Stop it with [`stop`](Self::stop) (or
/// [`kill`](Self::kill), as a crash would).
pub struct RegistryNode {
    raft: RaftNode<RouterStateMachine>,
    addresses: MemberAddresses,
    stop_api: CancellationToken,
    api_server: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl RegistryNode {
    /// Opens the data directory and starts the member on `listeners`.
    ///
    /// # Errors
    /// See [`NodeError`].
    pub async fn start(config: &NodeConfig, listeners: Listeners) -> Result<Self, NodeError> {
        Self::start_with(config, listeners, RouterStateMachine::new()).await
    }

    /// [`start`](Self::start) with a given state machine (tests plant bugs).
    ///
    /// # Errors
    /// See [`NodeError`].
    pub async fn start_with(
        config: &NodeConfig,
        listeners: Listeners,
        state_machine: RouterStateMachine,
    ) -> Result<Self, NodeError> {
        let addresses = listeners.addresses()?;
        let wal = WalConfig {
            cluster_id: Some(config.cluster.clone()),
            ..WalConfig::default()
        };
        let log = Arc::new(WalLogStore::open(config.data_dir.join("log"), wal)?);
        let snapshots = SnapshotStore::open(config.data_dir.join("snapshots"))?;
        let changes = state_machine.changes();
        let raft = RaftNode::builder(
            config.raft_config(addresses),
            state_machine,
            log,
            listeners.transport,
        )
        .snapshot_store(snapshots)
        .build()?;
        raft.start().await?;

        let stop_api = CancellationToken::new();
        let registry = RegistryApi::new(raft.clone(), changes, stop_api.clone());
        let api = tokio::net::TcpListener::from_std(listeners.api)?;
        let server = tonic::transport::Server::builder()
            .add_service(RegistryServer::new(registry))
            .add_service(BackupServiceServer::new(BackupApi::new(raft.clone())))
            .serve_with_incoming_shutdown(
                TcpListenerStream::new(api),
                stop_api.clone().cancelled_owned(),
            );
        Ok(RegistryNode {
            raft,
            addresses,
            stop_api,
            api_server: tokio::spawn(server),
        })
    }

    /// The Ordo node underneath.
    pub fn raft(&self) -> &RaftNode<RouterStateMachine> {
        &self.raft
    }

    /// Where this member listens.
    pub fn addresses(&self) -> MemberAddresses {
        self.addresses
    }

    /// Stops gracefully: a leader hands off leadership first.
    pub async fn stop(self) {
        self.raft.stop().await;
        self.stop_api().await;
    }

    /// Stops at once, as a crash would (no handoff; the disk keeps what
    /// was synced). Start it again on the same data directory to recover.
    pub async fn kill(self) {
        self.raft.abort().await;
        self.stop_api().await;
    }

    async fn stop_api(self) {
        self.stop_api.cancel();
        let mut server = self.api_server;
        if tokio::time::timeout(API_DRAIN_TIMEOUT, &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
    }
}
