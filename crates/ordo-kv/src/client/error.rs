//! [`ClientError`]: every way a request through [`Client`](super::Client)
//! can fail, typed by what the caller should do next.

use std::time::Duration;

use crate::api::{ErrorBody, code};

/// Why a request failed. Each variant names the caller's next move:
///
/// - [`Unreachable`](Self::Unreachable): no endpoint accepted a connection
///   before the deadline; check the endpoints, or whether the cluster is up.
/// - [`Server`](Self::Server): a node answered with an error the client does
///   not retry itself (`bad_request`, `too_large`, `internal`, ...); the
///   [`ErrorBody`] says what.
/// - [`ConnectionLost`](Self::ConnectionLost): a write was sent but the
///   connection failed before its answer; it may or may not have been
///   applied, so read before writing again.
/// - [`BadResponse`](Self::BadResponse): a node answered something that is
///   not the API (unparsable JSON, missing header, oversized body, redirect
///   loop); a bug or a wrong endpoint, not worth retrying.
/// - [`Timeout`](Self::Timeout): the overall deadline passed while the
///   client was still retrying (no leader, busy, ...); `last` says what it
///   was waiting on.
/// - [`InvalidInput`](Self::InvalidInput): the request itself is malformed
///   (an endpoint that is not an `http://HOST:PORT` URL, an empty key).
/// - [`Io`](Self::Io): a local file (a snapshot being saved) failed.
/// - [`Compacted`](Self::Compacted): a read or watch asked for history
///   below the compacted revision; restart at or after `compact_revision`.
/// - [`LeaseNotFound`](Self::LeaseNotFound): the lease expired or was
///   revoked; grant a new one (whatever it guarded is gone).
/// - [`QuotaExceeded`](Self::QuotaExceeded): the store is over its quota;
///   delete or compact, then write again.
/// - [`WatchCancelled`](Self::WatchCancelled): the node dropped a watch it
///   could not keep up; watch again from the last revision seen.
///
/// A compare-and-set whose revision did not match is not an error: see
/// [`PutOutcome`](super::PutOutcome).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No endpoint could be connected to before the deadline.
    #[error("no endpoint reachable ({attempts} attempts); last: {last}")]
    Unreachable {
        /// Connection attempts made.
        attempts: u32,
        /// The last connection failure, with its endpoint.
        last: String,
    },
    /// A node answered with an error status.
    #[error("{endpoint} answered {status}: {}", describe(body))]
    Server {
        /// The endpoint that answered.
        endpoint: String,
        /// The HTTP status code.
        status: u16,
        /// The error body (synthesised with code `http_STATUS` when the
        /// node's body was not an [`ErrorBody`]).
        body: ErrorBody,
    },
    /// A request was sent, but the connection failed before the answer.
    #[error(
        "connection to {endpoint} lost before the whole answer (a write may have been applied): {reason}"
    )]
    ConnectionLost {
        /// The endpoint the request was sent to.
        endpoint: String,
        /// What failed.
        reason: String,
    },
    /// A node's answer was not what the API promises.
    #[error("bad response from {endpoint}: {reason}")]
    BadResponse {
        /// The endpoint that answered.
        endpoint: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The overall deadline passed before an answer.
    #[error("timed out after {after:?}; last: {last}")]
    Timeout {
        /// The deadline that passed.
        after: Duration,
        /// What the client was last waiting on or retrying.
        last: String,
    },
    /// The request was malformed before it was sent.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong.
        reason: String,
    },
    /// The revision asked for was compacted away (`410 compacted`).
    #[error("{endpoint}: revision compacted (history starts at {compact_revision})")]
    Compacted {
        /// The endpoint that answered.
        endpoint: String,
        /// The compacted revision: reads and watches start at or after it.
        compact_revision: u64,
    },
    /// The lease does not exist: never granted, expired or revoked
    /// (`404 lease_not_found`).
    #[error("{endpoint}: lease not found ({message})")]
    LeaseNotFound {
        /// The endpoint that answered.
        endpoint: String,
        /// The node's message.
        message: String,
    },
    /// The store is over its quota (`507 quota_exceeded`): writes are
    /// refused until deletes or compaction bring it back under.
    #[error("{endpoint}: storage quota exceeded ({message})")]
    QuotaExceeded {
        /// The endpoint that answered.
        endpoint: String,
        /// The node's message.
        message: String,
    },
    /// The node ended a watch it could not keep up (`event: cancelled`).
    #[error("{endpoint}: watch cancelled: {reason}")]
    WatchCancelled {
        /// The endpoint that served the watch.
        endpoint: String,
        /// Why, from the node.
        reason: String,
    },
    /// A local file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

