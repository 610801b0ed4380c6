//! The node runtime: [`RaftNode`] drives the `ordo-core` consensus algorithm
//! with real time, storage, a transport and the application's
//! [`StateMachine`]. Its tour (tasks and threads, limits, snapshots,
//! member addresses) is the crate documentation, in `lib.rs`, since this
//! module is private: its public items are re-exported at the crate root,
//! their one path.
//!
//! The folders follow the pipeline the tour draws, in the order a proposal
//! takes:
//!
//! ```text
//! handle/          what users hold: RaftNode, its builder, start, membership, test faults
//! consensus/       the consensus task: the loop, requests, proposal batching, reads,
//!                  carrying out actions, snapshots, graceful handoff, logging member info
//! addresses.rs     member addresses and labels (MemberInfo): the one owner, and the
//!                  transport's peers kept in step with what the log applied
//! persist.rs       the persistence thread: group commit
//! apply/           the apply stage: the state machine, waiting proposals, snapshots
//! snapshot_io.rs   the snapshot thread: chunks of snapshot transfers
//! shared.rs        what the stages report back to the consensus task, and the limits
//! ```
//!
//! Each message type lives with the stage that consumes it
//! (`consensus::Request`, `consensus::SnapshotEvent`, `apply::ApplyInput`,
//! `persist::PersistJob`, `snapshot_io::SnapshotJob`). Beside the stages, the
//! vocabulary users and every stage share: `config.rs`, `error.rs`,
//! `event.rs`, `status.rs`, `state_machine.rs` (the trait users implement);
//! and `envelope.rs` (the runtime's bytes around the application's),
//! `seed.rs` (a new group from a copy of a state), `snapshot_retry.rs`
//! (snapshot failures that do not stop the node), `snapshot_file.rs` (a
//! durable snapshot handed to the application to read).

mod addresses;
mod apply;
mod config;
mod consensus;
pub(crate) mod envelope;
mod error;
mod event;
mod handle;
mod persist;
mod seed;
mod shared;
mod snapshot_file;
mod snapshot_io;
mod snapshot_retry;
mod state_machine;
mod status;
#[cfg(test)]
mod test_stubs;

pub use addresses::MemberInfo;
pub use config::{ConfigError, Peer, RaftConfig};
pub use error::RaftError;
pub use event::{Event, EventStream, EventStreamError};
pub use handle::{RaftNode, RaftNodeBuilder};
pub use seed::{SEED_INDEX, is_unfinished_seed, seed_snapshot};
pub use snapshot_file::SnapshotFile;
pub use state_machine::{Entry, ReadConsistency, StateMachine};
pub use status::{ConsensusMetrics, NodeStatus};
