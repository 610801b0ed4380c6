//! The log: the durable part (read through [`LogRead`]) and, in the core, the
//! not-yet-durable tail.

mod memory;
mod read;

pub use memory::{MemoryLog, limit_by_bytes};
pub use read::{LogRead, LogReadError};
