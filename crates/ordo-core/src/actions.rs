//! What the core asks the outside world to do.
//!
//! After feeding inputs to a [`Raft`](crate::Raft), the driver calls
//! [`Raft::take_actions`](crate::Raft::take_actions) and carries out what it gets.
//! Every action is safe to start at once and in parallel with the others: the
//! core itself holds back anything that must wait for durability (a vote, an
//! append acknowledgement), so the driver needs no ordering rules beyond one —
//! persists are applied to storage in the order of their ids.

use crate::entry::Entry;
use crate::event::Event;
use crate::hard_state::HardState;
use crate::membership::Membership;
use crate::message::Message;
use crate::snapshot::{SnapshotMeta, SnapshotRead, SnapshotWrite};
use crate::status::SoftState;
use crate::types::Index;

/// Names one [`Persist`] action. Ids grow by one per action, starting at 1.
/// Reporting an id durable ([`Raft::persisted`](crate::Raft::persisted)) reports
/// every earlier id durable too.
pub type PersistId = u64;

/// A write the storage must make durable, then report with
/// [`Raft::persisted`](crate::Raft::persisted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Persist {
    /// Echo this back once everything below (and every earlier persist) is durable.
    pub id: PersistId,
    /// The new hard state, when it changed.
    pub hard_state: Option<HardState>,
    /// Entries to write, consecutive. When the first one's index is at or below
    /// the store's last index, the store first removes every entry from that
    /// index on: the node is overwriting a conflicting suffix.
    pub entries: Vec<Entry>,
}

/// A read confirmed linearizable at `read_index`: once the state machine has
/// applied that index, answering from it reflects every write acknowledged
/// before the read was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadReady {
    /// The id given to [`Raft::read_index`](crate::Raft::read_index).
    pub request_id: u64,
    /// Serve the read once applied up to here.
    pub read_index: Index,
}

/// One batch of work for the driver. Empty when there is nothing to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actions {
    /// Write this to storage, then report it durable.
    pub persist: Option<Persist>,
    /// Send these to peers. Loss, delay and reordering are all safe.
    pub messages: Vec<Message>,
    /// Committed entries, durable on this node, to apply to the state machine in
    /// order. Report progress with [`Raft::applied`](crate::Raft::applied).
    pub apply: Vec<Entry>,
    /// The node's role, term or known leader changed to this.
    pub soft_state: Option<SoftState>,
    /// The configuration in force changed to this (a configuration entry was
    /// appended or truncated). Committed or not: see [`EntryPayload::Membership`](crate::EntryPayload::Membership).
    pub membership: Option<Membership>,
    /// Snapshot the state machine (at its applied index, which is at least
    /// this one), store it durably, then report it with
    /// [`Raft::snapshot_built`](crate::Raft::snapshot_built).
    pub build_snapshot: Option<Index>,
    /// The log may be compacted up to and including this index (a durable
    /// snapshot covers it).
    pub compact_log_through: Option<Index>,
    /// Snapshot chunks to read for peers that need them.
    pub snapshot_reads: Vec<SnapshotRead>,
    /// Received snapshot chunks to make durable.
    pub snapshot_writes: Vec<SnapshotWrite>,
    /// A snapshot was received whole: restore the state machine from it,
    /// reset the log to its index and term (after every persist issued so
    /// far, in order), then report with [`Raft::snapshot_installed`](crate::Raft::snapshot_installed).
    pub install_snapshot: Option<SnapshotMeta>,
    /// Reads confirmed linearizable: serve each once the state machine has
    /// applied up to its `read_index`.
    pub reads: Vec<ReadReady>,
    /// Reads that can no longer be confirmed here (leadership changed): retry.
    pub failed_reads: Vec<u64>,
    /// Entries at this index and above were removed from this node's log (a new
    /// leader overwrote them). A proposal this node made there is *not* known
    /// lost: another node may hold the entry, win an election and commit it.
    /// It is decided once its index is applied: with its term (it won) or
    /// another (it is lost for good).
    pub truncated_from: Option<Index>,
    /// What happened since the last actions, for logs and metrics (see
    /// [`Event`]); nothing needs doing about it.
    pub events: Vec<Event>,
}

impl Actions {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.persist.is_none()
            && self.messages.is_empty()
            && self.apply.is_empty()
            && self.soft_state.is_none()
            && self.truncated_from.is_none()
            && self.membership.is_none()
            && self.build_snapshot.is_none()
            && self.compact_log_through.is_none()
            && self.snapshot_reads.is_empty()
            && self.snapshot_writes.is_empty()
            && self.install_snapshot.is_none()
            && self.reads.is_empty()
            && self.failed_reads.is_empty()
            && self.events.is_empty()
    }
}
