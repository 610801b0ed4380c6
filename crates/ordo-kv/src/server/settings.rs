//! `ordo serve`'s settings: command-line flags over an optional TOML file,
//! validated into [`NodeSettings`] before anything is opened or bound.
//!
//! Every setting has a flag; the file takes the same names with
//! underscores (`peer_listen = "127.0.0.1:9001"`). A flag given on the
//! command line wins over the file. Unknown keys in the file are an error,
//! so a misspelt setting is never silently ignored.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use ordo::NodeId;
use ordo::transport::tls::PeerTlsFiles;
use serde::Deserialize;

pub use crate::server::auto_compaction::AutoCompaction;
use crate::server::client_port::http_settings;
use crate::server::http::HttpSettings;

/// Default largest key, in bytes.
pub const DEFAULT_MAX_KEY_BYTES: usize = 4 << 10;
/// Default largest value, in bytes.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 1 << 20;
/// Default most operations in one transaction (compares and the
/// operations of every branch, nested ones included).
pub const DEFAULT_MAX_TXN_OPS: usize = 128;
/// Default most key and value bytes in one list answer.
pub const DEFAULT_MAX_LIST_BYTES: u64 = 4 << 20;
/// Default storage quota over the retained bytes (history included).
pub const DEFAULT_QUOTA_BYTES: u64 = 4 << 30;
/// Default `--max-snapshot-bytes`: 16 GiB, four times the default quota
/// (a snapshot carries the kept bytes plus their encoding).
pub const DEFAULT_MAX_SNAPSHOT_BYTES: u64 = 16 << 30;
/// Default cluster name (for people; the handshake checks the cluster's id).
pub const DEFAULT_CLUSTER: &str = "ordo";
/// Default shortest election timeout, in milliseconds.
pub const DEFAULT_ELECTION_TIMEOUT_MIN_MS: u64 = 150;
/// Default longest election timeout, in milliseconds.
pub const DEFAULT_ELECTION_TIMEOUT_MAX_MS: u64 = 300;
/// Default heartbeat interval, in milliseconds.
pub const DEFAULT_HEARTBEAT_INTERVAL_MS: u64 = 50;
/// The runtime's tick: no timing setting may be shorter.
const TICK_MS: u64 = 10;
/// Longest election timeout accepted, in milliseconds (a minute without a
/// leader is an outage, not a setting).
const ELECTION_TIMEOUT_MAX_MS_LIMIT: u64 = 60_000;

