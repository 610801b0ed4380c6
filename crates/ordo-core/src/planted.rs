//! Deliberately broken rules, each behind its own cargo feature, so the
//! simulator can prove it catches every one (a checker that cannot fail proves
//! nothing). None is ever enabled in a real build; `PLANTED_BUGS` lets a test
//! binary say which, if any, it was built with. That list is exported only
//! under the `simulation` feature (which ordo-sim enables): it is a hook for
//! the simulator, not public API.

/// Commit an entry of an older term by counting replicas (Raft Figure 8).
pub(crate) const COMMIT_OLD_TERM: bool = cfg!(feature = "planted-bug-commit-old-term");
/// Grant a vote to every up-to-date candidate, even a second one in a term.
pub(crate) const DOUBLE_VOTE: bool = cfg!(feature = "planted-bug-double-vote");
/// Send votes and append acknowledgements before they are durable.
pub(crate) const ACK_BEFORE_DURABLE: bool = cfg!(feature = "planted-bug-ack-before-durable");
/// Hand entries to the state machine before they are committed.
pub(crate) const APPLY_BEFORE_COMMIT: bool = cfg!(feature = "planted-bug-apply-before-commit");

/// Ignore the repair point: vote and campaign with a log that lost
/// acknowledged entries.
pub(crate) const VOTE_AFTER_CUT: bool = cfg!(feature = "planted-bug-vote-after-cut");

/// Treat a removed node as before issue 11: the leader forgets departed
/// members once their removal commits, whether or not they received it, and
/// nobody answers a removed node (it may campaign forever).
pub(crate) const REMOVED_NOT_TOLD: bool = cfg!(feature = "planted-bug-removed-not-told");

/// Answer reads at once, without confirming leadership with a quorum.
pub(crate) const STALE_READ: bool = cfg!(feature = "planted-bug-stale-read");

/// Resume a snapshot transfer onto bytes of another snapshot at the same
/// index and term (ignore the announced content), splicing two snapshots.
pub(crate) const SPLICE_SNAPSHOT: bool = cfg!(feature = "planted-bug-splice-snapshot");

/// The planted bugs compiled into this build; empty in every real build.
#[cfg(feature = "simulation")]
pub const PLANTED_BUGS: &[(&str, bool)] = &[
    ("commit-old-term", COMMIT_OLD_TERM),
    ("double-vote", DOUBLE_VOTE),
    ("ack-before-durable", ACK_BEFORE_DURABLE),
    ("apply-before-commit", APPLY_BEFORE_COMMIT),
    ("stale-read", STALE_READ),
    ("vote-after-cut", VOTE_AFTER_CUT),
    ("splice-snapshot", SPLICE_SNAPSHOT),
    ("removed-not-told", REMOVED_NOT_TOLD),
];

/// Names of the planted bugs enabled in this build.
#[cfg(feature = "simulation")]
pub fn planted_bugs() -> Vec<&'static str> {
    PLANTED_BUGS
        .iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect()
}
