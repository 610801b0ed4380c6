//! Ordo's Raft consensus algorithm, sans I/O.

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
pub use config::{Config, ConfigError, MAX_TERM_JUMP_MIN};
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
pub use planted::{PLANTED_BUGS, planted_bugs};
pub use quorum::{JointConfig, MajorityConfig, VoteResult};
pub use raft::{InitialState, MAX_TERM, Proposal, Raft, ReadMode};
pub use snapshot::{PartialSnapshot, SnapshotMeta, SnapshotRead, SnapshotWrite};
pub use status::{PeerProgress, Role, SoftState, Status};
pub use types::{Index, NodeId, Term};
