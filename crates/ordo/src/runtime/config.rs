//! [`RaftConfig`]: one node's configuration in wall-clock units, validated and
//! turned into the core's tick-based [`ordo_core::Config`].
//!
//! The runtime drives the core with a clock of `tick_interval` (10 ms by
//! default), so every duration here becomes a whole number of ticks: election
//! timeouts round up (never shorter than asked), the heartbeat interval rounds
//! down (never rarer than asked).

use std::collections::BTreeSet;
use std::time::Duration;

use ordo_core::{Membership, NodeId};
use thiserror::Error;

use crate::runtime::addresses::{MemberInfo, Members};

/// Another member of the group, and where it can be reached.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// The peer's node id (above 0, distinct from every other member).
    pub id: NodeId,
    /// Where clients can reach this peer, in the application's own terms
    /// (`"10.0.0.2:7000"`, `"http://node-2:8080"`...). The runtime never dials
    /// it: it is what [`RaftError::NotLeader`](crate::RaftError::NotLeader)
    /// returns, so a caller knows where to redirect.
    pub address: String,
    /// Where this node's transport dials the peer, if the transport takes
    /// its peers from the runtime ([`MemberInfo::peer_address`](crate::MemberInfo::peer_address)).
    pub peer_address: Option<String>,
}

impl Peer {
    /// A peer with `id`, reachable by clients at `address`.
    pub fn new(id: NodeId, address: impl Into<String>) -> Self {
        Peer {
            id,
            address: address.into(),
            peer_address: None,
        }
    }

    /// The same peer, dialed at `peer_address` by this node's transport.
    #[must_use]
    pub fn with_peer_address(mut self, peer_address: impl Into<String>) -> Self {
        self.peer_address = Some(peer_address.into());
        self
    }
}