/// `ordo serve` flags.
#[derive(Clone, Debug, Default, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// A TOML file with any of these settings (flags win over it).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// This node's id (above 0, unique in the cluster).
    #[arg(long)]
    pub id: Option<NodeId>,
    /// Where other nodes connect (HOST:PORT).
    #[arg(long, value_name = "ADDR")]
    pub peer_listen: Option<String>,
    /// Where clients connect over HTTP (HOST:PORT).
    #[arg(long, value_name = "ADDR")]
    pub client_listen: Option<String>,
    /// The node address other nodes are told to dial (default: --peer-listen).
    #[arg(long, value_name = "ADDR")]
    pub advertise_peer: Option<String>,
    /// The client URL redirects name (default: http:// + --client-listen).
    #[arg(long, value_name = "URL")]
    pub advertise_client: Option<String>,
    /// This node's data directory.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The cluster's first members: ID=PEER_ADDR,... (this node included); the member
    /// with the lowest id also gives its client URL, ID=PEER_ADDR@http://HOST:PORT, from
    /// which the others learn the new cluster's id (unless --cluster-id is given).
    #[arg(long, value_name = "LIST", conflicts_with = "join")]
    pub initial_cluster: Option<String>,
    /// Join a running cluster through any member's client URL.
    #[arg(long, value_name = "CLIENT_URL")]
    pub join: Option<String>,
    /// Join as a learner (never votes) rather than as a voter.
    #[arg(long, requires = "join")]
    #[serde(default)]
    pub learner: bool,
    /// The cluster's name, for people (nodes tell clusters apart by their id).
    #[arg(long)]
    pub cluster: Option<String>,
    /// The cluster's id (32 hex digits): a new cluster takes it; an existing
    /// directory must carry it. Default: generated at the first bootstrap.
    #[arg(long, value_name = "HEX")]
    pub cluster_id: Option<String>,
    /// Shortest election timeout, in milliseconds (default 150).
    #[arg(long, value_name = "MS")]
    pub election_timeout_min_ms: Option<u64>,
    /// Longest election timeout, in milliseconds (default 300).
    #[arg(long, value_name = "MS")]
    pub election_timeout_max_ms: Option<u64>,
    /// How often a leader sends heartbeats, in milliseconds (default 50).
    #[arg(long, value_name = "MS")]
    pub heartbeat_interval_ms: Option<u64>,
    /// Largest key accepted, in bytes.
    #[arg(long, value_name = "BYTES")]
    pub max_key_bytes: Option<usize>,
    /// Largest value accepted, in bytes.
    #[arg(long, value_name = "BYTES")]
    pub max_value_bytes: Option<usize>,
    /// Snapshot the store after this many writes (0: never automatically).
    #[arg(long, value_name = "ENTRIES")]
    pub snapshot_threshold: Option<u64>,
    /// Largest snapshot this node accepts from a leader, in bytes (default
    /// 16 GiB; at least --quota-bytes): a larger one is refused before
    /// anything is written, logged and counted.
    #[arg(long, value_name = "BYTES")]
    pub max_snapshot_bytes: Option<u64>,
    /// Serve clients over HTTPS (TLS 1.3) with this certificate chain (PEM);
    /// needs --key. Reloaded on SIGHUP.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Accept client certificates from this CA (PEM); their common name is
    /// the authenticated user.
    #[arg(long, value_name = "FILE")]
    pub trusted_ca: Option<PathBuf>,
    /// Require every client to present a certificate from --trusted-ca.
    #[arg(long)]
    #[serde(default)]
    pub client_cert_auth: bool,
    /// This node's certificate chain (PEM) for the peer port (mutual TLS).
    #[arg(long, value_name = "FILE")]
    pub peer_cert: Option<PathBuf>,
    /// The private key (PEM) of --peer-cert.
    #[arg(long, value_name = "FILE")]
    pub peer_key: Option<PathBuf>,
    /// The cluster's CA (PEM), which every peer's certificate must come from.
    #[arg(long, value_name = "FILE")]
    pub peer_trusted_ca: Option<PathBuf>,
    /// Allow listening on a non-loopback address without TLS (anyone who
    /// can reach it can read and change everything).
    #[arg(long)]
    #[serde(default)]
    pub insecure: bool,
    /// Longest wait for a client's request head (and TLS handshake), in
    /// milliseconds (default 10000).
    #[arg(long, value_name = "MS")]
    pub http_header_timeout_ms: Option<u64>,
    /// Longest wait for a request body once its head arrived, in
    /// milliseconds (default 30000; then 408 and the connection closes).
    #[arg(long, value_name = "MS")]
    pub http_body_timeout_ms: Option<u64>,
    /// A client connection with no request for this long is closed, in
    /// milliseconds (default 60000).
    #[arg(long, value_name = "MS")]
    pub http_idle_timeout_ms: Option<u64>,
    /// Most client connections open at once (default 4096, lowered to fit
    /// the descriptor limit); past it the longest-idle one is closed.
    #[arg(long, value_name = "N")]
    pub max_client_connections: Option<usize>,
    /// Most requests handled at once (default 1024; then 429 busy).
    #[arg(long, value_name = "N")]
    pub max_in_flight_requests: Option<usize>,
    /// Most compares and operations in one transaction, nested ones included (default 128).
    #[arg(long, value_name = "OPS")]
    pub max_txn_ops: Option<usize>,
    /// Most key and value bytes in one list answer (default 4 MiB).
    #[arg(long, value_name = "BYTES")]
    pub max_list_bytes: Option<u64>,
    /// Refuse writes once the store keeps more key and value bytes, history
    /// included (default 4 GiB; 0: no quota).
    #[arg(long, value_name = "BYTES")]
    pub quota_bytes: Option<u64>,
    /// The leader compacts the history by itself: a number keeps that many
    /// revisions (1000), a period keeps that long (1h, 30m); 0: never (default).
    #[arg(long, value_name = "REVISIONS|PERIOD")]
    pub auto_compaction_retention: Option<String>,
    /// How long an auth token from `POST /v1/auth/authenticate` is valid,
    /// in seconds (default 300).
    #[arg(long, value_name = "SECONDS")]
    pub auth_token_ttl: Option<u64>,
    /// How often the leader records every lease's remaining time in the
    /// log, so a new leader does not restart it in full, in milliseconds
    /// (default 300000, etcd's 5 minutes).
    #[arg(long, value_name = "MS")]
    pub lease_checkpoint_interval_ms: Option<u64>,
}

/// How a node becomes part of its cluster, the first time it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// One of the first members: every first member's id and node address.
    Initial(BTreeMap<NodeId, String>),
    /// Joins through a member's client URL.
    Join {
        /// Any member's client URL.
        url: String,
        /// Join as a voter (else a learner).
        voter: bool,
    },
}

/// Request-size limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest key, in bytes.
    pub max_key_bytes: usize,
    /// Largest value, in bytes.
    pub max_value_bytes: usize,
    /// Most compares and operations in one transaction, nested ones included.
    pub max_txn_ops: usize,
    /// Most key and value bytes in one list answer (at least one key is
    /// always answered).
    pub max_list_bytes: u64,
    /// The storage quota over the retained bytes; 0: none.
    pub quota_bytes: u64,
    /// Largest snapshot accepted from a leader, in bytes.
    pub max_snapshot_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_key_bytes: DEFAULT_MAX_KEY_BYTES,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            max_txn_ops: DEFAULT_MAX_TXN_OPS,
            max_list_bytes: DEFAULT_MAX_LIST_BYTES,
            quota_bytes: DEFAULT_QUOTA_BYTES,
            max_snapshot_bytes: DEFAULT_MAX_SNAPSHOT_BYTES,
        }
    }
}

