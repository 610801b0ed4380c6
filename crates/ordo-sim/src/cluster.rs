//! A cluster of `ordo-core` nodes on a simulated network and simulated disks.
//!
//! Nothing here happens on its own: every tick, delivery, disk sync, crash and
//! restart is an explicit call, so a scenario or a seeded random run decides
//! the interleaving, and the same calls always give the same outcome.
//!
//! Disks: a node's persist actions wait in `pending_writes` until
//! [`Cluster::sync`] makes them durable (written to the node's [`MemoryLog`],
//! then reported with `persisted`). Received snapshot chunks go to a separate
//! file and wait in `pending_snapshot_writes` until
//! [`Cluster::sync_snapshot`]. A crash loses pending writes of both kinds and
//! all volatile state, exactly what a power cut does to a process that had not
//! fsynced.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use crate::snapshots;
use ordo_core::{
    Actions, ChangeError, Config, Entry, Error, Event, Index, InitialState, LogRead, LogReadError,
    Membership, MembershipChange, MemoryLog, Message, NodeId, PartialSnapshot, Persist, Proposal,
    ProposeError, Raft, ReadError, ReadMode, SnapshotContent, SnapshotMeta, SnapshotWrite,
    StartError, TransferError,
};

/// One simulated node: a core, its disk and its (in-memory) state machine.
#[derive(Debug)]
pub struct SimNode {
    /// The running core, or `None` while crashed.
    pub raft: Option<Raft<MemoryLog>>,
    /// The durable disk while crashed (the running core owns it otherwise).
    disk: Option<MemoryLog>,
    /// Persist actions handed out but not yet durable.
    pub pending_writes: VecDeque<Persist>,
    /// Received snapshot chunks handed out but not yet durable.
    pub pending_snapshot_writes: VecDeque<SnapshotWrite>,
    /// Every entry the state machine applied since the last restart, in order.
    pub applied: Vec<Entry>,
    /// The node's configuration.
    pub config: Config,
    /// The membership it was created with (its log holds any later one).
    pub base_membership: Membership,
    /// How many times the node was restarted: volatile state (commit index,
    /// applied entries) starts over with each incarnation.
    pub incarnation: u64,
    /// The newest snapshot of its state machine, durable.
    pub snapshot: Option<(SnapshotMeta, Bytes)>,
    /// A snapshot partly received from a leader, durable, with the content
    /// the leader announced for it.
    pub partial_snapshot: Option<(SnapshotMeta, SnapshotContent, Vec<u8>)>,
    /// Received snapshots discarded because their data did not have the
    /// content announced.
    pub snapshots_rejected: u64,
    /// The durable repair point: its disk lost entries it had acknowledged,
    /// up to here (see [`Cluster::lose_synced_tail`]). Handed to the core at
    /// each restart until the core reports the repair finished.
    pub repair_point: Option<Index>,
}

impl SimNode {
    /// A node just started with an empty disk.
    fn started(raft: Raft<MemoryLog>, config: Config, base_membership: Membership) -> Self {
        SimNode {
            raft: Some(raft),
            disk: None,
            pending_writes: VecDeque::new(),
            pending_snapshot_writes: VecDeque::new(),
            applied: Vec::new(),
            config,
            base_membership,
            incarnation: 0,
            snapshot: None,
            partial_snapshot: None,
            snapshots_rejected: 0,
            repair_point: None,
        }
    }

    /// The durable log, running or crashed.
    pub fn disk(&self) -> &MemoryLog {
        match (&self.raft, &self.disk) {
            (Some(raft), _) => raft.log_store(),
            (None, Some(disk)) => disk,
            (None, None) => unreachable!("a node always has a disk"),
        }
    }
}

/// What happened to one message offered for delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Stepped into the receiver.
    Delivered(Message),
    /// Lost: the link is cut or the receiver is down.
    Dropped(Message),
}

