//! [`StateMachine`]: what the application plugs into a [`RaftNode`](crate::RaftNode).

use std::io::{self, Read, Write};

use ordo_core::{Index, Term};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One committed command, handed to [`StateMachine::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<C> {
    /// The entry's log index. Strictly increasing from one call to the next
    /// (not consecutive: entries that carry no command are skipped).
    pub index: Index,
    /// The term in which a leader accepted it.
    pub term: Term,
    /// The command, as proposed.
    pub command: C,
}

/// The application's replicated state.
///
/// Every node applies the same commands in the same order, so `apply` must be
/// deterministic: the same state and commands must give the same new state on
/// every node (no clocks, no randomness, no iteration over hash maps whose
/// order differs between processes).
///
/// # Which calls may run concurrently
/// None. The runtime owns the state machine in one apply stage and makes
/// every call from there, one at a time, in order — so no method needs
/// locking and the type only has to be [`Send`]. Queries run between apply
/// batches, so a query always sees a whole batch or none of it. A slow call
/// delays everything queued behind it (commands, reads, snapshots), but never
/// the consensus protocol itself: elections and replication go on while the
/// state machine is busy, up to
/// [`RaftConfig::max_backlog_bytes`](crate::RaftConfig::max_backlog_bytes) of
/// entries waiting to be applied.
///
/// # Blocking
/// The apply stage is a Tokio task by default, so calls should return within
/// about a millisecond. A state machine whose calls block on a disk sets
/// [`RaftConfig::dedicated_apply_thread`](crate::RaftConfig::dedicated_apply_thread)
/// and gets a thread of its own. [`snapshot`](Self::snapshot) may always
/// block: the runtime runs it outside the async workers.
///
/// # Panics
/// A panic in any call is caught: the node stops (its state is unknown), and
/// everyone waiting gets [`RaftError::StateMachine`](crate::RaftError::StateMachine).
///
/// # Commands travel as bytes
/// A command is encoded with [postcard](https://docs.rs/postcard) when
/// proposed and decoded on every node before `apply`. Postcard is compact and
/// stable but not self-describing: serde attributes that need to look ahead
/// (`#[serde(flatten)]`, `untagged` enums, `skip_serializing_if`) do not
/// round-trip, so keep commands to plain structs and enums. Responses,
/// queries and answers never leave the node and need no serde at all.
///
/// # Snapshots stream
/// [`snapshot`](Self::snapshot) writes the state through a [`Write`] and
/// [`restore`](Self::restore) reads it back through a [`Read`], in whatever
/// format the application likes, so a 1 GiB state never needs 1 GiB of extra
/// memory. The runtime stores the stream in its
/// [`SnapshotStore`](crate::storage::SnapshotStore) in chunks.
pub trait StateMachine: Send + 'static {
    /// What clients propose; replicated through the log.
    type Command: Serialize + DeserializeOwned + Send + 'static;
    /// What `apply` answers for each command; returned by
    /// [`RaftNode::propose`](crate::RaftNode::propose) on the node that proposed it.
    type Response: Send + 'static;
    /// A read-only question about the state.
    type Query: Send + 'static;
    /// The answer to a [`Query`](Self::Query).
    type Answer: Send + 'static;

    /// Applies committed commands, in log order, and returns exactly one
    /// response per command, in the same order. Returning fewer fails the
    /// proposals left without a response (with
    /// [`RaftError::StateMachine`](crate::RaftError::StateMachine)).
    fn apply(&mut self, entries: Vec<Entry<Self::Command>>) -> Vec<Self::Response>;

    /// Answers `query` from the current state. Called only once the state
    /// reflects every write the read must see (see
    /// [`RaftNode::read_index`](crate::RaftNode::read_index)).
    fn query(&self, query: Self::Query) -> Self::Answer;

    /// Writes the whole state to `out`.
    ///
    /// # Errors
    /// An I/O error from `out`, or the application's own, as [`io::Error`];
    /// the snapshot is then discarded and retried later.
    fn snapshot(&self, out: &mut dyn Write) -> io::Result<()>;

    /// Replaces the whole state with the one read from `input`, written by
    /// [`snapshot`](Self::snapshot).
    ///
    /// # Errors
    /// An I/O or format error; the node then refuses to start.
    fn restore(&mut self, input: &mut dyn Read) -> io::Result<()>;
}

/// How fresh a read must be; see [`RaftNode::read_with`](crate::RaftNode::read_with).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReadConsistency {
    /// Reflects every write acknowledged anywhere before the read was asked
    /// (ReadIndex: one heartbeat round to a quorum).
    #[default]
    Linearizable,
    /// Linearizable while clocks drift less than the configured margin; no
    /// round trip while the leader's lease holds.
    Lease,
    /// Whatever this node has applied: may miss acknowledged writes.
    Stale,
}