/// Election and heartbeat timing, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Shortest election timeout.
    pub election_timeout_min: Duration,
    /// Election timeouts are drawn below this.
    pub election_timeout_max: Duration,
    /// How often a leader sends heartbeats.
    pub heartbeat_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            election_timeout_min: Duration::from_millis(DEFAULT_ELECTION_TIMEOUT_MIN_MS),
            election_timeout_max: Duration::from_millis(DEFAULT_ELECTION_TIMEOUT_MAX_MS),
            heartbeat_interval: Duration::from_millis(DEFAULT_HEARTBEAT_INTERVAL_MS),
        }
    }
}

/// One node's validated settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSettings {
    /// Node id.
    pub id: NodeId,
    /// Cluster name.
    pub cluster: String,
    /// The cluster's id, when given: taken by a new cluster, checked
    /// against an existing directory.
    pub cluster_id: Option<String>,
    /// A first member that is not the lowest learns the new cluster's id
    /// from the lowest one, at this client URL (from `--initial-cluster`).
    pub first_member_url: Option<String>,
    /// Election and heartbeat timing.
    pub timing: Timing,
    /// Node-to-node listener.
    pub peer_listen: SocketAddr,
    /// HTTP listener.
    pub client_listen: SocketAddr,
    /// What other nodes dial (`HOST:PORT`); `None`: the bound peer address.
    pub advertise_peer: Option<String>,
    /// What redirects name (`http://HOST:PORT`); `None`: from the bound client address.
    pub advertise_client: Option<String>,
    /// Data directory.
    pub data: PathBuf,
    /// First start: initial member or joiner.
    pub bootstrap: Bootstrap,
    /// Request limits.
    pub limits: Limits,
    /// Automatic snapshot threshold.
    pub snapshot_threshold: u64,
    /// Peer mutual TLS files; `None`: plaintext between nodes.
    pub peer_tls: Option<PeerTlsFiles>,
    /// The client port: its limits and HTTPS.
    pub http: HttpSettings,
    /// How the leader compacts the history by itself.
    pub auto_compaction: AutoCompaction,
    /// How often the leader checkpoints lease times.
    pub lease_checkpoint_interval: Duration,
}

impl ServeArgs {
    /// Merges the file named by `--config` under the flags and validates.
    ///
    /// # Errors
    /// An unreadable or invalid file, a missing or malformed setting; each
    /// message names the setting and what to do.
    pub fn resolve(self) -> anyhow::Result<NodeSettings> {
        let merged = match self.config.clone() {
            Some(path) => self.over(read_file(&path)?),
            None => self,
        };
        merged.validate()
    }

    /// `self`'s settings, with `file`'s where `self` has none.
    fn over(self, file: ServeArgs) -> ServeArgs {
        ServeArgs {
            config: self.config,
            id: self.id.or(file.id),
            peer_listen: self.peer_listen.or(file.peer_listen),
            client_listen: self.client_listen.or(file.client_listen),
            advertise_peer: self.advertise_peer.or(file.advertise_peer),
            advertise_client: self.advertise_client.or(file.advertise_client),
            data: self.data.or(file.data),
            initial_cluster: self.initial_cluster.or(file.initial_cluster),
            join: self.join.or(file.join),
            learner: self.learner || file.learner,
            cluster: self.cluster.or(file.cluster),
            cluster_id: self.cluster_id.or(file.cluster_id),
            election_timeout_min_ms: self
                .election_timeout_min_ms
                .or(file.election_timeout_min_ms),
            election_timeout_max_ms: self
                .election_timeout_max_ms
                .or(file.election_timeout_max_ms),
            heartbeat_interval_ms: self.heartbeat_interval_ms.or(file.heartbeat_interval_ms),
            max_key_bytes: self.max_key_bytes.or(file.max_key_bytes),
            max_value_bytes: self.max_value_bytes.or(file.max_value_bytes),
            snapshot_threshold: self.snapshot_threshold.or(file.snapshot_threshold),
            max_snapshot_bytes: self.max_snapshot_bytes.or(file.max_snapshot_bytes),
            cert: self.cert.or(file.cert),
            key: self.key.or(file.key),
            trusted_ca: self.trusted_ca.or(file.trusted_ca),
            client_cert_auth: self.client_cert_auth || file.client_cert_auth,
            peer_cert: self.peer_cert.or(file.peer_cert),
            peer_key: self.peer_key.or(file.peer_key),
            peer_trusted_ca: self.peer_trusted_ca.or(file.peer_trusted_ca),
            insecure: self.insecure || file.insecure,
            http_header_timeout_ms: self.http_header_timeout_ms.or(file.http_header_timeout_ms),
            http_body_timeout_ms: self.http_body_timeout_ms.or(file.http_body_timeout_ms),
            http_idle_timeout_ms: self.http_idle_timeout_ms.or(file.http_idle_timeout_ms),
            max_client_connections: self.max_client_connections.or(file.max_client_connections),
            max_in_flight_requests: self.max_in_flight_requests.or(file.max_in_flight_requests),
            max_txn_ops: self.max_txn_ops.or(file.max_txn_ops),
            max_list_bytes: self.max_list_bytes.or(file.max_list_bytes),
            quota_bytes: self.quota_bytes.or(file.quota_bytes),
            auto_compaction_retention: self
                .auto_compaction_retention
                .or(file.auto_compaction_retention),
            auth_token_ttl: self.auth_token_ttl.or(file.auth_token_ttl),
            lease_checkpoint_interval_ms: self
                .lease_checkpoint_interval_ms
                .or(file.lease_checkpoint_interval_ms),
        }
    }

