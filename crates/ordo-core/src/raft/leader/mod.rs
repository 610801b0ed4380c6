//! Leader: what only a leader holds, how it wins, ticks and dispatches the
//! messages it receives. The work itself lives in one file per seam:
//!
//! - [`replication`]: proposals, pipelined appends, heartbeat answers.
//! - [`commit`]: counting durable match indices and advancing the commit index.
//! - [`snapshot_send`]: chunked, resumable snapshot transfers to peers.
//! - [`reads`]: heartbeat rounds that confirm linearizable reads, and leases.
//! - [`membership`]: configuration changes and departed members.
//! - [`transfer`]: handing leadership to another voter.
//!
//! Invariants kept here: a leader exists only in a node not under repair;
//! it tracks itself with its *durable* index as its match index (so it counts
//! itself toward a commit quorum only for entries on its own disk); and
//! `uncommitted_bytes` is always the sum of the bytes in `uncommitted`.

mod commit;
mod membership;
mod reads;
mod replication;
mod snapshot_send;
mod transfer;

use std::collections::VecDeque;

use crate::entry::Entry;
use crate::error::Error;
use crate::event::{Event, StepDownReason};
use crate::log::LogRead;
use crate::message::{AppendResponse, Message, MessageBody, ReadIndexResponse};
use crate::progress::{ProgressState, ProgressTracker, WindowLimits};
use crate::raft::read_only::ReadOnly;
use crate::raft::{Raft, ReadMode, RoleState};
use crate::types::Index;

pub(crate) use self::membership::MAX_DEPARTED_PEERS;
use self::transfer::Transfer;

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

impl<L: LogRead> Raft<L> {
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
        leader.tick_transfer(node.config.election_timeout_min_ticks);
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

    /// Leader step function (after the shared rules): hands each answer to
    /// the seam that owns it.
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
                leader.append_accepted(node, from, match_index)
            }
            MessageBody::AppendResponse(AppendResponse::Rejected {
                rejected_index,
                hint_index,
                hint_term,
            }) => leader.append_rejected(node, from, rejected_index, (hint_index, hint_term)),
            MessageBody::InstallSnapshotResponse(response) => {
                leader.snapshot_answered(node, from, response)
            }
            MessageBody::HeartbeatResponse(response) => {
                if progress.state == ProgressState::Snapshot {
                    leader.snapshot_peer_alive(node, from);
                } else {
                    leader.heartbeat_answered(node, from)?;
                }
                leader.read_round_acknowledged(node, from, response.round);
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
