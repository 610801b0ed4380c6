//! [`ClientError`]: every way a request through [`Client`](super::Client)
//! can fail, typed by what the caller should do next.

use std::time::Duration;

use crate::api::ErrorBody;

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
        }
    }

    /// The error code when a node answered with an error body.
    pub fn server_code(&self) -> Option<&str> {
        match self {
            Self::Server { body, .. } => Some(&body.error),
            _ => None,
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
    fn kinds_name_server_codes() {
        assert_eq!(server_error("").kind(), "server:too_large");
        assert_eq!(server_error("").server_code(), Some("too_large"));
        assert_eq!(ClientError::invalid("x").kind(), "invalid_input");
        assert_eq!(ClientError::invalid("x").server_code(), None);
    }
}
