//! The consensus task's side of snapshots: reporting finished snapshot work
//! to the core, finishing an installation, compacting the log.

use ordo_core::{Index, SnapshotMeta};

use crate::runtime::consensus::Consensus;
use crate::runtime::error::RaftError;
use crate::runtime::event::Event;
use crate::runtime::persist::PersistJob;
use crate::runtime::shared::Reply;
use crate::runtime::snapshot_io::SnapshotJob;
use crate::runtime::state_machine::StateMachine;

/// Snapshot work finished elsewhere (apply stage, snapshot thread,
/// persistence thread), to report to the core.
#[derive(Debug)]
pub(crate) enum SnapshotEvent {
    /// The requested snapshot is durable (`None`: building it failed).
    Built(Option<ordo_core::SnapshotMeta>),
    /// A chunk for a follower was read.
    ChunkRead {
        to: ordo_core::NodeId,
        snapshot_index: Index,
        offset: u64,
        data: bytes::Bytes,
        done: bool,
        /// Which bytes the snapshot read from holds.
        content: ordo_core::SnapshotContent,
    },
    /// A received chunk is durable (the last one published the file).
    ChunkWritten {
        snapshot_index: Index,
        end_offset: u64,
    },
    /// The last received chunk completed data that is not what the leader
    /// announced: the transfer was discarded and starts over.
    ChunkRejected {
        snapshot_index: Index,
        end_offset: u64,
    },
    /// The state machine was restored from a received snapshot (the apply
    /// stage put the member information its header carried in the directory).
    Restored(ordo_core::SnapshotMeta),
    /// The log was reset to a received snapshot: installation is complete.
    LogReset(ordo_core::SnapshotMeta),
}

impl<S: StateMachine> Consensus<S> {
    /// Reports snapshot work finished elsewhere to the core.
    pub(super) fn on_snapshot_event(&mut self, event: SnapshotEvent) -> Result<(), RaftError> {
        match event {
            SnapshotEvent::Built(Some(meta)) => {
                let index = meta.index;
                self.latest_snapshot = Some(meta.clone());
                self.snapshot_backoff.succeeded();
                self.raft.snapshot_built(meta)?;
                self.snapshot_taken(index);
            }
            SnapshotEvent::Built(None) => {
                // The core asks again as soon as it hears of the failure:
                // it hears once the back-off delay has passed (`tick`).
                let delay = self.snapshot_backoff.failed(std::time::Instant::now());
                tracing::debug!(
                    node_id = self.config.node_id,
                    ?delay,
                    "snapshot retry delayed"
                );
                for (_, reply) in self.snapshot_waiters.drain(..) {
                    let error = RaftError::Snapshot("taking the snapshot failed".into());
                    let _ = reply.send(Err(error));
                }
            }
            SnapshotEvent::ChunkRead {
                to,
                snapshot_index,
                offset,
                data,
                done,
                content,
            } => self
                .raft
                .snapshot_chunk_read(to, snapshot_index, offset, data, done, content),
            SnapshotEvent::ChunkWritten {
                snapshot_index,
                end_offset,
            } => self.raft.snapshot_chunk_written(snapshot_index, end_offset),
            SnapshotEvent::ChunkRejected {
                snapshot_index,
                end_offset,
            } => self
                .raft
                .snapshot_chunk_rejected(snapshot_index, end_offset),
            SnapshotEvent::Restored(meta) => {
                // The log is reset after every write issued before it.
                match &self.inline_store {
                    Some(store) => {
                        store.reset(meta.index, meta.term)?;
                        self.installed(meta);
                    }
                    None => self.to_persistence(PersistJob::Reset(meta))?,
                }
            }
            SnapshotEvent::LogReset(meta) => self.installed(meta),
        }
        Ok(())
    }

    /// `RaftNode::snapshot` (`covering: None`): a new snapshot covering at
    /// least what is applied now; one being taken may be older, then
    /// another follows it. `RaftNode::read_snapshot` (`Some(index)`): the
    /// newest durable snapshot if it covers `index`, else a new one (the
    /// apply stage has applied `index` already, so the next one built does).
    /// A build already under way is not doubled: the core starts one only
    /// if none is, and a waiter it does not cover asks for the next one when
    /// it is done (`snapshot_taken`).
    pub(super) fn request_snapshot(&mut self, covering: Option<Index>, reply: Reply<Index>) {
        if self.snapshot_jobs.is_none() {
            let error = RaftError::Snapshot("this node has no snapshot store".into());
            let _ = reply.send(Err(error));
            return;
        }
        let newest = self.latest_snapshot.as_ref().map(|meta| meta.index);
        if let (Some(wanted), Some(newest)) = (covering, newest)
            && newest >= wanted
        {
            let _ = reply.send(Ok(newest));
            return;
        }
        let wanted = covering.unwrap_or(self.state.applied_index);
        // Callers that gave up (dropped their future) wait for nothing: the
        // list holds only callers still waiting.
        self.snapshot_waiters
            .retain(|(_, reply)| !reply.is_closed());
        self.snapshot_waiters.push((wanted, reply));
        // Asked for by a caller: a failed build waiting out its delay is
        // retried now.
        if self.snapshot_backoff.take_waiting() {
            self.raft.snapshot_build_failed();
        }
        self.raft.request_snapshot();
    }

    /// A snapshot at `index` is durable: answers who it satisfies, and asks
    /// for a newer one for the others still waiting (not for callers that
    /// gave up: their build is not repeated).
    fn snapshot_taken(&mut self, index: Index) {
        let mut later = Vec::new();
        for (wanted, reply) in self.snapshot_waiters.drain(..) {
            if reply.is_closed() {
                continue;
            }
            if wanted <= index {
                let _ = reply.send(Ok(index));
            } else {
                later.push((wanted, reply));
            }
        }
        if !later.is_empty() {
            self.snapshot_waiters = later;
            self.raft.request_snapshot();
        }
    }

    /// A received snapshot replaced the state machine and the log.
    fn installed(&mut self, meta: SnapshotMeta) {
        let last_index = meta.index;
        self.raft.snapshot_installed(meta.clone());
        self.latest_snapshot = Some(meta);
        if last_index > self.state.applied_index {
            self.state.applied_index = last_index;
        }
        while let Some(&(index, bytes)) = self.state.applying.front() {
            if index > self.state.applied_index {
                break;
            }
            self.state.applying.pop_front();
            self.state.backlog_bytes -= bytes;
        }
        self.events.send(Event::SnapshotInstalled { last_index });
    }

    /// Discards the log up to `through`, in order with the writes before it.
    pub(super) fn compact(&mut self, through: Index) -> Result<(), RaftError> {
        match &self.inline_store {
            Some(store) => Ok(store.compact(through)?),
            None => self.to_persistence(PersistJob::Compact(through)),
        }
    }

    pub(super) fn to_snapshot_thread(&self, job: SnapshotJob) {
        let sent = self
            .snapshot_jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok());
        if !sent {
            self.events.send_with(|| Event::Error {
                error: RaftError::Snapshot(
                    "a snapshot transfer needs a snapshot store on every node".into(),
                ),
            });
        }
    }
}