/// One node's configuration. Build it with struct update syntax over
/// [`RaftConfig::default`]; [`RaftNode::new`](crate::RaftNode::new) validates it.
///
/// ```
/// use std::time::Duration;
/// use ordo::{Peer, RaftConfig};
///
/// let config = RaftConfig {
///     node_id: 1,
///     peers: vec![Peer::new(2, "10.0.0.2:7000"), Peer::new(3, "10.0.0.3:7000")],
///     election_timeout_min: Duration::from_millis(150),
///     election_timeout_max: Duration::from_millis(300),
///     heartbeat_interval: Duration::from_millis(50),
///     ..RaftConfig::default()
/// };
/// assert!(config.validate().is_ok());
/// assert!(RaftConfig::default().validate().is_err()); // node_id is 0
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftConfig {
    /// This node's id. Must be above 0 and distinct from every peer's.
    pub node_id: NodeId,
    /// Where clients reach this node (see [`Peer::address`]).
    pub address: String,
    /// Where other nodes' transports dial this node (see
    /// [`MemberInfo::peer_address`](crate::MemberInfo::peer_address)). A
    /// leader logs it with `address` and `labels` when the log it applied
    /// says otherwise, so members that never had it configured learn it.
    pub peer_address: Option<String>,
    /// The application's own labels for this node (a zone, a version...),
    /// logged like `address` ([`MemberInfo::labels`](crate::MemberInfo::labels)).
    pub labels: std::collections::BTreeMap<String, String>,
    /// The other voting members of the group. Empty for a group of one.
    pub peers: Vec<Peer>,
    /// This node is new to an existing group (the voters in `peers`): it
    /// starts as a learner, never campaigns, and waits for the leader to add
    /// it ([`RaftNode::add_learner`](crate::RaftNode::add_learner), then
    /// [`RaftNode::add_node`](crate::RaftNode::add_node)). Default off: the
    /// node and its peers form the group's initial voters.
    pub joining: bool,
    /// The runtime's clock: the core is ticked this often. Default 10 ms.
    pub tick_interval: Duration,
    /// Shortest election timeout. Default 150 ms.
    pub election_timeout_min: Duration,
    /// Election timeouts are drawn from `[min, max)`. Default 300 ms.
    pub election_timeout_max: Duration,
    /// How often a leader sends heartbeats. Below the minimum election
    /// timeout. Default 50 ms.
    pub heartbeat_interval: Duration,
    /// A leader asked to stop ([`RaftNode::stop`](crate::RaftNode::stop))
    /// first hands leadership to its most up-to-date voter and waits up to
    /// this long for another node to lead, so clients wait for a transfer
    /// (milliseconds) rather than an election. Never longer than
    /// `election_timeout_min`, whatever is set: by then the core has
    /// abandoned the transfer. Zero stops at once. Default 300 ms.
    pub stop_handoff_timeout: Duration,
    /// Pre-vote (a node that cannot win never disturbs the group). Default on.
    pub pre_vote: bool,
    /// A leader that cannot hear from a quorum steps down. Default on.
    pub check_quorum: bool,
    /// Allow [`RaftNode::read_lease`](crate::RaftNode::read_lease) to answer
    /// without a round trip while the leader's lease holds. Needs
    /// `check_quorum`. Default off.
    pub lease_reads: bool,
    /// Clock drift tolerated by lease reads, per minimum election timeout.
    /// Default 20 ms.
    pub lease_clock_drift: Duration,
    /// Most a peer message's term may exceed this node's before the message
    /// is refused, counted ([`ConsensusMetrics::refused_term_messages`](crate::ConsensusMetrics::refused_term_messages))
    /// and logged. Each election adds one to the term, so a correct peer is
    /// never this far ahead; only forged or corrupted messages are. Must be
    /// above 0. Default 2^32.
    pub max_term_jump: u64,
    /// Most entries in one append message. Default 4096.
    pub max_entries_per_message: usize,
    /// Most payload bytes in one append message. Default 1 MiB.
    pub max_bytes_per_message: u64,
    /// Most append messages in flight to one follower. Default 256.
    pub max_inflight_messages: usize,
    /// Most payload bytes in flight to one follower. Default 64 MiB.
    pub max_inflight_bytes: u64,
    /// Most payload bytes the leader holds uncommitted; beyond it proposals
    /// get [`RaftError::Busy`](crate::RaftError::Busy). Default 256 MiB.
    pub max_uncommitted_bytes: u64,
    /// Most payload bytes handed to the state machine in one batch. Default 16 MiB.
    pub max_apply_bytes: u64,
    /// Most payload bytes handed to storage or the state machine and not yet
    /// finished. Beyond it the node sheds load: proposals get
    /// [`RaftError::Busy`](crate::RaftError::Busy) and arriving appends are
    /// dropped (the leader resends them). Default 64 MiB.
    pub max_backlog_bytes: u64,
    /// Most proposals accepted and not yet answered, queued or in flight.
    /// Beyond it proposals get [`RaftError::Busy`](crate::RaftError::Busy).
    /// Default 65 536.
    pub max_pending_proposals: usize,
    /// Most reads accepted and not yet answered. Default 65 536.
    pub max_pending_reads: usize,
    /// Most proposals the consensus task turns into one core append. Default 4096.
    pub max_proposals_per_batch: usize,
    /// Capacity of the node's inbox for messages from its transport; when
    /// full, arriving messages are dropped. Default 4096.
    pub inbox_capacity: usize,
    /// Capacity of the event stream per subscriber; a subscriber that falls
    /// further behind skips events (and is told how many). Default 1024.
    pub event_capacity: usize,
    /// A proposal not answered within this time gets
    /// [`RaftError::Timeout`](crate::RaftError::Timeout): its outcome is
    /// unknown. The apply stage, which holds waiting proposals, checks their
    /// deadlines on every tick ([`tick_interval`](Self::tick_interval)), so
    /// the answer comes up to a tick later; and not while the state machine
    /// is inside a call (callers keep no timer of their own, which costs a
    /// lot with thousands of them). Default 10 s.
    pub propose_timeout: Duration,
    /// A read not answered within this time gets
    /// [`RaftError::Timeout`](crate::RaftError::Timeout). Default 10 s.
    pub read_timeout: Duration,
    /// Run the state machine on a thread of its own instead of a Tokio task.
    /// Turn it on when [`StateMachine`](crate::StateMachine) calls block (disk
    /// I/O, fsync) for more than a millisecond or so, or when the node runs
    /// on a current-thread runtime with a slow state machine: a task that
    /// blocks stalls the runtime's other tasks. Off by default: a task is
    /// woken without a thread switch, which halves a proposal's latency.
    pub dedicated_apply_thread: bool,
    /// Take a state machine snapshot after this many entries were applied
    /// since the last one, when the node has a snapshot store
    /// ([`RaftNodeBuilder::snapshot_store`](crate::RaftNodeBuilder::snapshot_store)).
    /// 0 turns these automatic snapshots off ([`RaftNode::snapshot`](crate::RaftNode::snapshot)
    /// still takes one on demand). Default 10 000.
    pub snapshot_threshold_entries: u64,
    /// After a snapshot, keep this many entries before it in the log, so a
    /// follower slightly behind catches up from the log rather than a whole
    /// snapshot. Default 1024.
    pub log_retention_entries: u64,
    /// Most snapshot bytes per message when sending a snapshot to a
    /// follower. Default 1 MiB.
    pub snapshot_chunk_bytes: u64,
    /// Largest snapshot this node accepts from a leader, in bytes of data: a
    /// transfer announcing more is refused before anything is written,
    /// counted ([`ConsensusMetrics::refused_snapshots`](crate::ConsensusMetrics::refused_snapshots))
    /// and logged, and the node stays a follower that is behind. Bounds the
    /// disk a peer can fill. Set it above the largest state machine
    /// snapshot you expect. Must be above 0. Default 64 GiB.
    pub max_snapshot_bytes: u64,
    /// [`RaftNode::add_node`](crate::RaftNode::add_node) adds a node that is
    /// not yet a member as a learner first and promotes it to voter once it
    /// has caught up with the log. Off: it becomes a voter at once (while it
    /// copies the log, the group may be a voter short of a quorum). Default on.
    pub promote_after_catch_up: bool,
    /// Seed of the election-jitter generator. `None` draws one from the clock.
    pub rng_seed: Option<u64>,
}

