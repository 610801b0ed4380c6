//! One running `ordo` node: the Raft node over its data directory, the TCP
//! transport to the other nodes, the HTTP listener for clients, and the
//! *reporter*, which makes sure the log carries this node's own addresses
//! so that redirects to it and `ordo status` work from every node
//! (`peers.rs`). The runtime tells the transport where every member is, as
//! it applies the log: nothing here copies addresses into it.
//!
//! Start order matters for clear errors: the listeners are bound first (a
//! busy port fails before anything is written; the node port is bound
//! once to check it, and again by the transport once the cluster's id is
//! known), then the data directory is checked, the log opened, the
//! identity recorded on a first start (the cluster's id generated, given,
//! or learned: see `cluster_id.rs`), the other stores opened, seeded if
//! asked, and the node starts. [`RunningNode::stop`] undoes it in reverse: no new requests, the
//! node stops (answering what is in flight, flushing the log), responses
//! still being sent get a bounded time to finish, then the transport closes.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use ordo::storage::{LogRead, SnapshotStore, WalConfig, WalLogStore};
use ordo::transport::ClusterId;
use ordo::transport::NetworkConfig;
use ordo::transport::tcp::TcpTransport;
use ordo::{MemberInfo, NodeId, Peer, RaftConfig, RaftNode};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::AddMemberRequest;
use crate::client::ClientError;
use crate::server::auth_view::{AuthContext, AuthView};
use crate::server::data_dir::{DataDir, Expected, Identity, RecordedBootstrap};
use crate::server::descriptors;
use crate::server::first_start::{self, client_for};
use crate::server::http::tls::TlsAcceptors;
use crate::server::http::{self, AppState, ConnectionLimits};
use crate::server::leases::{self, LeaseRules, NodeLeases};
use crate::server::member_address::MemberAddress;
use crate::server::metrics::Metrics;
use crate::server::peer_tls;
use crate::server::settings::{Bootstrap, NodeSettings};
use crate::server::store_gauge::StoreGauge;
use crate::server::timed_store::TimedLogStore;
use crate::server::watch::{WatchHub, WatchLimits};
use crate::server::{auto_compaction, node_events, peers, seed};
use crate::store::KvStore;

/// How long a joining node keeps asking to be added.
const JOIN_PATIENCE: Duration = Duration::from_secs(60);
/// How long stopping waits for HTTP responses still being sent (a slow
/// reader of a snapshot) before closing their connections.
const HTTP_DRAIN_PATIENCE: Duration = Duration::from_secs(5);

/// A node serving clients.
pub struct RunningNode {
    /// The Raft node.
    pub node: RaftNode<KvStore>,
    /// Its transport.
    pub transport: TcpTransport,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
    /// Where clients reach it.
    pub client_url: String,
    /// Where nodes reach it.
    pub peer_addr: String,
    /// The cluster's id, as this node presents it to its peers.
    pub cluster_id: String,
    shutdown: watch::Sender<bool>,
    http: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
    watch_hub: Arc<WatchHub>,
    leases: Arc<NodeLeases>,
}

