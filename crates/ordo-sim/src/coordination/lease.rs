//! Simulated leases: holders that grant leases and keep them alive, the
//! leader's lessor that expires them, and the check that no lease expires
//! while its holder's keepalives keep arriving.
//!
//! # The protocol (etcd's, in simulated time: steps)
//!
//! - A holder proposes `LeaseGrant` (lease ids are the holder's choice), then
//!   attaches a key to the lease with `PutWithLease`, and sends keepalives to
//!   the node it believes leads, every quarter TTL or so. Now and then a
//!   holder abandons its lease (stops its keepalives): the lease must then
//!   expire, which exercises expiry.
//! - Only the leader keeps deadlines (its lessor, `Lessor`), in memory. On
//!   election (a new term, or a restart) it starts every lease it has applied
//!   with a full TTL: the documented leader-change slack, so a lease may
//!   outlive its TTL by up to an election, never the other way. A grant it
//!   applies later starts then. When a deadline passes it proposes
//!   `LeaseExpire`, and refuses keepalives for that lease from then on.
//! - A keepalive is confirmed like a linearizable read: the leader asks the
//!   core for a ReadIndex, and once it has applied that index it renews the
//!   lease (if it still exists and is not being expired) and acknowledges the
//!   keepalive as of the step it arrived.
//!
//! # The check
//!
//! An expiry committed at step `t` of a lease whose last acknowledged
//! keepalive arrived at step `k` is a violation if `t < k + ttl`. Why a
//! correct leader never commits one: the keepalive's confirmation needed a
//! quorum to answer a heartbeat of the acknowledging leader's term sent after
//! `k`, so any later leader was elected after `k` and starts the lease at
//! `k + ttl` or later; the acknowledging leader itself renewed to at least
//! `k + ttl` and refuses keepalives once it proposed an expiry; and an expiry
//! of an earlier term was committed (so the lease was gone) before any
//! ReadIndex of this term could be confirmed. The commit step is the one at
//! which the simulator first sees the entry committed, no earlier than the
//! real one, so the check never blames a correct run.
//!
//! That an expiry deletes the lease's keys at one revision, on every node, is
//! the store's invariant, and the watch check compares every node's history
//! with the committed one.

use std::collections::{BTreeMap, BTreeSet};

use ordo_core::{Entry, Index, NodeId, ProposeError, ReadMode, Role, Term};

use super::command::{Command, LeaseId, encode};
use super::replica::{Replicas, command_of};
use crate::cluster::Cluster;
use crate::linearizability::KvKey;
use crate::random::SimRng;

/// The first key holders attach to their leases; holder `h` uses
/// `LEASE_KEY_BASE + h`, outside the linearizability workload's keys (which
/// an expiry must not touch behind the checker's back).
pub const LEASE_KEY_BASE: KvKey = 100;
/// Lease holders in every run.
pub const HOLDERS: usize = 3;
/// The shortest TTL granted, in steps (several election timeouts).
const TTL_MIN_STEPS: u64 = 100;
/// TTLs are drawn from `TTL_MIN_STEPS..TTL_MIN_STEPS + TTL_SPREAD_STEPS`.
const TTL_SPREAD_STEPS: u64 = 200;
/// Steps after which an unconfirmed keepalive or grant is given up.
const PATIENCE_STEPS: u64 = 400;
/// Per mille of steps on which an idle holder grants a new lease.
const GRANT_PER_MILLE: u64 = 20;
/// Per mille of steps on which a holder abandons its live lease.
const ABANDON_PER_MILLE: u64 = 1;
/// Request ids of keepalive reads start here, far above the clients' reads.
const FIRST_KEEPALIVE_REQUEST: u64 = 1 << 62;

#[derive(Clone, Debug)]
enum Holding {
    Idle,
    Granting {
        lease: LeaseId,
        ttl_steps: u64,
        node: NodeId,
        index: Index,
        term: Term,
        since: u64,
    },
    Live {
        lease: LeaseId,
        ttl_steps: u64,
        next_keepalive: u64,
    },
}

#[derive(Clone, Debug)]
struct Holder {
    target: NodeId,
    holding: Holding,
}

#[derive(Clone, Debug)]
struct Keepalive {
    holder: usize,
    lease: LeaseId,
    ttl_steps: u64,
    node: NodeId,
    incarnation: u64,
    term: Term,
    arrived: u64,
    read_index: Option<Index>,
}

/// A leader's in-memory lease deadlines.
#[derive(Clone, Debug, Default)]
struct Lessor {
    incarnation: u64,
    term: Term,
    deadlines: BTreeMap<LeaseId, u64>,
    /// Leases whose expiry this leader proposed.
    expiring: BTreeSet<LeaseId>,
}

