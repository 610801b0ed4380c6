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
//! - **Snapshot**: the entries the follower needs were compacted away; the
//!   leader sends its snapshot in chunks.
//!
//! `match_index` normally only grows. It is lowered in one case: a probe at
//! the match point is rejected with a hint below it, so the follower's
//! storage lost entries it had acknowledged. Lowering it is safe (the commit
//! index never goes back) and lets the leader repair the follower instead of
//! probing the same index forever.

mod inflights;
#[allow(clippy::module_inception)]
mod progress;
mod tracker;

pub(crate) use inflights::Inflights;
pub(crate) use progress::{Progress, ProgressState, Rejection};
pub(crate) use tracker::{ProgressTracker, WindowLimits};
