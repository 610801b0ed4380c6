//! Configuration of one node's consensus core, validated on construction.
//!
//! Time is measured in ticks: the driver decides how long a tick is (the runtime
//! defaults to 10 ms, which turns the defaults below into 150–300 ms elections
//! and 50 ms heartbeats).

use thiserror::Error;

use crate::types::NodeId;

/// Tuning and identity of one node. Build it with struct update syntax over
/// [`Config::default`], then let [`Raft::new`](crate::Raft::new) validate it.
///
/// ```
/// use ordo_core::Config;
/// let config = Config { node_id: 1, ..Config::default() };
/// assert!(config.validate().is_ok());
/// assert!(Config::default().validate().is_err()); // no node id
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This node's id. Must not be 0.
    pub node_id: NodeId,
    /// Smallest election timeout. Also the window of leader stickiness: a node
    /// that heard from a leader more recently than this ignores vote requests.
    pub election_timeout_min_ticks: u64,
    /// Election timeouts are drawn uniformly from `[min, max)`.
    pub election_timeout_max_ticks: u64,
    /// A leader sends heartbeats this often. Must be below the minimum election
    /// timeout, or followers would time out between heartbeats.
    pub heartbeat_interval_ticks: u64,
    /// Run a pre-vote round before a real election, so a node that cannot win
    /// (partitioned, or behind) never bumps the term and disturbs the cluster.
    pub pre_vote: bool,
    /// A leader that has not heard from a quorum within the minimum election
    /// timeout steps down. Also turns on leader stickiness (see above).
    pub check_quorum: bool,
    /// Most entries in one AppendEntries message.
    pub max_entries_per_message: usize,
    /// Most payload bytes in one AppendEntries message (at least one entry is
    /// always sent, however large).
    pub max_bytes_per_message: u64,
    /// Most AppendEntries messages in flight to one follower (unacknowledged).
    pub max_inflight_messages: usize,
    /// Most payload bytes in flight to one follower.
    pub max_inflight_bytes: u64,
    /// Most payload bytes a leader holds appended but not yet committed. Beyond
    /// it, proposals are refused with [`ProposeError::Busy`](crate::ProposeError::Busy).
    pub max_uncommitted_bytes: u64,
    /// Most payload bytes handed to the state machine in one [`Actions`](crate::Actions).
    pub max_apply_bytes: u64,
    /// Ask for a snapshot once this many entries were applied since the last
    /// one (0: only on request).
    pub snapshot_threshold_entries: u64,
    /// After a snapshot, keep this many entries before it in the log, so a
    /// follower slightly behind catches up from the log instead of needing
    /// the whole snapshot.
    pub log_retention_entries: u64,
    /// Most bytes of snapshot sent in one message.
    pub snapshot_chunk_bytes: u64,
    /// Largest snapshot this node accepts from a leader, in bytes of data.
    /// A transfer announcing more is refused before a byte is kept:
    /// counted ([`Status::refused_snapshot_chunks`](crate::Status::refused_snapshot_chunks)),
    /// reported ([`Event::SnapshotRefusedForSize`](crate::Event::SnapshotRefusedForSize)),
    /// and the node stays a healthy follower that is behind. Bounds the disk
    /// a peer (forged or broken) can make this node fill.
    pub max_snapshot_bytes: u64,
    /// Allow lease reads ([`ReadMode::Lease`](crate::ReadMode::Lease)): a leader
    /// whose quorum answered a heartbeat recently answers reads without a
    /// round trip. Needs `check_quorum`. Makes a restarted node refuse votes
    /// for one minimum election timeout (it forgot whose lease it honours).
    pub lease_reads: bool,
    /// How much faster than the leader's a follower's clock may run, in ticks
    /// per minimum election timeout. The lease lasts the minimum election
    /// timeout minus this margin.
    pub lease_clock_drift_ticks: u64,
    /// Most a message's term may exceed this node's own before the message is
    /// refused (and counted, see [`Status::refused_term_messages`](crate::Status::refused_term_messages)).
    /// Each election adds one to the term, so a correct peer is never this
    /// far ahead; a forged message that were adopted could push every node
    /// to the term cap at once and end elections for good. At least
    /// [`MAX_TERM_JUMP_MIN`]: a node that missed more elections than this
    /// bound (a long partition) would refuse every message of the current
    /// leader and never rejoin.
    pub max_term_jump: u64,
    /// Seed of the node's own random generator (election jitter). Give each
    /// node a different seed; the simulator derives them from its run seed.
    pub rng_seed: u64,
}