/// The leases of one run: holders, lessors and what the check needs.
#[derive(Clone, Debug)]
pub struct Leases {
    holders: Vec<Holder>,
    lessors: BTreeMap<NodeId, Lessor>,
    keepalives: BTreeMap<u64, Keepalive>,
    next_lease: LeaseId,
    next_request: u64,
    next_value: u64,
    /// Per lease: its TTL and the arrival of its last acknowledged keepalive.
    acknowledged: BTreeMap<LeaseId, (u64, u64)>,
    /// Expiries seen committed: lease, index, and the step first seen.
    expiries: Vec<(LeaseId, Index, u64)>,
    /// Committed entries through this index were scanned for expiries.
    scanned: Index,
}

impl Leases {
    /// [`HOLDERS`] idle holders, talking to node 1 first.
    pub fn new() -> Self {
        let holder = Holder {
            target: 1,
            holding: Holding::Idle,
        };
        Leases {
            holders: vec![holder; HOLDERS],
            lessors: BTreeMap::new(),
            keepalives: BTreeMap::new(),
            next_lease: 1,
            next_request: FIRST_KEEPALIVE_REQUEST,
            next_value: 0,
            acknowledged: BTreeMap::new(),
            expiries: Vec::new(),
            scanned: 0,
        }
    }

    /// Keepalives acknowledged, over the run.
    pub fn keepalives_acknowledged(&self) -> usize {
        self.acknowledged.len()
    }

    /// Expiries committed, over the run.
    pub fn expiries(&self) -> usize {
        self.expiries.len()
    }

    /// A node confirmed the keepalive read `request_id` at `read_index`.
    pub fn read_ready(&mut self, node: NodeId, request_id: u64, read_index: Index) {
        if let Some(keepalive) = self.keepalives.get_mut(&request_id)
            && keepalive.node == node
        {
            keepalive.read_index = Some(read_index);
        }
    }

    /// A node gave up on the keepalive read `request_id`.
    pub fn read_failed(&mut self, node: NodeId, request_id: u64) {
        if self
            .keepalives
            .get(&request_id)
            .is_some_and(|k| k.node == node)
        {
            self.keepalives.remove(&request_id);
        }
    }

    /// One step: lessors expire, keepalives are confirmed, holders act.
    pub fn step(&mut self, rng: &mut SimRng, cluster: &mut Cluster, replicas: &Replicas, now: u64) {
        self.run_lessors(cluster, replicas, now);
        self.confirm_keepalives(cluster, replicas, now);
        for holder in 0..self.holders.len() {
            self.act(holder, rng, cluster, replicas, now);
        }
    }

    /// Records the expiries among newly committed entries, as of `now`.
    pub fn observe_commits(&mut self, committed: &BTreeMap<Index, Entry>, now: u64) {
        while let Some(entry) = committed.get(&(self.scanned + 1)) {
            self.scanned += 1;
            if let Some(Command::LeaseExpire { lease }) = command_of(entry) {
                self.expiries.push((lease, entry.index, now));
            }
        }
    }

    /// Checks that no expiry committed within a TTL of an acknowledged
    /// keepalive.
    ///
    /// # Errors
    /// The first such expiry.
    pub fn check(&self) -> Result<(), String> {
        for &(lease, index, committed_at) in &self.expiries {
            if let Some(&(ttl_steps, arrived)) = self.acknowledged.get(&lease)
                && committed_at < arrived + ttl_steps
            {
                return Err(format!(
                    "lease: lease {lease} (TTL {ttl_steps} steps) expired by the entry at index \
                     {index}, committed by step {committed_at}, although a keepalive that \
                     arrived at step {arrived} was acknowledged: it had until step {}",
                    arrived + ttl_steps
                ));
            }
        }
        Ok(())
    }

    /// Every running leader brings its deadlines in line with what it applied
    /// and proposes the expiry of each lease whose deadline passed.
    fn run_lessors(&mut self, cluster: &mut Cluster, replicas: &Replicas, now: u64) {
        let leaders: Vec<(NodeId, u64, Term)> = cluster
            .nodes
            .iter()
            .filter_map(|(&id, node)| {
                let raft = node.raft.as_ref()?;
                (raft.role() == Role::Leader)
                    .then(|| (id, node.incarnation, raft.soft_state().term))
            })
            .collect();
        for (id, incarnation, term) in leaders {
            let Some(store) = replicas.get(id).map(|r| r.store()) else {
                continue;
            };
            let lessor = self.lessors.entry(id).or_default();
            if lessor.incarnation != incarnation || lessor.term != term {
                *lessor = Lessor {
                    incarnation,
                    term,
                    ..Lessor::default()
                };
            }
            let leases = store.leases();
            lessor
                .deadlines
                .retain(|lease, _| leases.contains_key(lease));
            lessor.expiring.retain(|lease| leases.contains_key(lease));
            for (&lease, granted) in leases {
                lessor
                    .deadlines
                    .entry(lease)
                    .or_insert(now + granted.ttl_steps);
            }
            let due: Vec<LeaseId> = lessor
                .deadlines
                .iter()
                .filter(|&(lease, &deadline)| deadline <= now && !lessor.expiring.contains(lease))
                .map(|(&lease, _)| lease)
                .collect();
            for lease in due {
                let expire = encode(&Command::LeaseExpire { lease });
                if cluster.propose(id, vec![expire]).is_ok() {
                    lessor.expiring.insert(lease);
                }
            }
        }
    }

