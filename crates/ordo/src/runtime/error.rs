//! [`RaftError`]: the runtime's one error type, grouped by the caller's next move.

use std::sync::Arc;

use ordo_core::NodeId;
use thiserror::Error;

use crate::runtime::config::ConfigError;
use crate::storage::StorageError;
use crate::transport::TransportError;

/// Why a [`RaftNode`](crate::RaftNode) call failed.
///
/// By what the caller does next:
/// - **Redirect**: [`NotLeader`](Self::NotLeader) (to `leader`, or retry
///   after an election when it is `None`).
/// - **Retry** (the command was *not* applied): [`ProposalDropped`](Self::ProposalDropped),
///   [`LeadershipChanged`](Self::LeadershipChanged),
///   [`TransferInProgress`](Self::TransferInProgress).
/// - **Back off, then retry**: [`Busy`](Self::Busy).
/// - **Find out** (the outcome is unknown: the command may or may not be
///   applied): [`Timeout`](Self::Timeout), [`OutcomeUnknown`](Self::OutcomeUnknown),
///   and [`ShuttingDown`](Self::ShuttingDown)
///   for a proposal that was already accepted.
/// - **Stop and look**: [`Storage`](Self::Storage), [`Transport`](Self::Transport),
///   [`Fatal`](Self::Fatal), [`StateMachine`](Self::StateMachine),
///   [`Snapshot`](Self::Snapshot).
/// - **Fix the call**: [`Config`](Self::Config), [`InvalidMessage`](Self::InvalidMessage),
///   [`InvalidCommand`](Self::InvalidCommand), [`NotAVoter`](Self::NotAVoter),
///   [`InvalidMembershipChange`](Self::InvalidMembershipChange),
///   [`AlreadyStarted`](Self::AlreadyStarted), [`NotStarted`](Self::NotStarted).
#[derive(Clone, Debug, Error)]
pub enum RaftError {
    /// Only the leader accepts proposals (and confirms reads, for a node that
    /// knows no leader). Send the request to `leader`: its id and configured
    /// address, known on every node however the leader joined. `None`: no
    /// leader is known yet (retry after an election), or this node is behind
    /// and has not yet received the new leader's address (retry shortly, or
    /// ask another node).
    #[error("this node is not the leader (leader: {leader:?}); send the request there")]
    NotLeader {
        /// The leader this node knows of, and its address.
        leader: Option<(NodeId, String)>,
    },
    /// The proposal was accepted but lost to a leader change before it was
    /// committed: it was **not** applied. Retry it.
    #[error("the proposal was dropped by a leader change and not applied; retry it")]
    ProposalDropped,
    /// Leadership changed before the read could be confirmed. Retry it.
    #[error("leadership changed before the read was confirmed; retry it")]
    LeadershipChanged,
    /// The leader is handing leadership to `target` and accepts no proposals
    /// meanwhile. Retry shortly, at the new leader.
    #[error("leadership is moving to node {target}; retry there shortly")]
    TransferInProgress {
        /// The node taking over.
        target: NodeId,
    },
    /// A queue or limit is full. Nothing was done: back off and retry.
    #[error("the node is too busy ({reason}); back off and retry")]
    Busy {
        /// Which limit was hit.
        reason: &'static str,
    },
    /// No answer in time. For a proposal the outcome is **unknown**: it may
    /// still be applied. Read your own state (or make commands idempotent)
    /// before retrying.
    #[error("no answer within the timeout; the outcome is unknown")]
    Timeout,
    /// The node is stopping or stopped. A proposal it had already accepted may
    /// still be applied by the rest of the group.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// [`RaftNode::start`](crate::RaftNode::start) was already called.
    #[error("the node was already started")]
    AlreadyStarted,
    /// The node has not been started yet.
    #[error("the node is not started; call start first")]
    NotStarted,
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Storage failed; the node stopped. Check the disk, then restart the node
    /// on its store (what was reported durable is still there).
    #[error("storage failed; the node stopped: {0}")]
    Storage(Arc<StorageError>),
    /// The transport could not start.
    #[error("transport failed: {0}")]
    Transport(Arc<TransportError>),
    /// The consensus core failed (a log read failed); the node stopped.
    #[error("consensus failed; the node stopped: {0}")]
    Fatal(String),
    /// The state machine broke its contract (a snapshot or restore failed, or
    /// `apply` returned the wrong number of responses).
    #[error("state machine error: {0}")]
    StateMachine(String),
    /// A snapshot could not be built, sent, received or installed. Not fatal
    /// unless the node stops: the core retries.
    #[error("snapshot failed: {0}")]
    Snapshot(String),
    /// Not known whether the command was applied: this node stopped leading
    /// before it committed (the next leader may or may not commit it), or
    /// replaced its state with a snapshot that may or may not include it.
    /// Find out (read) before retrying.
    #[error(
        "the proposal's outcome is unknown (this node stopped leading before it committed, or a \
         snapshot replaced this node's log)"
    )]
    OutcomeUnknown,
    /// A message handed to [`RaftNode::receive`](crate::RaftNode::receive)
    /// cannot be for this node.
    #[error("refused message: {0}")]
    InvalidMessage(String),
    /// A command could not be encoded (or, on apply, decoded).
    #[error("command encoding failed: {0}")]
    InvalidCommand(String),
    /// The node asked for cannot become leader (not a voting member).
    #[error("node {0} is not a voting member")]
    NotAVoter(NodeId),
    /// The membership change makes no sense against the current membership
    /// (adding a voter as a learner, removing a stranger, no voters left...).
    #[error("invalid membership change: {0}")]
    InvalidMembershipChange(String),
}

impl From<StorageError> for RaftError {
    fn from(error: StorageError) -> Self {
        RaftError::Storage(Arc::new(error))
    }
}

impl From<TransportError> for RaftError {
    fn from(error: TransportError) -> Self {
        RaftError::Transport(Arc::new(error))
    }
}

impl From<ordo_core::Error> for RaftError {
    fn from(error: ordo_core::Error) -> Self {
        RaftError::Fatal(error.to_string())
    }
}
