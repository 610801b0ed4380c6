//! What a leader knows about each follower's log, and how fast it may send.
//!
//! Each peer is in one of two states:
//! - **Probe**: the leader does not know where the follower's log matches. It
//!   sends one append at a time and waits for the answer (or the next heartbeat
//!   response) before sending another, walking back with rejection hints.
//! - **Replicate**: the follower's log is known to match up to `match_index`.
//!   The leader streams appends optimistically, advancing `next_index` as it
//!   sends, bounded by an in-flight window of messages and bytes.
//!
//! (A third state, sending a snapshot, arrives with log compaction.)

mod inflights;
#[allow(clippy::module_inception)]
mod progress;
mod tracker;

pub(crate) use inflights::Inflights;
pub(crate) use progress::{Progress, ProgressState};
pub(crate) use tracker::{ProgressTracker, WindowLimits};
