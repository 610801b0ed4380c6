//! Leader: replicate, commit, heartbeat, and step down without a quorum.
//!
//! Replication is pipelined: in replicate state a peer is sent appends back
//! to back, each at most `max_entries_per_message` entries and
//! `max_bytes_per_message` bytes, until its in-flight window is full.
//! Rejections carry a hint so probing skips a whole term per round trip.
//!
//! Commit (§5.3, §5.4.2): an index commits once a quorum's *durable* match
//! index reaches it and its entry is from the current term. The leader's own
//! match index is its durable index, so it counts itself only for entries on
//! its own disk, though it sends them to followers before they are.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use crate::actions::ReadReady;
use crate::entry::{Entry, EntryPayload, total_payload_bytes};
use crate::error::{ChangeError, Error, ProposeError};
use crate::event::{Event, StepDownReason};
use crate::log::{LogRead, LogReadError};
use crate::membership::{Membership, MembershipChange};
use crate::message::{
    AppendRequest, AppendResponse, Heartbeat, InstallSnapshotRequest, InstallSnapshotResponse,
    Message, MessageBody, ReadIndexResponse,
};
use crate::planted;
use crate::progress::{ProgressState, ProgressTracker, Rejection, WindowLimits};
use crate::raft::node::Node;
use crate::raft::read_only::{PendingRead, ReadOnly};
use crate::raft::{Proposal, Raft, ReadMode, RoleState};
use crate::snapshot::{SnapshotContent, SnapshotRead};
use crate::status::PeerProgress;
use crate::types::{Index, NodeId};

/// Most nodes outside the configuration a leader replicates to at once
/// (removed nodes that have not learned it yet): a bound on what nodes that
/// keep asking for votes can cost it.
pub(crate) const MAX_DEPARTED_PEERS: usize = 16;

/// What only a leader holds.
#[derive(Debug)]
pub(crate) struct LeaderState {
    tracker: ProgressTracker,
    heartbeat_elapsed_ticks: u64,
    /// Proposal batches appended but not committed: (last index, bytes).
    uncommitted: VecDeque<(Index, u64)>,
    uncommitted_bytes: u64,
    /// Ticks since this node became leader: the clock of its lease.
    ticks: u64,
    read_only: ReadOnly,
    /// A leadership transfer in progress.
    transfer: Option<Transfer>,
}

/// A leadership transfer: bring `target` up to date, then tell it to campaign.
#[derive(Clone, Copy, Debug)]
struct Transfer {
    target: NodeId,
    elapsed_ticks: u64,
    timeout_now_sent: bool,
}

impl<L: LogRead> Raft<L> {
    /// Keeps a membership change moving once its entry commits: a committed
    /// joint configuration is followed by C_new; a leader not in a committed
    /// configuration steps down.
    pub(super) fn maintain_membership(&mut self) -> Result<(), Error> {
        let RoleState::Leader(leader) = &mut self.role else {
            return Ok(());
        };
        let node = &mut self.node;
        if node.history.current_index() > node.log.committed() {
            return Ok(()); // the change is not committed yet
        }
        if node.membership.is_joint() {
            let next = node.membership.leave_joint();
            leader.append_membership(node, next)?;
            return Ok(());
        }
        // The change is complete and committed. Departed members that
        // acknowledged the entry removing them are forgotten; the others are
        // still sent it (and the commit index covering it) while they answer.
        let removed_at = node.history.current_index();
        leader.tracker.forget_departed(&node.membership, removed_at);
        if !node.membership.is_voter(node.id()) {
            let term = node.term;
            node.events.push(Event::SteppedDown {
                term,
                reason: StepDownReason::Removed,
            });
            self.become_follower(term, None);
        }
        Ok(())
    }