impl Default for RaftConfig {
    fn default() -> Self {
        RaftConfig {
            node_id: 0,
            address: String::new(),
            peer_address: None,
            labels: std::collections::BTreeMap::new(),
            peers: Vec::new(),
            joining: false,
            tick_interval: Duration::from_millis(10),
            election_timeout_min: Duration::from_millis(150),
            election_timeout_max: Duration::from_millis(300),
            heartbeat_interval: Duration::from_millis(50),
            stop_handoff_timeout: Duration::from_millis(300),
            pre_vote: true,
            check_quorum: true,
            lease_reads: false,
            lease_clock_drift: Duration::from_millis(20),
            max_term_jump: 1 << 32,
            max_entries_per_message: 4096,
            max_bytes_per_message: 1 << 20,
            max_inflight_messages: 256,
            max_inflight_bytes: 64 << 20,
            max_uncommitted_bytes: 256 << 20,
            max_apply_bytes: 16 << 20,
            max_backlog_bytes: 64 << 20,
            max_pending_proposals: 65_536,
            max_pending_reads: 65_536,
            max_proposals_per_batch: 4096,
            inbox_capacity: 4096,
            event_capacity: 1024,
            propose_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(10),
            dedicated_apply_thread: false,
            snapshot_threshold_entries: 10_000,
            log_retention_entries: 1024,
            snapshot_chunk_bytes: 1 << 20,
            max_snapshot_bytes: ordo_core::DEFAULT_MAX_SNAPSHOT_BYTES,
            promote_after_catch_up: true,
            rng_seed: None,
        }
    }
}

