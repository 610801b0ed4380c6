//! Ordo's Raft consensus algorithm, sans I/O.
//!
//! A [`Raft`] is one node of one Raft group as a deterministic state machine:
//! method calls go in, a batch of [`Actions`] comes out, and the same calls
//! always give the same actions. It never waits, never reads a clock and
//! never touches a disk or a socket; whoever drives it does. Three drivers
//! exist: the `ordo` crate's `RaftNode` (real disks, sockets and time), the
//! `ordo-sim` simulator (virtual time, injected faults, invariant checks) and
//! `examples/local_cluster.rs` (the smallest complete one, by hand).
//!
//! # Inputs
//! - [`Raft::tick`]: one unit of logical time. Election timeouts, heartbeats
//!   and leases are counted in ticks ([`Config`]); the driver decides how long
//!   a tick is.
//! - [`Raft::step`]: a [`Message`] from a peer. Messages may be lost,
//!   duplicated, delayed or reordered; malformed ones are dropped, never a
//!   panic.
//! - Requests: [`Raft::propose`] (commands are opaque bytes),
//!   [`Raft::read_index`], [`Raft::change_membership`],
//!   [`Raft::transfer_leadership`], [`Raft::campaign`]. Each answers at once
//!   with a typed error the caller can act on ([`ProposeError::NotLeader`],
//!   [`ProposeError::Busy`], ...).
//! - Completions: [`Raft::persisted`] (a [`Persist`] is durable),
//!   [`Raft::applied`] (the state machine caught up), and the snapshot ones
//!   ([`Raft::snapshot_built`], [`Raft::snapshot_installed`], ...).
//!
//! The durable log is read through [`LogRead`], a synchronous trait the
//! driver's storage implements; [`MemoryLog`] is the in-memory reference.
//!
//! # Actions
//! [`Raft::take_actions`] hands out everything queued since the last call:
//! a [`Persist`] (hard state and entries to make durable), messages to send,
//! committed entries to apply, reads ready to serve ([`ReadReady`]), snapshot
//! work, role changes ([`SoftState`]) and [`Event`]s for logs and metrics.
//! Every action may start at once and in parallel with the others: the core
//! holds back whatever must wait for durability (a vote, an append
//! acknowledgement, the leader counting itself toward a commit) until
//! [`Raft::persisted`] says so. The driver's one ordering rule: persists
//! reach storage in id order.
//!
//! # Three nodes, driven by hand
//! ```
//! use std::collections::BTreeMap;
//!
//! use bytes::Bytes;
//! use ordo_core::{Config, EntryPayload, InitialState, Membership, MemoryLog, Raft, Role};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ids = [1, 2, 3];
//! let mut nodes = BTreeMap::new();
//! for id in ids {
//!     let config = Config { node_id: id, rng_seed: 7, ..Config::default() };
//!     let initial = InitialState { membership: Membership::with_voters(ids), ..Default::default() };
//!     nodes.insert(id, Raft::new(config, MemoryLog::new(), initial)?);
//! }
//! let mut applied: BTreeMap<u64, Vec<Bytes>> = BTreeMap::new();
//! let mut proposed = false;
//! for _round in 0..1_000 {
//!     let mut in_flight = Vec::new();
//!     for (&id, raft) in &mut nodes {
//!         raft.tick()?;
//!         loop {
//!             // A durable write can release more actions (held responses).
//!             let actions = raft.take_actions()?;
//!             if actions.is_empty() {
//!                 break;
//!             }
//!             in_flight.extend(actions.messages); // loss or reordering would be safe
//!             if let Some(persist) = actions.persist {
//!                 raft.log_store_mut().apply(&persist); // a real driver writes and fsyncs
//!                 raft.persisted(persist.id)?;
//!             }
//!             for entry in &actions.apply {
//!                 if let EntryPayload::Command(command) = &entry.payload {
//!                     applied.entry(id).or_default().push(command.clone());
//!                 }
//!                 raft.applied(entry.index);
//!             }
//!         }
//!     }
//!     for message in in_flight {
//!         nodes.get_mut(&message.to).ok_or("no such node")?.step(message)?;
//!     }
//!     if let Some(leader) = nodes.values_mut().find(|raft| raft.role() == Role::Leader) {
//!         if !proposed {
//!             leader.propose([Bytes::from("x=1")])?;
//!             proposed = true;
//!         }
//!     }
//!     if applied.len() == ids.len() {
//!         break;
//!     }
//! }
//! for id in ids {
//!     assert_eq!(applied.get(&id), Some(&vec![Bytes::from("x=1")]), "node {id}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Deliberately left out
//! - **I/O, time, threads, async.** No tokio, no clocks, no files, no sockets,
//!   no threads: the driver owns them, so the simulator can run the very same
//!   code under virtual time and any fault it likes.
//! - **Randomness from outside.** Election jitter comes from a [`SplitMix64`]
//!   seeded by [`Config::rng_seed`], never a global generator, so a run is
//!   reproducible from its seed.
//! - **The state machine and the command format.** Commands are bytes; what
//!   they mean, and how a snapshot's bytes are laid out, is the driver's.
//! - **Storage and transport.** The core reads the log through [`LogRead`]
//!   and emits writes and messages; durability, encoding and delivery are
//!   outside (`ordo::storage`, `ordo::transport`).
//! - **Member addresses.** Members are ids; where a node is reached is the
//!   runtime's concern, so the core, its transcripts and the simulator never
//!   change for it.
//! - **Planted bugs** (`src/planted.rs`) exist only behind `planted-bug-*`
//!   features, to prove the simulator catches each; never enable them
//!   elsewhere. The list of those compiled in (`planted_bugs`) is exported
//!   only under the `simulation` feature, which ordo-sim enables.
//!
//! The [`Raft`] type's own docs tour the algorithm inside (shared rules
//! first, then the role's step function; durability; reads; membership;
//! snapshots).

mod actions;
mod config;
mod entry;
mod error;
mod event;
mod hard_state;
mod log;
mod membership;
mod message;
mod planted;
mod progress;
mod quorum;
mod raft;
mod rng;
mod snapshot;
mod status;
mod types;

pub use actions::{Actions, Persist, PersistId, ReadReady};
pub use config::{Config, ConfigError, DEFAULT_MAX_SNAPSHOT_BYTES, MAX_TERM_JUMP_MIN};
pub use entry::{Entry, EntryPayload, total_payload_bytes};
pub use error::{ChangeError, Error, ProposeError, ReadError, StartError, TransferError};
pub use event::{ElectionReason, Event, StepDownReason};
pub use hard_state::HardState;
pub use log::{LogRead, LogReadError, MemoryLog, limit_by_bytes};
pub use membership::{Membership, MembershipChange};
pub use message::{
    AppendRequest, AppendResponse, Heartbeat, HeartbeatResponse, InstallSnapshotRequest,
    InstallSnapshotResponse, Message, MessageBody, ReadIndexRequest, ReadIndexResponse,
    RemovalNotice, VoteRequest, VoteResponse,
};
#[cfg(feature = "simulation")]
pub use planted::{PLANTED_BUGS, planted_bugs};
pub use quorum::{JointConfig, MajorityConfig, VoteResult};
pub use raft::{InitialState, MAX_TERM, Proposal, Raft, ReadMode};
pub use rng::SplitMix64;
pub use snapshot::{PartialSnapshot, SnapshotContent, SnapshotMeta, SnapshotRead, SnapshotWrite};
pub use status::{PeerProgress, Role, SoftState, Status};
pub use types::{Index, NodeId, Term};