/// The default [`Config::max_snapshot_bytes`]: 64 GiB.
pub const DEFAULT_MAX_SNAPSHOT_BYTES: u64 = 64 << 30;

impl Default for Config {
    fn default() -> Self {
        Config {
            node_id: 0,
            election_timeout_min_ticks: 15,
            election_timeout_max_ticks: 30,
            heartbeat_interval_ticks: 5,
            pre_vote: true,
            check_quorum: true,
            max_entries_per_message: 4096,
            max_bytes_per_message: 1024 * 1024,
            max_inflight_messages: 256,
            max_inflight_bytes: 64 * 1024 * 1024,
            max_uncommitted_bytes: 256 * 1024 * 1024,
            max_apply_bytes: 16 * 1024 * 1024,
            snapshot_threshold_entries: 10_000,
            log_retention_entries: 1024,
            snapshot_chunk_bytes: 1024 * 1024,
            max_snapshot_bytes: DEFAULT_MAX_SNAPSHOT_BYTES,
            lease_reads: false,
            lease_clock_drift_ticks: 2,
            max_term_jump: 1 << 32,
            rng_seed: 0,
        }
    }
}

impl Config {
    /// Checks every rule the core relies on.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.node_id == 0 {
            return Err(ConfigError::MissingNodeId);
        }
        if self.heartbeat_interval_ticks == 0 {
            return Err(ConfigError::ZeroLimit {
                name: "heartbeat_interval_ticks",
            });
        }
        if self.heartbeat_interval_ticks >= self.election_timeout_min_ticks {
            return Err(ConfigError::HeartbeatNotBelowElection {
                heartbeat_ticks: self.heartbeat_interval_ticks,
                election_min_ticks: self.election_timeout_min_ticks,
            });
        }
        if self.election_timeout_min_ticks >= self.election_timeout_max_ticks {
            return Err(ConfigError::EmptyElectionRange {
                min_ticks: self.election_timeout_min_ticks,
                max_ticks: self.election_timeout_max_ticks,
            });
        }
        if self.lease_reads && !self.check_quorum {
            return Err(ConfigError::LeaseNeedsCheckQuorum);
        }
        if self.lease_reads && self.lease_clock_drift_ticks >= self.election_timeout_min_ticks {
            return Err(ConfigError::LeaseTooShort {
                drift_ticks: self.lease_clock_drift_ticks,
                election_min_ticks: self.election_timeout_min_ticks,
            });
        }
        if self.max_term_jump < MAX_TERM_JUMP_MIN {
            return Err(ConfigError::TermJumpTooSmall {
                jump: self.max_term_jump,
            });
        }
        let limits: [(&'static str, u64); 8] = [
            ("snapshot_chunk_bytes", self.snapshot_chunk_bytes),
            ("max_snapshot_bytes", self.max_snapshot_bytes),
            (
                "max_entries_per_message",
                self.max_entries_per_message as u64,
            ),
            ("max_bytes_per_message", self.max_bytes_per_message),
            ("max_inflight_messages", self.max_inflight_messages as u64),
            ("max_inflight_bytes", self.max_inflight_bytes),
            ("max_uncommitted_bytes", self.max_uncommitted_bytes),
            ("max_apply_bytes", self.max_apply_bytes),
        ];
        match limits.iter().find(|(_, value)| *value == 0) {
            Some(&(name, _)) => Err(ConfigError::ZeroLimit { name }),
            None => Ok(()),
        }
    }
}

