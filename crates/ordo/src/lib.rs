//! Ordo: a Raft library.
//!
//! `ordo-core` decides; this crate does the I/O around it:
//! - [`RaftNode`]: the running node users hold (see [`runtime`]): propose
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

pub mod runtime;
pub mod storage;
pub mod transport;

pub use ordo_core::{HardState, Index, Membership, MembershipChange, NodeId, Role, Term};
pub use runtime::{
    ConfigError, ConsensusMetrics, Entry, Event, EventStream, EventStreamError, NodeStatus, Peer,
    RaftConfig, RaftError, RaftNode, RaftNodeBuilder, ReadConsistency, SEED_INDEX, StateMachine,
    is_unfinished_seed, seed_snapshot,
};
