//! The node runtime: [`RaftNode`] drives the `ordo-core` consensus algorithm
//! with real time, storage, a transport and the application's
//! [`StateMachine`]. Users call methods; they never drive the core by hand.
//!
//! # Tasks and threads (per node)
//!
//! ```text
//!  handles ──propose───────► [proposal queue] ────┐
//!  handles ──read, status…──► [requests, bounded] ─┤
//!  transport ──messages─────► [inbox, bounded] ────┤
//!                                                  ▼
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
//! - `proposals.rs`: the proposal queue, the next batch under a lock (one
//!   wake-up of the consensus task per batch, not per proposal), bounded by
//!   [`RaftConfig::max_pending_proposals`].
//! - `persist.rs`: group commit on its own thread (one fsync per batch of
//!   persists). A store whose writes never block (memory) is written inline by
//!   the consensus task instead: no thread, no hand-off.
//! - `pause.rs`: the gate [`RaftNode::pause`] closes; the consensus task
//!   passes it once per round (test kit: see also [`RaftNode::abort`]).
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
//! then compacted up to [`RaftConfig::log_retention_entries`] before it
//! (a snapshot's data is a small header of the runtime's, then the state
//! machine's bytes exactly as it streamed them). A
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
//! the log; a new node starts with [`RaftConfig::joining`], and
//! [`RaftNode::add_node`] lets it copy the log as a learner before it votes
//! ([`RaftConfig::promote_after_catch_up`]). [`RaftNode::snapshot`] takes a
//! snapshot on demand. A build that fails (a full disk, no file descriptors
//! left) is not fatal: the log keeps every entry, the next attempt waits
//! 1 s, doubling to 1 min (`snapshot_retry.rs`), every failure is counted in
//! [`NodeStatus::snapshot_failures`], and each kind is logged and sent as an
//! [`Event::Error`] at most once a minute.
//!
//! # Member addresses
//! [`RaftError::NotLeader`] names the leader's address ([`RaftConfig::address`]),
//! so every node must know the address of every member that may lead,
//! including those added at run time through some other node. The address
//! travels like the configuration it belongs to, through the log:
//!
//! - [`RaftNode::add_learner`] and [`RaftNode::add_node`] append, right
//!   behind the configuration entry and in the same append, an entry of the
//!   runtime's own (`envelope.rs`: every command entry carries a one-byte tag,
//!   the application's commands or the runtime's) holding the new member's
//!   address and every member address the leader knows. Only a change the
//!   core accepted gets one, so refused or retried changes leave nothing.
//! - Each node learns addresses when such an entry is *appended* to its log,
//!   as the configuration takes effect when appended; a restarting node reads
//!   them back from its log (as the core reads configuration entries).
//! - Snapshots carry the addresses logged up to their index in a small header
//!   before the state machine's bytes, so they outlive log compaction and
//!   reach nodes that catch up from a snapshot.
//!
//! We chose this over adding addresses to `ordo_core::Membership`: the
//! consensus core stays free of what only the runtime needs, and nothing in
//! the core, its transcripts or the simulator changes. The price is one
//! byte per command entry, and a narrow window: a node that knows a leader
//! but not yet the entry with its address (it is behind, or was down when
//! the leader joined) answers `NotLeader { leader: None }` rather than an
//! address it does not have. A redirect never names an empty or made-up
//! address. Addresses of removed members are kept (a few bytes each).
//!
//! Messages from a node this one does not (yet) know as a member are
//! stepped like any other: a node that was down while the group changed
//! hears of the new leader only from that leader. The core decides what a
//! message may change; transports establish who sent it.

mod apply;
mod config;
mod consensus;
mod envelope;
mod error;
mod event;
mod node;
mod pause;
mod persist;
mod proposals;
mod seed;
mod shared;
mod snapshot_io;
mod snapshot_retry;
mod state_machine;
mod status;
#[cfg(test)]
mod test_stubs;
mod waiters;

pub use config::{ConfigError, Peer, RaftConfig};
pub use error::RaftError;
pub use event::{Event, EventStream, EventStreamError};
pub use node::{RaftNode, RaftNodeBuilder};
pub use seed::{SEED_INDEX, is_unfinished_seed, seed_snapshot};
pub use state_machine::{Entry, ReadConsistency, StateMachine};
pub use status::{ConsensusMetrics, NodeStatus};