/// A whole group.
#[derive(Debug)]
pub struct Cluster {
    /// Every node, by id.
    pub nodes: BTreeMap<NodeId, SimNode>,
    /// Messages sent and not yet delivered or dropped, in send order.
    pub network: Vec<Message>,
    /// Directed links that lose every message: (from, to).
    pub cut_links: BTreeSet<(NodeId, NodeId)>,
    /// Sync every write as soon as it is handed out (a disk with no latency).
    pub auto_sync: bool,
}

impl Cluster {
    /// Nodes `1..=count`, all voters, each configured by `configure(id)`.
    ///
    /// # Errors
    /// The core's [`ordo_core::StartError`] for a bad configuration.
    pub fn new(
        count: u64,
        configure: impl Fn(NodeId) -> Config,
    ) -> Result<Self, ordo_core::StartError> {
        let membership = Membership::with_voters(1..=count);
        let mut nodes = BTreeMap::new();
        for id in 1..=count {
            let config = configure(id);
            let initial = InitialState {
                membership: membership.clone(),
                ..InitialState::default()
            };
            let raft = Raft::new(config.clone(), MemoryLog::new(), initial)?;
            nodes.insert(id, SimNode::started(raft, config, membership.clone()));
        }
        Ok(Cluster {
            nodes,
            network: Vec::new(),
            cut_links: BTreeSet::new(),
            auto_sync: true,
        })
    }

    /// The running core of `id`, if it is up.
    pub fn raft(&self, id: NodeId) -> Option<&Raft<MemoryLog>> {
        self.nodes.get(&id).and_then(|n| n.raft.as_ref())
    }

