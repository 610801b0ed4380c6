//! The node runtime: [`RaftNode`] drives the `ordo-core` consensus algorithm
//! with real time, storage, a transport and the application's
//! [`StateMachine`]. Its tour (tasks and threads, limits, snapshots,
//! member addresses) is the crate documentation, in `lib.rs`, since this
//! module is private: its public items are re-exported at the crate root,
//! their one path.

mod apply;
mod config;
mod consensus;
mod envelope;
mod error;
mod event;
mod handle;
mod persist;
mod seed;
mod shared;
mod snapshot_io;
mod snapshot_retry;
mod state_machine;
mod status;
#[cfg(test)]
mod test_stubs;

pub use config::{ConfigError, Peer, RaftConfig};
pub use error::RaftError;
pub use event::{Event, EventStream, EventStreamError};
pub use handle::{RaftNode, RaftNodeBuilder};
pub use seed::{SEED_INDEX, is_unfinished_seed, seed_snapshot};
pub use state_machine::{Entry, ReadConsistency, StateMachine};
pub use status::{ConsensusMetrics, NodeStatus};
