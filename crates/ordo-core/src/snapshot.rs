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
//! dropped connection or a follower restart continues where it stopped.

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

/// Read `max_bytes` (fewer at the end) of the snapshot at `snapshot_index`
/// from `offset`, then report them with
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
/// An `offset` of 0 starts a new snapshot, discarding any partial one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotWrite {
    /// The snapshot being received.
    pub meta: SnapshotMeta,
    /// Where the chunk goes, in bytes.
    pub offset: u64,
    /// The bytes.
    pub data: Bytes,
    /// This is the last chunk.
    pub done: bool,
}

/// A snapshot partly received before a restart: the transfer resumes at
/// `received_bytes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartialSnapshot {
    /// The snapshot being received.
    pub meta: SnapshotMeta,
    /// Bytes durably received.
    pub received_bytes: u64,
}