    fn raft_mut(&mut self, id: NodeId) -> Option<&mut Raft<MemoryLog>> {
        self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut())
    }

    /// Ids of the nodes that are up.
    pub fn running(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.raft.is_some())
            .map(|(&id, _)| id)
            .collect()
    }

    /// Ticks `id` once. A crashed node ignores it.
    ///
    /// # Errors
    /// A fatal core error.
    pub fn tick(&mut self, id: NodeId) -> Result<(), Error> {
        match self.raft_mut(id) {
            Some(raft) => raft.tick(),
            None => Ok(()),
        }
    }

    /// Asks `id` to campaign now.
    ///
    /// # Errors
    /// A fatal core error.
    pub fn campaign(&mut self, id: NodeId) -> Result<(), Error> {
        match self.raft_mut(id) {
            Some(raft) => raft.campaign(),
            None => Ok(()),
        }
    }

    /// Proposes `commands` on `id`.
    ///
    /// # Errors
    /// The core's answer; a crashed node answers `NotLeader`.
    pub fn propose(&mut self, id: NodeId, commands: Vec<Bytes>) -> Result<Proposal, ProposeError> {
        match self.raft_mut(id) {
            Some(raft) => raft.propose(commands),
            None => Err(ProposeError::NotLeader { leader: None }),
        }
    }

    /// Asks `id` for linearizable reads.
    ///
    /// # Errors
    /// The core's answer; a crashed node has no leader.
    pub fn read_index(
        &mut self,
        id: NodeId,
        request_ids: Vec<u64>,
        mode: ReadMode,
    ) -> Result<(), ReadError> {
        match self.raft_mut(id) {
            Some(raft) => raft.read_index(request_ids, mode),
            None => Err(ReadError::NoLeader),
        }
    }

    /// Asks `id` to hand leadership to `target`.
    ///
    /// # Errors
    /// The core's answer; a crashed node is not a leader.
    pub fn transfer_leadership(&mut self, id: NodeId, target: NodeId) -> Result<(), TransferError> {
        match self.raft_mut(id) {
            Some(raft) => raft.transfer_leadership(target),
            None => Err(TransferError::NotLeader { leader: None }),
        }
    }

    /// Takes `id`'s actions and carries them out: writes queue on its disk,
    /// messages enter the network, committed entries are applied. With
    /// `auto_sync`, writes become durable at once, and the actions that
    /// releases (held responses, commits) are taken and carried out too.
    /// Returns each batch of actions, for inspection.
    ///
    /// # Errors
    /// A fatal core error.
    pub fn process(&mut self, id: NodeId) -> Result<Vec<Actions>, Error> {
        let mut batches = Vec::new();
        // Each round either syncs a write or finds nothing; a bound keeps a
        // confused core from spinning forever.
        for _ in 0..16 {
            if self.auto_sync {
                // Writes left pending while auto-sync was off count too.
                self.sync(id)?;
                self.sync_snapshot(id);
            }
            let actions = self.process_once(id)?;
            if actions.is_empty() {
                break;
            }
            batches.push(actions);
            if !self.auto_sync {
                break;
            }
        }
        Ok(batches)
    }

    fn process_once(&mut self, id: NodeId) -> Result<Actions, Error> {
        let Some(node) = self.nodes.get_mut(&id) else {
            return Ok(Actions::default());
        };
        let Some(raft) = node.raft.as_mut() else {
            return Ok(Actions::default());
        };
        let actions = raft.take_actions()?;
        // The core reached the repair point: the disk may forget it.
        if actions
            .events
            .iter()
            .any(|event| matches!(event, Event::RepairFinished { .. }))
        {
            node.repair_point = None;
        }
        if let Some(persist) = &actions.persist {
            node.pending_writes.push_back(persist.clone());
        }
        self.network.extend(actions.messages.iter().cloned());
        node.pending_snapshot_writes
            .extend(actions.snapshot_writes.iter().cloned());
        // Actions may be carried out in any order: snapshot work (an install
        // included) goes before applying, the order more likely to expose a
        // batch that needs another.
        carry_out_snapshot_actions(node, &actions)?;
        if let Some(last) = actions.apply.last()
            && let Some(raft) = node.raft.as_mut()
        {
            node.applied.extend(actions.apply.iter().cloned());
            raft.applied(last.index);
        }
        Ok(actions)
    }

    /// Makes every received snapshot chunk `id` was asked to write durable,
    /// in order, and reports each.
    pub fn sync_snapshot(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        let Some(raft) = node.raft.as_mut() else {
            return;
        };
        while let Some(write) = node.pending_snapshot_writes.pop_front() {
            let partial = node
                .partial_snapshot
                .get_or_insert_with(|| (write.meta.clone(), write.content, Vec::new()));
            if write.offset == 0 {
                *partial = (write.meta.clone(), write.content, Vec::new());
            }
            // The real driver refuses a chunk of another transfer than the
            // one it holds (it stops the node): a core that asked for one
            // must not pass here unnoticed. Index, term and content are what
            // the core matches; the membership is not compared, because this
            // simulator derives a snapshot's membership from each node's own
            // starting configuration, so two leaders' metas of one index can
            // differ in it here (seed 106649, 5 nodes), where a real state
            // machine's cannot.
            assert!(
                (partial.0.index, partial.0.term, partial.1)
                    == (write.meta.index, write.meta.term, write.content),
                "a snapshot chunk written onto another transfer's partial snapshot"
            );
            assert_eq!(
                partial.2.len() as u64,
                write.offset,
                "snapshot chunks must arrive in order"
            );
            partial.2.extend_from_slice(&write.data);
            let end = write.offset + write.data.len() as u64;
            // A real store checks the finished data against the announced
            // content before publishing it. The planted splice bug turns
            // this off too, so that the invariants must catch a splice.
            let checked = !ordo_core::planted_bugs().contains(&"splice-snapshot");
            if write.done && checked && snapshots::content(&partial.2) != write.content {
                node.partial_snapshot = None;
                node.snapshots_rejected += 1;
                raft.snapshot_chunk_rejected(write.meta.index, end);
                continue;
            }
            raft.snapshot_chunk_written(write.meta.index, end);
        }
    }

    /// Makes every pending write of `id` durable and reports it.
    ///
    /// # Errors
    /// A fatal core error.
    pub fn sync(&mut self, id: NodeId) -> Result<(), Error> {
        self.sync_some(id, usize::MAX)
    }

    /// Makes the oldest `count` pending writes of `id` durable and reports them.
    ///
    /// # Errors
    /// A fatal core error.
    pub fn sync_some(&mut self, id: NodeId, count: usize) -> Result<(), Error> {
        let Some(node) = self.nodes.get_mut(&id) else {
            return Ok(());
        };
        let Some(raft) = node.raft.as_mut() else {
            return Ok(());
        };
        let mut last_id = None;
        for _ in 0..count {
            let Some(persist) = node.pending_writes.pop_front() else {
                break;
            };
            raft.log_store_mut().apply(&persist);
            last_id = Some(persist.id);
        }
        match last_id {
            Some(last_id) => raft.persisted(last_id),
            None => Ok(()),
        }
    }

    /// Offers the queued messages selected by `select` for delivery, in send
    /// order; the rest stay queued. Messages on cut links or to crashed nodes
    /// are dropped.
    ///
    /// # Errors
    /// A fatal core error in a receiver.
    pub fn deliver(&mut self, select: impl Fn(&Message) -> bool) -> Result<Vec<Delivery>, Error> {
        let (chosen, kept): (Vec<Message>, Vec<Message>) = std::mem::take(&mut self.network)
            .into_iter()
            .partition(&select);
        self.network = kept;
        let mut outcomes = Vec::with_capacity(chosen.len());
        for message in chosen {
            outcomes.push(self.deliver_one(message)?);
        }
        Ok(outcomes)
    }

    /// Delivers (or drops) one message now.
    ///
    /// # Errors
    /// A fatal core error in the receiver.
    pub fn deliver_one(&mut self, message: Message) -> Result<Delivery, Error> {
        if self.cut_links.contains(&(message.from, message.to)) {
            return Ok(Delivery::Dropped(message));
        }
        match self.raft_mut(message.to) {
            Some(raft) => {
                raft.step(message.clone())?;
                Ok(Delivery::Delivered(message))
            }
            None => Ok(Delivery::Dropped(message)),
        }
    }

    /// Cuts both directions between every node of `side` and every other node.
    pub fn partition(&mut self, side: &BTreeSet<NodeId>) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for &a in side {
            for &b in ids.iter().filter(|b| !side.contains(b)) {
                self.cut_links.insert((a, b));
                self.cut_links.insert((b, a));
            }
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut_links.clear();
    }

    /// Crashes `id`: pending writes and all volatile state are lost; the disk
    /// survives. Messages to it that are delivered while it is down are lost.
    pub fn crash(&mut self, id: NodeId) {
        self.crash_torn(id, 0);
    }

    /// Crashes `id` like [`Cluster::crash`], except that the hard state and
    /// the first `surviving_entries` entries of its oldest unsynced write reach
    /// the disk anyway: what a power cut leaves when part of a write made it
    /// out and the log cut the torn record that followed.
    pub fn crash_torn(&mut self, id: NodeId, surviving_entries: usize) {
        if surviving_entries > 0
            && let Some(node) = self.nodes.get_mut(&id)
            && let Some(raft) = node.raft.as_mut()
            && let Some(first) = node.pending_writes.front()
        {
            let torn = Persist {
                id: first.id,
                hard_state: first.hard_state,
                entries: first
                    .entries
                    .iter()
                    .take(surviving_entries)
                    .cloned()
                    .collect(),
            };
            raft.log_store_mut().apply(&torn);
        }
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        let Some(raft) = node.raft.take() else { return };
        node.disk = Some(raft.log_store().clone());
        node.pending_writes.clear();
        node.pending_snapshot_writes.clear();
        // The state machine restarts from its snapshot, if any.
        node.applied = node
            .snapshot
            .as_ref()
            .and_then(|(_, data)| snapshots::decode(data).ok())
            .unwrap_or_default();
    }

    /// Crashes `id` and then cuts its durable log to end at `keep_through`
    /// (or at its newest snapshot's index, if later: the entries a snapshot
    /// covers are not lost with the log): a storage fault that lost synced,
    /// possibly acknowledged entries, such as a flipped bit in the last WAL
    /// record that recovery cuts as if it were torn. The disk records a
    /// repair point at the former last index, which every restart hands to
    /// the core until the log is repaired. Returns the repair point, or
    /// `None` when nothing was lost.
    pub fn lose_synced_tail(&mut self, id: NodeId, keep_through: Index) -> Option<Index> {
        self.crash(id);
        let node = self.nodes.get_mut(&id)?;
        let snapshot_index = node.snapshot.as_ref().map_or(0, |(meta, _)| meta.index);
        let disk = node.disk.as_mut()?;
        let last = disk.last_index();
        let keep_through = keep_through.max(disk.first_index() - 1).max(snapshot_index);
        if keep_through >= last {
            return None;
        }
        disk.lose_entries_after(keep_through);
        let point = node.repair_point.map_or(last, |p| p.max(last));
        node.repair_point = Some(point);
        Some(point)
    }

    /// Adds a new, empty node `id` that knows no members: it waits for a
    /// leader to add it and replicate to it.
    ///
    /// # Errors
    /// The core's start error for a bad configuration.
    pub fn add_node(&mut self, id: NodeId, config: Config) -> Result<(), StartError> {
        let raft = Raft::new(config.clone(), MemoryLog::new(), InitialState::default())?;
        self.nodes
            .insert(id, SimNode::started(raft, config, Membership::default()));
        Ok(())
    }

    /// Asks leader `id` to change the membership.
    ///
    /// # Errors
    /// The core's answer; a crashed node is not a leader.
    pub fn change_membership(
        &mut self,
        id: NodeId,
        change: MembershipChange,
    ) -> Result<Proposal, ChangeError> {
        match self.raft_mut(id) {
            Some(raft) => raft.change_membership(change),
            None => Err(ChangeError::NotLeader { leader: None }),
        }
    }

    /// Replaces the disk of a crashed `id` (to set up a scenario's logs).
    pub fn replace_disk(&mut self, id: NodeId, disk: MemoryLog) {
        if let Some(node) = self.nodes.get_mut(&id)
            && node.raft.is_none()
        {
            node.disk = Some(disk);
        }
    }

    /// Restarts a crashed `id` from its disk.
    ///
    /// # Errors
    /// The core's start error (a storage read failure; the configuration
    /// cannot be wrong for a node that started once).
    pub fn restart(&mut self, id: NodeId) -> Result<(), ordo_core::StartError> {
        let Some(node) = self.nodes.get_mut(&id) else {
            return Ok(());
        };
        let Some(disk) = node.disk.take() else {
            return Ok(());
        };
        let snapshot = node.snapshot.as_ref().map(|(meta, _)| meta.clone());
        let initial = InitialState {
            hard_state: disk.hard_state(),
            membership: snapshot
                .as_ref()
                .map_or_else(|| node.base_membership.clone(), |m| m.membership.clone()),
            applied: snapshot.as_ref().map_or(0, |m| m.index),
            snapshot,
            partial_snapshot: node.partial_snapshot.as_ref().map(|(meta, content, data)| {
                PartialSnapshot {
                    meta: meta.clone(),
                    content: *content,
                    received_bytes: data.len() as u64,
                }
            }),
        };
        let mut raft = Raft::new(node.config.clone(), disk, initial)?;
        if let Some(point) = node.repair_point {
            raft.begin_repair(point);
        }
        node.raft = Some(raft);
        node.incarnation += 1;
        Ok(())
    }

    /// Runs every node's actions and delivers every message, over and over,
    /// until nothing is left to do (or `max_rounds` pass). Returns, per round,
    /// what each node did and what was delivered.
    ///
    /// # Errors
    /// A fatal core error.
    pub fn stabilize(&mut self, max_rounds: usize) -> Result<Vec<Round>, Error> {
        let mut rounds = Vec::new();
        for _ in 0..max_rounds {
            let mut round = Round::default();
            for id in self.running() {
                for actions in self.process(id)? {
                    round.actions.push((id, actions));
                }
            }
            round.deliveries = self.deliver(|_| true)?;
            if round.actions.is_empty() && round.deliveries.is_empty() {
                break;
            }
            rounds.push(round);
        }
        Ok(rounds)
    }

    /// Every entry of `id`'s log as the node sees it (durable or not).
    pub fn log_entries(&self, id: NodeId) -> Vec<Entry> {
        let Some(raft) = self.raft(id) else {
            let Some(node) = self.nodes.get(&id) else {
                return Vec::new();
            };
            let disk = node.disk();
            return disk
                .entries(disk.first_index(), disk.last_index() + 1, u64::MAX)
                .unwrap_or_default();
        };
        let last = raft.status().last_index;
        let first = raft.log_store().first_index();
        raft.entries(first, last + 1).unwrap_or_default()
    }
}

