//! Snapshots: when to build one, and receiving one from the leader.
//!
//! Building: once `snapshot_threshold_entries` entries were applied since the
//! last snapshot (or on request), the core asks the driver for a snapshot of
//! the state machine. When the driver reports it durable, the log may be
//! compacted up to `log_retention_entries` before it.
//!
//! Receiving (a follower whose missing entries the leader compacted away):
//! chunks arrive in order; each is handed out to be made durable, and only
//! then acknowledged with the next offset expected. A chunk at an unexpected
//! offset is answered with the expected one, so transfers resume after lost
//! messages and restarts. A transfer resumes only onto the same bytes: every
//! chunk announces its snapshot's [`SnapshotContent`] (data length and
//! checksum), and a chunk announcing other content than the partial
//! snapshot's (a new leader, or a rebuilt snapshot, at the same index and
//! term) starts the transfer over at byte 0. A chunk that does not fit the
//! length it announces is dropped. The driver checks the finished data
//! against the announced content and, if they disagree, discards it and
//! reports [`Raft::snapshot_chunk_rejected`]: the transfer starts over, and
//! nothing is installed. Once the last chunk is durable, and every persist
//! issued before it is too and every entry handed out to apply was applied,
//! the snapshot is handed out for installation; the driver restores the state
//! machine, resets the log, and reports back. No entries are handed out to
//! apply meanwhile.
//! Appends are ignored meanwhile: nothing may be written to a log about to be
//! replaced. Until the last chunk is durable they are not, so a newer leader
//! may meanwhile bring the log up to and past the snapshot; then the snapshot
//! is dropped rather than installed over entries already acknowledged.
//!
//! A snapshot announcing more than `max_snapshot_bytes` of data is refused
//! before any of it is kept (counted, and reported once per snapshot): a
//! peer cannot make this node fill its disk, and the node stays a follower
//! that is behind.
//!
//! Sending is the leader's: see the leader module.

use bytes::Bytes;

use crate::error::Error;
use crate::event::Event;
use crate::log::LogRead;
use crate::message::{InstallSnapshotRequest, InstallSnapshotResponse, MessageBody};
use crate::planted;
use crate::quorum::JointConfig;
use crate::raft::config_history::ConfigHistory;
use crate::raft::node::IncomingSnapshot;
use crate::raft::{Raft, RoleState};
use crate::snapshot::{SnapshotContent, SnapshotMeta, SnapshotWrite};
use crate::types::{Index, NodeId};

impl<L: LogRead> Raft<L> {
    /// Asks for a snapshot now, whatever the threshold. Does nothing if one
    /// is being built.
    pub fn request_snapshot(&mut self) {
        if !self.node.snapshot_building {
            self.node.snapshot_building = true;
            self.node.snapshot_out.build = Some(self.node.log.applied());
        }
    }

    /// The driver stored a snapshot durably. The log may now be compacted
    /// (see [`Actions::compact_log_through`](crate::Actions::compact_log_through)),
    /// and peers that need it are sent this one.
    ///
    /// # Errors
    /// A fatal storage failure.
    pub fn snapshot_built(&mut self, meta: SnapshotMeta) -> Result<(), Error> {
        self.node.snapshot_building = false;
        let newer = self
            .node
            .latest_snapshot
            .as_ref()
            .is_none_or(|s| meta.index > s.index);
        if !newer {
            return Ok(());
        }
        let through = meta
            .index
            .saturating_sub(self.node.config.log_retention_entries);
        if through >= self.node.log.store().first_index() {
            self.node.snapshot_out.compact_through = Some(through);
        }
        self.node.latest_snapshot = Some(meta);
        if let RoleState::Leader(leader) = &mut self.role {
            leader.snapshot_replaced(&mut self.node);
        }
        Ok(())
    }

    /// Building the requested snapshot failed; it will be asked for again.
    pub fn snapshot_build_failed(&mut self) {
        self.node.snapshot_building = false;
    }

    /// The driver read the chunk asked for by a [`SnapshotRead`](crate::SnapshotRead)
    /// from a snapshot holding `content`. Ignored if the transfer has moved
    /// on meanwhile.
    pub fn snapshot_chunk_read(
        &mut self,
        to: NodeId,
        snapshot_index: Index,
        offset: u64,
        data: Bytes,
        done: bool,
        content: SnapshotContent,
    ) {
        if let RoleState::Leader(leader) = &mut self.role {
            let chunk = (offset, data, done, content);
            leader.send_snapshot_chunk(&mut self.node, to, snapshot_index, chunk);
        }
    }