    fn validate(self) -> anyhow::Result<NodeSettings> {
        let id = self.id.ok_or_else(|| anyhow!("--id is required"))?;
        ensure!(id > 0, "--id must be above 0");
        let peer_listen = socket_addr("--peer-listen", self.peer_listen.as_deref())?;
        let client_listen = socket_addr("--client-listen", self.client_listen.as_deref())?;
        let http = http_settings(&self, client_listen, peer_listen)?;
        let data = self
            .data
            .ok_or_else(|| anyhow!("--data is required (this node's data directory)"))?;
        let mut first_member_url = None;
        let bootstrap = match (self.initial_cluster, self.join) {
            (Some(_), Some(_)) => bail!("give --initial-cluster or --join, not both"),
            (Some(list), None) => {
                let InitialCluster {
                    members,
                    client_urls,
                } = parse_initial_cluster(&list)?;
                ensure!(
                    members.contains_key(&id),
                    "--initial-cluster must list this node ({id}) too"
                );
                first_member_url = members
                    .keys()
                    .next()
                    .and_then(|lowest| client_urls.get(lowest).cloned());
                Bootstrap::Initial(members)
            }
            (None, Some(url)) => Bootstrap::Join {
                url: client_url("--join", &url)?,
                voter: !self.learner,
            },
            (None, None) => {
                bail!(
                    "give --initial-cluster ID=ADDR,... (a new cluster) or --join URL (an existing one)"
                )
            }
        };
        if let Some(peer) = &self.advertise_peer {
            ensure!(
                is_host_port(peer),
                "--advertise-peer {peer:?} is not HOST:PORT"
            );
        }
        let advertise_client = self
            .advertise_client
            .map(|url| client_url("--advertise-client", &url))
            .transpose()?;
        if let Some(url) = &advertise_client {
            ensure!(
                url.starts_with("https://") == http.tls.is_some(),
                "--advertise-client {url:?} must start with {}",
                if http.tls.is_some() {
                    "https:// (the port serves HTTPS)"
                } else {
                    "http:// (give --cert and --key for https://)"
                }
            );
        }
        if client_listen.ip().is_unspecified() && advertise_client.is_none() {
            bail!(
                "--client-listen {client_listen} listens everywhere: give --advertise-client URL"
            );
        }
        if peer_listen.ip().is_unspecified() && self.advertise_peer.is_none() {
            bail!(
                "--peer-listen {peer_listen} listens everywhere: give --advertise-peer HOST:PORT"
            );
        }
        let cluster = self.cluster.unwrap_or_else(|| DEFAULT_CLUSTER.into());
        if let Some(cluster_id) = &self.cluster_id {
            crate::server::cluster_id::check("--cluster-id", cluster_id)?;
        }
        let timing = timing(
            self.election_timeout_min_ms,
            self.election_timeout_max_ms,
            self.heartbeat_interval_ms,
        )?;
        let limits = Limits {
            max_key_bytes: self.max_key_bytes.unwrap_or(DEFAULT_MAX_KEY_BYTES),
            max_value_bytes: self.max_value_bytes.unwrap_or(DEFAULT_MAX_VALUE_BYTES),
            max_txn_ops: self.max_txn_ops.unwrap_or(DEFAULT_MAX_TXN_OPS),
            max_list_bytes: self.max_list_bytes.unwrap_or(DEFAULT_MAX_LIST_BYTES),
            quota_bytes: self.quota_bytes.unwrap_or(DEFAULT_QUOTA_BYTES),
            max_snapshot_bytes: self
                .max_snapshot_bytes
                .unwrap_or(DEFAULT_MAX_SNAPSHOT_BYTES),
        };
        // A snapshot holds the store's kept bytes and their encoding; one
        // below the quota could be refused by every follower of a healthy
        // cluster.
        ensure!(
            limits.max_snapshot_bytes >= limits.quota_bytes.max(1),
            "--max-snapshot-bytes ({}) must be at least 1 and at least --quota-bytes ({}): \
             followers would refuse the snapshots of a store within its quota",
            limits.max_snapshot_bytes,
            limits.quota_bytes
        );
        ensure!(limits.max_txn_ops >= 1, "--max-txn-ops must be at least 1");
        ensure!(
            limits.max_list_bytes >= 1,
            "--max-list-bytes must be at least 1"
        );
        let auto_compaction = match &self.auto_compaction_retention {
            Some(text) => AutoCompaction::parse(text).map_err(|error| anyhow!(error))?,
            None => AutoCompaction::Off,
        };
        let lease_checkpoint_interval = Duration::from_millis(
            self.lease_checkpoint_interval_ms
                .unwrap_or(crate::server::leases::DEFAULT_CHECKPOINT_INTERVAL.as_millis() as u64),
        );
        ensure!(
            !lease_checkpoint_interval.is_zero(),
            "--lease-checkpoint-interval-ms must be at least 1"
        );
        ensure!(
            (1..=crate::store::MAX_KEY_BYTES as usize).contains(&limits.max_key_bytes),
            "--max-key-bytes must be between 1 and {}",
            crate::store::MAX_KEY_BYTES
        );
        ensure!(
            limits.max_value_bytes <= crate::store::MAX_VALUE_BYTES as usize,
            "--max-value-bytes above {} is not supported",
            crate::store::MAX_VALUE_BYTES
        );
        check_fits_a_frame(limits)?;
        Ok(NodeSettings {
            id,
            cluster,
            cluster_id: self.cluster_id,
            first_member_url,
            timing,
            peer_listen,
            client_listen,
            advertise_peer: self.advertise_peer,
            advertise_client,
            data,
            bootstrap,
            limits,
            snapshot_threshold: self.snapshot_threshold.unwrap_or(10_000),
            peer_tls: crate::server::peer_tls::files_from_settings(
                self.peer_cert,
                self.peer_key,
                self.peer_trusted_ca,
            )?,
            http,
            auto_compaction,
            lease_checkpoint_interval,
        })
    }
}

