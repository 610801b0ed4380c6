//! Ordo: a Raft library.
//!
//! `ordo-core` decides; this crate does the I/O around it:
//! - [`RaftNode`]: the running node users hold (see [below](#how-the-runtime-works)): propose
//!   commands, read linearizably, watch events, stop gracefully.
//! - [`StateMachine`]: what the application plugs in.
//! - [`storage`]: the durable log ([`storage::WalLogStore`]), an in-memory log
//!   ([`storage::MemLogStore`]) and snapshot files ([`storage::SnapshotStore`]).
//! - [`transport`]: how nodes reach each other ([`transport::Transport`]):
//!   [`transport::tcp::TcpTransport`] between processes, a gRPC transport
//!   behind the `grpc` feature, and [`transport::InProcessNetwork`] for tests
//!   and benchmarks. `examples/tcp_cluster.rs` runs a cluster over TCP.
//!
//! # A replicated counter in three nodes
//!
//! ```
//! use std::io::{Read, Write};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use ordo::storage::MemLogStore;
//! use ordo::transport::InProcessNetwork;
//! use ordo::{Entry, Peer, RaftConfig, RaftError, RaftNode, StateMachine};
//!
//! #[derive(Default)]
//! struct Counter(i64);
//!
//! impl StateMachine for Counter {
//!     type Command = i64;          // add this much
//!     type Response = i64;         // the new total
//!     type Query = ();
//!     type Answer = i64;
//!
//!     fn apply(&mut self, entries: Vec<Entry<i64>>) -> Vec<i64> {
//!         entries.into_iter().map(|entry| { self.0 += entry.command; self.0 }).collect()
//!     }
//!     fn query(&self, _: ()) -> i64 { self.0 }
//!     fn snapshot(&self, out: &mut dyn Write) -> std::io::Result<()> {
//!         out.write_all(&self.0.to_le_bytes())
//!     }
//!     fn restore(&mut self, input: &mut dyn Read) -> std::io::Result<()> {
//!         let mut bytes = [0; 8];
//!         input.read_exact(&mut bytes)?;
//!         self.0 = i64::from_le_bytes(bytes);
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let network = InProcessNetwork::new();
//! let mut nodes = Vec::new();
//! for id in 1..=3 {
//!     let config = RaftConfig {
//!         node_id: id,
//!         address: format!("node-{id}"),
//!         peers: (1..=3).filter(|&p| p != id).map(|p| Peer::new(p, format!("node-{p}"))).collect(),
//!         ..RaftConfig::default()
//!     };
//!     let store = Arc::new(MemLogStore::new());
//!     let node = RaftNode::new(config, Counter::default(), store, network.transport(id))?;
//!     node.start().await?;
//!     nodes.push(node);
//! }
//!
//! // Any node can tell who leads once one is elected.
//! let leader_id = nodes[0].wait_for_leader(Duration::from_secs(10)).await?;
//! let leader = &nodes[leader_id as usize - 1];
//! assert_eq!(leader.propose(40).await?, 40);
//! assert_eq!(leader.propose(2).await?, 42);
//!
//! // A follower refuses proposals and names the leader...
//! let follower = nodes.iter().find(|node| node.id() != leader_id).unwrap();
//! match follower.propose(1).await {
//!     Err(RaftError::NotLeader { leader: Some((id, address)) }) => {
//!         assert_eq!((id, address), (leader_id, format!("node-{leader_id}")));
//!     }
//!     other => panic!("expected a redirect, got {other:?}"),
//! }
//! // ...but serves linearizable reads: it sees every acknowledged write.
//! assert_eq!(follower.read_index(()).await?, 42);
//!
//! for node in &nodes {
//!     node.stop().await;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # How the runtime works
//!
//! ## Tasks and threads (per node)
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
//! The folders under `runtime/` follow this picture:
//!
//! - `handle/`: [`RaftNode`] and its builder; every call becomes a request,
//!   a proposal on the queue, or (a stale read) an input to the apply stage.
//! - `consensus/`: the loop, batching, back-pressure, time. This is where
//!   batching happens: every proposal queued when a round starts becomes one
//!   core append (one persist, one message per follower; `batch.rs`). The
//!   proposal queue (`proposals.rs`) holds the next batch under a lock (one
//!   wake-up of the consensus task per batch, not per proposal), bounded by
//!   [`RaftConfig::max_pending_proposals`]. `pause.rs`: the gate
//!   [`RaftNode::pause`] closes; the consensus task passes it once per round
//!   (test kit: see also [`RaftNode::abort`]).
//! - `persist.rs`: group commit on its own thread (one fsync per batch of
//!   persists). A store whose writes never block (memory) is written inline by
//!   the consensus task instead: no thread, no hand-off.
//! - `apply/`: applying, answering proposals (matched by index *and* term,
//!   `waiters.rs`), serving reads once applied far enough, snapshots. A Tokio
//!   task by default; a thread with [`RaftConfig::dedicated_apply_thread`].
//! - `snapshot_io.rs`: the snapshot thread, fed by the consensus task like
//!   the persistence thread: chunks of snapshot transfers (see below).
//! - `shared.rs`: what the persistence, apply and snapshot stages report back
//!   (progress as atomics, finished snapshot work in a mailbox, one wake-up);
//!   ARCHITECTURE.md says why that direction is not a channel.
//!
//! The leader's own disk write and its appends to followers start in the
//! same round: neither waits for the other (the core only counts the leader
//! toward a commit quorum once its write is durable).
//!
//! ## Limits
//! Every queue is bounded: requests ([`RaftConfig::max_pending_proposals`],
//! [`RaftConfig::max_pending_reads`]), the inbox ([`RaftConfig::inbox_capacity`]),
//! uncommitted bytes on the leader ([`RaftConfig::max_uncommitted_bytes`]),
//! and the bytes handed to storage or the state machine and not yet done
//! ([`RaftConfig::max_backlog_bytes`]). A full limit answers
//! [`RaftError::Busy`]; nothing grows without bound.
//!
//! ## Snapshots and membership
//! With a snapshot store ([`RaftNodeBuilder::snapshot_store`]) the core asks
//! for a snapshot every [`RaftConfig::snapshot_threshold_entries`] applied entries;
//! the apply stage streams the state machine into the store, and the log is
//! then compacted up to [`RaftConfig::log_retention_entries`] before it
//! (a snapshot's data is a small header of the runtime's, then the state
//! machine's bytes exactly as it streamed them). A
//! follower that falls behind the compaction receives the snapshot in chunks
//! (`snapshot_io.rs`: one open file per transfer, never a whole snapshot in
//! memory), restores its state machine from it and resets its log. Each
//! chunk is durable before it is acknowledged
//! ([`IncomingSnapshotFile`](crate::storage::IncomingSnapshotFile)), so a follower
//! restarted in the middle of a transfer resumes from the bytes it holds
//! instead of starting over. Every node
//! of a group needs a snapshot store, or none. Membership changes
//! ([`RaftNode::add_learner`], [`RaftNode::add_node`],
//! [`RaftNode::remove_node`], [`RaftNode::change_membership`]) go through
//! the log; a new node starts with [`RaftConfig::joining`], and
//! [`RaftNode::add_node`] lets it copy the log as a learner before it votes
//! ([`RaftConfig::promote_after_catch_up`]). [`RaftNode::snapshot`] takes a
//! snapshot on demand; [`RaftNode::read_snapshot`] opens one that covers a
//! linearizable read (the newest if it does, else a new one) as a
//! [`SnapshotFile`] that compaction cannot take away, so an application
//! serves a backup from disk, not from a copy of its state. A build that fails (a full disk, no file descriptors
//! left) is not fatal: the log keeps every entry, the next attempt waits
//! 1 s, doubling to 1 min (`snapshot_retry.rs`), every failure is counted in
//! [`NodeStatus::snapshot_failures`], and each kind is logged and sent as an
//! [`Event::Error`] at most once a minute.
//!
//! ## Member addresses
//! What the group knows of each member is a [`MemberInfo`]: where clients
//! reach it (the address [`RaftError::NotLeader`] names), where peers dial
//! it (what a transport such as [`transport::NetworkTransport`] needs), and
//! the application's own labels. It has one owner, `runtime/addresses.rs`,
//! and travels like the configuration it belongs to, through the log:
//!
//! - [`RaftNode::add_learner`] and [`RaftNode::add_node`] append, right
//!   behind the configuration entry and in the same append, an entry of the
//!   runtime's own (`envelope.rs`: every command entry carries a one-byte tag,
//!   the application's commands or the runtime's) holding the new member's
//!   information. Only a change the core accepted gets one, so refused or
//!   retried changes leave nothing. [`RaftNode::update_member_info`] logs a
//!   member that moved; a new leader logs its own
//!   ([`RaftConfig::address`], [`RaftConfig::peer_address`],
//!   [`RaftConfig::labels`]) when the log it applied says otherwise. Each
//!   entry is merged into what was logged ([`MemberInfo::updated_by`]).
//! - What nodes **report** ([`RaftNode::member_infos`], redirects) is
//!   learned when the entry is applied, never when appended: an entry a new
//!   leader truncates never reaches a client. The logged part is the same on
//!   every node at the same applied index ([`Event::MemberInfoChanged`]).
//! - Where transports **dial** follows the log as appended: a member that
//!   moved may be needed to commit the very entry that says so, and a voter
//!   added directly must be reached before its configuration commits. An
//!   entry the log truncates stops being dialed; at start, the log's
//!   unapplied suffix counts as appended ([`RaftNode::member_hints`]).
//! - Snapshots carry what was logged up to their index in a small header
//!   before the state machine's bytes, so it outlives log compaction and
//!   reaches nodes that catch up from a snapshot.
//! - The transport hears of every member that joins, moves or leaves through
//!   one hook, [`transport::Transport::update_peer`]: nothing polls, and
//!   nobody copies addresses into it. Its peers are the members of the
//!   configuration the core uses. A member that left it keeps its link for
//!   ten election timeouts, long enough to hear of its removal (`ordo-core`'s
//!   `raft/removal.rs`), then is removed and refused at the handshake.
//!
//! We chose this over adding addresses to `ordo_core::Membership`: the
//! consensus core stays free of what only the runtime needs, and nothing in
//! the core, its transcripts or the simulator changes. The price is one
//! byte per command entry, and a narrow window: a node that knows a leader
//! but has not yet applied the entry with its address (it is behind, was
//! down when the leader joined, or just restarted) answers
//! `NotLeader { leader: None }` rather than an address it does not have. A
//! redirect never names an empty or made-up address. Information about
//! removed members is kept (a few bytes each).
//!
//! Messages from a node this one does not (yet) know as a member are
//! stepped like any other: a node that was down while the group changed
//! hears of the new leader only from that leader. The core decides what a
//! message may change; transports establish who sent it.

// For the fuzz targets in `fuzz/` only (feature `fuzzing`): not API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod runtime;
pub mod storage;
pub mod transport;

pub use ordo_core::{HardState, Index, Membership, MembershipChange, NodeId, Role, Term};
pub use runtime::{
    ConfigError, ConsensusMetrics, Entry, Event, EventStream, EventStreamError, MemberInfo,
    NodeStatus, Peer, RaftConfig, RaftError, RaftNode, RaftNodeBuilder, ReadConsistency,
    SEED_INDEX, SnapshotFile, StateMachine, is_unfinished_seed, seed_snapshot,
};
