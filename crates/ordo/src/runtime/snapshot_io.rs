//! The snapshot thread: moves snapshot bytes between the snapshot store and
//! the core, chunk by chunk, for transfers between nodes.
//!
//! - On a leader, [`SnapshotRead`]s ask for `max_bytes` of a snapshot from an
//!   offset, for one follower. The thread keeps one open reader per follower,
//!   so a transfer streams the file once, front to back, and the last chunk
//!   read: the core asks for a chunk again whenever the follower answers a
//!   heartbeat before the chunk (a retry, in case it was lost), and that is
//!   answered from memory. A read at an earlier offset (the follower
//!   restarted) reopens the file and skips forward, once.
//! - On a follower, [`SnapshotWrite`]s carry chunks in order, into an
//!   [`IncomingSnapshotFile`]: offset 0 starts a new transfer (discarding a
//!   half-received one), every chunk is made durable before it is
//!   acknowledged, and the last one publishes the file (trailer, fdatasync,
//!   rename, directory fsync), so the core installs a snapshot that is whole
//!   on disk — once its data is checked against the content (length and
//!   CRC32C) the leader announced with every chunk: data that disagrees is
//!   discarded, never published, and the core hears
//!   `snapshot_chunk_rejected` and starts the transfer over. Every chunk
//!   read on the leader carries its snapshot file's content, from the
//!   file's trailer. A restarted follower tells the core how much it holds
//!   (`InitialState::partial_snapshot`, see `handle/start.rs`), and the first
//!   chunk after the restart reopens the transfer where it stopped.
//!
//! A chunk that cannot be written (an I/O error) stops the node: the core waits for every
//! chunk it hands out to be reported durable, and has no way to hear that one
//! failed, so carrying on would wedge the transfer (stop loudly instead).
//!
//! Neither side holds a whole snapshot in memory: at most one chunk per
//! transfer. Results go back to the consensus task through [`Shared`].
//! A thread, because every step is blocking file I/O.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use bytes::Bytes;
use ordo_core::{Index, NodeId, SnapshotContent, SnapshotRead, SnapshotWrite};
use tokio::sync::oneshot;

use crate::runtime::consensus::SnapshotEvent;
use crate::runtime::error::RaftError;
use crate::runtime::shared::Shared;
use crate::runtime::snapshot_retry::{FailureKind, Reports};
use crate::storage::{IncomingSnapshotFile, SnapshotReader, SnapshotStore, StorageError};

/// Work for the snapshot thread.
pub(crate) enum SnapshotJob {
    Read(SnapshotRead, ordo_core::Term),
    Write(SnapshotWrite),
}

/// Starts the thread. `done` resolves (by being dropped) when it exits, which
/// it does once the consensus task drops its sender.
pub(crate) fn spawn(
    node_id: NodeId,
    store: Arc<SnapshotStore>,
    jobs: Receiver<SnapshotJob>,
    shared: Arc<Shared>,
    done: oneshot::Sender<()>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("ordo-snapshot-{node_id}"))
        .spawn(move || {
            let mut mover = Mover {
                store: &store,
                shared: &shared,
                node_id,
                outgoing: HashMap::new(),
                incoming: None,
                read_failures: Reports::default(),
            };
            while let Ok(job) = jobs.recv() {
                match job {
                    SnapshotJob::Read(read, term) => mover.read(read, term),
                    SnapshotJob::Write(write) => mover.write(write),
                }
            }
            drop(mover);
            // The store's directory lock goes before the node reports itself
            // stopped, so a restart can reopen it.
            drop(store);
            drop(done);
        })
        .map(|_| ())
}

/// A transfer to one follower: the open file, how far it was read, and the
/// last chunk read (offset, bytes, last), to answer retries without reading
/// again. Kept after the last chunk too (one chunk per follower at most).
struct Outgoing {
    snapshot_index: Index,
    reader: SnapshotReader,
    position: u64,
    last: Option<(u64, Bytes, bool)>,
}

struct Mover<'a> {
    store: &'a SnapshotStore,
    shared: &'a Shared,
    node_id: NodeId,
    outgoing: HashMap<NodeId, Outgoing>,
    /// The transfer from the leader being received, once opened.
    incoming: Option<IncomingSnapshotFile<'a>>,
    /// When each kind of read failure was last logged: the core asks again
    /// on every heartbeat answer, so a lasting failure (no file descriptors
    /// left) would otherwise log many lines a second.
    read_failures: Reports,
}

impl<'a> Mover<'a> {
    fn read(&mut self, read: SnapshotRead, term: ordo_core::Term) {
        match self.read_chunk(read, term) {
            Ok((data, done, content)) => self.shared.snapshot_event(SnapshotEvent::ChunkRead {
                to: read.to,
                snapshot_index: read.snapshot_index,
                offset: read.offset,
                data,
                done,
                content,
            }),
            Err(error) => {
                // The core asks again after the follower's next heartbeat
                // answer; a snapshot replaced meanwhile is simply skipped.
                self.outgoing.remove(&read.to);
                let kind = FailureKind::of_io(&error);
                if self.read_failures.due(kind, std::time::Instant::now()) {
                    tracing::warn!(
                        node_id = self.node_id,
                        to = read.to,
                        %kind,
                        %error,
                        "reading a snapshot to send failed; retried on the follower's next \
                         answer (reported once a minute at most)"
                    );
                }
            }
        }
    }

