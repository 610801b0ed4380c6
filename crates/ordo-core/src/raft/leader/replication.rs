//! Replication: proposals in, pipelined appends out.
//!
//! In replicate state a peer is sent appends back to back, each at most
//! `max_entries_per_message` entries and `max_bytes_per_message` bytes, until
//! its in-flight window is full. Rejections carry a hint so probing skips a
//! whole term per round trip. A peer whose entries were compacted away is
//! switched to a snapshot transfer (see [`snapshot_send`](super::snapshot_send)).
//!
//! Invariants: an append never claims more than the leader's log holds (an
//! acknowledgement beyond its last index is a protocol violation, ignored);
//! proposals are refused while a transfer is in progress, and once the
//! uncommitted backlog would exceed `max_uncommitted_bytes` (an empty backlog
//! always admits one batch, so a single large proposal cannot wedge it).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::LeaderState;
use crate::entry::{Entry, total_payload_bytes};
use crate::error::{Error, ProposeError};
use crate::event::Event;
use crate::log::{LogRead, LogReadError};
use crate::message::{AppendRequest, MessageBody};
use crate::progress::{ProgressState, Rejection};
use crate::raft::node::Node;
use crate::raft::{Proposal, Raft, RoleState};
use crate::status::PeerProgress;
use crate::types::{Index, NodeId, Term};

impl<L: LogRead> Raft<L> {
    pub(in crate::raft) fn propose_commands(
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
}

impl LeaderState {
    /// `from` holds our log up to `match_index`: count it toward a commit,
    /// and keep its pipeline (and a transfer to it) moving.
    pub(super) fn append_accepted<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        from: NodeId,
        match_index: Index,
    ) -> Result<(), Error> {
        let Some(progress) = self.tracker.get_mut(from) else {
            return Ok(());
        };
        if match_index > node.log.last_index() {
            node.protocol_violations += 1; // claims entries we never sent
            return Ok(());
        }
        let was_paused = progress.is_paused();
        if progress.acknowledge(match_index) && progress.state == ProgressState::Probe {
            progress.become_replicate();
        }
        if from == self.transfer.map_or(0, |t| t.target) {
            self.maybe_send_timeout_now(node);
        }
        if self.maybe_commit(node)? {
            return self.broadcast_append(node);
        }
        // A paused peer missed any commit broadcast meanwhile; tell it
        // the commit index even if there is nothing new to send.
        if was_paused && self.send_append(node, from, true)? {
            self.send_appends(node, from)?;
        }
        Ok(())
    }

    /// `from` refused an append at `rejected_index`; `hint` is where its log
    /// ends or conflicts (index, and the term there if known).
    pub(super) fn append_rejected<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        from: NodeId,
        rejected_index: Index,
        hint: (Index, Term),
    ) -> Result<(), Error> {
        let (hint_index, hint_term) = hint;
        let Some(progress) = self.tracker.get_mut(from) else {
            return Ok(());
        };
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
        self.send_appends(node, from)
    }

    /// `from` (not receiving a snapshot) answered a heartbeat: it is alive,
    /// so make room in a window that may be full of lost messages, and send
    /// it what it lacks.
    pub(super) fn heartbeat_answered<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        from: NodeId,
    ) -> Result<(), Error> {
        let Some(progress) = self.tracker.get_mut(from) else {
            return Ok(());
        };
        progress.probe_sent = false;
        if progress.state == ProgressState::Replicate && progress.inflights.is_full() {
            // The window may be full of lost messages; make room for one.
            progress.inflights.free_first();
        }
        // A follower that is behind gets an append even if, by our
        // optimistic next index, nothing is left to send: the appends
        // in flight may have been lost, and its rejection of this one
        // puts it back into probing.
        if progress.match_index < node.log.last_index() && self.send_append(node, from, true)? {
            self.send_appends(node, from)?;
        }
        Ok(())
    }

    pub(in crate::raft) fn peer_unreachable(&mut self, peer: NodeId) {
        if let Some(progress) = self.tracker.get_mut(peer)
            && progress.state == ProgressState::Replicate
        {
            progress.become_probe();
        }
    }

    pub(in crate::raft) fn peer_progress(&self) -> BTreeMap<NodeId, PeerProgress> {
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

    /// Sends every peer what it lacks, or at least the commit index.
    pub(super) fn broadcast_append<L: LogRead>(&mut self, node: &mut Node<L>) -> Result<(), Error> {
        for peer in self.tracker.peer_ids() {
            if !self.send_append(node, peer, true)? {
                continue;
            }
            self.send_appends(node, peer)?;
        }
        Ok(())
    }

    /// Sends `peer` appends until it is caught up or its window is full.
    pub(super) fn send_appends<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        peer: NodeId,
    ) -> Result<(), Error> {
        while self.send_append(node, peer, false)? {}
        Ok(())
    }

    /// Sends one append to `peer` unless it is paused, or there is nothing to
    /// send and `even_if_empty` is false. Returns whether a message was sent.
    pub(super) fn send_append<L: LogRead>(
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
}