    /// Wins the election: track every peer, append the no-op, replicate it.
    pub(super) fn become_leader(&mut self) -> Result<(), Error> {
        let node = &mut self.node;
        assert!(!node.repairing(), "a node under repair must not lead");
        node.events.push(Event::BecameLeader {
            term: node.term,
            last_index: node.log.last_index(),
        });
        let limits = WindowLimits {
            max_messages: node.config.max_inflight_messages,
            max_bytes: node.config.max_inflight_bytes,
        };
        let mut tracker = ProgressTracker::new(
            node.id(),
            &node.membership,
            node.log.last_index() + 1,
            limits,
        );
        if let Some(own) = tracker.get_mut(node.id()) {
            own.acknowledge(node.log.durable_index());
        }
        node.leader_id = Some(node.id());
        node.election_elapsed_ticks = 0;
        let mut leader = LeaderState {
            tracker,
            heartbeat_elapsed_ticks: 0,
            uncommitted: VecDeque::new(),
            uncommitted_bytes: 0,
            ticks: 0,
            read_only: ReadOnly::default(),
            transfer: None,
        };
        node.log
            .append(vec![Entry::noop(node.log.last_index() + 1, node.term)]);
        leader.broadcast_append(node)?;
        // Removed nodes that asked us for votes learn it from our appends.
        for peer in std::mem::take(&mut node.removed_askers) {
            leader.track_departed(node, peer)?;
        }
        self.role = RoleState::Leader(Box::new(leader));
        Ok(())
    }

    /// Leader tick: heartbeats, and every minimum election timeout, the
    /// check-quorum round.
    pub(super) fn tick_leader(&mut self) -> Result<(), Error> {
        let RoleState::Leader(leader) = &mut self.role else {
            return Ok(());
        };
        let node = &mut self.node;
        node.election_elapsed_ticks += 1;
        leader.heartbeat_elapsed_ticks += 1;
        leader.ticks += 1;
        if let Some(transfer) = &mut leader.transfer {
            transfer.elapsed_ticks += 1;
            // Not done within an election timeout: give up and lead on.
            if transfer.elapsed_ticks >= node.config.election_timeout_min_ticks {
                leader.transfer = None;
            }
        }
        if node.election_elapsed_ticks >= node.config.election_timeout_min_ticks {
            node.election_elapsed_ticks = 0;
            let committed_config = node.history.current_index() <= node.log.committed();
            if committed_config && !node.membership.is_joint() {
                leader.tracker.forget_silent_departed(&node.membership);
            }
            if node.config.check_quorum {
                if !leader.tracker.quorum_recently_active() {
                    let term = node.term;
                    node.events.push(Event::SteppedDown {
                        term,
                        reason: StepDownReason::QuorumLost,
                    });
                    self.become_follower(term, None);
                    return Ok(());
                }
                leader.tracker.reset_recently_active();
            }
        }
        if leader.heartbeat_elapsed_ticks >= node.config.heartbeat_interval_ticks {
            leader.heartbeat_elapsed_ticks = 0;
            leader.broadcast_heartbeat(node);
        }
        Ok(())
    }

    pub(super) fn propose_commands(
        &mut self,
        commands: impl IntoIterator<Item = Bytes>,
    ) -> Result<Proposal, ProposeError> {
        let RoleState::Leader(leader) = &mut self.role else {
            return Err(ProposeError::NotLeader {
                leader: self.node.leader_id,
            });
        };
        if let Some(transfer) = leader.transfer {
            return Err(ProposeError::TransferInProgress {
                target: transfer.target,
            });
        }
        let node = &mut self.node;
        let (term, first_index) = (node.term, node.log.last_index() + 1);
        let entries: Vec<Entry> = commands
            .into_iter()
            .zip(first_index..)
            .map(|(command, index)| Entry::command(index, term, command))
            .collect();
        let bytes = total_payload_bytes(&entries);
        let limit_bytes = node.config.max_uncommitted_bytes;
        // An empty backlog always admits one batch, so a single proposal larger
        // than the limit cannot wedge the leader forever.
        if leader.uncommitted_bytes > 0 && leader.uncommitted_bytes + bytes > limit_bytes {
            return Err(ProposeError::Busy {
                uncommitted_bytes: leader.uncommitted_bytes,
                limit_bytes,
            });
        }
        let last_index = first_index + entries.len() as Index - 1;
        if !entries.is_empty() {
            node.log.append(entries);
            leader.uncommitted.push_back((last_index, bytes));
            leader.uncommitted_bytes += bytes;
            leader.broadcast_append(node)?;
        }
        Ok(Proposal {
            first_index,
            last_index,
            term,
        })
    }

