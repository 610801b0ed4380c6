//! `/v1/kv` writes that are one-operation transactions: a put with a lease
//! or `prev_kv`, a conditional delete, and `DELETE /v1/kv?prefix=P`. A
//! condition (`if_revision=N`) is a compare on `mod_revision` whose
//! failure branch reads the key, so a mismatch answers 409 with the key's
//! current revision, as the plain compare-and-set does.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{OriginalUri, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;

use crate::api::{DeleteRangeResponse, DeleteResponse, PutResponse};
use crate::auth::Access;
use crate::server::http::auth_gate::{Caller, authorize};
use crate::server::http::kv::{path_and_query, unexpected};
use crate::server::http::txn_json::key_value_json;
use crate::server::http::{ApiError, SharedState, txn};
use crate::store::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, KeyRange, PutRequest, RangeRequest,
    RequestOp, ResponseOp, TxnRequest, TxnResponse,
};

/// What a put asks for beyond the key and value.
#[derive(Clone, Copy, Debug)]
pub(super) struct LeasedPut {
    /// The lease to attach the key to (0: none).
    pub(super) lease: i64,
    /// Answer the key as it was before.
    pub(super) prev_kv: bool,
    /// Only if the key's revision is this (0: only if absent).
    pub(super) if_revision: Option<u64>,
}

/// A put as a one-operation txn.
pub(super) async fn put(
    state: &SharedState,
    key: Bytes,
    value: Bytes,
    options: LeasedPut,
    path_and_query: &str,
) -> Result<PutResponse, ApiError> {
    let put = RequestOp::Put(PutRequest {
        key: key.clone(),
        value,
        lease: options.lease,
        prev_kv: options.prev_kv,
        ..PutRequest::default()
    });
    let request = if_revision_txn(&key, options.if_revision, put);
    let response = txn::run(state, request, path_and_query).await?;
    let revision = response.revision;
    match succeeded_or_conflict(response)?.pop() {
        Some(ResponseOp::Put { prev_kv }) => Ok(PutResponse {
            revision,
            prev: prev_kv.map(|kv| key_value_json(kv, false)),
        }),
        _ => Err(unexpected("a put")),
    }
}

/// A delete of `key` if its revision is `expected`.
pub(super) async fn delete_if(
    state: &SharedState,
    key: Bytes,
    expected: u64,
    path_and_query: &str,
) -> Result<DeleteResponse, ApiError> {
    let delete = RequestOp::DeleteRange(DeleteRangeRequest {
        key: key.clone(),
        ..DeleteRangeRequest::default()
    });
    let request = if_revision_txn(&key, Some(expected), delete);
    let response = txn::run(state, request, path_and_query).await?;
    let revision = response.revision;
    match succeeded_or_conflict(response)?.pop() {
        Some(ResponseOp::DeleteRange { deleted, .. }) => Ok(DeleteResponse {
            deleted: deleted > 0,
            revision,
        }),
        _ => Err(unexpected("a delete")),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeletePrefixParams {
    prefix: Option<String>,
}

/// `DELETE /v1/kv?prefix=P`: every key starting with `P`, at one revision.
/// An empty or missing prefix is refused: deleting everything by accident
/// must not be one request away.
pub(super) async fn delete_prefix(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    caller: Option<Extension<Caller>>,
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
    authorize(caller.as_deref(), Access::Write, &range)?;
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