/// Bytes a write's key and value travel with in a peer frame: the frame
/// and message headers, the entry's index, term and length fields, the
/// runtime's envelope and the command's own encoding, with room to spare.
pub const FRAME_OVERHEAD_BYTES: usize = 64 << 10;

/// A write of the largest key and value must fit one peer frame, or the
/// leader could accept a value it can never replicate.
fn check_fits_a_frame(limits: Limits) -> anyhow::Result<()> {
    let frame_bytes = ordo::transport::DEFAULT_MAX_FRAME_BYTES;
    let needed = limits
        .max_value_bytes
        .saturating_add(limits.max_key_bytes)
        .saturating_add(FRAME_OVERHEAD_BYTES);
    ensure!(
        needed <= frame_bytes,
        "--max-value-bytes {} with --max-key-bytes {} and {FRAME_OVERHEAD_BYTES} bytes of framing \
         needs {needed}-byte peer frames, above the transport's {frame_bytes}: lower \
         --max-value-bytes to at most {}",
        limits.max_value_bytes,
        limits.max_key_bytes,
        frame_bytes - FRAME_OVERHEAD_BYTES - limits.max_key_bytes
    );
    Ok(())
}

fn read_file(path: &Path) -> anyhow::Result<ServeArgs> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

fn socket_addr(flag: &str, value: Option<&str>) -> anyhow::Result<SocketAddr> {
    let value = value.ok_or_else(|| anyhow!("{flag} is required (HOST:PORT)"))?;
    value
        .parse()
        .map_err(|_| anyhow!("{flag} {value:?} is not an IP:PORT address (e.g. 127.0.0.1:9001)"))
}

/// Checks the timing flags (milliseconds) against each other and the tick.
fn timing(
    min_ms: Option<u64>,
    max_ms: Option<u64>,
    heartbeat_ms: Option<u64>,
) -> anyhow::Result<Timing> {
    let min = min_ms.unwrap_or(DEFAULT_ELECTION_TIMEOUT_MIN_MS);
    let max = max_ms.unwrap_or(DEFAULT_ELECTION_TIMEOUT_MAX_MS.max(min.saturating_mul(2)));
    let heartbeat = heartbeat_ms.unwrap_or(DEFAULT_HEARTBEAT_INTERVAL_MS.min(min / 3).max(TICK_MS));
    ensure!(
        min >= TICK_MS,
        "--election-timeout-min-ms {min} is below the {TICK_MS} ms tick"
    );
    ensure!(
        max > min,
        "--election-timeout-max-ms {max} must be above --election-timeout-min-ms {min} \
         (timeouts are drawn between them, so that nodes do not all time out at once)"
    );
    ensure!(
        max <= ELECTION_TIMEOUT_MAX_MS_LIMIT,
        "--election-timeout-max-ms {max} is above {ELECTION_TIMEOUT_MAX_MS_LIMIT}"
    );
    ensure!(
        heartbeat >= TICK_MS,
        "--heartbeat-interval-ms {heartbeat} is below the {TICK_MS} ms tick"
    );
    ensure!(
        heartbeat.saturating_mul(2) <= min,
        "--heartbeat-interval-ms {heartbeat} must be at most half of --election-timeout-min-ms \
         {min}, or followers time out between two heartbeats"
    );
    Ok(Timing {
        election_timeout_min: Duration::from_millis(min),
        election_timeout_max: Duration::from_millis(max),
        heartbeat_interval: Duration::from_millis(heartbeat),
    })
}

/// `--initial-cluster`, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InitialCluster {
    /// Every first member's node address.
    pub members: BTreeMap<NodeId, String>,
    /// The client URLs given (`ID=PEER_ADDR@URL`).
    pub client_urls: BTreeMap<NodeId, String>,
}

