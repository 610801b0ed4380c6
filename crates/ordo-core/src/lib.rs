//! Ordo's Raft consensus algorithm, sans I/O.

mod actions;
mod config;
mod entry;
mod hard_state;
mod log;
mod membership;
mod message;
mod status;
mod types;

pub use actions::{Actions, Persist, PersistId};
pub use config::{Config, ConfigError};
pub use entry::{Entry, EntryPayload, total_payload_bytes};
pub use hard_state::HardState;
pub use log::{LogRead, LogReadError, MemoryLog, limit_by_bytes};
pub use membership::Membership;
pub use message::{AppendRequest, AppendResponse, Heartbeat, Message, MessageBody, VoteRequest, VoteResponse};
pub use status::{Role, SoftState};
pub use types::{Index, NodeId, Term};