    /// The driver did not publish the last chunk of a [`SnapshotWrite`]
    /// ending at `end_offset`: the data received does not have the content
    /// the leader announced. It discarded the partial snapshot; the
    /// transfer starts over at byte 0.
    pub fn snapshot_chunk_rejected(&mut self, snapshot_index: Index, end_offset: u64) {
        let writing = self.node.incoming_snapshot.as_ref().is_some_and(|i| {
            i.meta.index == snapshot_index && i.writing.is_some_and(|(end, _)| end == end_offset)
        });
        let Some(incoming) = self.node.incoming_snapshot.take_if(|_| writing) else {
            return;
        };
        let response = InstallSnapshotResponse {
            snapshot_index,
            next_offset: 0,
            installed: false,
        };
        self.node.send(
            incoming.from,
            MessageBody::InstallSnapshotResponse(response),
        );
    }

    /// The chunk of a [`SnapshotWrite`] ending at `end_offset` is durable.
    pub fn snapshot_chunk_written(&mut self, snapshot_index: Index, end_offset: u64) {
        let Some(incoming) = &mut self.node.incoming_snapshot else {
            return;
        };
        let Some((end, done)) = incoming.writing else {
            return;
        };
        if incoming.meta.index != snapshot_index || end != end_offset {
            return;
        }
        incoming.writing = None;
        incoming.next_offset = end;
        if done {
            incoming.complete = true; // installed once earlier persists are durable
            return;
        }
        let (to, response) = (incoming.from, progress_response(incoming));
        self.node
            .send(to, MessageBody::InstallSnapshotResponse(response));
    }

    /// The driver restored the state machine from the snapshot `meta` and
    /// reset the log to it.
    ///
    /// # Panics
    /// If the log storage was not reset to `meta.index` first.
    pub fn snapshot_installed(&mut self, meta: SnapshotMeta) {
        let Some(incoming) = self
            .node
            .incoming_snapshot
            .take_if(|i| i.installing && i.meta == meta)
        else {
            return;
        };
        self.node.log.reset_to_snapshot(meta.index);
        self.node.history = ConfigHistory::from_base(meta.index, meta.membership.clone());
        self.node.membership = meta.membership.clone();
        self.node.voters = JointConfig::from_membership(&meta.membership);
        self.node.membership_changed = true;
        let response = InstallSnapshotResponse {
            snapshot_index: meta.index,
            next_offset: incoming.next_offset,
            installed: true,
        };
        self.node.latest_snapshot = Some(meta);
        self.node.send(
            incoming.from,
            MessageBody::InstallSnapshotResponse(response),
        );
        self.finish_repair_if_durable();
    }

    /// Asks for a snapshot once enough entries were applied since the last.
    pub(super) fn maybe_request_snapshot(&mut self) {
        let threshold = self.node.config.snapshot_threshold_entries;
        let last = self.node.latest_snapshot.as_ref().map_or(0, |s| s.index);
        if threshold > 0 && self.node.log.applied().saturating_sub(last) >= threshold {
            self.request_snapshot();
        }
    }

    /// Hands out a complete incoming snapshot for installation once nothing
    /// written before it is still in flight, and every entry handed out to
    /// apply was applied (the install may run in parallel with anything else
    /// handed out) — unless the log has meanwhile caught up with it.
    pub(super) fn maybe_install_snapshot(&mut self) {
        let quiet = !self.node.has_unissued_writes()
            && self.node.outbox.all_durable()
            && self.node.log.all_applied();
        let Some(incoming) = &mut self.node.incoming_snapshot else {
            return;
        };
        if !incoming.complete || incoming.installing || !quiet {
            return;
        }
        let (meta, from) = (incoming.meta.clone(), incoming.from);
        let log = &self.node.log;
        if meta.index <= log.committed() || log.matches(meta.index, meta.term) {
            // Appends arrived while the last chunk was being written (from a
            // newer leader: this one sends none meanwhile) and gave the log
            // the snapshot's last entry, maybe more, which this node may
            // have acknowledged. Installing would throw those away; the log
            // already holds all the snapshot covers, so the snapshot goes.
            self.node.incoming_snapshot = None;
            self.answer_snapshot_held(from, meta.index);
            return;
        }
        incoming.installing = true;
        self.node.snapshot_out.install = Some(meta);
    }

    /// Tells `leader` that the log holds every entry up to `snapshot_index`
    /// (which is committed), so the snapshot is not needed. This is a promise
    /// about the log, so it waits until every write issued so far is
    /// durable, like an append acknowledgement.
    fn answer_snapshot_held(&mut self, leader: NodeId, snapshot_index: Index) {
        let log = &mut self.node.log;
        log.commit_to(snapshot_index.min(log.last_index()).max(log.committed()));
        let response = InstallSnapshotResponse {
            snapshot_index,
            next_offset: 0,
            installed: true,
        };
        self.node
            .respond(leader, MessageBody::InstallSnapshotResponse(response));
    }

    /// True while a received snapshot waits to replace the log.
    pub(super) fn installing_snapshot(&self) -> bool {
        self.node
            .incoming_snapshot
            .as_ref()
            .is_some_and(|i| i.complete)
    }

