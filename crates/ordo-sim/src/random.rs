//! Randomized cluster runs, fully determined by one seed.
//!
//! Each step picks one event: a tick, the delivery of a random queued message
//! (so messages are reordered), a lost or duplicated message, a disk sync, a
//! proposal, a partition or its healing, a crash or a restart, a leadership
//! transfer, or a membership change (spare nodes join as learners or voters,
//! members leave, several voters change at once). Storms, when faults strike,
//! alternate with calm stretches that heal the network and restart crashed
//! nodes, so that leaders settle and changes go through. Disks are slow
//! (writes wait for an explicit sync), so crashes lose unsynced writes; one
//! crash in four (while no other node is under repair) also loses the synced
//! tail of the node's log, and the node restarts with a repair point. After
//! every step the [`Checker`] runs; after the faulty phase the network heals,
//! every node restarts, and the group must elect a leader and commit a new
//! entry within a bounded number of steps.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use ordo_core::{
    Config, EntryPayload, Event, LogRead, Membership, MembershipChange, NodeId, ReadMode, Role,
    SplitMix64,
};

use crate::cluster::Cluster;
use crate::coordination::{Coordination, CoordinationSummary};
use crate::format;
use crate::invariants::Checker;
use crate::linearizability::{self, Budget, JointKvModel, Verdict};
use crate::workload::{self, Clients};

/// Key-value clients in every run.
const CLIENTS: usize = 3;

/// The shape of one randomized run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Group size.
    pub nodes: u64,
    /// Events in the faulty phase.
    pub steps: usize,
    /// Run with pre-vote.
    pub pre_vote: bool,
    /// Run with check-quorum.
    pub check_quorum: bool,
    /// Per mille of deliveries that lose the message.
    pub loss_per_mille: u64,
    /// Network partitions (symmetric and one-way) during storms.
    pub partitions: bool,
    /// Crashes and restarts during storms.
    pub crashes: bool,
    /// Steps allowed after the faults stop for a leader to commit a new entry.
    pub liveness_steps: usize,
    /// Nodes that start outside the group and may be added to it.
    pub spare_nodes: u64,
    /// Change the membership and transfer leadership during the run.
    pub reconfigure: bool,
    /// Snapshot after this many applied entries (0: never), so that logs get
    /// compacted and lagging nodes catch up through snapshot transfers.
    pub snapshot_threshold_entries: u64,
    /// Lease reads on (needs check-quorum): clients read with
    /// [`ReadMode::Lease`]. A lease is sound only
    /// while clocks drift within bounds, so in these runs a tick event ticks
    /// every running node at once (one clock, no drift) instead of one node.
    pub lease_reads: bool,
}

/// The fault mixes the simulator's command line offers.
pub const FAULT_PROFILES: &[&str] = &["all", "network", "crashes", "none"];

impl RunConfig {
    /// The configuration of a named fault profile: `all` (every fault),
    /// `network` (loss, duplication, reordering, partitions), `crashes`
    /// (crashes and restarts, slow disks), `none` (reordering only).
    pub fn for_profile(profile: &str) -> Option<RunConfig> {
        let all = RunConfig::default();
        Some(match profile {
            "all" => all,
            "network" => RunConfig {
                crashes: false,
                ..all
            },
            "crashes" => RunConfig {
                partitions: false,
                loss_per_mille: 0,
                ..all
            },
            "none" => RunConfig {
                partitions: false,
                crashes: false,
                loss_per_mille: 0,
                ..all
            },
            _ => return None,
        })
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            nodes: 3,
            steps: 2000,
            pre_vote: true,
            check_quorum: true,
            loss_per_mille: 100,
            partitions: true,
            crashes: true,
            liveness_steps: 3000,
            spare_nodes: 2,
            reconfigure: true,
            snapshot_threshold_entries: 5,
            lease_reads: false,
        }
    }
}