/// Parses `ID=ADDR,ID=ADDR@URL,...`.
///
/// # Errors
/// An empty list, a malformed or repeated id, or a malformed address or URL.
pub fn parse_initial_cluster(list: &str) -> anyhow::Result<InitialCluster> {
    let mut members = BTreeMap::new();
    let mut client_urls = BTreeMap::new();
    for item in list
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let (id, address) = item
            .split_once('=')
            .ok_or_else(|| anyhow!("--initial-cluster item {item:?} is not ID=HOST:PORT"))?;
        let id: NodeId = id
            .trim()
            .parse()
            .map_err(|_| anyhow!("--initial-cluster: {id:?} is not a node id"))?;
        ensure!(id > 0, "--initial-cluster: node ids start at 1");
        let (address, url) = match address.split_once('@') {
            Some((address, url)) => (address, Some(url)),
            None => (address, None),
        };
        if let Some(url) = url {
            let url = client_url(&format!("--initial-cluster: node {id}'s client URL"), url)?;
            client_urls.insert(id, url);
        }
        let address = address.trim();
        ensure!(
            is_host_port(address),
            "--initial-cluster: {address:?} (node {id}) is not HOST:PORT"
        );
        if members.insert(id, address.to_owned()).is_some() {
            bail!("--initial-cluster lists node {id} twice");
        }
    }
    ensure!(!members.is_empty(), "--initial-cluster is empty");
    Ok(InitialCluster {
        members,
        client_urls,
    })
}

/// Longest member address (`HOST:PORT` or client URL) accepted, in bytes.
pub const MAX_ADDRESS_BYTES: usize = 256;

/// True for `HOST:PORT` of at most [`MAX_ADDRESS_BYTES`]: a host name
/// (letters, digits, `-`, `.`, `_`), an IPv4 address or a bracketed IPv6
/// one, and a port that fits 16 bits. Member addresses travel as
/// space-separated parts, and a leader dials and logs them, so nothing else
/// is let through.
pub fn is_host_port(text: &str) -> bool {
    text.len() <= MAX_ADDRESS_BYTES
        && text
            .rsplit_once(':')
            .is_some_and(|(host, port)| is_host(host) && port.parse::<u16>().is_ok())
}

