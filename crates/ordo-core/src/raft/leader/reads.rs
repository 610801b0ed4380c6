//! Reads: linearizable reads without log entries. A read waits for a
//! heartbeat round started after it arrived; once a quorum answers that
//! round, the leader was still leader when the read arrived, and the read may
//! go at the commit index the round recorded. With leases on, a read of this
//! node's own may instead go at once while its lease runs.
//!
//! Invariants: no read is answered before this leader committed an entry of
//! its term (before that its commit index may lag what earlier leaders
//! committed); no lease read during a leadership transfer; every waiting read
//! is failed (locally) or refused (to its follower) when leadership ends.

use std::collections::BTreeMap;

use super::LeaderState;
use crate::actions::ReadReady;
use crate::error::Error;
use crate::log::LogRead;
use crate::message::{Heartbeat, MessageBody, ReadIndexResponse};
use crate::planted;
use crate::raft::ReadMode;
use crate::raft::node::Node;
use crate::raft::read_only::PendingRead;
use crate::types::{Index, NodeId};

impl LeaderState {
    /// Sends a heartbeat round to every peer. The round also carries the
    /// reads gathered since the last one.
    pub(super) fn broadcast_heartbeat<L: LogRead>(&mut self, node: &mut Node<L>) {
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

    /// `from` answered heartbeat round `round`: hand out the reads a quorum
    /// has now confirmed.
    pub(super) fn read_round_acknowledged<L: LogRead>(
        &mut self,
        node: &mut Node<L>,
        from: NodeId,
        round: u64,
    ) {
        self.read_only.acknowledge(from, round);
        self.deliver_confirmed_reads(node);
    }

    /// Linearizable reads asked by `origin` (this node or a follower).
    pub(in crate::raft) fn read<L: LogRead>(
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
    pub(in crate::raft) fn abandon_reads<L: LogRead>(&mut self, node: &mut Node<L>) {
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

    pub(in crate::raft) fn pending_reads(&self) -> usize {
        self.read_only.pending_count()
    }
}