    /// Follower: a chunk of a snapshot from the leader.
    pub(super) fn receive_snapshot_chunk(&mut self, from: NodeId, request: InstallSnapshotRequest) {
        let meta = request.meta;
        let log = &self.node.log;
        if meta.index <= log.committed() || log.matches(meta.index, meta.term) {
            // We hold everything the snapshot covers already.
            self.answer_snapshot_held(from, meta.index);
            return;
        }
        let max_bytes = self.node.config.max_snapshot_bytes;
        if request.content.data_bytes > max_bytes {
            self.refuse_snapshot_for_size(from, meta.index, request.content.data_bytes);
            return;
        }
        let end = request.offset.saturating_add(request.data.len() as u64);
        if end > request.content.data_bytes {
            // A chunk past the end of the snapshot it announces: the
            // leader's snapshot file was replaced under its transfer (rebuilt
            // at the same index with other bytes, or reopened after a read
            // error) while it still resumes at our old offset. Staying silent
            // would leave it resending this chunk for ever; tell it where we
            // are for this content, or to start over.
            let next_offset = self
                .node
                .incoming_snapshot
                .as_ref()
                .filter(|i| {
                    i.meta.index == meta.index
                        && i.meta.term == meta.term
                        && i.content == request.content
                })
                .map_or(0, |i| i.next_offset);
            let response = InstallSnapshotResponse {
                snapshot_index: meta.index,
                next_offset,
                installed: false,
            };
            self.node
                .send(from, MessageBody::InstallSnapshotResponse(response));
            return;
        }
        if request.done != (end == request.content.data_bytes) {
            // The chunk disagrees with the length its leader announced.
            self.node.protocol_violations += 1;
            return;
        }
        let same = self.node.incoming_snapshot.as_ref().is_some_and(|i| {
            i.meta.index == meta.index
                && i.meta.term == meta.term
                && (i.content == request.content || planted::SPLICE_SNAPSHOT)
        });
        let busy = self
            .node
            .incoming_snapshot
            .as_ref()
            .is_some_and(|i| i.writing.is_some() || i.complete || i.installing);
        if !same && busy {
            // A chunk is being written, or the snapshot is whole and about to
            // be installed: the driver holds (or is replacing the state with)
            // its bytes, so another snapshot must wait (the leader resends).
            // Replacing it here let an install and the durable partial
            // snapshot disagree (found by the simulator, with a reordered
            // chunk of an older snapshot).
            return;
        }
        if !same {
            if request.offset != 0 {
                // A chunk of a snapshot we have not started: start over.
                let response = InstallSnapshotResponse {
                    snapshot_index: meta.index,
                    next_offset: 0,
                    installed: false,
                };
                self.node
                    .send(from, MessageBody::InstallSnapshotResponse(response));
                return;
            }
            self.node.incoming_snapshot = Some(IncomingSnapshot {
                meta: meta.clone(),
                content: request.content,
                from,
                next_offset: 0,
                writing: None,
                complete: false,
                installing: false,
            });
        }
        let Some(incoming) = &mut self.node.incoming_snapshot else {
            return;
        };
        incoming.from = from;
        if incoming.complete || incoming.writing.is_some() {
            return; // busy with an earlier chunk; the leader will resend
        }
        if request.offset != incoming.next_offset {
            let response = progress_response(incoming);
            self.node
                .send(from, MessageBody::InstallSnapshotResponse(response));
            return;
        }
        incoming.writing = Some((end, request.done));
        self.node.snapshot_out.writes.push(SnapshotWrite {
            meta,
            content: incoming.content,
            offset: request.offset,
            data: request.data,
            done: request.done,
        });
    }
}

impl<L: LogRead> Raft<L> {
    /// Refuses a chunk of a snapshot larger than `max_snapshot_bytes`:
    /// nothing is written or answered (the leader resends; the node stays
    /// a follower that is behind), every chunk is counted, and each such
    /// snapshot is reported once.
    fn refuse_snapshot_for_size(&mut self, from: NodeId, snapshot_index: Index, data_bytes: u64) {
        let node = &mut self.node;
        node.refused_snapshot_chunks += 1;
        if node.last_refused_snapshot == Some((snapshot_index, data_bytes)) {
            return;
        }
        node.last_refused_snapshot = Some((snapshot_index, data_bytes));
        node.events.push(Event::SnapshotRefusedForSize {
            from,
            snapshot_index,
            data_bytes,
            max_bytes: node.config.max_snapshot_bytes,
        });
    }
}

fn progress_response(incoming: &IncomingSnapshot) -> InstallSnapshotResponse {
    InstallSnapshotResponse {
        snapshot_index: incoming.meta.index,
        next_offset: incoming.next_offset,
        installed: false,
    }
}
