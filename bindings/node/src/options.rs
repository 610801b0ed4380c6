//! `new RaftNode(options)`: the seed's options, turned into Ordo's [`RaftConfig`].
//!
//! `index.js` hands the options over as JSON, with `peers` normalized to
//! objects. Times are milliseconds, as in the seed.

use std::time::Duration;

use ordo::{Peer, RaftConfig};
use serde::Deserialize;

use crate::error::BindingError;
use crate::node_names::NodeNames;

/// The label under which a member's name travels in its [`ordo::MemberInfo`],
/// so nodes that never saw it configured still name it.
pub(crate) const NAME_LABEL: &str = "name";

/// Ordo's tick when the seed's timeouts allow it.
const DEFAULT_TICK_MS: u64 = 10;

/// The options of one node, as `index.js` sends them.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NodeOptions {
    /// This node's name (`"node-1"`).
    pub(crate) node_id: String,
    /// The other members.
    #[serde(default)]
    pub(crate) peers: Vec<PeerOptions>,
    /// `[min, max]` election timeout in ms.
    pub(crate) election_timeout: Option<[u64; 2]>,
    /// Leader heartbeat interval in ms.
    pub(crate) heartbeat_interval: Option<u64>,
    /// The most entries one append message carries.
    pub(crate) max_entries_per_request: Option<usize>,
    /// Where the WAL (and snapshots) live; in memory without it.
    pub(crate) data_dir: Option<String>,
    /// Where clients reach this node: what a `NotLeaderError` names.
    pub(crate) address: Option<String>,
    /// `HOST:PORT` the built-in TCP transport listens on.
    pub(crate) peer_address: Option<String>,
    /// Nodes refuse connections from another cluster's nodes.
    pub(crate) cluster_id: Option<String>,
    /// A proposal not applied within this many ms fails with a timeout.
    pub(crate) propose_timeout: Option<u64>,
}

/// One peer of the options.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PeerOptions {
    /// The peer's name.
    pub(crate) id: String,
    /// Where clients reach it.
    pub(crate) address: Option<String>,
    /// `HOST:PORT` where the TCP transport dials it.
    pub(crate) peer_address: Option<String>,
}

impl NodeOptions {
    /// Parses the JSON `index.js` sends.
    pub(crate) fn from_json(json: &str) -> Result<Self, BindingError> {
        serde_json::from_str(json).map_err(|error| BindingError::InvalidOptions(error.to_string()))
    }

    /// The runtime configuration, learning every name into `names`.
    pub(crate) fn raft_config(&self, names: &NodeNames) -> Result<RaftConfig, BindingError> {
        let defaults = RaftConfig::default();
        let node_id = names.learn(&self.node_id)?;
        let peers = self
            .peers
            .iter()
            .map(|peer| peer_config(peer, names))
            .collect::<Result<Vec<_>, _>>()?;
        let [election_min_ms, election_max_ms] = self.election_timeout.unwrap_or([
            millis(defaults.election_timeout_min),
            millis(defaults.election_timeout_max),
        ]);
        let heartbeat_ms = self
            .heartbeat_interval
            .unwrap_or(millis(defaults.heartbeat_interval));
        // The tick is Ordo's unit of time: it must not exceed any timeout.
        let tick_ms = DEFAULT_TICK_MS
            .min(heartbeat_ms)
            .min(election_min_ms)
            .max(1);
        let mut config = RaftConfig {
            node_id,
            address: self.address.clone().unwrap_or_default(),
            peer_address: self.peer_address.clone(),
            peers,
            tick_interval: Duration::from_millis(tick_ms),
            election_timeout_min: Duration::from_millis(election_min_ms),
            election_timeout_max: Duration::from_millis(election_max_ms),
            heartbeat_interval: Duration::from_millis(heartbeat_ms),
            max_entries_per_message: self
                .max_entries_per_request
                .unwrap_or(defaults.max_entries_per_message),
            propose_timeout: self
                .propose_timeout
                .map_or(defaults.propose_timeout, Duration::from_millis),
            // The JS state machine is called from the apply stage, which
            // then waits for JavaScript: that must not hold a Tokio worker.
            dedicated_apply_thread: true,
            ..defaults
        };
        config
            .labels
            .insert(NAME_LABEL.to_owned(), self.node_id.clone());
        config
            .validate()
            .map_err(|error| BindingError::InvalidOptions(error.to_string()))?;
        Ok(config)
    }
}

fn peer_config(peer: &PeerOptions, names: &NodeNames) -> Result<Peer, BindingError> {
    let id = names.learn(&peer.id)?;
    let address = peer.address.clone().unwrap_or_default();
    Ok(match &peer.peer_address {
        Some(peer_address) => Peer::new(id, address).with_peer_address(peer_address.clone()),
        None => Peer::new(id, address),
    })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