    /// Keepalives whose read index the leader applied renew their lease, if
    /// it still exists and the leader is the same; the rest wait or lapse.
    fn confirm_keepalives(&mut self, cluster: &Cluster, replicas: &Replicas, now: u64) {
        let requests: Vec<u64> = self.keepalives.keys().copied().collect();
        for request in requests {
            let Some(keepalive) = self.keepalives.get(&request).cloned() else {
                continue;
            };
            // Cheap checks first: a status (for the term) only once confirmed.
            let node = cluster.nodes.get(&keepalive.node);
            let still_leading = node.is_some_and(|node| {
                node.incarnation == keepalive.incarnation
                    && node.raft.as_ref().is_some_and(|r| r.role() == Role::Leader)
            });
            if !still_leading || now > keepalive.arrived + PATIENCE_STEPS {
                self.keepalives.remove(&request);
                continue;
            }
            let Some(replica) = replicas.get(keepalive.node) else {
                continue;
            };
            let confirmed = keepalive
                .read_index
                .is_some_and(|index| replica.applied_index() >= index);
            if !confirmed {
                continue;
            }
            let term = cluster.raft(keepalive.node).map(|r| r.soft_state().term);
            if term != Some(keepalive.term) {
                self.keepalives.remove(&request);
                continue;
            }
            self.keepalives.remove(&request);
            let exists = replica.store().leases().contains_key(&keepalive.lease);
            let lessor = self.lessors.get_mut(&keepalive.node);
            let renewable = lessor.as_ref().is_some_and(|lessor| {
                lessor.term == keepalive.term && !lessor.expiring.contains(&keepalive.lease)
            });
            match lessor {
                Some(lessor) if exists && renewable => {
                    let deadline = lessor.deadlines.entry(keepalive.lease).or_insert(0);
                    *deadline = (*deadline).max(now + keepalive.ttl_steps);
                    self.acknowledge(keepalive.lease, keepalive.ttl_steps, keepalive.arrived);
                }
                _ if !exists => self.lease_lost(keepalive.holder, keepalive.lease),
                _ => {}
            }
        }
    }

    /// Records a keepalive for `lease` acknowledged as of step `arrived`.
    fn acknowledge(&mut self, lease: LeaseId, ttl_steps: u64, arrived: u64) {
        let acknowledged = self.acknowledged.entry(lease).or_insert((ttl_steps, 0));
        acknowledged.1 = acknowledged.1.max(arrived);
    }

    fn lease_lost(&mut self, holder: usize, lease: LeaseId) {
        if let Holding::Live { lease: live, .. } = self.holders[holder].holding
            && live == lease
        {
            self.holders[holder].holding = Holding::Idle;
        }
    }

    fn act(
        &mut self,
        holder: usize,
        rng: &mut SimRng,
        cluster: &mut Cluster,
        replicas: &Replicas,
        now: u64,
    ) {
        match self.holders[holder].holding.clone() {
            Holding::Idle if rng.chance(GRANT_PER_MILLE) => {
                let ttl_steps = TTL_MIN_STEPS + rng.below(TTL_SPREAD_STEPS);
                self.grant(holder, rng, cluster, ttl_steps, now);
            }
            Holding::Idle => {}
            Holding::Granting {
                lease,
                ttl_steps,
                node,
                index,
                term,
                since,
            } => {
                let answer = replicas.get(node).and_then(|r| r.answer(index));
                let applied = replicas
                    .get(node)
                    .is_some_and(|r| r.applied_index() >= index);
                let holding = &mut self.holders[holder].holding;
                match answer {
                    Some((applied_term, _)) if *applied_term == term => {
                        *holding = Holding::Live {
                            lease,
                            ttl_steps,
                            next_keepalive: now,
                        };
                        self.attach(holder, lease, node, cluster);
                    }
                    _ if applied || now > since + PATIENCE_STEPS => *holding = Holding::Idle,
                    _ => {}
                }
            }
            Holding::Live { .. } if rng.chance(ABANDON_PER_MILLE) => {
                self.holders[holder].holding = Holding::Idle;
            }
            Holding::Live {
                lease,
                ttl_steps,
                next_keepalive,
            } if now >= next_keepalive => {
                let next_keepalive = now + ttl_steps / 6 + rng.below(ttl_steps / 12);
                self.holders[holder].holding = Holding::Live {
                    lease,
                    ttl_steps,
                    next_keepalive,
                };
                let keepalive = Keepalive {
                    holder,
                    lease,
                    ttl_steps,
                    node: self.holders[holder].target,
                    incarnation: 0,
                    term: 0,
                    arrived: now,
                    read_index: None,
                };
                self.send_keepalive(keepalive, rng, cluster, replicas);
            }
            Holding::Live { .. } => {}
        }
    }