/// What a successful run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Entries committed by the end.
    pub committed: usize,
    /// Highest term reached.
    pub max_term: u64,
    /// Membership changes a leader accepted.
    pub membership_changes: usize,
    /// Leadership transfers a leader started.
    pub transfers: usize,
    /// Snapshots installed on followers from a leader.
    pub snapshots_installed: usize,
    /// Client operations in the checked history.
    pub operations: usize,
    /// The linearizability check ran out of budget (no violation found, none
    /// ruled out).
    pub linearizability_undecided: bool,
    /// Crashes that lost the synced tail of a node's log.
    pub tail_losses: usize,
    /// The run ended with no leader by design: the nodes under repair were
    /// needed for every quorum (liveness is then not required).
    pub waited_for_operator: bool,
    /// What the watch and lease workload did.
    pub coordination: CoordinationSummary,
}

/// A failed run: the seed that replays it, what broke, and the last events.
#[derive(Clone, Debug)]
pub struct RunFailure {
    /// The seed.
    pub seed: u64,
    /// The step at which the violation was found.
    pub step: usize,
    /// What broke.
    pub violation: String,
    /// The events leading up to it, oldest first.
    pub trace: Vec<String>,
}

impl std::fmt::Display for RunFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "seed {} failed at step {}: {}",
            self.seed, self.step, self.violation
        )?;
        writeln!(f, "last events:")?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// The simulator's random stream: the core's [`SplitMix64`] (so a run is
/// fully determined by its seed), with the draws the simulator needs.
#[derive(Clone, Debug)]
pub struct SimRng(SplitMix64);