fn is_host(host: &str) -> bool {
    if let Some(inside) = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    {
        return inside.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_'))
}

/// Checks an `http://HOST:PORT` or `https://HOST:PORT` URL (at most
/// [`MAX_ADDRESS_BYTES`]) and drops a trailing `/`.
///
/// # Errors
/// Anything else.
pub fn client_url(flag: &str, url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    ensure!(
        trimmed.len() <= MAX_ADDRESS_BYTES,
        "{flag} is longer than {MAX_ADDRESS_BYTES} bytes"
    );
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))
        .ok_or_else(|| anyhow!("{flag} {url:?} must start with http:// or https://"))?;
    ensure!(
        is_host_port(rest),
        "{flag} {url:?} must be http://HOST:PORT or https://HOST:PORT"
    );
    Ok(trimmed.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn args(id: u64) -> ServeArgs {
        ServeArgs {
            id: Some(id),
            peer_listen: Some("127.0.0.1:9001".into()),
            client_listen: Some("127.0.0.1:8001".into()),
            data: Some("d".into()),
            initial_cluster: Some("1=127.0.0.1:9001,2=127.0.0.1:9002".into()),
            ..ServeArgs::default()
        }
    }

    #[test]
    fn good_flags_resolve_with_defaults() {
        let settings = args(1).resolve().unwrap();
        assert_eq!(settings.cluster, "ordo");
        assert_eq!(settings.limits, Limits::default());
        assert_eq!(settings.limits.quota_bytes, 4 << 30);
        assert_eq!(settings.limits.max_txn_ops, 128);
        assert_eq!(settings.auto_compaction, AutoCompaction::Off);
        assert_eq!(settings.lease_checkpoint_interval, Duration::from_secs(300));
        assert!(matches!(settings.bootstrap, Bootstrap::Initial(ref m) if m.len() == 2));
    }

    #[test]
    fn coordination_flags_resolve() {
        let settings = ServeArgs {
            quota_bytes: Some(0),
            max_txn_ops: Some(16),
            max_list_bytes: Some(1024),
            auto_compaction_retention: Some("30m".into()),
            lease_checkpoint_interval_ms: Some(2000),
            ..args(1)
        }
        .resolve()
        .unwrap();
        assert_eq!(settings.lease_checkpoint_interval, Duration::from_secs(2));
        assert_eq!(settings.limits.quota_bytes, 0);
        assert_eq!(settings.limits.max_txn_ops, 16);
        assert_eq!(settings.limits.max_list_bytes, 1024);
        assert_eq!(
            settings.auto_compaction,
            AutoCompaction::Periodic(Duration::from_secs(1800))
        );
    }

    #[test]
    fn every_bad_flag_is_refused_with_its_name() {
        let cases: Vec<(ServeArgs, &str)> = vec![
            (
                ServeArgs {
                    id: None,
                    ..args(1)
                },
                "--id",
            ),
            (
                ServeArgs {
                    id: Some(0),
                    ..args(1)
                },
                "--id",
            ),
            (args(3), "must list this node"),
            (
                ServeArgs {
                    peer_listen: Some("localhost".into()),
                    ..args(1)
                },
                "--peer-listen",
            ),
            (
                ServeArgs {
                    client_listen: None,
                    ..args(1)
                },
                "--client-listen",
            ),
            (
                ServeArgs {
                    data: None,
                    ..args(1)
                },
                "--data",
            ),
            (
                ServeArgs {
                    initial_cluster: Some("1=a".into()),
                    ..args(1)
                },
                "HOST:PORT",
            ),
            (
                ServeArgs {
                    initial_cluster: Some("x=1.2.3.4:5".into()),
                    ..args(1)
                },
                "node id",
            ),
            (
                ServeArgs {
                    initial_cluster: Some("1=h:1,1=h:2".into()),
                    ..args(1)
                },
                "twice",
            ),
            (
                ServeArgs {
                    initial_cluster: None,
                    ..args(1)
                },
                "--initial-cluster",
            ),
            (
                ServeArgs {
                    initial_cluster: None,
                    join: Some("ftp://x".into()),
                    ..args(1)
                },
                "http://",
            ),
            (
                ServeArgs {
                    client_listen: Some("0.0.0.0:8001".into()),
                    insecure: true,
                    ..args(1)
                },
                "--advertise-client",
            ),
            (
                ServeArgs {
                    cert: Some("c.pem".into()),
                    ..args(1)
                },
                "both --cert FILE and --key FILE",
            ),
            (
                ServeArgs {
                    trusted_ca: Some("ca.pem".into()),
                    ..args(1)
                },
                "need HTTPS",
            ),
            (
                ServeArgs {
                    cert: Some("c.pem".into()),
                    key: Some("k.pem".into()),
                    client_cert_auth: true,
                    ..args(1)
                },
                "--client-cert-auth needs --trusted-ca",
            ),
            (
                ServeArgs {
                    http_header_timeout_ms: Some(1),
                    ..args(1)
                },
                "--http-header-timeout-ms 1 must be between",
            ),
            (
                ServeArgs {
                    max_client_connections: Some(0),
                    ..args(1)
                },
                "--max-client-connections must be above 0",
            ),
            (
                ServeArgs {
                    max_value_bytes: Some(crate::store::MAX_VALUE_BYTES as usize),
                    ..args(1)
                },
                "peer frames",
            ),
            (
                ServeArgs {
                    advertise_client: Some("https://127.0.0.1:8001".into()),
                    ..args(1)
                },
                "must start with http://",
            ),
            (
                ServeArgs {
                    auto_compaction_retention: Some("soon".into()),
                    ..args(1)
                },
                "--auto-compaction-retention",
            ),
            (
                ServeArgs {
                    lease_checkpoint_interval_ms: Some(0),
                    ..args(1)
                },
                "--lease-checkpoint-interval-ms",
            ),
            (
                ServeArgs {
                    max_txn_ops: Some(0),
                    ..args(1)
                },
                "--max-txn-ops",
            ),
            (
                ServeArgs {
                    max_list_bytes: Some(0),
                    ..args(1)
                },
                "--max-list-bytes",
            ),
        ];
        for (args, expected) in cases {
            let error = args
                .clone()
                .resolve()
                .expect_err("must be refused")
                .to_string();
            assert!(
                error.contains(expected),
                "{args:?}: {error:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn a_listener_other_hosts_can_reach_needs_tls_or_insecure() {
        let exposed_client = ServeArgs {
            client_listen: Some("10.0.0.1:8001".into()),
            ..args(1)
        };
        let error = exposed_client.clone().resolve().unwrap_err().to_string();
        assert!(
            error.contains("without TLS") && error.contains("--insecure"),
            "{error}"
        );
        let exposed_peer = ServeArgs {
            peer_listen: Some("10.0.0.1:9001".into()),
            ..args(1)
        };
        let error = exposed_peer.clone().resolve().unwrap_err().to_string();
        assert!(
            error.contains("--peer-cert") && error.contains("--insecure"),
            "{error}"
        );
        ServeArgs {
            insecure: true,
            ..exposed_client
        }
        .resolve()
        .unwrap();
        let with_peer_tls = ServeArgs {
            peer_cert: Some("p.pem".into()),
            peer_key: Some("pk.pem".into()),
            peer_trusted_ca: Some("ca.pem".into()),
            ..exposed_peer
        };
        with_peer_tls.resolve().unwrap();
        let https = ServeArgs {
            client_listen: Some("10.0.0.1:8001".into()),
            cert: Some("c.pem".into()),
            key: Some("k.pem".into()),
            ..args(1)
        }
        .resolve()
        .unwrap();
        assert!(https.http.tls.is_some());
    }

    #[test]
    fn addresses_have_a_shape_and_a_length() {
        let long_host = "a".repeat(MAX_ADDRESS_BYTES);
        let cases = [
            ("127.0.0.1:9001", true),
            ("node-1.example_internal:9001", true),
            ("[::1]:9001", true),
            ("h:65535", true),
            ("h:65536", false),
            (":9001", false),
            ("h", false),
            ("h 1:9001", false),
            ("h/x:9001", false),
            ("[zz]:9001", false),
            ("h\u{0}:1", false),
        ];
        for (address, good) in cases {
            assert_eq!(is_host_port(address), good, "{address:?}");
        }
        assert!(!is_host_port(&format!("{long_host}:1")));
        assert!(client_url("f", "https://h:1/").is_ok());
        assert!(client_url("f", "http://h").is_err());
        assert!(client_url("f", &format!("http://{long_host}:1")).is_err());
    }

    #[test]
    fn timing_flags_are_checked_against_each_other_and_the_tick() {
        let timed = |min: Option<u64>, max: Option<u64>, heartbeat: Option<u64>| ServeArgs {
            election_timeout_min_ms: min,
            election_timeout_max_ms: max,
            heartbeat_interval_ms: heartbeat,
            ..args(1)
        };
        assert_eq!(args(1).resolve().unwrap().timing, Timing::default());
        let settings = timed(Some(1000), Some(3000), Some(200)).resolve().unwrap();
        assert_eq!(settings.timing.election_timeout_min, Duration::from_secs(1));
        assert_eq!(settings.timing.election_timeout_max, Duration::from_secs(3));
        assert_eq!(
            settings.timing.heartbeat_interval,
            Duration::from_millis(200)
        );
        // A minimum alone keeps the others consistent with it.
        let settings = timed(Some(1000), None, None).resolve().unwrap();
        assert!(settings.timing.election_timeout_max > settings.timing.election_timeout_min);
        let cases = [
            (
                timed(Some(5), None, None),
                "--election-timeout-min-ms 5 is below",
            ),
            (timed(Some(300), Some(300), None), "must be above"),
            (timed(None, Some(100_000), None), "is above 60000"),
            (
                timed(None, None, Some(5)),
                "--heartbeat-interval-ms 5 is below",
            ),
            (timed(None, None, Some(100)), "at most half"),
        ];
        for (args, expected) in cases {
            let error = args.resolve().expect_err(expected).to_string();
            assert!(error.contains(expected), "{error:?} lacks {expected:?}");
        }
        // The file takes the same names.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            "heartbeat_interval_ms = 20\nelection_timeout_min_ms = 60\n",
        )
        .unwrap();
        let settings = ServeArgs {
            config: Some(path),
            ..args(1)
        }
        .resolve()
        .unwrap();
        assert_eq!(
            settings.timing.heartbeat_interval,
            Duration::from_millis(20)
        );
    }

    #[test]
    fn the_lowest_member_url_and_the_cluster_id_are_read_and_checked() {
        let with_url = ServeArgs {
            initial_cluster: Some(
                "2=127.0.0.1:9002,1=127.0.0.1:9001@http://127.0.0.1:8001/".into(),
            ),
            ..args(2)
        };
        let settings = with_url.resolve().unwrap();
        assert_eq!(
            settings.first_member_url.as_deref(),
            Some("http://127.0.0.1:8001")
        );
        assert!(matches!(&settings.bootstrap, Bootstrap::Initial(m) if m[&1] == "127.0.0.1:9001"));
        assert_eq!(args(2).resolve().unwrap().first_member_url, None);
        let bad_url = ServeArgs {
            initial_cluster: Some("1=127.0.0.1:9001@ftp://x,2=127.0.0.1:9002".into()),
            ..args(2)
        };
        let error = bad_url.resolve().unwrap_err().to_string();
        assert!(error.contains("node 1's client URL"), "{error}");
        let id = "0123456789abcdef0123456789abcdef";
        let given = ServeArgs {
            cluster_id: Some(id.into()),
            ..args(1)
        };
        assert_eq!(given.resolve().unwrap().cluster_id.as_deref(), Some(id));
        let bad_id = ServeArgs {
            cluster_id: Some("ordo".into()),
            ..args(1)
        };
        let error = bad_id.resolve().unwrap_err().to_string();
        assert!(error.contains("--cluster-id"), "{error}");
    }

    #[test]
    fn the_snapshot_cap_defaults_sanely_and_must_cover_the_quota() {
        let settings = args(1).resolve().unwrap();
        assert_eq!(
            settings.limits.max_snapshot_bytes,
            DEFAULT_MAX_SNAPSHOT_BYTES
        );
        let set = ServeArgs {
            max_snapshot_bytes: Some(5 << 30),
            ..args(1)
        };
        assert_eq!(set.resolve().unwrap().limits.max_snapshot_bytes, 5 << 30);
        for (cap, quota) in [(1 << 20, None), (0, Some(0))] {
            let below = ServeArgs {
                max_snapshot_bytes: Some(cap),
                quota_bytes: quota,
                ..args(1)
            };
            let error = below.resolve().unwrap_err().to_string();
            assert!(error.contains("--max-snapshot-bytes"), "{error}");
        }
    }

    #[test]
    fn a_file_fills_in_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            "id = 2\npeer_listen = \"127.0.0.1:9002\"\nclient_listen = \"127.0.0.1:8002\"\n\
             data = \"from-file\"\ninitial_cluster = \"1=127.0.0.1:9001,2=127.0.0.1:9002\"\n\
             max_value_bytes = 100\n",
        )
        .unwrap();
        let flags = ServeArgs {
            config: Some(path.clone()),
            data: Some("from-flag".into()),
            ..ServeArgs::default()
        };
        let settings = flags.resolve().unwrap();
        assert_eq!(settings.id, 2);
        assert_eq!(settings.data, PathBuf::from("from-flag"));
        assert_eq!(settings.limits.max_value_bytes, 100);
        std::fs::write(&path, "id = 2\nmax_valu_bytes = 1\n").unwrap();
        let error = ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        }
        .resolve()
        .expect_err("a misspelt key must be refused");
        assert!(format!("{error:#}").contains("max_valu_bytes"), "{error:#}");
    }
}
