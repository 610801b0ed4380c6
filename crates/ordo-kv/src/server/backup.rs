//! A backup (`GET /v1/snapshot`, etcd's `Maintenance.Snapshot`): the
//! node's durable snapshot file, streamed in chunks.
//!
//! The store's snapshot format *is* the backup format (`store/backup/`),
//! so a backup is the state machine's bytes of a snapshot file, passed on
//! as read, never a copy of the store: the apply stage takes a snapshot
//! when the newest one is older than the backup's read (under writes, the
//! usual case; the backup waits for it, with no timeout, however large the
//! store), as it would for compaction, and memory stays a few chunks
//! whatever the store's size.
//!
//! # Invariants
//! - One at a time per node: the node's `BackupSlot` is held from before the
//!   read until the stream is dropped (finished or abandoned); a second
//!   backup meanwhile is refused ([`BackupRefusal::Busy`]).
//! - A backup holds every write acknowledged before it was asked for: it
//!   is read from a snapshot that covers a linearizable read made after
//!   the slot was taken ([`ordo::RaftNode::read_snapshot`]).
//! - The file cannot be taken from under the stream: the snapshot file is
//!   held open while it streams, so compaction meanwhile frees nothing it
//!   still reads.
//! - At most [`CHUNKS_IN_FLIGHT`] chunks of [`BACKUP_CHUNK_BYTES`] wait for
//!   the client, plus one being read.
//! - A file that does not read back whole (its checksum, checked as it
//!   streams) ends the stream with an error before its last chunk, so a
//!   client never receives a damaged backup as a complete one.
//! - The backup is in the format of the snapshot it streams from: this
//!   build's, or an older version `ordo snapshot restore` still reads.

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use ordo::SnapshotFile;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use crate::server::http::SharedState;

/// Bytes per chunk of a backup stream.
pub(crate) const BACKUP_CHUNK_BYTES: usize = 64 << 10;

/// Chunks read ahead of the client, at most.
const CHUNKS_IN_FLIGHT: usize = 2;

/// What a refused backup says when another one is in progress.
pub(crate) const BACKUP_BUSY: &str =
    "a backup is already being taken or sent by this node; retry when it is done";

/// Why [`take_backup`] took none.
#[derive(Debug)]
pub(crate) enum BackupRefusal {
    /// Another backup is being taken or sent by this node.
    Busy,
    /// The linearizable read, the snapshot or opening it failed.
    Raft(ordo::RaftError),
}

/// A backup ready to stream: a snapshot file that covers a linearizable
/// read, with the node's backup slot.
pub(crate) struct Backup {
    file: SnapshotFile,
    slot: OwnedSemaphorePermit,
}

/// A consistent backup, one at a time. On the leader, lease times are
/// checkpointed first, so the backup holds what each lease has left now;
/// elsewhere it holds their last checkpoint.
pub(crate) async fn take_backup(state: &SharedState) -> Result<Backup, BackupRefusal> {
    let slot = state.backups.try_take().ok_or(BackupRefusal::Busy)?;
    if let Err(error) = state.leases.checkpoint_now().await {
        // The backup then holds older records: longer, never shorter.
        tracing::warn!(%error, "lease times were not checkpointed before a backup");
    }
    let file = state
        .node
        .read_snapshot()
        .await
        .map_err(BackupRefusal::Raft)?;
    tracing::info!(
        snapshot_index = file.meta().index,
        bytes = file.remaining_bytes(),
        "streaming a backup from the snapshot file"
    );
    Ok(Backup { file, slot })
}

impl Backup {
    /// The backup's size in bytes.
    pub(crate) fn len_bytes(&self) -> u64 {
        self.file.remaining_bytes()
    }

    /// The backup as a stream of chunks, read off the async workers.
    pub(crate) fn into_chunks(self) -> BackupChunks {
        let remaining = self.len_bytes();
        let (sender, chunks) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let file = self.file;
        tokio::task::spawn_blocking(move || read_chunks(file, &sender));
        BackupChunks {
            chunks,
            remaining,
            _slot: self.slot,
        }
    }
}

/// Reads `file` chunk by chunk into `sender` until its end, an error, or the
/// stream being dropped.
fn read_chunks(mut file: SnapshotFile, sender: &mpsc::Sender<io::Result<Bytes>>) {
    loop {
        let chunk = next_chunk(&mut file);
        let last = !matches!(&chunk, Ok(Some(_)));
        let sent = match chunk {
            Ok(Some(bytes)) => sender.blocking_send(Ok(bytes)),
            Ok(None) => return,
            Err(error) => sender.blocking_send(Err(error)),
        };
        if sent.is_err() || last {
            return;
        }
    }
}

/// The next chunk of `file`; `None` at its end. The last chunk is handed
/// out only once the file's checksum is found to hold.
fn next_chunk(file: &mut SnapshotFile) -> io::Result<Option<Bytes>> {
    let left = file.remaining_bytes();
    if left == 0 {
        return Ok(None);
    }
    let take =
        usize::try_from(left).map_or(BACKUP_CHUNK_BYTES, |left| left.min(BACKUP_CHUNK_BYTES));
    let mut chunk = vec![0; take];
    file.read_exact(&mut chunk)?;
    if file.remaining_bytes() == 0 {
        // Reading past the end is where the snapshot checks its checksum.
        let past_end = file.read(&mut [0; 1])?;
        assert_eq!(past_end, 0, "a snapshot read on past its announced length");
    }
    Ok(Some(Bytes::from(chunk)))
}

/// A backup's bytes, chunk by chunk; holds the node's backup slot until
/// dropped.
pub(crate) struct BackupChunks {
    chunks: mpsc::Receiver<io::Result<Bytes>>,
    /// Bytes not yet yielded.
    remaining: u64,
    _slot: OwnedSemaphorePermit,
}

impl BackupChunks {
    /// Bytes not yet yielded.
    pub(crate) fn remaining_bytes(&self) -> u64 {
        self.remaining
    }
}

impl Stream for BackupChunks {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.chunks.poll_recv(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let len = chunk.len() as u64;
                assert!(len <= self.remaining, "a snapshot yielded past its length");
                self.remaining -= len;
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(error))) => {
                self.remaining = 0;
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(None) if self.remaining > 0 => {
                // The reader stopped without saying why (it panicked).
                self.remaining = 0;
                let cut = io::Error::other("the backup's reader stopped before its end");
                Poll::Ready(Some(Err(cut)))
            }
            other => other,
        }
    }
}