    fn grant(
        &mut self,
        holder: usize,
        rng: &mut SimRng,
        cluster: &mut Cluster,
        ttl_steps: u64,
        now: u64,
    ) {
        let lease = self.next_lease;
        let node = self.holders[holder].target;
        let grant = encode(&Command::LeaseGrant { lease, ttl_steps });
        match cluster.propose(node, vec![grant]) {
            Ok(proposal) => {
                self.next_lease += 1;
                self.holders[holder].holding = Holding::Granting {
                    lease,
                    ttl_steps,
                    node,
                    index: proposal.first_index,
                    term: proposal.term,
                    since: now,
                };
            }
            Err(ProposeError::NotLeader {
                leader: Some(leader),
            }) => self.holders[holder].target = leader,
            Err(_) => self.retarget(holder, rng, cluster),
        }
    }

    /// Attaches the holder's key to its new lease (fire and forget: a put that
    /// is lost only leaves the lease without a key).
    fn attach(&mut self, holder: usize, lease: LeaseId, node: NodeId, cluster: &mut Cluster) {
        self.next_value += 1;
        let put = Command::PutWithLease {
            key: LEASE_KEY_BASE + holder as KvKey,
            value: self.next_value,
            lease,
        };
        let _ = cluster.propose(node, vec![encode(&put)]);
    }

    /// Sends `keepalive` (its node, term and incarnation still to be filled
    /// in) to the holder's node: a leader starts confirming it, another node
    /// sends the holder elsewhere.
    fn send_keepalive(
        &mut self,
        mut keepalive: Keepalive,
        rng: &mut SimRng,
        cluster: &mut Cluster,
        replicas: &Replicas,
    ) {
        let (holder, lease, node) = (keepalive.holder, keepalive.lease, keepalive.node);
        let status = cluster.raft(node).map(|r| r.soft_state());
        let term = match status {
            Some(status) if status.role == Role::Leader => status.term,
            // Planted bug: a follower acknowledges a keepalive for a lease it
            // knows instead of sending the holder to the leader, which never
            // hears of it.
            Some(_)
                if cfg!(feature = "planted-bug-lease-renewed-by-follower")
                    && replicas
                        .get(node)
                        .is_some_and(|r| r.store().leases().contains_key(&lease)) =>
            {
                self.acknowledge(lease, keepalive.ttl_steps, keepalive.arrived);
                return;
            }
            Some(status) if let Some(leader) = status.leader.filter(|&l| l != node) => {
                self.holders[holder].target = leader;
                return;
            }
            _ => {
                self.retarget(holder, rng, cluster);
                return;
            }
        };
        let request = self.next_request;
        self.next_request += 1;
        if cluster
            .read_index(node, vec![request], ReadMode::ReadIndex)
            .is_err()
        {
            return;
        }
        keepalive.incarnation = cluster.nodes.get(&node).map_or(0, |n| n.incarnation);
        keepalive.term = term;
        self.keepalives.insert(request, keepalive);
    }

    /// Points the holder at a node that says it leads (as service discovery
    /// would), or else at a random running node.
    fn retarget(&mut self, holder: usize, rng: &mut SimRng, cluster: &Cluster) {
        let running = cluster.running();
        let leaders: Vec<NodeId> = running
            .iter()
            .copied()
            .filter(|&id| cluster.raft(id).is_some_and(|r| r.role() == Role::Leader))
            .collect();
        let candidates = if leaders.is_empty() { running } else { leaders };
        if !candidates.is_empty() {
            self.holders[holder].target = candidates[rng.below(candidates.len() as u64) as usize];
        }
    }
}

impl Default for Leases {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_within_a_ttl_of_an_acknowledged_keepalive_fails() {
        let mut leases = Leases::new();
        leases.acknowledge(1, 100, 50);
        leases.acknowledge(1, 100, 40);
        leases.expiries.push((1, 7, 150));
        assert_eq!(leases.check(), Ok(()), "expired exactly at the deadline");
        leases.expiries.push((1, 9, 149));
        assert!(leases.check().is_err(), "expired a step early");
    }

    #[test]
    fn an_expiry_without_acknowledged_keepalives_passes() {
        let mut leases = Leases::new();
        leases.expiries.push((3, 7, 1));
        assert_eq!(leases.check(), Ok(()));
    }
}