/// A configuration the core refuses, and why.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// `node_id` was left at 0.
    #[error("node id is not set: give every node a distinct id above 0")]
    MissingNodeId,
    /// Heartbeats would not arrive before followers time out.
    #[error(
        "heartbeat interval ({heartbeat_ticks} ticks) must be below the minimum election timeout \
         ({election_min_ticks} ticks); a few heartbeats per election timeout is typical"
    )]
    HeartbeatNotBelowElection {
        /// The configured heartbeat interval.
        heartbeat_ticks: u64,
        /// The configured minimum election timeout.
        election_min_ticks: u64,
    },
    /// There is no room for randomization, so split votes could repeat forever.
    #[error(
        "election timeout range [{min_ticks}, {max_ticks}) is empty: the maximum must exceed the \
         minimum (twice the minimum is typical)"
    )]
    EmptyElectionRange {
        /// The configured minimum.
        min_ticks: u64,
        /// The configured maximum.
        max_ticks: u64,
    },
    /// A limit that must be positive is 0.
    #[error("{name} must be above 0")]
    ZeroLimit {
        /// The field's name.
        name: &'static str,
    },
    /// Lease reads are only safe when leaders step down without a quorum.
    #[error(
        "lease_reads needs check_quorum: without it a partitioned leader keeps serving stale reads"
    )]
    LeaseNeedsCheckQuorum,
    /// The drift margin leaves no lease.
    #[error(
        "lease_clock_drift_ticks ({drift_ticks}) must be below the minimum election timeout \
         ({election_min_ticks} ticks), or the lease would be empty"
    )]
    LeaseTooShort {
        /// The configured margin.
        drift_ticks: u64,
        /// The configured minimum election timeout.
        election_min_ticks: u64,
    },
    /// `max_term_jump` is below [`MAX_TERM_JUMP_MIN`].
    #[error(
        "max_term_jump ({jump}) must be at least {MAX_TERM_JUMP_MIN}: a node that missed more \
         elections than that (a long partition) would refuse its leader for good"
    )]
    TermJumpTooSmall {
        /// The configured bound.
        jump: u64,
    },
}

/// The smallest [`Config::max_term_jump`] accepted: 2^20 elections, about
/// 44 hours of back-to-back elections at one per 150 ms by a partitioned
/// node without pre-vote (with pre-vote, the default, a partitioned node's
/// term does not rise at all).
pub const MAX_TERM_JUMP_MIN: u64 = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Config {
        Config {
            node_id: 1,
            ..Config::default()
        }
    }

    #[test]
    fn defaults_with_an_id_are_valid() {
        assert_eq!(valid().validate(), Ok(()));
    }

    #[test]
    fn each_rule_is_enforced() {
        let cases = [
            (
                Config {
                    node_id: 0,
                    ..valid()
                },
                ConfigError::MissingNodeId,
            ),
            (
                Config {
                    heartbeat_interval_ticks: 15,
                    ..valid()
                },
                ConfigError::HeartbeatNotBelowElection {
                    heartbeat_ticks: 15,
                    election_min_ticks: 15,
                },
            ),
            (
                Config {
                    election_timeout_max_ticks: 15,
                    ..valid()
                },
                ConfigError::EmptyElectionRange {
                    min_ticks: 15,
                    max_ticks: 15,
                },
            ),
            (
                Config {
                    heartbeat_interval_ticks: 0,
                    ..valid()
                },
                ConfigError::ZeroLimit {
                    name: "heartbeat_interval_ticks",
                },
            ),
            (
                Config {
                    lease_reads: true,
                    check_quorum: false,
                    ..valid()
                },
                ConfigError::LeaseNeedsCheckQuorum,
            ),
            (
                Config {
                    lease_reads: true,
                    lease_clock_drift_ticks: 15,
                    ..valid()
                },
                ConfigError::LeaseTooShort {
                    drift_ticks: 15,
                    election_min_ticks: 15,
                },
            ),
            (
                Config {
                    max_term_jump: MAX_TERM_JUMP_MIN - 1,
                    ..valid()
                },
                ConfigError::TermJumpTooSmall {
                    jump: MAX_TERM_JUMP_MIN - 1,
                },
            ),
            (
                Config {
                    max_inflight_bytes: 0,
                    ..valid()
                },
                ConfigError::ZeroLimit {
                    name: "max_inflight_bytes",
                },
            ),
        ];
        for (config, expected) in cases {
            assert_eq!(config.validate(), Err(expected));
        }
    }
}
