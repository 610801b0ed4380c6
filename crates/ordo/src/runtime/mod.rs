//! The node runtime: [`RaftNode`] drives the `ordo-core` consensus algorithm
//! with real time, storage, a transport and the application's
//! [`StateMachine`]. Users call methods; they never drive the core by hand.
//!
//! # Tasks and threads (per node)
//!
//! ```text
//!  handles ──propose/read──► [requests, bounded] ─┐
//!  transport ──messages───► [inbox, bounded] ────┤
//!                                                ▼
//!                         consensus task (Tokio): owns Raft<Arc<dyn LogStore>>
//!                           drain everything queued → one propose, one
//!                           read_index, ticks → take_actions once → fan out:
//!        ┌──────────────────────────┬──────────────────────┬───────────────────┐
//!        ▼                          ▼                      ▼                   ▼
//!   transport.send          persistence thread        apply stage         events (broadcast)
//!   (appends to followers)  write all queued,         (a task, or a       (role, leader,
//!                           one sync, publish id ──┐  thread) owns the    appended, committed,
//!                                                  │  state machine:      applied, errors)
//!                           consensus ◄─ wake ─────┘  apply, answer
//!                           raft.persisted(id)        proposals and reads ──► handles
//!                                                     publish applied ──► consensus
//! ```
//!
//! - `consensus.rs`: the loop, batching, back-pressure, time. This is where
//!   batching happens: every proposal queued when a round starts becomes one
//!   core append (one persist, one message per follower).
//! - `persist.rs`: group commit on its own thread (one fsync per batch of
//!   persists). A store whose writes never block (memory) is written inline by
//!   the consensus task instead: no thread, no hand-off.
//! - `apply.rs`: applying, answering proposals (matched by index *and* term),
//!   serving reads once applied far enough, snapshots. A Tokio task by
//!   default; a thread with [`RaftConfig::dedicated_apply_thread`].
//!
//! The leader's own disk write and its appends to followers start in the
//! same round: neither waits for the other (the core only counts the leader
//! toward a commit quorum once its write is durable).
//!
//! # Limits
//! Every queue is bounded: requests ([`RaftConfig::max_pending_proposals`],
//! [`RaftConfig::max_pending_reads`]), the inbox ([`RaftConfig::inbox_capacity`]),
//! uncommitted bytes on the leader ([`RaftConfig::max_uncommitted_bytes`]),
//! and the bytes handed to storage or the state machine and not yet done
//! ([`RaftConfig::max_backlog_bytes`]). A full limit answers
//! [`RaftError::Busy`]; nothing grows without bound.
//!
//! # Snapshots and membership
//! With a snapshot store ([`RaftNodeBuilder::snapshot_store`]) the core asks
//! for a snapshot every [`RaftConfig::snapshot_threshold`] applied entries;
//! the apply stage streams the state machine into the store, and the log is
//! then compacted up to [`RaftConfig::log_retention_entries`] before it. A
//! follower that falls behind the compaction receives the snapshot in chunks
//! (`snapshot_io.rs`: one open file per transfer, never a whole snapshot in
//! memory), restores its state machine from it and resets its log. Each
//! chunk is durable before it is acknowledged
//! ([`IncomingSnapshot`](crate::storage::IncomingSnapshot)), so a follower
//! restarted in the middle of a transfer resumes from the bytes it holds
//! instead of starting over. Every node
//! of a group needs a snapshot store, or none. Membership changes
//! ([`RaftNode::add_learner`], [`RaftNode::add_node`],
//! [`RaftNode::remove_node`], [`RaftNode::change_membership`]) go through
//! the log; a new node starts with [`RaftConfig::joining`].
//!
//! # Left out, for now
//! Addresses of nodes added at run time are known only to the node they were
//! added through.

mod apply;
mod config;
mod consensus;
mod error;
mod event;
mod node;
mod persist;
mod shared;
mod snapshot_io;
mod state_machine;
mod status;

pub use config::{ConfigError, Peer, RaftConfig};
pub use error::RaftError;
pub use event::{Event, EventStream, EventStreamError};
pub use node::{RaftNode, RaftNodeBuilder};
pub use state_machine::{Entry, StateMachine};
pub use status::NodeStatus;
