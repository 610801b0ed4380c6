//! How the server's errors become gRPC statuses, by what the client should
//! do next: a rule refusal is final; everything else may be retried (every
//! write is idempotent), at the leader the status names when it knows one.

use ordo::RaftError;
use tonic::{Code, Status};

use crate::model::RuleError;

/// Trailer naming the leader's node id on a redirect.
pub const LEADER_ID_KEY: &str = "ordo-leader-id";
/// Trailer naming the leader's client API address on a redirect.
pub const LEADER_ADDRESS_KEY: &str = "ordo-leader-address";

/// The status for a command the rules refused.
pub(crate) fn rule_status(error: &RuleError) -> Status {
    let code = match error {
        RuleError::EmptyId(_) | RuleError::Inconsistent(_) => Code::InvalidArgument,
        RuleError::Conflict { .. } => Code::AlreadyExists,
        RuleError::UnknownService(_) | RuleError::UnknownSidecar(_) => Code::NotFound,
        RuleError::ServiceInUse { .. } | RuleError::WrongSidecar { .. } => Code::FailedPrecondition,
    };
    Status::new(code, error.to_string())
}

/// The status for a request the node could not carry out.
pub(crate) fn raft_status(error: RaftError) -> Status {
    match error {
        RaftError::NotLeader { leader } => not_leader(leader),
        RaftError::Busy { .. } => Status::resource_exhausted(error.to_string()),
        RaftError::Timeout => Status::deadline_exceeded(error.to_string()),
        // The write may or may not have been applied: retrying is safe.
        RaftError::OutcomeUnknown => Status::unknown(error.to_string()),
        RaftError::ProposalDropped
        | RaftError::LeadershipChanged
        | RaftError::TransferInProgress { .. }
        | RaftError::ShuttingDown
        | RaftError::NotStarted => Status::unavailable(error.to_string()),
        other => Status::internal(other.to_string()),
    }
}

fn not_leader(leader: Option<(ordo::NodeId, String)>) -> Status {
    let mut status = Status::unavailable("not the leader");
    if let Some((id, address)) = leader {
        let metadata = status.metadata_mut();
        if let (Ok(id), Ok(address)) = (id.to_string().parse(), address.parse()) {
            metadata.insert(LEADER_ID_KEY, id);
            metadata.insert(LEADER_ADDRESS_KEY, address);
        }
    }
    status
}

/// The leader's API address a status names, if it is a redirect.
pub fn redirect_address(status: &Status) -> Option<String> {
    let address = status.metadata().get(LEADER_ADDRESS_KEY)?;
    address.to_str().ok().map(str::to_owned)
}

/// True if the request may be retried (elsewhere or later). CANCELLED is
/// what a client's own timeout reports: the outcome is unknown.
pub fn is_retryable(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::ResourceExhausted
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Cancelled
    )
}