impl SimRng {
    /// A stream for `seed`.
    pub fn new(seed: u64) -> Self {
        SimRng(SplitMix64::new(seed))
    }

    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number below `bound` (a zero bound counts as one).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0.in_range(0, bound.max(1))
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

const TRACE_LINES: usize = 40;

/// Per mille of messages sent in a storm that straggle.
const STRAGGLER_PER_MILLE: u64 = 10;
/// The least extra delay of a straggler, in steps.
const STRAGGLER_MIN_STEPS: u64 = 100;

/// Calm steps (each ticks every node once: 5 to 10 election timeouts) a
/// removed node gets to learn its removal once the group commits again.
const REMOVAL_LEARNING_STEPS: usize = 100;

struct Run {
    cluster: Cluster,
    checker: Checker,
    rng: SimRng,
    trace: VecDeque<String>,
    proposals: u64,
    config: RunConfig,
    membership_changes: usize,
    transfers: usize,
    snapshots_installed: usize,
    clients: Clients,
    coordination: Coordination,
    /// Steps taken so far: the virtual clock.
    now: u64,
    /// When each message in the network becomes deliverable (parallel to
    /// `cluster.network`).
    due: Vec<u64>,
    /// Per directed link: base delay and jitter, in steps.
    links: BTreeMap<(NodeId, NodeId), (u64, u64)>,
    /// True during a storm (faults on), false during a calm stretch.
    storm: bool,
    phase_steps_left: u64,
    tail_losses: usize,
    waited_for_operator: bool,
}

/// Runs one randomized scenario for `seed`.
///
/// # Errors
/// A [`RunFailure`] naming the seed, the violation and the events before it.
pub fn run(seed: u64, config: &RunConfig) -> Result<RunSummary, RunFailure> {
    let node_config = |id| Config {
        node_id: id,
        election_timeout_min_ticks: 10,
        election_timeout_max_ticks: 20,
        heartbeat_interval_ticks: 2,
        pre_vote: config.pre_vote,
        check_quorum: config.check_quorum,
        max_entries_per_message: 4,
        max_inflight_messages: 4,
        snapshot_threshold_entries: config.snapshot_threshold_entries,
        log_retention_entries: 2,
        snapshot_chunk_bytes: 256,
        lease_reads: config.lease_reads,
        rng_seed: seed,
        ..Config::default()
    };
    let read_mode = if config.lease_reads {
        ReadMode::Lease
    } else {
        ReadMode::ReadIndex
    };
    let cluster = Cluster::new(config.nodes, node_config)
        .map_err(|e| failure(seed, 0, e.to_string(), Vec::new()))?;
    let mut run = Run {
        cluster,
        checker: Checker::new(),
        rng: SimRng::new(seed),
        trace: VecDeque::new(),
        proposals: 0,
        config: config.clone(),
        membership_changes: 0,
        transfers: 0,
        snapshots_installed: 0,
        clients: Clients::new(CLIENTS, read_mode),
        coordination: Coordination::new(seed, workload::KEYS),
        now: 0,
        due: Vec::new(),
        links: BTreeMap::new(),
        storm: false,
        phase_steps_left: 0,
        tail_losses: 0,
        waited_for_operator: false,
    };
    for id in config.nodes + 1..=config.nodes + config.spare_nodes {
        run.cluster
            .add_node(id, node_config(id))
            .map_err(|e| failure(seed, 0, e.to_string(), Vec::new()))?;
    }
    run.cluster.auto_sync = false;
    for step in 0..config.steps {
        run.now += 1;
        run.step().map_err(|e| run.failure(seed, step, e))?;
        run.coordination.step(&mut run.cluster, run.now);
        run.clients
            .poll(&run.cluster, run.coordination.replicas(), run.now);
        run.checker
            .check_cluster(&run.cluster)
            .map_err(|e| run.failure(seed, step, e))?;
        run.coordination
            .observe_commits(run.checker.committed(), run.now);
    }
    run.liveness()
        .map_err(|e| run.failure(seed, config.steps, e))?;
    run.clients.finish();
    let history = run.clients.history();
    let verdict =
        linearizability::check(&JointKvModel, history, &Budget::default()).map_err(|e| {
            run.failure(
                seed,
                config.steps,
                format!("client history is malformed: {e}"),
            )
        })?;
    let undecided = match verdict {
        Verdict::Linearizable => false,
        Verdict::Unknown(_) => true,
        Verdict::Illegal(violation) => {
            let message =
                format!("linearizability: the client history has no linearization\n{violation}");
            return Err(run.failure(seed, config.steps, message));
        }
    };
    run.coordination
        .check(run.checker.committed())
        .map_err(|e| run.failure(seed, config.steps, e))?;
    let max_term = run
        .cluster
        .running()
        .iter()
        .filter_map(|&id| run.cluster.raft(id))
        .map(|r| r.status().term)
        .max();
    Ok(RunSummary {
        committed: run.checker.committed().len(),
        max_term: max_term.unwrap_or(0),
        membership_changes: run.membership_changes,
        transfers: run.transfers,
        snapshots_installed: run.snapshots_installed,
        operations: run.clients.history().len(),
        linearizability_undecided: undecided,
        tail_losses: run.tail_losses,
        waited_for_operator: run.waited_for_operator,
        coordination: run.coordination.summary(),
    })
}

fn failure(seed: u64, step: usize, violation: String, trace: Vec<String>) -> RunFailure {
    RunFailure {
        seed,
        step,
        violation,
        trace,
    }
}

impl Run {
    fn failure(&self, seed: u64, step: usize, violation: String) -> RunFailure {
        failure(seed, step, violation, self.trace.iter().cloned().collect())
    }

    fn note(&mut self, line: String) {
        if self.trace.len() == TRACE_LINES {
            self.trace.pop_front();
        }
        self.trace.push_back(line);
    }

    fn random_node(&mut self) -> NodeId {
        1 + self.rng.below(self.total_nodes())
    }

    fn total_nodes(&self) -> u64 {
        self.config.nodes + self.config.spare_nodes
    }

    /// The leader of the highest term (a deposed leader may not know it yet).
    fn leader(&self) -> Option<NodeId> {
        self.cluster
            .running()
            .into_iter()
            .filter_map(|id| self.cluster.raft(id).map(|r| (id, r.status())))
            .filter(|(_, status)| status.role == Role::Leader)
            .max_by_key(|(_, status)| status.term)
            .map(|(id, _)| id)
    }

