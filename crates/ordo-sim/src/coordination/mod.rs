//! The coordination workload of randomized runs: revisions, transactions,
//! watches and leases on the simulated nodes' store, after etcd's v3 model.
//!
//! - [`command`]: the store's log commands and their encoding.
//! - [`store`]: the state machine: a cluster revision that advances by one per
//!   applied command that changes something (a transaction with several writes,
//!   or an expiry deleting several keys, takes one), per-key mod revisions,
//!   leases, and the history of change events watchers read.
//! - [`replica`]: each node's store, replayed from what it applied.
//! - [`watch`]: watchers on any node that disconnect and resume; checked to be
//!   gap-free, duplicate-free, in-order prefixes of the committed history.
//! - [`lease`]: holders, keepalives, the leader's lessor; checked that no lease
//!   expires within a TTL of an acknowledged keepalive.
//!
//! Transactions are issued by the key-value clients (`crate::workload`) and
//! checked for linearizability with
//! [`JointKvModel`](crate::linearizability::JointKvModel).
//!
//! The workload draws from its own random stream (derived from the run's
//! seed), so a run stays a function of its seed. Three planted bugs, one per
//! check, are the simulator's own (cargo features of this crate; see
//! [`planted_bugs`]).

use std::collections::BTreeMap;

use ordo_core::{Entry, Index};

use crate::cluster::Cluster;
use crate::linearizability::KvKey;
use crate::random::SimRng;

pub mod command;
pub mod lease;
pub mod replica;
pub mod store;
pub mod watch;

use lease::{LEASE_KEY_BASE, Leases};
use replica::{Replicas, committed_store};
use watch::{WatchRange, Watchers};

/// Mixed into the run's seed for the workload's own random stream.
const STREAM_SALT: u64 = 0x636f_6f72_6469_6e61;

/// The planted bugs of this crate's coordination workload this build carries
/// (cargo features `planted-bug-*`), for `tests/planted_bugs.rs`.
pub fn planted_bugs() -> Vec<&'static str> {
    let mut planted = Vec::new();
    if cfg!(feature = "planted-bug-watch-skip-on-resume") {
        planted.push("watch-skip-on-resume");
    }
    if cfg!(feature = "planted-bug-txn-non-atomic") {
        planted.push("txn-non-atomic");
    }
    if cfg!(feature = "planted-bug-lease-renewed-by-follower") {
        planted.push("lease-renewed-by-follower");
    }
    planted
}

/// Counts of what the workload did, for run summaries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoordinationSummary {
    /// Watch events delivered, over every watcher.
    pub watch_events: usize,
    /// Watch streams resumed after a dropped connection.
    pub watch_resumes: usize,
    /// Leases that had a keepalive acknowledged.
    pub leases_kept_alive: usize,
    /// Lease expiries committed.
    pub lease_expiries: usize,
}

/// Watchers, lease holders and lessors of one run, and every node's store.
#[derive(Clone, Debug)]
pub struct Coordination {
    rng: SimRng,
    replicas: Replicas,
    watchers: Watchers,
    leases: Leases,
}

impl Coordination {
    /// The workload for the run of `seed` over `keys` client keys.
    pub fn new(seed: u64, keys: u64) -> Self {
        let mut rng = SimRng::new(seed ^ STREAM_SALT);
        let key: KvKey = rng.below(keys);
        // One watcher from the beginning, one from a revision that may not
        // exist yet, one on a lease's key.
        let watchers = Watchers::new(&[
            (WatchRange::All, 1),
            (WatchRange::Key(key), 1 + rng.below(20)),
            (WatchRange::Key(LEASE_KEY_BASE), 1),
        ]);
        Coordination {
            rng,
            replicas: Replicas::default(),
            watchers,
            leases: Leases::new(),
        }
    }

    /// Every node's store, as of the last [`Coordination::step`].
    pub fn replicas(&self) -> &Replicas {
        &self.replicas
    }

    /// One step: replicas catch up with what their nodes applied, then
    /// watchers and lease holders and lessors act.
    pub fn step(&mut self, cluster: &mut Cluster, now: u64) {
        self.replicas.refresh(cluster);
        self.watchers.step(&mut self.rng, cluster, &self.replicas);
        self.leases
            .step(&mut self.rng, cluster, &self.replicas, now);
    }

    /// A node confirmed a read; the workload's own reads are keepalives.
    pub fn read_ready(&mut self, node: ordo_core::NodeId, request_id: u64, read_index: Index) {
        self.leases.read_ready(node, request_id, read_index);
    }

    /// A node gave up on a read.
    pub fn read_failed(&mut self, node: ordo_core::NodeId, request_id: u64) {
        self.leases.read_failed(node, request_id);
    }

    /// Notes entries newly known committed, as of `now`.
    pub fn observe_commits(&mut self, committed: &BTreeMap<Index, Entry>, now: u64) {
        self.leases.observe_commits(committed, now);
    }

    /// The end-of-run checks: watch streams and node histories against the
    /// committed history, and lease expiries against keepalives.
    ///
    /// # Errors
    /// The first violation.
    pub fn check(&self, committed: &BTreeMap<Index, Entry>) -> Result<(), String> {
        let committed = committed_store(committed);
        self.watchers.check(&committed, &self.replicas)?;
        self.leases.check()
    }

    /// What the workload did.
    pub fn summary(&self) -> CoordinationSummary {
        CoordinationSummary {
            watch_events: self.watchers.events_received(),
            watch_resumes: self.watchers.resumes(),
            leases_kept_alive: self.leases.keepalives_acknowledged(),
            lease_expiries: self.leases.expiries(),
        }
    }
}