/// Carries out the snapshot work in `actions`: build, compact, read chunks for
/// peers, install. (Received chunks wait for [`Cluster::sync_snapshot`].)
fn carry_out_snapshot_actions(node: &mut SimNode, actions: &Actions) -> Result<(), Error> {
    let Some(raft) = node.raft.as_mut() else {
        return Ok(());
    };
    if actions.build_snapshot.is_some() {
        match snapshots::meta(&node.applied, &node.base_membership) {
            Some(meta) => {
                node.snapshot = Some((
                    meta.clone(),
                    snapshots::encode(
                        node.config.node_id.saturating_sub(1) + node.incarnation,
                        &node.applied,
                    ),
                ));
                raft.snapshot_built(meta)?;
            }
            None => raft.snapshot_build_failed(),
        }
    }
    if let Some(through) = actions.compact_log_through {
        // The core may only ask to compact what is durable here (a snapshot
        // covers it); a core that broke that would crash a real store.
        let last = raft.log_store().last_index();
        if through > last {
            let message =
                format!("asked to compact through {through}, past the durable log's {last}");
            return Err(Error::Storage(LogReadError::Storage { message }));
        }
        raft.log_store_mut().compact(through);
    }
    for read in &actions.snapshot_reads {
        let Some((meta, data)) = &node.snapshot else {
            continue;
        };
        if meta.index != read.snapshot_index {
            continue; // an older snapshot, gone; the core asks again
        }
        let start = (read.offset as usize).min(data.len());
        let end = (start + read.max_bytes as usize).min(data.len());
        let chunk = data.slice(start..end);
        raft.snapshot_chunk_read(
            read.to,
            read.snapshot_index,
            read.offset,
            chunk,
            end == data.len(),
            snapshots::content(data),
        );
    }
    if let Some(meta) = &actions.install_snapshot {
        let Some((partial_meta, _, data)) = node.partial_snapshot.take() else {
            return Ok(());
        };
        assert_eq!(
            &partial_meta, meta,
            "installing a snapshot that was not received"
        );
        node.applied = snapshots::decode(&data)
            .map_err(|message| Error::Storage(LogReadError::Storage { message }))?;
        raft.log_store_mut().reset(meta.index, meta.term);
        node.snapshot = Some((meta.clone(), Bytes::from(data)));
        raft.snapshot_installed(meta.clone());
    }
    Ok(())
}

/// One round of [`Cluster::stabilize`].
#[derive(Debug, Default)]
pub struct Round {
    /// Non-empty actions, by node.
    pub actions: Vec<(NodeId, Actions)>,
    /// What happened to each message.
    pub deliveries: Vec<Delivery>,
}
