//! [`ApiError`]: every error the HTTP API answers, as a status, a JSON
//! [`ErrorBody`](crate::api::ErrorBody) and the headers that tell a client
//! what to do next (`Location` for a redirect, `Retry-After` to wait).
//!
//! A write (anything proposed to the log) gets one of two kinds of error
//! answer: *not proposed* (a redirect, `no_leader`, `busy`,
//! `insufficient_storage`, a bad request, and 500 `internal` for a command
//! that could not even be encoded), after which it may simply be retried; or *outcome unknown* (503 `unavailable`), after which it may or
//! may not be applied and the client must read before retrying. Every
//! failure of the node after a write was handed to it (a timeout, a leader
//! change, a storage failure that stopped the node, a state machine
//! failure) is outcome unknown: the entry may already be committed on the
//! other members ([`ApiError::from_proposal`]).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ordo::RaftError;

use crate::api::{ErrorBody, code};

/// An HTTP error answer.
#[derive(Debug)]
pub enum ApiError {
    /// 307 to the same path and query on the leader.
    Redirect {
        /// The full URL to go to.
        location: String,
    },
    /// Any other error: status, code, message, and optional extras.
    Failed {
        /// HTTP status.
        status: StatusCode,
        /// `error` code.
        code: &'static str,
        /// What happened.
        message: String,
        /// `Retry-After`, in seconds.
        retry_after: Option<u32>,
        /// `revision`, for compare failures.
        revision: Option<u64>,
    },
    /// 410 `compacted`: the revision asked for is below the compacted one.
    Compacted {
        /// What happened.
        message: String,
        /// The store's compact revision (a read at or after it works).
        compact_revision: u64,
    },
}

