//! The log: the durable part (read through [`LogRead`]) and, in the core, the
//! not-yet-durable tail ([`RaftLog`] joins them).

mod memory;
mod raft_log;
mod read;
mod unstable;

pub use memory::{MemoryLog, limit_by_bytes};
pub(crate) use raft_log::{AppendOutcome, RaftLog};
pub use read::{LogRead, LogReadError};