/// `code (message)`, or just `code` when there is no message.
fn describe(body: &ErrorBody) -> String {
    if body.message.is_empty() {
        body.error.clone()
    } else {
        format!("{} ({})", body.error, body.message)
    }
}

impl ClientError {
    /// A short stable name for the kind of error (`unreachable`,
    /// `server:CODE`, `connection_lost`, `bad_response`, `timeout`,
    /// `invalid_input`, `io`), for counting errors by kind.
    pub fn kind(&self) -> String {
        match self {
            Self::Unreachable { .. } => "unreachable".to_owned(),
            Self::Server { body, .. } => format!("server:{}", body.error),
            Self::ConnectionLost { .. } => "connection_lost".to_owned(),
            Self::BadResponse { .. } => "bad_response".to_owned(),
            Self::Timeout { .. } => "timeout".to_owned(),
            Self::InvalidInput { .. } => "invalid_input".to_owned(),
            Self::Io { .. } => "io".to_owned(),
            Self::Compacted { .. } => "server:compacted".to_owned(),
            Self::LeaseNotFound { .. } => "server:lease_not_found".to_owned(),
            Self::QuotaExceeded { .. } => "server:quota_exceeded".to_owned(),
            Self::WatchCancelled { .. } => "watch_cancelled".to_owned(),
        }
    }

    /// The error code when a node answered with an error body.
    pub fn server_code(&self) -> Option<&str> {
        match self {
            Self::Server { body, .. } => Some(&body.error),
            Self::Compacted { .. } => Some(code::COMPACTED),
            Self::LeaseNotFound { .. } => Some(code::LEASE_NOT_FOUND),
            Self::QuotaExceeded { .. } => Some(code::QUOTA_EXCEEDED),
            _ => None,
        }
    }

    /// The error for an error answer: the codes a caller acts on get their
    /// own variant, the rest stay [`Server`](Self::Server).
    pub(crate) fn from_answer(endpoint: String, status: u16, body: ErrorBody) -> Self {
        match (status, body.error.as_str(), body.compact_revision) {
            (410, code::COMPACTED, Some(compact_revision)) => Self::Compacted {
                endpoint,
                compact_revision,
            },
            (404, code::LEASE_NOT_FOUND, _) => Self::LeaseNotFound {
                endpoint,
                message: body.message,
            },
            (507, code::QUOTA_EXCEEDED, _) => Self::QuotaExceeded {
                endpoint,
                message: body.message,
            },
            _ => Self::Server {
                endpoint,
                status,
                body,
            },
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            reason: reason.into(),
        }
    }

    pub(crate) fn bad_response(endpoint: impl ToString, reason: impl Into<String>) -> Self {
        Self::BadResponse {
            endpoint: endpoint.to_string(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn server_error(message: &str) -> ClientError {
        ClientError::Server {
            endpoint: "http://h:1".to_owned(),
            status: 413,
            body: ErrorBody {
                error: "too_large".to_owned(),
                message: message.to_owned(),
                revision: None,
                compact_revision: None,
            },
        }
    }

    #[test]
    fn server_errors_read_as_one_line() {
        assert_eq!(
            server_error("").to_string(),
            "http://h:1 answered 413: too_large"
        );
        assert_eq!(
            server_error("value over 1 MiB").to_string(),
            "http://h:1 answered 413: too_large (value over 1 MiB)"
        );
    }

    #[test]
    fn codes_a_caller_acts_on_get_their_own_variant() {
        let answer = |status, error: &str, compact_revision| {
            let body = ErrorBody {
                error: error.to_owned(),
                message: "m".to_owned(),
                revision: None,
                compact_revision,
            };
            ClientError::from_answer("http://h:1".to_owned(), status, body)
        };
        assert!(matches!(
            answer(410, "compacted", Some(7)),
            ClientError::Compacted {
                compact_revision: 7,
                ..
            }
        ));
        assert!(matches!(
            answer(404, "lease_not_found", None),
            ClientError::LeaseNotFound { .. }
        ));
        assert!(matches!(
            answer(507, "quota_exceeded", None),
            ClientError::QuotaExceeded { .. }
        ));
        // A compacted answer without its revision cannot be acted on.
        assert!(matches!(
            answer(410, "compacted", None),
            ClientError::Server { .. }
        ));
        assert!(matches!(
            answer(404, "not_found", None),
            ClientError::Server { .. }
        ));
        assert_eq!(
            answer(507, "quota_exceeded", None).server_code(),
            Some("quota_exceeded")
        );
    }

    #[test]
    fn kinds_name_server_codes() {
        assert_eq!(server_error("").kind(), "server:too_large");
        assert_eq!(server_error("").server_code(), Some("too_large"));
        assert_eq!(ClientError::invalid("x").kind(), "invalid_input");
        assert_eq!(ClientError::invalid("x").server_code(), None);
    }
}