impl RunningNode {
    /// Binds, opens, seeds if asked, joins if asked, and starts serving.
    ///
    /// # Errors
    /// A busy port, a data directory of another node, a damaged store, a
    /// cluster that cannot be reached to join: each with what to do.
    pub async fn start(settings: NodeSettings) -> anyhow::Result<RunningNode> {
        let id = settings.id;
        let listener = TcpListener::bind(settings.client_listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen for clients on {} (is another node using the port?)",
                    settings.client_listen
                )
            })?;
        ClusterId::new(settings.cluster.clone())
            .map_err(|error| anyhow!("--cluster {:?}: {error}", settings.cluster))?;
        let peer_listen = check_peer_port(settings.peer_listen)?;
        let peer_addr = settings
            .advertise_peer
            .clone()
            .unwrap_or_else(|| peer_listen.to_string());
        let tls = settings
            .http
            .tls
            .clone()
            .map(TlsAcceptors::load)
            .transpose()
            .context("cannot set up HTTPS for clients")?;
        let connection_limits = ConnectionLimits {
            max_connections: descriptors::connection_cap(
                settings.http.limits.max_connections,
                descriptors::raise_soft_limit(),
            )?,
            ..settings.http.limits
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let client_url = match &settings.advertise_client {
            Some(url) => url.clone(),
            None => format!("{scheme}://{}", listener.local_addr()?),
        };
        let own_address = MemberAddress::new(peer_addr.clone(), client_url.clone());
        let own = own_address.to_info();

        let expected = Expected {
            cluster: &settings.cluster,
            cluster_id: settings.cluster_id.as_deref(),
            node_id: id,
        };
        let (data_dir, identity) = DataDir::open(&settings.data, expected)?;
        let first_start = identity.is_none();
        let identity = first_start::identity(&settings, &own_address, identity).await?;
        // Opening the log creates it on a first start: the identity is
        // recorded only once it exists (see `data_dir.rs`). Every segment
        // names the cluster id, and a log whose segments name another (a
        // `wal/` copied in from another cluster's node) is refused.
        let wal_config = WalConfig {
            cluster_id: Some(identity.cluster_id().to_owned()),
            ..WalConfig::default()
        };
        let wal = WalLogStore::open(data_dir.wal_dir(), wal_config)
            .with_context(|| format!("cannot open the log in {}", data_dir.wal_dir().display()))?;
        if first_start {
            data_dir.write_identity(&identity)?;
        }
        let cluster = ClusterId::new(identity.cluster_id())
            .map_err(|error| anyhow!("the cluster id {:?}: {error}", identity.cluster_id()))?;
        // The transport's error already names its cause; as a context it
        // would be printed twice.
        let peer_tls = match settings.peer_tls.clone() {
            Some(files) => {
                let name = ClusterId::new(settings.cluster.clone())
                    .map_err(|error| anyhow!("--cluster {:?}: {error}", settings.cluster))?;
                Some(peer_tls::load(files, name, id)?)
            }
            None => None,
        };
        let network = NetworkConfig {
            peer_tls: peer_tls.clone(),
            ..NetworkConfig::new(cluster, id, peer_listen)
        };
        let transport = TcpTransport::bind(network).map_err(|error| {
            anyhow!(
                "cannot listen for nodes on {peer_listen} (is another node using the port?): \
                     {error}"
            )
        })?;

        let metrics = Arc::new(Metrics::default());
        metrics.set_wal_dir(data_dir.wal_dir());
        let log = Arc::new(TimedLogStore::new(wal, Arc::clone(&metrics)));
        let snapshots = SnapshotStore::open(data_dir.snapshot_dir()).with_context(|| {
            format!(
                "cannot open the snapshots in {}",
                data_dir.snapshot_dir().display()
            )
        })?;
        if let Some(backup) = data_dir.restore_file() {
            seed::from_restore_file(&backup, &identity.bootstrap, log.as_ref(), &snapshots)?;
        }
        let log_was_empty = log.last_index() == 0;

        let config = raft_config(&settings, &identity, &own);
        let log_handle: Arc<dyn ordo::storage::LogStore> = log.clone();
        let gauge = Arc::new(StoreGauge::new(settings.limits.quota_bytes));
        let watch_hub = Arc::new(WatchHub::new(WatchLimits::default()));
        // `new`, not `default`: it starts lease ids at 1 (0 means "no lease").
        let auth_view = Arc::new(AuthView::default());
        let store = KvStore::new()
            .with_observer(gauge.clone())
            .with_observer(watch_hub.clone())
            .with_observer(auth_view.clone());
        let node = RaftNode::builder(config, store, log, transport.clone())
            .snapshot_store(snapshots)
            .build()?;
        let events = node.events();
        let lease_events = node.events();
        node.start().await.context("the Raft node did not start")?;

        let (shutdown, shutdown_signal) = watch::channel(false);
        let lease_rules = LeaseRules::for_election_timeout(settings.timing.election_timeout_max);
        let leases = Arc::new(
            NodeLeases::new(node.clone(), lease_rules)
                .with_checkpoint_interval(settings.lease_checkpoint_interval),
        );
        let mut background = vec![
            tokio::spawn(peers::report_own_address(
                node.clone(),
                own.clone(),
                cluster_ca(&settings),
                Arc::clone(&auth_view),
                shutdown_signal.clone(),
            )),
            tokio::spawn(node_events::count_events(
                events,
                Arc::clone(&metrics),
                shutdown_signal.clone(),
            )),
            tokio::spawn(auto_compaction::run(
                node.clone(),
                Arc::clone(&gauge),
                settings.auto_compaction,
                shutdown_signal.clone(),
            )),
            tokio::spawn(leases::keep_lease_time(
                Arc::clone(&leases),
                lease_events,
                shutdown_signal.clone(),
            )),
        ];
        if let Some(tls) = peer_tls {
            background.push(tokio::spawn(peer_tls::reload_on_sighup(
                tls,
                shutdown_signal.clone(),
            )));
        }
        let state = Arc::new(AppState {
            node: node.clone(),
            transport: transport.clone(),
            metrics: Arc::clone(&metrics),
            limits: settings.limits,
            own: own.clone(),
            cluster: identity.cluster.clone(),
            cluster_id: identity.cluster_id().to_owned(),
            log: log_handle,
            backups: http::BackupSlot::default(),
            store: gauge,
            leases: Arc::clone(&leases),
            watch_hub: Arc::clone(&watch_hub),
            auth: AuthContext::new(auth_view, settings.http.auth_token_ttl),
            cluster_ca: cluster_ca(&settings),
            client_port_tls: settings.http.tls.clone(),
        });
        if let Some(tls) = &tls {
            background.push(tokio::spawn(
                Arc::clone(tls).reload_on_sighup(shutdown_signal.clone()),
            ));
        }
        let http = tokio::spawn(http::serve_with(
            listener,
            state,
            connection_limits,
            tls,
            shutdown_signal,
        ));
        let running = RunningNode {
            node,
            transport,
            metrics,
            client_url,
            peer_addr,
            cluster_id: identity.cluster_id().to_owned(),
            shutdown,
            http,
            background,
            watch_hub,
            leases,
        };
        if let RecordedBootstrap::Joined { .. } = &identity.bootstrap
            && log_was_empty
        {
            let Bootstrap::Join { url, voter } = &settings.bootstrap else {
                running.stop().await;
                bail!("this node has not joined its cluster yet: start it with --join URL");
            };
            if let Err(error) = ask_to_join(url, id, &own, *voter).await {
                running.stop().await;
                return Err(error);
            }
        }
        Ok(running)
    }

    /// Stops serving: no new requests, then the node (a leader first
    /// checkpoints its lease times, for at most `LEASE_CHECKPOINT_PATIENCE`,
    /// so the next leader does not restart them in full; then it hands
    /// leadership to its most up-to-date voter, so clients wait for a
    /// transfer rather than an election; requests waiting on
    /// it are answered `503 unavailable`; the log is flushed), then what
    /// HTTP is still sending, for at most `HTTP_DRAIN_PATIENCE`, then the
    /// background tasks.
    ///
    /// The node stops before the HTTP server drains: a write waiting for a
    /// quorum that is gone would otherwise hold the stop until it times out.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        // Watch streams never end by themselves: end them (`cancelled`), or
        // the HTTP server would wait for them until its patience runs out.
        self.watch_hub
            .close("the node is stopping: watch again on another node");
        match tokio::time::timeout(LEASE_CHECKPOINT_PATIENCE, self.leases.checkpoint_now()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::debug!(%error, "lease times not checkpointed at stop"),
            Err(_) => tracing::debug!("lease times not checkpointed at stop: too slow"),
        }
        self.node.stop().await;
        let mut http = self.http;
        if tokio::time::timeout(HTTP_DRAIN_PATIENCE, &mut http)
            .await
            .is_err()
        {
            tracing::warn!(
                "HTTP responses still being sent after {HTTP_DRAIN_PATIENCE:?}; closing them"
            );
            http.abort();
            let _ = http.await;
        }
        for task in self.background {
            task.abort();
        }
    }
}

