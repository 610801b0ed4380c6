//! The answers to what the store refuses ([`KvError`]) and to writes the
//! quota stops, with the statuses and codes the API documents
//! ([`crate::api`]).

use axum::http::StatusCode;

use crate::api::code;
use crate::server::http::{ApiError, SharedState};
use crate::store::KvError;

/// The answer to a refusal by the store. Nothing changed in the store.
pub(super) fn from_store(error: KvError) -> ApiError {
    let message = error.to_string();
    let (status, code) = match error {
        KvError::Compacted {
            compact_revision, ..
        } => {
            return ApiError::Compacted {
                message,
                compact_revision,
            };
        }
        KvError::FutureRevision { .. } => (StatusCode::BAD_REQUEST, code::FUTURE_REVISION),
        KvError::LeaseNotFound { .. } => (StatusCode::NOT_FOUND, code::LEASE_NOT_FOUND),
        KvError::KeyTooLong { .. } | KvError::ValueTooLong { .. } => {
            (StatusCode::PAYLOAD_TOO_LARGE, code::TOO_LARGE)
        }
        KvError::LeaseExists { .. }
        | KvError::EmptyKey
        | KvError::DuplicateKey { .. }
        | KvError::KeyNotFound { .. }
        | KvError::InvalidLeaseId { .. }
        | KvError::InvalidTtl { .. } => (StatusCode::BAD_REQUEST, code::BAD_REQUEST),
        KvError::Auth(_) => (StatusCode::CONFLICT, code::AUTH_REFUSED),
        // Exhausted revisions or lease ids, and refusals added later: the
        // request was fine, the store cannot take it.
        _ => (StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL),
    };
    ApiError::Failed {
        status,
        code,
        message,
        retry_after: None,
        revision: None,
    }
}

/// 507 `quota_exceeded` when the store is over `--quota-bytes`: for every
/// write that adds data (puts, txns with a put, lease grants), before it is
/// proposed. Deletes, revokes and compaction are never refused by it.
pub(crate) fn check_quota(state: &SharedState) -> Result<(), ApiError> {
    if !state.store.over_quota() {
        return Ok(());
    }
    state
        .metrics
        .proposal(crate::server::metrics::ProposalOutcome::Failed);
    Err(ApiError::Failed {
        status: StatusCode::INSUFFICIENT_STORAGE,
        code: code::QUOTA_EXCEEDED,
        message: format!(
            "the store keeps {} bytes, over its quota of {} bytes: delete keys or compact \
             the history (POST /v1/compact), then retry",
            state.store.counters().bytes,
            state.store.quota_bytes()
        ),
        retry_after: None,
        revision: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(error: KvError) -> (StatusCode, &'static str, Option<u64>) {
        match from_store(error) {
            ApiError::Compacted {
                compact_revision, ..
            } => (StatusCode::GONE, code::COMPACTED, Some(compact_revision)),
            ApiError::Failed { status, code, .. } => (status, code, None),
            ApiError::Redirect { .. } => panic!("a refusal is never a redirect"),
        }
    }

    /// Each refusal the store can make, with the status and code the API
    /// documents.
    #[test]
    fn every_store_refusal_has_its_documented_answer() {
        let cases = [
            (
                KvError::Compacted {
                    revision: 2,
                    compact_revision: 5,
                },
                (StatusCode::GONE, code::COMPACTED, Some(5)),
            ),
            (
                KvError::FutureRevision {
                    revision: 9,
                    current_revision: 5,
                },
                (StatusCode::BAD_REQUEST, code::FUTURE_REVISION, None),
            ),
            (
                KvError::LeaseNotFound { id: 7 },
                (StatusCode::NOT_FOUND, code::LEASE_NOT_FOUND, None),
            ),
            (
                KvError::DuplicateKey { key: "k".into() },
                (StatusCode::BAD_REQUEST, code::BAD_REQUEST, None),
            ),
            (
                KvError::KeyNotFound { key: "k".into() },
                (StatusCode::BAD_REQUEST, code::BAD_REQUEST, None),
            ),
            (
                KvError::ValueTooLong { len: 9 },
                (StatusCode::PAYLOAD_TOO_LARGE, code::TOO_LARGE, None),
            ),
            (
                KvError::RevisionsExhausted,
                (StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL, None),
            ),
        ];
        for (error, expected) in cases {
            let text = error.to_string();
            assert_eq!(answered(error), expected, "{text}");
        }
    }
}
