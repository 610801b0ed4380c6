//! `/v1/kv` writes: put, delete and prefix delete (reads: `kv_read.rs`).
//!
//! A plain put or delete is the original one-key command (old logs and old
//! clients see no change). A put with `lease=` or `prev_kv=true`, a delete
//! with `if_revision=`, and a prefix delete are one-operation transactions,
//! so they follow etcd's rules exactly and take one revision.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use ordo::ReadConsistency;
use serde::Deserialize;

use crate::api::{DeleteRangeResponse, DeleteResponse, PutResponse};
use crate::server::http::refusal::check_quota;
use crate::server::http::txn_json::key_value_json;
use crate::server::http::{ApiError, SharedState, txn};
use crate::server::metrics::ProposalOutcome;
use crate::store::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, KeyRange, KvCommand, KvResponse,
    PutRequest, RangeRequest, RequestOp, ResponseOp, TxnRequest, TxnResponse,
};

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeletePrefixParams {
    prefix: Option<String>,
}

pub(super) async fn put(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    key: Result<Path<String>, PathRejection>,
    params: Result<Query<PutParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PutResponse>, ApiError> {
    let started = Instant::now();
    let key = checked_key(&state, key)?;
    let Query(params) = params.map_err(|error| ApiError::bad_request(error.body_text()))?;
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
        txn_put(&state, key, value, &params, path_and_query(&uri)).await?
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

async fn txn_put(
    state: &SharedState,
    key: Bytes,
    value: Bytes,
    params: &PutParams,
    path_and_query: &str,
) -> Result<PutResponse, ApiError> {
    let put = RequestOp::Put(PutRequest {
        key: key.clone(),
        value,
        lease: params.lease.unwrap_or(0),
        prev_kv: params.prev_kv,
        ..PutRequest::default()
    });
    let response = txn::run(
        state,
        if_revision_txn(&key, params.if_revision, put),
        path_and_query,
    )
    .await?;
    let revision = response.revision;
    let mut answers = succeeded_or_conflict(response)?;
    match answers.pop() {
        Some(ResponseOp::Put { prev_kv }) => Ok(PutResponse {
            revision,
            prev: prev_kv.map(|kv| key_value_json(kv, false)),
        }),
        _ => Err(unexpected("a put")),
    }
}

pub(super) async fn delete(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    key: Result<Path<String>, PathRejection>,
    params: Result<Query<DeleteParams>, QueryRejection>,
) -> Result<Json<DeleteResponse>, ApiError> {
    let started = Instant::now();
    let key = checked_key(&state, key)?;
    let Query(params) = params.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let path_and_query = path_and_query(&uri);
    let answer = match params.if_revision {
        None => match propose(&state, KvCommand::Delete { key }, path_and_query).await? {
            KvResponse::Deleted { deleted, revision } => {
                state.metrics.proposal(ProposalOutcome::Applied);
                DeleteResponse { deleted, revision }
            }
            _ => return Err(unexpected("a delete")),
        },
        Some(expected) => {
            let delete = RequestOp::DeleteRange(DeleteRangeRequest {
                key: key.clone(),
                ..DeleteRangeRequest::default()
            });
            let request = if_revision_txn(&key, Some(expected), delete);
            let response = txn::run(&state, request, path_and_query).await?;
            let revision = response.revision;
            match succeeded_or_conflict(response)?.pop() {
                Some(ResponseOp::DeleteRange { deleted, .. }) => DeleteResponse {
                    deleted: deleted > 0,
                    revision,
                },
                _ => return Err(unexpected("a delete")),
            }
        }
    };
    state.metrics.proposal_seconds.observe(started.elapsed());
    Ok(Json(answer))
}

/// `DELETE /v1/kv?prefix=P`: every key starting with `P`, at one revision.
/// An empty or missing prefix is refused: deleting everything by accident
/// must not be one request away.
pub(super) async fn delete_prefix(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    params: Result<Query<DeletePrefixParams>, QueryRejection>,
) -> Result<Json<DeleteRangeResponse>, ApiError> {
    let Query(params) = params.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let prefix = params.prefix.unwrap_or_default();
    if prefix.is_empty() {
        return Err(ApiError::bad_request(
            "give a non-empty prefix (DELETE /v1/kv?prefix=P)",
        ));
    }
    if prefix.len() > state.limits.max_key_bytes {
        return Err(ApiError::too_large(
            "the prefix is longer than the longest key",
        ));
    }
    let range = KeyRange::prefix(Bytes::from(prefix));
    let request = TxnRequest {
        success: vec![RequestOp::DeleteRange(DeleteRangeRequest {
            key: range.key,
            range_end: range.range_end,
            prev_kv: false,
        })],
        ..TxnRequest::default()
    };
    let response = txn::run(&state, request, path_and_query(&uri)).await?;
    match response.responses.first() {
        Some(ResponseOp::DeleteRange { deleted, .. }) => Ok(Json(DeleteRangeResponse {
            deleted: *deleted,
            revision: response.revision,
        })),
        _ => Err(unexpected("a prefix delete")),
    }
}

/// A txn running `op` on `key`, if its `mod_revision` is `if_revision`
/// (when given; 0: absent). Otherwise it reads the key, for the 409.
fn if_revision_txn(key: &Bytes, if_revision: Option<u64>, op: RequestOp) -> TxnRequest {
    let Some(expected) = if_revision else {
        return TxnRequest {
            success: vec![op],
            ..TxnRequest::default()
        };
    };
    TxnRequest {
        compare: vec![Compare {
            target: CompareTarget::ModRevision(expected),
            result: CompareResult::Equal,
            key: key.clone(),
            range_end: Bytes::new(),
        }],
        success: vec![op],
        failure: vec![RequestOp::Range(RangeRequest::new(KeyRange::single(
            key.clone(),
        )))],
    }
}

/// The answers of a txn built by [`if_revision_txn`]; 409 `compare_failed`
/// with the key's revision if its compare failed.
fn succeeded_or_conflict(response: TxnResponse) -> Result<Vec<ResponseOp>, ApiError> {
    if response.succeeded {
        return Ok(response.responses);
    }
    let current = match response.responses.first() {
        Some(ResponseOp::Range(range)) => range.kvs.first().map_or(0, |kv| kv.mod_revision),
        _ => return Err(unexpected("a conditional write")),
    };
    Err(ApiError::compare_failed(current))
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
