//! Quorum arithmetic, as pure functions.
//!
//! Two questions decide everything in Raft: "which index has a quorum stored?"
//! (commit) and "has a quorum granted its vote?" (election). A plain
//! configuration answers them with one majority ([`MajorityConfig`]); a joint
//! configuration during a membership change needs a majority of *both* halves
//! ([`JointConfig`]) — two majorities combined, not a second algorithm.
//!
//! These functions know nothing of roles, messages or logs. They are tested
//! against brute-force twins on random inputs.

mod joint;
mod majority;

pub use joint::JointConfig;
pub use majority::MajorityConfig;

/// The outcome of an election so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    /// A quorum granted.
    Won,
    /// A quorum can no longer be reached, whatever the missing voters say.
    Lost,
    /// Neither yet.
    Pending,
}
