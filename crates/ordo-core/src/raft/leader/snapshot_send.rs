//! Snapshot sending: a peer whose next entries were compacted away receives
//! the latest snapshot in chunks the driver reads, one chunk in flight at a
//! time, resumed from the offset the peer reports.
//!
//! Invariants: at most one chunk read or send is outstanding per peer
//! (`chunk_in_flight`); a chunk is sent only if the transfer still wants
//! exactly that snapshot index and offset; a newer snapshot restarts every
//! transfer of an older one (the driver may delete the old one).

use bytes::Bytes;

use super::LeaderState;
use crate::error::Error;
use crate::log::{LogRead, LogReadError};
use crate::message::{InstallSnapshotRequest, InstallSnapshotResponse, MessageBody};
use crate::progress::ProgressState;
use crate::raft::node::Node;
use crate::snapshot::{SnapshotContent, SnapshotRead};
use crate::types::{Index, NodeId};

impl LeaderState {
    /// Switches `peer` to receiving the latest snapshot: the entries it needs
    /// were compacted away.
    ///
    /// # Errors
    /// [`Error::Storage`] if the log was compacted without a snapshot to
    /// replace it (the driver broke the compaction contract).
    pub(super) fn start_snapshot<L: LogRead>(
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

    /// `from`, receiving a snapshot, answered a heartbeat: it is alive. A
    /// chunk it has not answered for about an election timeout of heartbeats
    /// was lost: send it again. Not sooner: it may still be writing it (a
    /// chunk is up to `snapshot_chunk_bytes`; resending it with every
    /// heartbeat answer would only load the link and the peer).
    pub(super) fn snapshot_peer_alive<L: LogRead>(&mut self, node: &mut Node<L>, from: NodeId) {
        let Some(progress) = self.tracker.get_mut(from) else {
            return;
        };
        let send = &mut progress.snapshot;
        send.heartbeats_since_chunk += 1;
        let patience =
            (node.config.election_timeout_min_ticks / node.config.heartbeat_interval_ticks).max(2);
        if send.heartbeats_since_chunk >= patience {
            send.chunk_in_flight = false;
        }
        self.request_snapshot_chunk(node, from);
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
    pub(in crate::raft) fn send_snapshot_chunk<L: LogRead>(
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
    pub(super) fn snapshot_answered<L: LogRead>(
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
    pub(in crate::raft) fn snapshot_replaced<L: LogRead>(&mut self, node: &mut Node<L>) {
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
}
