//! Log entries: what the leader replicates and the state machine applies.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::membership::Membership;
use crate::types::{Index, Term};

/// One entry of the replicated log.
///
/// Invariant: within one log, indexes are consecutive and terms never decrease
/// from one entry to the next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the log, starting at 1.
    pub index: Index,
    /// Term of the leader that created the entry.
    pub term: Term,
    /// What the entry carries.
    pub payload: EntryPayload,
}

/// The content of a log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryPayload {
    /// Appended by every new leader so that it can commit entries of its own
    /// term promptly (Raft §5.4.2: older entries commit only through a
    /// current-term entry). The state machine skips it.
    Noop,
    /// An application command, opaque to consensus.
    Command(Bytes),
    /// A new configuration. It takes effect on each node as soon as it is in
    /// that node's log, committed or not (Raft dissertation §4.1).
    Membership(Membership),
}

impl Entry {
    /// Creates an application command entry.
    pub fn command(index: Index, term: Term, data: impl Into<Bytes>) -> Self {
        Entry {
            index,
            term,
            payload: EntryPayload::Command(data.into()),
        }
    }

    /// Creates a no-op entry.
    pub fn noop(index: Index, term: Term) -> Self {
        Entry {
            index,
            term,
            payload: EntryPayload::Noop,
        }
    }

    /// Bytes of payload, the unit of every byte limit in the core (message size,
    /// in-flight window, uncommitted backlog). Framing overhead is not counted.
    pub fn payload_bytes(&self) -> u64 {
        match &self.payload {
            EntryPayload::Noop | EntryPayload::Membership(_) => 0,
            EntryPayload::Command(data) => data.len() as u64,
        }
    }
}

/// Sum of [`Entry::payload_bytes`] over `entries`.
pub fn total_payload_bytes(entries: &[Entry]) -> u64 {
    entries.iter().map(Entry::payload_bytes).sum()
}