    /// Leader step function (after the shared rules).
    pub(super) fn step_leader(&mut self, message: Message) -> Result<(), Error> {
        let RoleState::Leader(leader) = &mut self.role else {
            return Ok(());
        };
        let node = &mut self.node;
        let from = message.from;
        let Some(progress) = leader.tracker.get_mut(from) else {
            if let MessageBody::ReadIndex(request) = message.body {
                // A node outside the group (removed, or never added) gets a
                // refusal at once rather than waiting out its timeout.
                let refusal = ReadIndexResponse {
                    request_ids: request.request_ids,
                    read_index: None,
                };
                node.send(from, MessageBody::ReadIndexResponse(refusal));
            }
            return Ok(()); // not a member
        };
        progress.recently_active = true;
        match message.body {
            MessageBody::AppendResponse(AppendResponse::Accepted { match_index }) => {
                if match_index > node.log.last_index() {
                    node.protocol_violations += 1; // claims entries we never sent
                    return Ok(());
                }
                let was_paused = progress.is_paused();
                if progress.acknowledge(match_index) && progress.state == ProgressState::Probe {
                    progress.become_replicate();
                }
                if from == leader.transfer.map_or(0, |t| t.target) {
                    leader.maybe_send_timeout_now(node);
                }
                if leader.maybe_commit(node)? {
                    return leader.broadcast_append(node);
                }
                // A paused peer missed any commit broadcast meanwhile; tell it
                // the commit index even if there is nothing new to send.
                if was_paused && leader.send_append(node, from, true)? {
                    leader.send_appends(node, from)?;
                }
                Ok(())
            }
            MessageBody::AppendResponse(AppendResponse::Rejected {
                rejected_index,
                hint_index,
                hint_term,
            }) => {
                let probe_index = if hint_term > 0 {
                    node.log.find_conflict_by_term(hint_index, hint_term)?.0
                } else {
                    hint_index
                };
                match progress.reject(rejected_index, hint_index, probe_index) {
                    Rejection::Stale => return Ok(()),
                    Rejection::Probe => {}
                    Rejection::LogWentBack { acknowledged } => {
                        node.events.push(Event::FollowerLogWentBack {
                            follower: from,
                            acknowledged,
                            log_ends: hint_index,
                        });
                    }
                }
                leader.send_appends(node, from)
            }
            MessageBody::InstallSnapshotResponse(response) => {
                leader.snapshot_answered(node, from, response)
            }
            MessageBody::HeartbeatResponse(response)
                if progress.state == ProgressState::Snapshot =>
            {
                // The peer is alive. A chunk it has not answered for about an
                // election timeout of heartbeats was lost: send it again. Not
                // sooner: it may still be writing it (a chunk is up to
                // `snapshot_chunk_bytes`; resending it with every heartbeat
                // answer would only load the link and the peer).
                let send = &mut progress.snapshot;
                send.heartbeats_since_chunk += 1;
                let patience = (node.config.election_timeout_min_ticks
                    / node.config.heartbeat_interval_ticks)
                    .max(2);
                if send.heartbeats_since_chunk >= patience {
                    send.chunk_in_flight = false;
                }
                leader.request_snapshot_chunk(node, from);
                leader.read_only.acknowledge(from, response.round);
                leader.deliver_confirmed_reads(node);
                Ok(())
            }
            MessageBody::HeartbeatResponse(response) => {
                progress.probe_sent = false;
                if progress.state == ProgressState::Replicate && progress.inflights.is_full() {
                    // The window may be full of lost messages; make room for one.
                    progress.inflights.free_first();
                }
                // A follower that is behind gets an append even if, by our
                // optimistic next index, nothing is left to send: the appends
                // in flight may have been lost, and its rejection of this one
                // puts it back into probing.
                if progress.match_index < node.log.last_index()
                    && leader.send_append(node, from, true)?
                {
                    leader.send_appends(node, from)?;
                }
                leader.read_only.acknowledge(from, response.round);
                leader.deliver_confirmed_reads(node);
                Ok(())
            }
            MessageBody::ReadIndex(request) => {
                leader.read(node, from, request.request_ids, ReadMode::ReadIndex)?;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl LeaderState {
    /// The leader's own writes became durable: count them, maybe commit.
    pub(super) fn self_durable<L: LogRead>(&mut self, node: &mut Node<L>) -> Result<(), Error> {
        let durable = node.log.durable_index();
        let grew = self
            .tracker
            .get_mut(node.id())
            .is_some_and(|own| own.acknowledge(durable));
        if grew && self.maybe_commit(node)? {
            self.broadcast_append(node)?;
        }
        Ok(())
    }

    pub(super) fn peer_unreachable(&mut self, peer: NodeId) {
        if let Some(progress) = self.tracker.get_mut(peer)
            && progress.state == ProgressState::Replicate
        {
            progress.become_probe();
        }
    }

    pub(super) fn peer_progress(&self) -> BTreeMap<NodeId, PeerProgress> {
        self.tracker
            .iter()
            .map(|(id, p)| {
                let progress = PeerProgress {
                    match_index: p.match_index,
                    next_index: p.next_index,
                    replicating: p.state == ProgressState::Replicate,
                    inflight_messages: p.inflights.count(),
                };
                (id, progress)
            })
            .collect()
    }

    /// Advances the commit index to what a quorum durably holds, if that entry
    /// is from the current term (older entries commit only through it: the
    /// Figure 8 rule). Returns true if it advanced.
    fn maybe_commit<L: LogRead>(&mut self, node: &mut Node<L>) -> Result<bool, Error> {
        let index = self.tracker.committed_index();
        if index <= node.log.committed() {
            return Ok(false);
        }
        if !planted::COMMIT_OLD_TERM && node.log.term(index)? != node.term {
            return Ok(false);
        }
        node.log.commit_to(index);
        // An entry of this term is committed: the commit index is now known
        // to include everything earlier leaders committed, so reads may go.
        self.read_only.term_committed();
        if self.read_only.has_unsent() {
            self.broadcast_heartbeat(node);
        }
        while let Some(&(last_index, bytes)) = self.uncommitted.front() {
            if last_index > index {
                break;
            }
            self.uncommitted.pop_front();
            self.uncommitted_bytes -= bytes;
        }
        Ok(true)
    }

    /// Sends every peer what it lacks, or at least the commit index.
    fn broadcast_append<L: LogRead>(&mut self, node: &mut Node<L>) -> Result<(), Error> {
        for peer in self.tracker.peer_ids() {
            if !self.send_append(node, peer, true)? {
                continue;
            }
            self.send_appends(node, peer)?;
        }
        Ok(())
    }

    /// Sends `peer` appends until it is caught up or its window is full.
    fn send_appends<L: LogRead>(&mut self, node: &mut Node<L>, peer: NodeId) -> Result<(), Error> {
        while self.send_append(node, peer, false)? {}
        Ok(())
    }

    /// Sends one append to `peer` unless it is paused, or there is nothing to
    /// send and `even_if_empty` is false. Returns whether a message was sent.
    fn send_append<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        peer: NodeId,
        even_if_empty: bool,
    ) -> Result<bool, Error> {
        let Some(progress) = self.tracker.get_mut(peer) else {
            return Ok(false);
        };
        if progress.is_paused() {
            return Ok(false);
        }
        let log = &node.log;
        let prev_log_index = progress.next_index - 1;
        let high = (progress.next_index + node.config.max_entries_per_message as Index)
            .min(log.last_index() + 1);
        let read = log.term(prev_log_index).and_then(|prev_log_term| {
            let entries =
                log.entries(progress.next_index, high, node.config.max_bytes_per_message)?;
            Ok((prev_log_term, entries))
        });
        let (prev_log_term, entries) = match read {
            Ok(read) => read,
            // The peer needs entries a snapshot replaced: send the snapshot.
            Err(LogReadError::Compacted { .. }) => {
                self.start_snapshot(node, peer)?;
                return Ok(false);
            }
            Err(error) => return Err(error.into()),
        };
        if entries.is_empty() && !even_if_empty {
            return Ok(false);
        }
        let Some(progress) = self.tracker.get_mut(peer) else {
            return Ok(false);
        };
        let last_index = prev_log_index + entries.len() as Index;
        progress.sent_append(last_index, entries.len(), total_payload_bytes(&entries));
        let append = AppendRequest {
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit: node.log.committed(),
        };
        node.send(peer, MessageBody::Append(append));
        Ok(true)
    }

    /// Switches `peer` to receiving the latest snapshot: the entries it needs
    /// were compacted away.
    ///
    /// # Errors
    /// [`Error::Storage`] if the log was compacted without a snapshot to
    /// replace it (the driver broke the compaction contract).
    fn start_snapshot<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        peer: NodeId,
    ) -> Result<(), Error> {
        let Some(snapshot) = &node.latest_snapshot else {
            return Err(Error::Storage(LogReadError::Storage {
                message: "the log is compacted but no snapshot covers it".to_string(),
            }));
        };
        if let Some(progress) = self.tracker.get_mut(peer) {
            progress.become_snapshot(snapshot.index);
        }
        self.request_snapshot_chunk(node, peer);
        Ok(())
    }

    /// Asks the driver for the next chunk for `peer`, unless one is on its way.
    fn request_snapshot_chunk<L: LogRead>(&mut self, node: &mut Node<L>, peer: NodeId) {
        let Some(progress) = self.tracker.get_mut(peer) else {
            return;
        };
        if progress.state != ProgressState::Snapshot || progress.snapshot.chunk_in_flight {
            return;
        }
        progress.snapshot.chunk_in_flight = true;
        progress.snapshot.heartbeats_since_chunk = 0;
        node.snapshot_out.reads.push(SnapshotRead {
            to: peer,
            snapshot_index: progress.snapshot.index,
            offset: progress.snapshot.offset,
            max_bytes: node.config.snapshot_chunk_bytes,
        });
    }

    /// The driver read a chunk (offset, bytes, last, and the content of the
    /// snapshot it came from): send it, if the transfer still wants it.
    pub(super) fn send_snapshot_chunk<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        to: NodeId,
        snapshot_index: Index,
        chunk: (u64, Bytes, bool, SnapshotContent),
    ) {
        let (offset, data, done, content) = chunk;
        let Some(progress) = self.tracker.get(to) else {
            return;
        };
        let wanted = progress.state == ProgressState::Snapshot
            && progress.snapshot.index == snapshot_index
            && progress.snapshot.offset == offset;
        let Some(meta) = node
            .latest_snapshot
            .clone()
            .filter(|m| m.index == snapshot_index)
        else {
            return;
        };
        if wanted {
            let chunk = InstallSnapshotRequest {
                meta,
                content,
                offset,
                data,
                done,
            };
            node.send(to, MessageBody::InstallSnapshot(chunk));
        }
    }

    /// A follower answered a snapshot chunk.
    fn snapshot_answered<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        from: NodeId,
        response: InstallSnapshotResponse,
    ) -> Result<(), Error> {
        let Some(progress) = self.tracker.get_mut(from) else {
            return Ok(());
        };
        if response.installed {
            // Its log now holds (or replaced itself with) everything up to
            // the snapshot: replicate from there.
            if response.snapshot_index > node.log.last_index() {
                node.protocol_violations += 1;
                return Ok(());
            }
            progress.acknowledge(response.snapshot_index);
            if progress.state == ProgressState::Snapshot {
                progress.become_probe();
            }
            return self.send_appends(node, from);
        }
        if progress.state == ProgressState::Snapshot
            && progress.snapshot.index == response.snapshot_index
        {
            progress.snapshot.offset = response.next_offset;
            progress.snapshot.chunk_in_flight = false;
            self.request_snapshot_chunk(node, from);
        }
        Ok(())
    }

