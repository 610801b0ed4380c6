//! Errors of the consensus core, typed by what the caller does next.

use thiserror::Error;

use crate::config::ConfigError;
use crate::log::LogReadError;
use crate::types::{NodeId, Term};

/// A failure the node cannot continue from: stop it and look at the storage.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Error {
    /// Reading the log failed. The core's state is unchanged from before the
    /// input that hit the failure only if the failure came first; treat the
    /// node as failed and restart it from its durable state.
    #[error("log storage failed; stop this node, check its storage, then restart it: {0}")]
    Storage(#[from] LogReadError),
    /// The next election would need a term at or past [`MAX_TERM`](crate::MAX_TERM):
    /// this group can elect no leader again. No real group gets near it
    /// (each election adds one); only forged or corrupted messages, each
    /// within [`Config::max_term_jump`](crate::Config::max_term_jump) of the
    /// last, could have carried the terms this far.
    #[error(
        "term {term} leaves no room for another election (the cap is {cap}); only forged or \
         corrupted peer messages raise terms this far: find their source (the nodes' refused-term \
         counters), then restore the data into a new group from a backup"
    )]
    TermsExhausted {
        /// The node's current term.
        term: Term,
        /// The cap, [`MAX_TERM`](crate::MAX_TERM).
        cap: Term,
    },
}

/// Why reads were not accepted.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ReadError {
    /// No leader is known to confirm reads: retry once one is elected.
    #[error("no leader is known; retry reads after an election")]
    NoLeader,
    /// The node failed; see [`Error`](enum@crate::Error).
    #[error(transparent)]
    Fatal(#[from] Error),
}

/// Why a leadership transfer was not started.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum TransferError {
    /// Only the leader can hand leadership over; ask `leader`, if known.
    #[error("this node is not the leader (leader: {leader:?}); ask the leader to transfer")]
    NotLeader {
        /// The leader this node knows of, if any.
        leader: Option<NodeId>,
    },
    /// The target does not vote (a learner or not a member), so it could not
    /// be elected.
    #[error("node {target} is not a voter and cannot become leader")]
    NotAVoter {
        /// The requested target.
        target: NodeId,
    },
    /// The node failed; see [`Error`](enum@crate::Error).
    #[error(transparent)]
    Fatal(#[from] Error),
}

/// Why a node could not be created.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum StartError {
    /// The configuration breaks a rule.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Reading the log (to recover the membership) failed.
    #[error("reading the log at start failed; check the storage: {0}")]
    Storage(#[from] LogReadError),
}

/// Why a membership change was not started. Nothing was appended.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ChangeError {
    /// Only the leader changes membership; ask `leader`, if known.
    #[error("this node is not the leader (leader: {leader:?}); ask the leader")]
    NotLeader {
        /// The leader this node knows of, if any.
        leader: Option<NodeId>,
    },
    /// Another change is not committed yet (or a joint change not finished):
    /// one change at a time. Retry once it completes.
    #[error("a membership change is in progress; retry once it has completed")]
    ChangeInProgress,
    /// A new leader must commit an entry of its own term before changing the
    /// membership (otherwise two single-server changes could overlap). Retry
    /// shortly.
    #[error("the leader has not committed an entry of its term yet; retry shortly")]
    LeaderNotReady,
    /// The leader is handing leadership over; retry at the new leader.
    #[error("leadership is being transferred to node {target}; retry at the new leader")]
    TransferInProgress {
        /// The node taking over.
        target: NodeId,
    },
    /// The change makes no sense against the current membership.
    #[error("invalid membership change: {0}")]
    Invalid(String),
    /// The node failed; see [`Error`](enum@crate::Error).
    #[error(transparent)]
    Fatal(#[from] Error),
}

/// Why a proposal was not accepted. Nothing was appended in any case.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ProposeError {
    /// Only the leader accepts proposals. Send it to `leader` if known, or
    /// retry once a leader is elected.
    #[error("this node is not the leader (leader: {leader:?}); send proposals to the leader")]
    NotLeader {
        /// The leader this node knows of, if any.
        leader: Option<NodeId>,
    },
    /// Too many bytes are appended but not yet committed. Back off and retry.
    #[error("too busy: {uncommitted_bytes} bytes await commit (limit {limit_bytes}); retry later")]
    Busy {
        /// Bytes awaiting commit.
        uncommitted_bytes: u64,
        /// The configured limit.
        limit_bytes: u64,
    },
    /// The leader is handing leadership to `target` and takes no proposals
    /// meanwhile. Retry shortly, at the new leader.
    #[error("leadership is being transferred to node {target}; retry at the new leader shortly")]
    TransferInProgress {
        /// The node taking over.
        target: NodeId,
    },
    /// The node failed while proposing; see [`Error`](enum@crate::Error).
    #[error(transparent)]
    Fatal(#[from] Error),
}