    /// Storms and calm stretches alternate, each 100 to 400 steps long: faults
    /// strike only in storms, and a calm stretch starts by healing the network
    /// and restarting crashed nodes, so leaders can settle and changes land.
    fn next_phase(&mut self) -> Result<(), String> {
        if self.phase_steps_left > 0 {
            self.phase_steps_left -= 1;
            return Ok(());
        }
        self.storm = !self.storm;
        self.phase_steps_left = 100 + self.rng.below(300);
        if self.storm {
            self.note("storm begins".to_string());
            return Ok(());
        }
        self.note("calm begins: heal, restart crashed nodes".to_string());
        self.cluster.heal();
        for id in 1..=self.total_nodes() {
            self.cluster.restart(id).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn step(&mut self) -> Result<(), String> {
        self.next_phase()?;
        let fatal = |e: ordo_core::Error| e.to_string();
        let event = self.rng.below(1000);
        // In calm stretches, fault events turn into deliveries.
        let event = if !self.storm && (950..=964).contains(&event) {
            300
        } else {
            event
        };
        match event {
            0..=219 => self.tick().map_err(fatal)?,
            220..=569 => self.deliver_random()?,
            570..=749 => {
                let id = self.random_node();
                for actions in self.cluster.process(id).map_err(fatal)? {
                    self.observe(id, &actions);
                    let text = format::actions(id, &actions);
                    for line in text.lines() {
                        self.note(line.to_string());
                    }
                }
            }
            750..=839 => {
                let id = self.random_node();
                let count = 1 + self.rng.below(3) as usize;
                // The snapshot file and the log are synced independently.
                if self.rng.chance(250) {
                    self.cluster.sync_snapshot(id);
                } else {
                    self.cluster.sync_some(id, count).map_err(fatal)?;
                }
            }
            840..=854 => self.propose()?,
            855..=949 => self.start_client_operation(),
            950..=954 if self.config.partitions => self.toggle_partition(),
            955..=964 if self.config.crashes => self.crash_or_restart()?,
            965..=972 if self.config.reconfigure => self.transfer(),
            973..=999 if self.config.reconfigure => self.change_membership(),
            _ => {}
        }
        Ok(())
    }

    /// A random client starts a random operation on a random key (if idle).
    fn start_client_operation(&mut self) {
        let client = self.rng.below(CLIENTS as u64) as usize;
        let (choice, key, fallback) = (
            self.rng.next_u64(),
            self.rng.below(workload::KEYS),
            self.random_node(),
        );
        self.clients
            .start(&mut self.cluster, client, choice, key, fallback, self.now);
    }

    /// Ticks one random node; with lease reads, every running node on one
    /// clock instead, as often as each would tick on its own.
    fn tick(&mut self) -> Result<(), ordo_core::Error> {
        if !self.config.lease_reads {
            let id = self.random_node();
            return self.cluster.tick(id);
        }
        if self.rng.below(self.total_nodes()) == 0 {
            for id in self.cluster.running() {
                self.cluster.tick(id)?;
            }
        }
        Ok(())
    }

    /// Routes what a node did to the clients and the counters.
    fn observe(&mut self, id: NodeId, actions: &ordo_core::Actions) {
        self.snapshots_installed += usize::from(actions.install_snapshot.is_some());
        for read in &actions.reads {
            self.clients
                .read_ready(id, read.request_id, read.read_index);
            self.coordination
                .read_ready(id, read.request_id, read.read_index);
        }
        for &request_id in &actions.failed_reads {
            self.clients.read_failed(id, request_id);
            self.coordination.read_failed(id, request_id);
        }
    }

    /// Gives every message sent since the last call its delivery time: now
    /// plus its link's delay, drawn from that link's own distribution.
    fn schedule_new_messages(&mut self) {
        self.due.truncate(self.cluster.network.len());
        for at in self.due.len()..self.cluster.network.len() {
            let link = (self.cluster.network[at].from, self.cluster.network[at].to);
            let (base, jitter) = match self.links.get(&link) {
                Some(&profile) => profile,
                None => {
                    let base = self.rng.below(8);
                    let profile = (base, self.rng.below(base + 4));
                    self.links.insert(link, profile);
                    profile
                }
            };
            let mut delay = base + self.rng.below(jitter + 1);
            // A straggler: in a storm, a few messages are held for several
            // election timeouts (a stuck connection, a retransmission long
            // after the fact) and arrive when their sender has moved on.
            if self.storm && self.rng.chance(STRAGGLER_PER_MILLE) {
                delay += STRAGGLER_MIN_STEPS + self.rng.below(STRAGGLER_MIN_STEPS * 4);
            }
            self.due.push(self.now + delay);
        }
    }

    /// Delivers (or loses, or duplicates) one random message among those due.
    fn deliver_random(&mut self) -> Result<(), String> {
        self.schedule_new_messages();
        let ready: Vec<usize> = (0..self.due.len())
            .filter(|&i| self.due[i] <= self.now)
            .collect();
        if ready.is_empty() {
            return Ok(());
        }
        let at = ready[self.rng.below(ready.len() as u64) as usize];
        let message = if self.rng.chance(50) {
            self.cluster.network[at].clone() // duplicated: delivered now and again later
        } else {
            self.due.remove(at);
            self.cluster.network.remove(at)
        };
        if self.storm && self.rng.chance(self.config.loss_per_mille) {
            self.note(format!("lose {}", format::message(&message)));
            return Ok(());
        }
        self.note(format!("deliver {}", format::message(&message)));
        self.cluster
            .deliver_one(message)
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    fn propose(&mut self) -> Result<(), String> {
        let leader = self.cluster.running().into_iter().find(|&id| {
            self.cluster
                .raft(id)
                .is_some_and(|r| r.role() == Role::Leader)
        });
        let id = leader.unwrap_or_else(|| self.random_node());
        self.proposals += 1;
        let command = Bytes::from(format!("c{}", self.proposals));
        match self.cluster.propose(id, vec![command]) {
            Ok(p) => self.note(format!(
                "propose on {id}: accepted at {}@{}",
                p.first_index, p.term
            )),
            Err(e) => self.note(format!("propose on {id}: {e}")),
        }
        Ok(())
    }

    fn transfer(&mut self) {
        let Some(leader) = self.leader() else { return };
        let target = self.random_node();
        let outcome = self.cluster.transfer_leadership(leader, target);
        self.transfers += usize::from(outcome.is_ok() && target != leader);
        self.note(format!("transfer {leader} -> {target}: {outcome:?}"));
    }

    /// A random change the leader may or may not accept: a learner joins, a
    /// learner is promoted, a member leaves, or several voters change at once
    /// (joint consensus).
    fn change_membership(&mut self) {
        let Some(leader) = self.leader() else { return };
        let Some(current) = self.cluster.raft(leader).map(|r| r.membership().clone()) else {
            return;
        };
        let id = self.random_node();
        let change = match self.rng.below(4) {
            0 => MembershipChange::AddLearner(id),
            1 => MembershipChange::AddVoter(id),
            2 => MembershipChange::Remove(id),
            _ => {
                let voters: BTreeSet<NodeId> = (1..=self.total_nodes())
                    .filter(|_| self.rng.chance(500))
                    .collect();
                let learners = current.learners.difference(&voters).copied().collect();
                MembershipChange::Replace { voters, learners }
            }
        };
        // While a node is under repair, only changes that keep a quorum
        // without it: adding members (a new voter adds one to the healthy
        // side too) or removing one under repair. Others could leave too
        // few healthy voters to elect anyone (see `tail_loss_survivable`).
        let shrinks_the_healthy = match &change {
            MembershipChange::AddLearner(_) | MembershipChange::AddVoter(_) => false,
            MembershipChange::Remove(id) => !self.is_repairing(*id),
            _ => true,
        };
        if shrinks_the_healthy && !self.no_node_repairing() {
            return;
        }
        let outcome = self.cluster.change_membership(leader, change.clone());
        self.membership_changes += usize::from(outcome.is_ok());
        self.note(format!("change on {leader}: {change:?} -> {outcome:?}"));
    }

    fn toggle_partition(&mut self) {
        if self.cluster.cut_links.is_empty() && self.rng.chance(300) {
            let (from, to) = (self.random_node(), self.random_node());
            self.note(format!("cut the link {from} -> {to} (one way)"));
            self.cluster.cut_links.insert((from, to));
        } else if self.cluster.cut_links.is_empty() {
            let side: BTreeSet<NodeId> = (1..=self.total_nodes())
                .filter(|_| self.rng.chance(400))
                .collect();
            self.note(format!("partition {side:?} from the rest"));
            self.cluster.partition(&side);
        } else {
            self.note("heal".to_string());
            self.cluster.heal();
        }
    }

    fn crash_or_restart(&mut self) -> Result<(), String> {
        let id = self.random_node();
        if self.cluster.raft(id).is_some() && self.rng.chance(250) && self.tail_loss_survivable() {
            self.lose_synced_tail(id);
        } else if self.cluster.raft(id).is_some() {
            // Unsynced writes are lost, except that a prefix of the oldest may
            // have reached the disk anyway (a torn write cut at a record).
            let survivors = self.rng.below(4) as usize;
            self.note(format!(
                "crash {id} (up to {survivors} unsynced entries survive)"
            ));
            self.cluster.crash_torn(id, survivors);
        } else {
            self.note(format!("restart {id}"));
            self.cluster.restart(id).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Crashes `id` and cuts 1–12 synced entries from the end of its log (a
    /// flipped bit or cut in the last, acknowledged WAL record); it restarts
    /// later with a repair point at its former last index. The leader, if
    /// another node, crashes with it (a power cut of both, the issue's
    /// scenario): then only the repair point keeps `id` from electing a node
    /// that lacks what it lost.
    fn lose_synced_tail(&mut self, id: NodeId) {
        // The follower with the longest durable log most likely acknowledged
        // what it is about to lose.
        let leader = self.leader();
        let id = self
            .cluster
            .running()
            .into_iter()
            .filter(|&other| Some(other) != leader)
            .max_by_key(|other| self.cluster.nodes.get(other).map(|n| n.disk().last_index()))
            .unwrap_or(id);
        if let Some(leader) = self.leader().filter(|&leader| leader != id) {
            self.note(format!("crash {leader} (the leader, with {id})"));
            self.cluster.crash(leader);
        }
        let last = self
            .cluster
            .nodes
            .get(&id)
            .map_or(0, |node| node.disk().last_index());
        let keep = last.saturating_sub(1 + self.rng.below(12));
        match self.cluster.lose_synced_tail(id, keep) {
            Some(point) => {
                self.tail_losses += 1;
                self.note(format!(
                    "crash {id}, losing its synced log after {keep} (repair point {point})"
                ));
            }
            None => self.note(format!("crash {id} (nothing synced to lose)")),
        }
    }

    /// True when `id` holds a repair point.
    fn is_repairing(&self, id: NodeId) -> bool {
        self.cluster
            .nodes
            .get(&id)
            .is_some_and(|node| node.repair_point.is_some())
    }

    /// True when no node holds a repair point.
    fn no_node_repairing(&self) -> bool {
        self.cluster
            .nodes
            .values()
            .all(|node| node.repair_point.is_none())
    }

    /// True when the group can recover from one node losing its log's tail
    /// by itself: no node is under repair yet, and every configuration any
    /// node's log (or snapshot) holds, crashed nodes included, has at least
    /// three voters and is not joint, so the others still make a quorum
    /// whichever of them wins. (A node under repair withholds its vote by
    /// design; a group that needs it to elect anyone waits for an operator,
    /// which the run's liveness check would count as a failure.)
    fn tail_loss_survivable(&self) -> bool {
        self.no_node_repairing()
            && self.cluster.nodes.keys().all(|&id| {
                let membership = self.latest_membership(id);
                membership.voters.is_empty()
                    || (!membership.is_joint() && membership.voters.len() >= 3)
            })
    }

    /// True when no leader can be elected by design: for every node outside
    /// repair, in the configuration its own log holds last, the voters that
    /// would grant it their vote (outside repair, log no more up to date)
    /// make no majority (of either half, when joint). Every election then
    /// needs a vote a node under repair withholds, and the group waits for
    /// an operator. The injection gate (`tail_loss_survivable`) makes this
    /// rare (a configuration entry the victim lost may have been durable
    /// nowhere else).
    fn waits_for_an_operator(&self) -> bool {
        let repairing: BTreeSet<NodeId> = self
            .cluster
            .nodes
            .iter()
            .filter(|(_, node)| node.repair_point.is_some())
            .map(|(&id, _)| id)
            .collect();
        if repairing.is_empty() {
            return false;
        }
        let last_entry = |id: NodeId| {
            let entries = self.cluster.log_entries(id);
            entries.last().map_or((0, 0), |e| (e.term, e.index))
        };
        let electable = |candidate: NodeId| {
            let membership = self.latest_membership(candidate);
            let own_last = last_entry(candidate);
            let majority_grants = |voters: &BTreeSet<NodeId>| {
                let granting = voters
                    .iter()
                    .filter(|&&v| !repairing.contains(&v) && last_entry(v) <= own_last)
                    .count();
                voters.is_empty() || granting > voters.len() / 2
            };
            membership.is_voter(candidate)
                && majority_grants(&membership.voters)
                && majority_grants(&membership.outgoing_voters)
        };
        !self
            .cluster
            .nodes
            .keys()
            .any(|&id| !repairing.contains(&id) && electable(id))
    }

    /// The newest configuration in `id`'s log, or else its snapshot's, or
    /// the one it started with.
    fn latest_membership(&self, id: NodeId) -> Membership {
        let logged = self
            .cluster
            .log_entries(id)
            .into_iter()
            .rev()
            .find_map(|entry| match entry.payload {
                EntryPayload::Membership(membership) => Some(membership),
                _ => None,
            });
        let node = self.cluster.nodes.get(&id);
        logged
            .or_else(|| node.and_then(|n| n.snapshot.as_ref().map(|(m, _)| m.membership.clone())))
            .or_else(|| node.map(|n| n.base_membership.clone()))
            .unwrap_or_default()
    }

    /// One step of the calm after the faults: every node ticks once, then
    /// everything runs until quiet. Returns the nodes that started an
    /// election meanwhile.
    fn calm_step(&mut self) -> Result<BTreeSet<NodeId>, String> {
        let fatal = |e: ordo_core::Error| e.to_string();
        for id in 1..=self.total_nodes() {
            self.cluster.tick(id).map_err(fatal)?;
        }
        self.cluster.auto_sync = true;
        self.now += 1;
        let mut campaigned = BTreeSet::new();
        for round in self.cluster.stabilize(50).map_err(fatal)? {
            for (id, actions) in &round.actions {
                self.observe(*id, actions);
                let started = |e: &Event| matches!(e, Event::ElectionStarted { .. });
                if actions.events.iter().any(started) {
                    campaigned.insert(*id);
                }
            }
        }
        self.coordination.step(&mut self.cluster, self.now);
        self.clients
            .poll(&self.cluster, self.coordination.replicas(), self.now);
        self.start_client_operation();
        self.checker.check_cluster(&self.cluster)?;
        self.coordination
            .observe_commits(self.checker.committed(), self.now);
        Ok(campaigned)
    }

    /// Once the group commits again after the heal, a node its committed
    /// configuration leaves out must learn that it was removed (issue 11):
    /// after [`REMOVAL_LEARNING_STEPS`], none may start an election for as
    /// long again. Before the fix, one that missed the message telling it
    /// campaigned forever. Exempt: a node whose own configuration names no
    /// member of the group (the whole group was replaced while it was cut
    /// off), which asks only nodes that cannot tell it.
    fn removed_nodes_fall_silent(&mut self) -> Result<(), String> {
        for step in 0..2 * REMOVAL_LEARNING_STEPS {
            let Some(members) = self.group_members() else {
                self.calm_step()?;
                continue;
            };
            let outside: Vec<NodeId> = (1..=self.total_nodes())
                .filter(|id| !members.contains(id) && self.may_still_campaign(*id, &members))
                .collect();
            if outside.is_empty() {
                return Ok(()); // nobody left to learn it (the usual case: stop early)
            }
            let campaigned = self.calm_step()?;
            if step < REMOVAL_LEARNING_STEPS {
                continue;
            }
            if let Some(id) = outside.iter().find(|id| campaigned.contains(id)) {
                let status = self.cluster.raft(*id).map(|r| format::status(&r.status()));
                return Err(format!(
                    "removed node {id} still campaigns {REMOVAL_LEARNING_STEPS} steps after the \
                     group committed again without it (members {members:?}); it is {}",
                    status.unwrap_or_default()
                ));
            }
        }
        Ok(())
    }

    /// The members of the leader's configuration, if a node leads.
    fn group_members(&self) -> Option<BTreeSet<NodeId>> {
        let leader = self.leader()?;
        self.cluster.raft(leader).map(|r| r.membership().members())
    }

    /// True if `id`, outside the group, does not know it was removed and
    /// could be told: its own configuration names a voter that is still a
    /// member (one that names only departed nodes asks nobody who could
    /// tell it).
    fn may_still_campaign(&self, id: NodeId, members: &BTreeSet<NodeId>) -> bool {
        self.cluster.raft(id).is_some_and(|r| {
            let own = r.membership();
            let reaches_the_group = own
                .voters
                .iter()
                .chain(&own.outgoing_voters)
                .any(|v| members.contains(v));
            !r.status().removed && reaches_the_group
        })
    }

    /// After the faults: heal, restart everyone, and require a new entry to
    /// commit everywhere within the step budget.
    fn liveness(&mut self) -> Result<(), String> {
        self.note("faults stop: heal and restart every node".to_string());
        self.cluster.heal();
        for id in 1..=self.total_nodes() {
            self.cluster.restart(id).map_err(|e| e.to_string())?;
        }
        let mut proposed_at = None;
        for _ in 0..self.config.liveness_steps {
            self.calm_step()?;
            let Some(leader) = self.leader() else {
                continue;
            };
            let term = self.cluster.raft(leader).map_or(0, |r| r.status().term);
            // A proposal accepted by a leader that lost its term may be
            // dropped; propose again to each new leader.
            if proposed_at.is_none_or(|(_, proposal_term)| proposal_term != term) {
                if let Ok(p) = self
                    .cluster
                    .propose(leader, vec![Bytes::from_static(b"liveness")])
                {
                    proposed_at = Some((p.first_index, p.term));
                }
                continue;
            }
            let Some((index, _)) = proposed_at else {
                continue;
            };
            // Every member of the leader's configuration must apply it; nodes
            // removed from the group need not.
            let members = self
                .cluster
                .raft(leader)
                .map(|r| r.membership().members())
                .unwrap_or_default();
            let everywhere = members.iter().all(|&id| {
                self.cluster
                    .raft(id)
                    .is_some_and(|r| r.status().applied_index >= index)
            });
            if everywhere {
                return self.removed_nodes_fall_silent();
            }
        }
        if self.waits_for_an_operator() {
            self.waited_for_operator = true;
            self.note("no leader: the nodes under repair are needed for every quorum".to_string());
            return Ok(());
        }
        let states: Vec<String> = (1..=self.total_nodes())
            .filter_map(|id| {
                self.cluster.raft(id).map(|r| {
                    format!(
                        "{} {}",
                        format::status(&r.status()),
                        format::membership(r.membership())
                    )
                })
            })
            .collect();
        Err(format!(
            "liveness: no entry committed on every node within {} steps after the faults stopped; nodes: {}",
            self.config.liveness_steps,
            states.join(" | ")
        ))
    }
}