/// How long a stopping leader waits for its last lease checkpoint.
const LEASE_CHECKPOINT_PATIENCE: Duration = Duration::from_secs(1);

/// Binds `address` once, to refuse a busy port before anything is
/// written, and returns the address bound (port 0 resolved). The transport
/// binds it again once the cluster's id is known.
/// The CA the members' client-port certificates chain to, as far as this
/// node knows: its peer TLS CA (the cluster's, which `ordo dev --tls` signs
/// both ports' certificates with), else the CA its own client port trusts.
fn cluster_ca(settings: &NodeSettings) -> Option<std::path::PathBuf> {
    let peer_ca = settings
        .peer_tls
        .as_ref()
        .map(|peer| peer.trusted_ca.clone());
    let client_port_ca = || {
        settings
            .http
            .tls
            .as_ref()
            .and_then(|tls| tls.trusted_ca.clone())
    };
    peer_ca.or_else(client_port_ca)
}

fn check_peer_port(address: std::net::SocketAddr) -> anyhow::Result<std::net::SocketAddr> {
    let probe = std::net::TcpListener::bind(address).with_context(|| {
        format!("cannot listen for nodes on {address} (is another node using the port?)")
    })?;
    Ok(probe.local_addr()?)
}

fn raft_config(settings: &NodeSettings, identity: &Identity, own: &MemberInfo) -> RaftConfig {
    let (members, joining) = match &identity.bootstrap {
        RecordedBootstrap::Initial { members } => (members, false),
        RecordedBootstrap::Joined { voters } => (voters, true),
    };
    RaftConfig {
        node_id: settings.id,
        address: own.address.clone(),
        peer_address: own.peer_address.clone(),
        peers: members
            .iter()
            .filter(|(member, _)| **member != settings.id)
            .map(|(member, text)| {
                let info = MemberAddress::parse(text).to_info();
                Peer {
                    id: *member,
                    address: info.address,
                    peer_address: info.peer_address,
                }
            })
            .collect(),
        joining,
        // `?consistency=lease` needs leases; they rely on check-quorum (on).
        lease_reads: true,
        snapshot_threshold_entries: settings.snapshot_threshold,
        max_snapshot_bytes: settings.limits.max_snapshot_bytes,
        election_timeout_min: settings.timing.election_timeout_min,
        election_timeout_max: settings.timing.election_timeout_max,
        heartbeat_interval: settings.timing.heartbeat_interval,
        ..RaftConfig::default()
    }
}

/// Asks the cluster at `url` to add this node. The client follows
/// redirects to the leader and waits out a missing leader; a write whose
/// outcome is unknown (a timeout, a leader change) is asked again, which is
/// safe: adding a member that is already there succeeds.
async fn ask_to_join(url: &str, id: NodeId, own: &MemberInfo, voter: bool) -> anyhow::Result<()> {
    let client = client_for(url, JOIN_PATIENCE)?;
    let request = AddMemberRequest {
        id,
        peer_addr: own.peer_address.clone().unwrap_or_default(),
        client_addr: own.address.clone(),
        voter,
    };
    let deadline = tokio::time::Instant::now() + JOIN_PATIENCE;
    loop {
        match client.add_member(&request).await {
            Ok(()) => {
                tracing::info!(node_id = id, "joined the cluster through {url}");
                return Ok(());
            }
            Err(error)
                if tokio::time::Instant::now() < deadline
                    && (error.server_code() == Some(crate::api::code::UNAVAILABLE)
                        || matches!(error, ClientError::ConnectionLost { .. })) =>
            {
                tracing::info!(node_id = id, %error, "asking to join again");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(error) => {
                return Err(anyhow!(error).context(format!("could not join the cluster at {url}")));
            }
        }
    }
}