    /// A newer snapshot replaced the one being sent (which the driver may
    /// delete): transfers in progress start over with the new one.
    pub(super) fn snapshot_replaced<L: LogRead>(&mut self, node: &mut Node<L>) {
        let Some(index) = node.latest_snapshot.as_ref().map(|s| s.index) else {
            return;
        };
        let sending: Vec<NodeId> = self
            .tracker
            .iter()
            .filter(|(_, p)| p.state == ProgressState::Snapshot && p.snapshot.index != index)
            .map(|(id, _)| id)
            .collect();
        for peer in sending {
            if let Some(progress) = self.tracker.get_mut(peer) {
                progress.become_snapshot(index);
            }
            self.request_snapshot_chunk(node, peer);
        }
    }

    /// Sends a heartbeat round to every peer. The round also carries the
    /// reads gathered since the last one.
    fn broadcast_heartbeat<L: LogRead>(&mut self, node: &mut Node<L>) {
        self.heartbeat_elapsed_ticks = 0;
        let round = self.read_only.start_round(self.ticks, node.log.committed());
        for peer in self.tracker.peer_ids() {
            let Some(progress) = self.tracker.get(peer) else {
                continue;
            };
            let commit = progress.match_index.min(node.log.committed());
            node.send(peer, MessageBody::Heartbeat(Heartbeat { commit, round }));
        }
        // A group of one confirms its own rounds.
        self.deliver_confirmed_reads(node);
    }