impl ApiError {
    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::failed(StatusCode::BAD_REQUEST, code::BAD_REQUEST, message)
    }

    /// 413 `too_large`.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::failed(StatusCode::PAYLOAD_TOO_LARGE, code::TOO_LARGE, message)
    }

    /// 429 `busy` with `Retry-After`: nothing was done; retry shortly.
    pub fn busy(message: impl Into<String>) -> Self {
        Self::retry(StatusCode::TOO_MANY_REQUESTS, code::BUSY, message.into())
    }

    /// 408 `request_timeout`: the request did not arrive whole in time.
    pub fn request_timeout(message: impl Into<String>) -> Self {
        Self::failed(StatusCode::REQUEST_TIMEOUT, code::REQUEST_TIMEOUT, message)
    }

    /// 401 `unauthenticated`: no identity, or a token that does not verify.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::failed(StatusCode::UNAUTHORIZED, code::UNAUTHENTICATED, message)
    }

    /// 403 `permission_denied`: nothing was done.
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::failed(StatusCode::FORBIDDEN, code::PERMISSION_DENIED, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::failed(StatusCode::NOT_FOUND, code::NOT_FOUND, message)
    }

    /// 405 `bad_request`: the path exists, the method does not.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::failed(StatusCode::METHOD_NOT_ALLOWED, code::BAD_REQUEST, message)
    }

    /// 409 `compare_failed` with the key's current revision.
    pub fn compare_failed(current: u64) -> Self {
        ApiError::Failed {
            status: StatusCode::CONFLICT,
            code: code::COMPARE_FAILED,
            message: format!("the key's revision is {current}"),
            retry_after: None,
            revision: Some(current),
        }
    }

    /// 507 `insufficient_storage`: this node's disk is full, so a write
    /// was refused before it was proposed (nothing was written).
    pub fn insufficient_storage() -> Self {
        ApiError::Failed {
            status: StatusCode::INSUFFICIENT_STORAGE,
            code: code::INSUFFICIENT_STORAGE,
            message: "this node's disk is full: the write was not proposed; free space on it, \
                      or write through another node"
                .into(),
            retry_after: Some(1),
            revision: None,
        }
    }

    /// 503 `unavailable`: a write whose outcome is unknown.
    pub fn outcome_unknown(error: &RaftError) -> Self {
        Self::retry(
            StatusCode::SERVICE_UNAVAILABLE,
            code::UNAVAILABLE,
            format!("the write's outcome is unknown ({error}); read before retrying it"),
        )
    }

    /// True for the answer [`outcome_unknown`](Self::outcome_unknown) gives.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, ApiError::Failed { code, .. } if *code == code::UNAVAILABLE)
    }

    /// The answer to `error` from the node for a write (a proposal: a key
    /// written or deleted, a membership change): an error that means the
    /// write was never proposed is answered as [`from_raft`](Self::from_raft)
    /// does; every other is [`outcome_unknown`](Self::outcome_unknown).
    pub fn from_proposal(error: RaftError, path_and_query: &str) -> Self {
        match error {
            RaftError::NotLeader { .. }
            | RaftError::Busy { .. }
            | RaftError::TransferInProgress { .. }
            | RaftError::NotStarted
            | RaftError::AlreadyStarted
            | RaftError::Config(_)
            | RaftError::InvalidCommand(_)
            | RaftError::NotAVoter(_)
            | RaftError::InvalidMembershipChange(_) => Self::from_raft(error, path_and_query),
            RaftError::ProposalDropped
            | RaftError::LeadershipChanged
            | RaftError::Timeout
            | RaftError::OutcomeUnknown
            | RaftError::ShuttingDown => Self::outcome_unknown(&error),
            RaftError::Storage(_)
            | RaftError::Transport(_)
            | RaftError::Fatal(_)
            | RaftError::StateMachine(_)
            | RaftError::Snapshot(_)
            | RaftError::InvalidMessage(_) => {
                tracing::error!(%error, "a write failed inside the node; its outcome is unknown");
                Self::outcome_unknown(&error)
            }
        }
    }

    /// 503 `no_leader` with `Retry-After: 1`.
    pub fn no_leader() -> Self {
        ApiError::Failed {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: code::NO_LEADER,
            message: "no leader is known yet; retry shortly".into(),
            retry_after: Some(1),
            revision: None,
        }
    }

    fn failed(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Failed {
            status,
            code,
            message: message.into(),
            retry_after: None,
            revision: None,
        }
    }

    fn retry(status: StatusCode, code: &'static str, message: String) -> Self {
        ApiError::Failed {
            status,
            code,
            message,
            retry_after: Some(1),
            revision: None,
        }
    }

    /// The answer to `error` from the node, for a request to `path_and_query`
    /// (where a redirect sends it on the leader).
    pub fn from_raft(error: RaftError, path_and_query: &str) -> Self {
        match error {
            RaftError::NotLeader { leader } => {
                let url = leader
                    .map(|(_, address)| address)
                    .filter(|address| !address.is_empty());
                match url {
                    Some(url) => ApiError::Redirect {
                        location: format!("{url}{path_and_query}"),
                    },
                    None => ApiError::no_leader(),
                }
            }
            RaftError::Busy { .. } => {
                Self::retry(StatusCode::TOO_MANY_REQUESTS, code::BUSY, error.to_string())
            }
            // Refused before anything was proposed, and over once the new
            // leader takes over: what `no_leader` tells a client to wait out.
            RaftError::TransferInProgress { .. } => Self::retry(
                StatusCode::SERVICE_UNAVAILABLE,
                code::NO_LEADER,
                error.to_string(),
            ),
            RaftError::LeadershipChanged
            | RaftError::ProposalDropped
            | RaftError::Timeout
            | RaftError::OutcomeUnknown
            | RaftError::ShuttingDown
            | RaftError::NotStarted => Self::retry(
                StatusCode::SERVICE_UNAVAILABLE,
                code::UNAVAILABLE,
                error.to_string(),
            ),
            RaftError::NotAVoter(_) | RaftError::InvalidMembershipChange(_) => {
                Self::bad_request(error.to_string())
            }
            RaftError::Config(_)
            | RaftError::AlreadyStarted
            | RaftError::Storage(_)
            | RaftError::Transport(_)
            | RaftError::Fatal(_)
            | RaftError::StateMachine(_)
            | RaftError::Snapshot(_)
            | RaftError::InvalidMessage(_)
            | RaftError::InvalidCommand(_) => {
                tracing::error!(%error, "request failed inside the node");
                Self::failed(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    code::INTERNAL,
                    error.to_string(),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Redirect { location } => {
                let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
                match HeaderValue::from_str(&location) {
                    Ok(value) => {
                        response.headers_mut().insert(header::LOCATION, value);
                        response
                    }
                    Err(_) => ApiError::no_leader().into_response(),
                }
            }
            ApiError::Compacted {
                message,
                compact_revision,
            } => {
                let body = ErrorBody {
                    error: code::COMPACTED.into(),
                    message,
                    revision: None,
                    compact_revision: Some(compact_revision),
                };
                (StatusCode::GONE, Json(body)).into_response()
            }
            ApiError::Failed {
                status,
                code,
                message,
                retry_after,
                revision,
            } => {
                let body = ErrorBody {
                    error: code.into(),
                    message,
                    revision,
                    compact_revision: None,
                };
                let mut response = (status, Json(body)).into_response();
                if let Some(seconds) = retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                }
                response
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ordo::storage::StorageError;

    use super::*;

    fn answer(error: &ApiError) -> (StatusCode, &'static str) {
        match error {
            ApiError::Redirect { .. } => (StatusCode::TEMPORARY_REDIRECT, "redirect"),
            ApiError::Failed { status, code, .. } => (*status, code),
            ApiError::Compacted { .. } => (StatusCode::GONE, code::COMPACTED),
        }
    }

    /// Every error a write can get: not proposed (retry or fix it), or
    /// outcome unknown (read first). Only a command that could not even be
    /// encoded (nothing reached the log) is 500.
    #[test]
    fn a_write_is_answered_not_proposed_or_outcome_unknown() {
        let no_space = StorageError::Io {
            action: "fdatasync",
            path: "wal/1.wal".into(),
            source: std::io::Error::from_raw_os_error(28),
        };
        let unknown = (StatusCode::SERVICE_UNAVAILABLE, code::UNAVAILABLE);
        let cases = [
            (
                RaftError::NotLeader {
                    leader: Some((2, "http://h:2".into())),
                },
                (StatusCode::TEMPORARY_REDIRECT, "redirect"),
            ),
            (
                RaftError::NotLeader { leader: None },
                (StatusCode::SERVICE_UNAVAILABLE, code::NO_LEADER),
            ),
            (
                RaftError::TransferInProgress { target: 2 },
                (StatusCode::SERVICE_UNAVAILABLE, code::NO_LEADER),
            ),
            (
                RaftError::Busy { reason: "queue" },
                (StatusCode::TOO_MANY_REQUESTS, code::BUSY),
            ),
            (
                RaftError::InvalidCommand("x".into()),
                (StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL),
            ),
            (RaftError::ProposalDropped, unknown),
            (RaftError::Timeout, unknown),
            (RaftError::OutcomeUnknown, unknown),
            (RaftError::ShuttingDown, unknown),
            (RaftError::Storage(Arc::new(no_space)), unknown),
            (RaftError::Fatal("log read failed".into()), unknown),
            (RaftError::StateMachine("panicked".into()), unknown),
            (RaftError::Snapshot("restore failed".into()), unknown),
        ];
        for (error, expected) in cases {
            let text = error.to_string();
            let answered = ApiError::from_proposal(error, "/v1/kv/k");
            if expected == unknown {
                assert!(answered.is_outcome_unknown(), "{text}");
            }
            assert_eq!(answer(&answered), expected, "{text}");
        }
    }
}
