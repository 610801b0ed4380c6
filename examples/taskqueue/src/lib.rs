//! A replicated task queue on Ordo: the seed's `task_queue_raft`, made real.
//!
//! Producers [`enqueue`](TaskQueue::enqueue) tasks; workers
//! [`claim`](TaskQueue::claim) one for a visibility timeout and get a claim
//! token, then [`ack`](TaskQueue::ack) it (done) or [`nack`](TaskQueue::nack)
//! it (back to the queue). A claim that expires returns the task to its
//! queue; a task claimed `max_attempts` times without an ack is
//! dead-lettered. Delivery is at least once; an acked task is never
//! delivered again.
//!
//! ```text
//!  client ──frames──► client port (server.rs) ─► TaskQueue (queue.rs) ─► RaftNode::propose
//!                                                  stamps the leader's clock     │ Ordo: WAL, TCP peers
//!                                                                                ▼
//!  expiry.rs (leader only): a Tick when a deadline passed ──► log ─► TaskQueueMachine::apply
//!                                                                    (machine.rs → state.rs rules)
//! ```
//!
//! # Three nodes, one task
//!
//! ```
//! use std::time::Duration;
//! use ordo_taskqueue::local::LocalCluster;
//! use ordo_taskqueue::{Client, ClientError, Refusal};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let data = tempfile::tempdir()?;
//! // Three nodes in this process on loopback TCP, each with its own WAL.
//! let cluster = LocalCluster::start(3, data.path(), |_| {}).await?;
//! // A client may start at any node: it follows redirects to the leader.
//! let mut client = Client::new(cluster.client_addresses());
//!
//! let id = client.enqueue("jobs", b"resize photo 42".to_vec()).await?;
//! let task = client.claim("jobs", "worker-1", Duration::from_secs(30)).await?;
//! let task = task.ok_or("the queue should hold the task")?;
//! assert_eq!((task.id, task.attempt), (id, 1));
//!
//! client.ack(task.id, task.token).await?;
//! client.ack(task.id, task.token).await?; // a retried ack is answered the same
//! let stale = client.ack(task.id, task.token + 1).await;
//! assert!(matches!(stale, Err(ClientError::Refused(Refusal::AlreadyAcked))));
//! assert_eq!(client.claim("jobs", "worker-1", Duration::from_secs(30)).await?, None);
//!
//! cluster.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! Where things are:
//! - [`state`]: the rules, pure (no clock, no I/O), and their invariants.
//! - [`command`]: what goes through the log, what comes back.
//! - [`machine`]: the rules as an Ordo [`StateMachine`](ordo::StateMachine), with snapshots.
//! - [`queue`]: the operations on one node; `submit_command` answers the
//!   seed's [`RaftResult`].
//! - [`node`]: one member (Ordo's `WalLogStore`, `SnapshotStore`, `TcpTransport`).
//! - [`protocol`], `server.rs`, [`client`]: the client protocol (4-byte
//!   big-endian length-prefixed frames), its server and a client that
//!   follows the leader.
//! - [`checker`]: the contract, checked against what clients saw.
//! - [`local`]: N nodes in one process, for the demo and tests.
//!
//! Time: only the leader's clock matters. Every command carries the wall
//! clock of the node that proposed it, and only a leader's proposals commit;
//! the state's clock is the largest time the log carried, and a claim
//! expires when a command applied after its deadline moves the clock past
//! it — at the same log position on every replica.
//!
//! Left out on purpose: purging acked tasks' tombstones (each keeps its id
//! and token, a few bytes, so a retried ack is answered exactly), priorities
//! and delays, and batching several tasks per claim.

pub mod checker;
pub mod client;
pub mod command;
mod expiry;
pub mod local;
pub mod machine;
pub mod node;
pub mod protocol;
pub mod queue;
mod server;
pub mod state;

pub use client::{Client, ClientError};
pub use command::{ClaimedTask, Op, QueueStats, Refusal};
pub use node::{PeerAddresses, QueueNode, QueueNodeConfig, StartError};
pub use queue::{QueueError, RaftResult, TaskQueue};
pub use state::{ClaimToken, TaskId};