    /// Linearizable reads asked by `origin` (this node or a follower).
    pub(super) fn read<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        origin: NodeId,
        request_ids: impl IntoIterator<Item = u64>,
        mode: ReadMode,
    ) -> Result<(), Error> {
        let committed_in_term = node.log.term(node.log.committed())? == node.term;
        let lease_ticks =
            node.config.election_timeout_min_ticks - node.config.lease_clock_drift_ticks;
        let leased = mode == ReadMode::Lease
            && node.config.lease_reads
            && self.transfer.is_none()
            && committed_in_term
            && origin == node.id()
            && self.read_only.lease_valid(self.ticks, lease_ticks);
        if leased || (planted::STALE_READ && origin == node.id()) {
            let read_index = node.log.committed();
            let ready = request_ids.into_iter().map(|request_id| ReadReady {
                request_id,
                read_index,
            });
            node.ready_reads.extend(ready);
            return Ok(());
        }
        let reads = request_ids
            .into_iter()
            .map(|request_id| PendingRead { origin, request_id });
        self.read_only.add(reads, committed_in_term);
        if self.read_only.has_unsent() {
            self.broadcast_heartbeat(node);
        }
        Ok(())
    }

    /// Hands out every read whose round a quorum confirmed: this node's as
    /// ready reads, a follower's in one answer per follower and index.
    fn deliver_confirmed_reads<L: LogRead>(&mut self, node: &mut Node<L>) {
        let confirmed = self.read_only.confirmed(&node.voters, node.id());
        let mut forwarded: BTreeMap<(NodeId, Index), Vec<u64>> = BTreeMap::new();
        for (read, read_index) in confirmed {
            if read.origin == node.id() {
                node.ready_reads.push(ReadReady {
                    request_id: read.request_id,
                    read_index,
                });
            } else {
                forwarded
                    .entry((read.origin, read_index))
                    .or_default()
                    .push(read.request_id);
            }
        }
        for ((origin, read_index), request_ids) in forwarded {
            let response = ReadIndexResponse {
                request_ids,
                read_index: Some(read_index),
            };
            node.send(origin, MessageBody::ReadIndexResponse(response));
        }
    }

    /// Leadership ends: every waiting read fails, and followers are told.
    pub(super) fn abandon_reads<L: LogRead>(&mut self, node: &mut Node<L>) {
        let mut forwarded: BTreeMap<NodeId, Vec<u64>> = BTreeMap::new();
        for read in self.read_only.drain() {
            if read.origin == node.id() {
                node.failed_reads.push(read.request_id);
            } else {
                forwarded
                    .entry(read.origin)
                    .or_default()
                    .push(read.request_id);
            }
        }
        for (origin, request_ids) in forwarded {
            let refusal = ReadIndexResponse {
                request_ids,
                read_index: None,
            };
            node.send(origin, MessageBody::ReadIndexResponse(refusal));
        }
    }

    /// Starts a membership change (see [`Raft::change_membership`]).
    pub(super) fn change_membership<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        change: &MembershipChange,
    ) -> Result<Proposal, ChangeError> {
        if let Some(transfer) = self.transfer {
            return Err(ChangeError::TransferInProgress {
                target: transfer.target,
            });
        }
        if node.history.current_index() > node.log.committed() || node.membership.is_joint() {
            return Err(ChangeError::ChangeInProgress);
        }
        // Until it commits an entry of its term, a new leader may not know of
        // a change its predecessor appended; starting another could let two
        // overlapping majorities decide (the single-server change bug).
        if node.log.term(node.log.committed()).map_err(Error::from)? != node.term {
            return Err(ChangeError::LeaderNotReady);
        }
        let target = change
            .target(&node.membership)
            .map_err(ChangeError::Invalid)?;
        let entry = node.membership.transition_to(&target);
        Ok(self.append_membership(node, entry)?)
    }

    /// Appends a configuration entry; it takes effect at once.
    fn append_membership<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        membership: Membership,
    ) -> Result<Proposal, Error> {
        let index = node.log.last_index() + 1;
        let entry = Entry {
            index,
            term: node.term,
            payload: EntryPayload::Membership(membership),
        };
        node.log.append(vec![entry.clone()]);
        node.log_rewritten(index, std::slice::from_ref(&entry));
        let limits = WindowLimits {
            max_messages: node.config.max_inflight_messages,
            max_bytes: node.config.max_inflight_bytes,
        };
        self.tracker.set_membership(&node.membership, index, limits);
        self.broadcast_append(node)?;
        Ok(Proposal {
            first_index: index,
            last_index: index,
            term: node.term,
        })
    }

    /// Replicates to `peer`, a node outside the committed configuration that
    /// asked for votes: it does not know it was removed. The appends bring it
    /// the entry that removed it and a commit index covering it (if its term
    /// is not above ours: see `removal`); it is forgotten again once it
    /// acknowledged that entry, or fell silent. At most
    /// [`MAX_DEPARTED_PEERS`] at a time.
    pub(super) fn track_departed<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        peer: NodeId,
    ) -> Result<(), Error> {
        let tracked = self.tracker.get(peer).is_some();
        if !tracked && self.tracker.departed_count(&node.membership) >= MAX_DEPARTED_PEERS {
            return Ok(());
        }
        let limits = WindowLimits {
            max_messages: node.config.max_inflight_messages,
            max_bytes: node.config.max_inflight_bytes,
        };
        self.tracker.track(peer, node.log.last_index() + 1, limits);
        if let Some(progress) = self.tracker.get_mut(peer) {
            progress.recently_active = true;
        }
        if self.send_append(node, peer, true)? {
            self.send_appends(node, peer)?;
        }
        Ok(())
    }

    /// Notes that `peer` was heard from, if tracked (check-quorum, and
    /// keeping a departed peer that still talks).
    pub(super) fn heard_from(&mut self, peer: NodeId) {
        if let Some(progress) = self.tracker.get_mut(peer) {
            progress.recently_active = true;
        }
    }

    /// True if this leader replicates to `peer` (a member, or a departed
    /// node not yet told).
    pub(super) fn tracks(&self, peer: NodeId) -> bool {
        self.tracker.get(peer).is_some()
    }

    pub(super) fn pending_reads(&self) -> usize {
        self.read_only.pending_count()
    }

    pub(super) fn transfer_target(&self) -> Option<NodeId> {
        self.transfer.map(|t| t.target)
    }

    /// Starts handing leadership to `target` (a voter other than this node).
    pub(super) fn start_transfer<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        target: NodeId,
    ) -> Result<(), Error> {
        self.transfer = Some(Transfer {
            target,
            elapsed_ticks: 0,
            timeout_now_sent: false,
        });
        self.read_only.revoke_lease();
        self.maybe_send_timeout_now(node);
        if self.transfer.is_some_and(|t| !t.timeout_now_sent)
            && self.send_append(node, target, true)?
        {
            self.send_appends(node, target)?;
        }
        Ok(())
    }

    /// Sends TimeoutNow once the transfer target holds the whole log: it then
    /// wins any election it starts, and starts one at once.
    fn maybe_send_timeout_now<L: LogRead>(&mut self, node: &mut Node<L>) {
        let Some(transfer) = &mut self.transfer else {
            return;
        };
        let caught_up = self
            .tracker
            .get(transfer.target)
            .is_some_and(|p| p.match_index == node.log.last_index());
        if caught_up && !transfer.timeout_now_sent {
            transfer.timeout_now_sent = true;
            // The target may campaign whenever this arrives, even after the
            // transfer is abandoned, and be elected past every lease.
            self.read_only.forfeit_lease();
            node.send(transfer.target, MessageBody::TimeoutNow);
        }
    }
}