/// A configuration the runtime refuses, and why.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// `node_id` was left at 0.
    #[error("node_id is not set: give every node a distinct id above 0")]
    MissingNodeId,
    /// A joining node must know the group it joins.
    #[error("a joining node needs the group's voters in peers")]
    JoiningWithoutPeers,
    /// A peer has id 0.
    #[error("peer ids must be above 0")]
    ZeroPeerId,
    /// The node lists itself among its peers.
    #[error("node {0} lists itself among its peers; peers are the *other* members")]
    SelfInPeers(NodeId),
    /// Two peers share an id.
    #[error("peer {0} is listed twice")]
    DuplicatePeer(NodeId),
    /// A duration that must be positive is zero.
    #[error("{name} must be above zero")]
    ZeroDuration {
        /// The field's name.
        name: &'static str,
    },
    /// A limit that must be positive is zero.
    #[error("{name} must be above 0")]
    ZeroLimit {
        /// The field's name.
        name: &'static str,
    },
    /// A duration is shorter than one tick, so it would round to nothing.
    #[error("{name} ({value:?}) is shorter than tick_interval ({tick:?})")]
    BelowTick {
        /// The field's name.
        name: &'static str,
        /// Its value.
        value: Duration,
        /// The tick interval.
        tick: Duration,
    },
    /// The core refused the configuration translated to ticks.
    #[error("invalid consensus configuration: {0}")]
    Core(#[from] ordo_core::ConfigError),
}