    /// Reads the chunk asked for: its bytes, whether it is the last, and
    /// the content of the snapshot it comes from.
    fn read_chunk(
        &mut self,
        read: SnapshotRead,
        term: ordo_core::Term,
    ) -> std::io::Result<(Bytes, bool, SnapshotContent)> {
        if let Some(outgoing) = self.outgoing.get(&read.to)
            && outgoing.snapshot_index == read.snapshot_index
            && let Some((offset, data, done)) = &outgoing.last
            && *offset == read.offset
        {
            return Ok((data.clone(), *done, outgoing.reader.content()));
        }
        let reusable = self
            .outgoing
            .get(&read.to)
            .is_some_and(|o| o.snapshot_index == read.snapshot_index && o.position <= read.offset);
        if !reusable {
            let reader = self
                .store
                .open_snapshot(read.snapshot_index, term)
                .map_err(std::io::Error::other)?;
            let outgoing = Outgoing {
                snapshot_index: read.snapshot_index,
                reader,
                position: 0,
                last: None,
            };
            self.outgoing.insert(read.to, outgoing);
        }
        let Some(outgoing) = self.outgoing.get_mut(&read.to) else {
            return Err(std::io::Error::other("no reader"));
        };
        let content = outgoing.reader.content();
        if read.offset > content.data_bytes {
            // The file was replaced (rebuilt at the same index, shorter)
            // since the transfer reached this offset. An empty chunk there
            // announcing the new content makes the follower answer where to
            // go on, or to start over.
            return Ok((Bytes::new(), false, content));
        }
        // Skip forward to the offset asked for (only after a retry).
        let skip = read.offset - outgoing.position;
        std::io::copy(&mut (&mut outgoing.reader).take(skip), &mut std::io::sink())?;
        outgoing.position = read.offset;
        let wanted = read.max_bytes.min(outgoing.reader.remaining_bytes()) as usize;
        let mut data = vec![0; wanted];
        outgoing.reader.read_exact(&mut data)?;
        outgoing.position += wanted as u64;
        let done = outgoing.reader.remaining_bytes() == 0;
        if done {
            // Reading past the end verifies the data's checksum.
            let mut end = [0u8; 1];
            if outgoing.reader.read(&mut end)? != 0 {
                return Err(std::io::Error::other("snapshot longer than it says"));
            }
        }
        let data = Bytes::from(data);
        outgoing.last = Some((read.offset, data.clone(), done));
        Ok((data, done, outgoing.reader.content()))
    }

    fn write(&mut self, write: SnapshotWrite) {
        let index = write.meta.index;
        let end = write.offset + write.data.len() as u64;
        match self.write_chunk(write) {
            Ok(()) => self.shared.snapshot_event(SnapshotEvent::ChunkWritten {
                snapshot_index: index,
                end_offset: end,
            }),
            Err(ChunkError::Rejected(error)) => {
                self.incoming = None;
                let node_id = self.node_id;
                tracing::warn!(node_id, snapshot_index = index, %error, "received snapshot rejected");
                self.shared.snapshot_event(SnapshotEvent::ChunkRejected {
                    snapshot_index: index,
                    end_offset: end,
                });
            }
            Err(ChunkError::Failed(error)) => {
                self.incoming = None;
                let node_id = self.node_id;
                tracing::error!(node_id, %error, "snapshot write failed; the node stops");
                self.shared.fail(RaftError::Snapshot(error));
            }
        }
    }

    /// Makes the chunk durable; the last one publishes the snapshot, if
    /// its data is what the leader announced.
    fn write_chunk(&mut self, write: SnapshotWrite) -> Result<(), ChunkError> {
        let continues = |incoming: &IncomingSnapshotFile<'_>| {
            incoming.meta() == &write.meta && incoming.content() == write.content
        };
        if write.offset == 0 {
            self.incoming = None;
            let created = self
                .store
                .create_incoming(write.meta.clone(), write.content);
            self.incoming = Some(created.map_err(ChunkError::failed)?);
        } else if !self.incoming.as_ref().is_some_and(continues) {
            // The first chunk since a restart: reopen what is durable.
            let reopened = self.store.open_incoming();
            self.incoming = reopened.map_err(ChunkError::failed)?.filter(continues);
        }
        let Some(incoming) = &mut self.incoming else {
            return Err(ChunkError::Failed(format!(
                "a chunk of snapshot {} at byte {} arrived with no transfer of it started",
                write.meta.index, write.offset
            )));
        };
        incoming
            .append(write.offset, &write.data)
            .map_err(ChunkError::failed)?;
        if write.done
            && let Some(incoming) = self.incoming.take()
        {
            match incoming.finish() {
                Ok(_) => {}
                Err(error @ StorageError::SnapshotContentMismatch { .. }) => {
                    return Err(ChunkError::Rejected(error));
                }
                Err(error) => return Err(ChunkError::failed(error)),
            }
        }
        Ok(())
    }
}

/// Why a received chunk was not reported durable.
enum ChunkError {
    /// The snapshot's data is not what the leader announced; the transfer
    /// was discarded (the core starts it over).
    Rejected(StorageError),
    /// Writing failed: the node stops.
    Failed(String),
}

impl ChunkError {
    fn failed(error: StorageError) -> Self {
        ChunkError::Failed(error.to_string())
    }
}
