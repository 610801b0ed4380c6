//! Snapshots as the core sees them: metadata, and the chunks it asks the
//! driver to read, write and install.
//!
//! The core never touches snapshot bytes it does not have to: it decides when
//! to build a snapshot ([`Actions::build_snapshot`](crate::Actions::build_snapshot)),
//! when the log may be compacted, which chunk to send next and where a
//! transfer resumes. The driver reads chunks from its snapshot store
//! ([`SnapshotRead`], answered with
//! [`Raft::snapshot_chunk_read`](crate::Raft::snapshot_chunk_read)), makes
//! received chunks durable ([`SnapshotWrite`], answered with
//! [`Raft::snapshot_chunk_written`](crate::Raft::snapshot_chunk_written)) and
//! restores the state machine from a complete snapshot
//! ([`Actions::install_snapshot`](crate::Actions::install_snapshot), answered
//! with [`Raft::snapshot_installed`](crate::Raft::snapshot_installed)).
//!
//! Transfers resume: a follower acknowledges each chunk only once it is
//! durable and answers an unexpected offset with the one it expects, so a
//! dropped connection or a follower restart continues where it stopped —
//! but only for the same bytes. Every chunk carries the [`SnapshotContent`]
//! of the file it was read from; two snapshots of the same index and term
//! may hold different bytes (a state machine's encoding need not be
//! deterministic, and another leader, or the same one after a restart, may
//! have built it), so a chunk announcing other content starts the transfer
//! over at byte 0 instead of being spliced onto the bytes received so far.
//! The driver checks the received data against the announced content before
//! publishing it ([`Raft::snapshot_chunk_rejected`](crate::Raft::snapshot_chunk_rejected)
//! when it disagrees).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::membership::Membership;
use crate::types::{Index, NodeId, Term};

/// What a snapshot covers: every entry up to `index` (whose term is `term`),
/// and the configuration in force at that point.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The last entry the snapshot includes.
    pub index: Index,
    /// That entry's term.
    pub term: Term,
    /// The configuration in force at `index`.
    pub membership: Membership,
}

/// Which bytes a snapshot holds: its data's length and CRC32C, as the
/// sender's snapshot store recorded them when the snapshot was written.
/// Snapshots with equal metadata and different content are different
/// snapshots: a transfer never resumes from one onto the other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SnapshotContent {
    /// Length of the data, in bytes.
    pub data_bytes: u64,
    /// CRC32C (Castagnoli) of the data.
    pub crc32c: u32,
}

/// Read `max_bytes` (fewer at the end) of the snapshot at `snapshot_index`
/// from `offset`, then report them, with the [`SnapshotContent`] of the
/// snapshot they were read from, with
/// [`Raft::snapshot_chunk_read`](crate::Raft::snapshot_chunk_read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotRead {
    /// The peer the chunk is for.
    pub to: NodeId,
    /// Which snapshot.
    pub snapshot_index: Index,
    /// Where to start, in bytes.
    pub offset: u64,
    /// How much at most.
    pub max_bytes: u64,
}

/// Write `data` at `offset` of the incoming snapshot `meta`, make it durable,
/// then report with [`Raft::snapshot_chunk_written`](crate::Raft::snapshot_chunk_written).
/// An `offset` of 0 starts a new snapshot, discarding any partial one; any
/// other offset continues the partial snapshot of the same `meta` and
/// `content`. With the last chunk (`done`), the driver checks that the data
/// received has the announced `content` before publishing it, and reports
/// [`Raft::snapshot_chunk_rejected`](crate::Raft::snapshot_chunk_rejected)
/// (discarding the partial snapshot) if it does not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotWrite {
    /// The snapshot being received.
    pub meta: SnapshotMeta,
    /// The bytes the whole snapshot holds, as the leader announced them.
    pub content: SnapshotContent,
    /// Where the chunk goes, in bytes.
    pub offset: u64,
    /// The bytes.
    pub data: Bytes,
    /// This is the last chunk.
    pub done: bool,
}

/// A snapshot partly received before a restart: the transfer resumes at
/// `received_bytes` if the leader still sends the same `content`, and starts
/// over at byte 0 otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartialSnapshot {
    /// The snapshot being received.
    pub meta: SnapshotMeta,
    /// The bytes the whole snapshot holds, as announced when it was started.
    pub content: SnapshotContent,
    /// Bytes durably received.
    pub received_bytes: u64,
}