impl RaftConfig {
    /// Checks every rule.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_members()?;
        self.validate_limits()?;
        self.core_config(0, true)?.validate()?;
        Ok(())
    }

    fn validate_members(&self) -> Result<(), ConfigError> {
        if self.node_id == 0 {
            return Err(ConfigError::MissingNodeId);
        }
        if self.joining && self.peers.is_empty() {
            return Err(ConfigError::JoiningWithoutPeers);
        }
        let mut seen = BTreeSet::new();
        for peer in &self.peers {
            if peer.id == 0 {
                return Err(ConfigError::ZeroPeerId);
            }
            if peer.id == self.node_id {
                return Err(ConfigError::SelfInPeers(peer.id));
            }
            if !seen.insert(peer.id) {
                return Err(ConfigError::DuplicatePeer(peer.id));
            }
        }
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        let durations = [
            ("tick_interval", self.tick_interval),
            ("propose_timeout", self.propose_timeout),
            ("read_timeout", self.read_timeout),
        ];
        if let Some(&(name, _)) = durations.iter().find(|(_, d)| d.is_zero()) {
            return Err(ConfigError::ZeroDuration { name });
        }
        let ticked = [
            ("election_timeout_min", self.election_timeout_min),
            ("election_timeout_max", self.election_timeout_max),
            ("heartbeat_interval", self.heartbeat_interval),
        ];
        for (name, value) in ticked {
            if value < self.tick_interval {
                return Err(ConfigError::BelowTick {
                    name,
                    value,
                    tick: self.tick_interval,
                });
            }
        }
        let limits = [
            ("max_backlog_bytes", self.max_backlog_bytes),
            ("max_pending_proposals", self.max_pending_proposals as u64),
            ("max_pending_reads", self.max_pending_reads as u64),
            (
                "max_proposals_per_batch",
                self.max_proposals_per_batch as u64,
            ),
            ("inbox_capacity", self.inbox_capacity as u64),
            ("event_capacity", self.event_capacity as u64),
        ];
        match limits.iter().find(|(_, value)| *value == 0) {
            Some(&(name, _)) => Err(ConfigError::ZeroLimit { name }),
            None => Ok(()),
        }
    }

    /// Every member's id, this node's included.
    pub fn member_ids(&self) -> BTreeSet<NodeId> {
        let mut ids: BTreeSet<NodeId> = self.peers.iter().map(|peer| peer.id).collect();
        ids.insert(self.node_id);
        ids
    }

    /// The membership a node starts with when its log holds none: every
    /// member a voter, or, for a joining node, the peers voters and itself a
    /// learner.
    pub fn initial_membership(&self) -> Membership {
        if self.joining {
            let mut membership = Membership::with_voters(self.peers.iter().map(|peer| peer.id));
            membership.learners.insert(self.node_id);
            membership
        } else {
            Membership::with_voters(self.member_ids())
        }
    }

    /// What this node says of itself, as the log carries it.
    pub(crate) fn own_info(&self) -> MemberInfo {
        MemberInfo {
            address: self.address.clone(),
            peer_address: self.peer_address.clone(),
            labels: self.labels.clone(),
        }
    }

    /// Every configured peer's information. Not this node's: what the
    /// group knows of it is what the log says (a leader logs it, see
    /// `addresses.rs`), and [`RaftNode::member_infos`](crate::RaftNode::member_infos)
    /// must not claim the group knows more.
    pub(crate) fn configured_peers(&self) -> Members {
        self.peers
            .iter()
            .map(|peer| {
                let info = MemberInfo {
                    address: peer.address.clone(),
                    peer_address: peer.peer_address.clone(),
                    labels: Default::default(),
                };
                (peer.id, info)
            })
            .collect()
    }

    /// The address configured for `id`, this node's included.
    pub fn address_of(&self, id: NodeId) -> Option<&str> {
        if id == self.node_id {
            return Some(&self.address);
        }
        self.peers
            .iter()
            .find(|peer| peer.id == id)
            .map(|peer| peer.address.as_str())
    }

    /// The core's configuration: durations in ticks, limits as given.
    /// `snapshots`: whether the node has a snapshot store (without one the
    /// core never asks for a snapshot).
    pub(crate) fn core_config(
        &self,
        rng_seed: u64,
        snapshots: bool,
    ) -> Result<ordo_core::Config, ConfigError> {
        let tick = self.tick_interval.as_nanos().max(1);
        let ticks_up = |d: Duration| d.as_nanos().div_ceil(tick) as u64;
        let ticks_down = |d: Duration| (d.as_nanos() / tick) as u64;
        Ok(ordo_core::Config {
            node_id: self.node_id,
            election_timeout_min_ticks: ticks_up(self.election_timeout_min),
            election_timeout_max_ticks: ticks_up(self.election_timeout_max),
            heartbeat_interval_ticks: ticks_down(self.heartbeat_interval),
            pre_vote: self.pre_vote,
            check_quorum: self.check_quorum,
            max_entries_per_message: self.max_entries_per_message,
            max_bytes_per_message: self.max_bytes_per_message,
            max_inflight_messages: self.max_inflight_messages,
            max_inflight_bytes: self.max_inflight_bytes,
            max_uncommitted_bytes: self.max_uncommitted_bytes,
            max_apply_bytes: self.max_apply_bytes,
            lease_reads: self.lease_reads,
            lease_clock_drift_ticks: ticks_up(self.lease_clock_drift),
            max_term_jump: self.max_term_jump,
            snapshot_threshold_entries: if snapshots {
                self.snapshot_threshold_entries
            } else {
                0
            },
            log_retention_entries: self.log_retention_entries,
            snapshot_chunk_bytes: self.snapshot_chunk_bytes,
            max_snapshot_bytes: self.max_snapshot_bytes,
            rng_seed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> RaftConfig {
        RaftConfig {
            node_id: 1,
            peers: vec![Peer::new(2, "b"), Peer::new(3, "c")],
            ..RaftConfig::default()
        }
    }

    #[test]
    fn defaults_become_the_documented_ticks() {
        let Ok(core) = valid().core_config(7, true) else {
            panic!("the defaults are valid");
        };
        assert_eq!(core.election_timeout_min_ticks, 15);
        assert_eq!(core.election_timeout_max_ticks, 30);
        assert_eq!(core.heartbeat_interval_ticks, 5);
        assert!(core.pre_vote && core.check_quorum);
        assert_eq!(valid().validate(), Ok(()));
    }

    /// A setting both configs hold has one name in both (issue 12), and the
    /// runtime hands the core its value unchanged; only durations differ,
    /// becoming ticks. Values unlike the defaults, so a swapped field shows.
    #[test]
    fn shared_settings_keep_their_name_and_value_in_the_core() {
        let config = RaftConfig {
            node_id: 9,
            pre_vote: false,
            check_quorum: false,
            max_entries_per_message: 11,
            max_bytes_per_message: 12,
            max_inflight_messages: 13,
            max_inflight_bytes: 14,
            max_uncommitted_bytes: 15,
            max_apply_bytes: 16,
            max_term_jump: 17,
            snapshot_threshold_entries: 18,
            log_retention_entries: 19,
            snapshot_chunk_bytes: 20,
            max_snapshot_bytes: 22,
            ..valid()
        };
        let Ok(core) = config.core_config(21, true) else {
            panic!("core_config does not validate");
        };
        assert_eq!(core.node_id, config.node_id);
        assert_eq!(core.pre_vote, config.pre_vote);
        assert_eq!(core.check_quorum, config.check_quorum);
        assert_eq!(core.lease_reads, config.lease_reads);
        assert_eq!(core.max_entries_per_message, config.max_entries_per_message);
        assert_eq!(core.max_bytes_per_message, config.max_bytes_per_message);
        assert_eq!(core.max_inflight_messages, config.max_inflight_messages);
        assert_eq!(core.max_inflight_bytes, config.max_inflight_bytes);
        assert_eq!(core.max_uncommitted_bytes, config.max_uncommitted_bytes);
        assert_eq!(core.max_apply_bytes, config.max_apply_bytes);
        assert_eq!(core.max_term_jump, config.max_term_jump);
        assert_eq!(
            core.snapshot_threshold_entries,
            config.snapshot_threshold_entries
        );
        assert_eq!(core.log_retention_entries, config.log_retention_entries);
        assert_eq!(core.snapshot_chunk_bytes, config.snapshot_chunk_bytes);
        assert_eq!(core.max_snapshot_bytes, config.max_snapshot_bytes);
        assert_eq!(core.rng_seed, 21);
    }

    #[test]
    fn each_rule_is_enforced() {
        let cases = [
            (
                RaftConfig {
                    node_id: 0,
                    ..valid()
                },
                ConfigError::MissingNodeId,
            ),
            (
                RaftConfig {
                    peers: vec![Peer::new(0, "x")],
                    ..valid()
                },
                ConfigError::ZeroPeerId,
            ),
            (
                RaftConfig {
                    peers: vec![Peer::new(1, "x")],
                    ..valid()
                },
                ConfigError::SelfInPeers(1),
            ),
            (
                RaftConfig {
                    peers: vec![Peer::new(2, "x"), Peer::new(2, "y")],
                    ..valid()
                },
                ConfigError::DuplicatePeer(2),
            ),
            (
                RaftConfig {
                    tick_interval: Duration::ZERO,
                    ..valid()
                },
                ConfigError::ZeroDuration {
                    name: "tick_interval",
                },
            ),
            (
                RaftConfig {
                    heartbeat_interval: Duration::from_millis(1),
                    ..valid()
                },
                ConfigError::BelowTick {
                    name: "heartbeat_interval",
                    value: Duration::from_millis(1),
                    tick: Duration::from_millis(10),
                },
            ),
            (
                RaftConfig {
                    election_timeout_max: Duration::from_millis(150),
                    ..valid()
                },
                ConfigError::Core(ordo_core::ConfigError::EmptyElectionRange {
                    min_ticks: 15,
                    max_ticks: 15,
                }),
            ),
            (
                RaftConfig {
                    heartbeat_interval: Duration::from_millis(200),
                    ..valid()
                },
                ConfigError::Core(ordo_core::ConfigError::HeartbeatNotBelowElection {
                    heartbeat_ticks: 20,
                    election_min_ticks: 15,
                }),
            ),
            (
                RaftConfig {
                    max_pending_proposals: 0,
                    ..valid()
                },
                ConfigError::ZeroLimit {
                    name: "max_pending_proposals",
                },
            ),
            (
                RaftConfig {
                    max_entries_per_message: 0,
                    ..valid()
                },
                ConfigError::Core(ordo_core::ConfigError::ZeroLimit {
                    name: "max_entries_per_message",
                }),
            ),
            (
                RaftConfig {
                    lease_reads: true,
                    check_quorum: false,
                    ..valid()
                },
                ConfigError::Core(ordo_core::ConfigError::LeaseNeedsCheckQuorum),
            ),
        ];
        for (config, expected) in cases {
            assert_eq!(config.validate(), Err(expected));
        }
    }

    #[test]
    fn addresses_are_found_for_every_member() {
        let config = RaftConfig {
            address: "a".into(),
            ..valid()
        };
        assert_eq!(config.address_of(1), Some("a"));
        assert_eq!(config.address_of(3), Some("c"));
        assert_eq!(config.address_of(4), None);
        assert_eq!(
            config.member_ids().into_iter().collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }
}
