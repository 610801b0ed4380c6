//! `/v1/kv` writes: put and delete (reads: `kv_read.rs`), and the helpers
//! every handler shares.
//!
//! A plain put or delete is the original one-key command (old logs and old
//! clients see no change). A put with `lease=` or `prev_kv=true`, a delete
//! with `if_revision=`, and a prefix delete are one-operation transactions
//! (`kv_txn.rs`), so they follow etcd's rules exactly.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use ordo::ReadConsistency;
use serde::Deserialize;

use crate::api::{DeleteResponse, PutResponse};
use crate::auth::Access;
use crate::server::http::auth_gate::{Caller, authorize};
use crate::server::http::refusal::check_quota;
use crate::server::http::{ApiError, SharedState, kv_txn};
use crate::server::metrics::ProposalOutcome;
use crate::store::{KeyRange, KvCommand, KvResponse};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PutParams {
    if_revision: Option<u64>,
    lease: Option<i64>,
    #[serde(default)]
    prev_kv: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeleteParams {
    if_revision: Option<u64>,
}

pub(super) async fn put(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    caller: Option<Extension<Caller>>,
    key: Result<Path<String>, PathRejection>,
    params: Result<Query<PutParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PutResponse>, ApiError> {
    let started = Instant::now();
    let key = checked_key(&state, key)?;
    let Query(params) = params.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let caller = caller.as_deref();
    let range = KeyRange::single(key.clone());
    authorize(caller, Access::Write, &range)?;
    if params.prev_kv || params.if_revision.is_some() {
        authorize(caller, Access::Read, &range)?;
    }
    let value = checked_value(&state, body)?;
    if params.lease.is_some_and(|lease| lease < 0) {
        return Err(ApiError::bad_request(
            "lease ids are positive (0: no lease)",
        ));
    }
    check_quota(&state)?;
    let answer = if params.lease.is_none() && !params.prev_kv {
        plain_put(&state, key, value, params.if_revision, path_and_query(&uri)).await?
    } else {
        let put = kv_txn::LeasedPut {
            lease: params.lease.unwrap_or(0),
            prev_kv: params.prev_kv,
            if_revision: params.if_revision,
        };
        kv_txn::put(&state, key, value, put, path_and_query(&uri)).await?
    };
    state.metrics.proposal_seconds.observe(started.elapsed());
    Ok(Json(answer))
}

async fn plain_put(
    state: &SharedState,
    key: Bytes,
    value: Bytes,
    if_revision: Option<u64>,
    path_and_query: &str,
) -> Result<PutResponse, ApiError> {
    let command = KvCommand::Put {
        key,
        value,
        if_revision,
    };
    match propose(state, command, path_and_query).await? {
        KvResponse::Written { revision } => {
            state.metrics.proposal(ProposalOutcome::Applied);
            Ok(PutResponse {
                revision,
                prev: None,
            })
        }
        KvResponse::CompareFailed { current } => {
            state.metrics.proposal(ProposalOutcome::CompareFailed);
            Err(ApiError::compare_failed(current))
        }
        _ => Err(unexpected("a put")),
    }
}

pub(super) async fn delete(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    caller: Option<Extension<Caller>>,
    key: Result<Path<String>, PathRejection>,
    params: Result<Query<DeleteParams>, QueryRejection>,
) -> Result<Json<DeleteResponse>, ApiError> {
    let started = Instant::now();
    let key = checked_key(&state, key)?;
    let Query(params) = params.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let range = KeyRange::single(key.clone());
    authorize(caller.as_deref(), Access::Write, &range)?;
    if params.if_revision.is_some() {
        authorize(caller.as_deref(), Access::Read, &range)?;
    }
    let path_and_query = path_and_query(&uri);
    let answer = match params.if_revision {
        None => match propose(&state, KvCommand::Delete { key }, path_and_query).await? {
            KvResponse::Deleted { deleted, revision } => {
                state.metrics.proposal(ProposalOutcome::Applied);
                DeleteResponse { deleted, revision }
            }
            _ => return Err(unexpected("a delete")),
        },
        Some(expected) => kv_txn::delete_if(&state, key, expected, path_and_query).await?,
    };
    state.metrics.proposal_seconds.observe(started.elapsed());
    Ok(Json(answer))
}

pub(super) async fn propose(
    state: &SharedState,
    command: KvCommand,
    path_and_query: &str,
) -> Result<KvResponse, ApiError> {
    if state.metrics.storage_full() {
        state.metrics.proposal(ProposalOutcome::Failed);
        return Err(ApiError::insufficient_storage());
    }
    state.node.propose(command).await.map_err(|error| {
        let error = ApiError::from_proposal(error, path_and_query);
        let outcome = match &error {
            ApiError::Redirect { .. } => ProposalOutcome::Redirected,
            ApiError::Failed { code, .. } if *code == crate::api::code::NO_LEADER => {
                ProposalOutcome::Redirected
            }
            failed if failed.is_outcome_unknown() => ProposalOutcome::OutcomeUnknown,
            ApiError::Failed { .. } | ApiError::Compacted { .. } => ProposalOutcome::Failed,
        };
        state.metrics.proposal(outcome);
        error
    })
}

pub(super) fn checked_key(
    state: &SharedState,
    key: Result<Path<String>, PathRejection>,
) -> Result<Bytes, ApiError> {
    let Path(key) = key
        .map_err(|error| ApiError::bad_request(format!("malformed key: {}", error.body_text())))?;
    if key.is_empty() {
        return Err(ApiError::bad_request("the key is empty"));
    }
    if key.len() > state.limits.max_key_bytes {
        return Err(ApiError::too_large(format!(
            "the key is {} bytes; the limit is {}",
            key.len(),
            state.limits.max_key_bytes
        )));
    }
    Ok(Bytes::from(key))
}

fn checked_value(
    state: &SharedState,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, ApiError> {
    let limit = state.limits.max_value_bytes;
    let value = body.map_err(|error| {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!("the value is over the limit of {limit} bytes"))
        } else {
            ApiError::bad_request(error.body_text())
        }
    })?;
    if value.len() > limit {
        return Err(ApiError::too_large(format!(
            "the value is {} bytes; the limit is {limit}",
            value.len()
        )));
    }
    Ok(value)
}

pub(super) fn consistency(text: Option<&str>) -> Result<ReadConsistency, ApiError> {
    match text {
        None | Some("linearizable") => Ok(ReadConsistency::Linearizable),
        Some("lease") => Ok(ReadConsistency::Lease),
        Some("stale") => Ok(ReadConsistency::Stale),
        Some(other) => Err(ApiError::bad_request(format!(
            "consistency must be linearizable, lease or stale, not {other:?}"
        ))),
    }
}

/// The request's path and query, for a redirect to the same on the leader.
pub(super) fn path_and_query(uri: &axum::http::Uri) -> &str {
    uri.path_and_query().map_or("/", |value| value.as_str())
}

pub(super) fn unexpected(what: &str) -> ApiError {
    ApiError::Failed {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: crate::api::code::INTERNAL,
        message: format!("the store answered {what} with something else"),
        retry_after: None,
        revision: None,
    }
}
