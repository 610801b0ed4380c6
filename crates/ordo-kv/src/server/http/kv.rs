//! `/v1/kv`: put, get, delete and list.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ordo::ReadConsistency;
use serde::Deserialize;

use crate::api::{
    CLUSTER_REVISION_HEADER, DeleteResponse, ListItem, ListResponse, PutResponse, REVISION_HEADER,
};
use crate::server::http::{ApiError, SharedState};
use crate::server::metrics::ProposalOutcome;
use crate::store::{
    KvAnswer, KvCommand, KvError, KvQuery, KvResponse, PutRequest, RequestOp, TxnRequest,
    TxnResponse,
};

/// Default `limit` of a list.
const DEFAULT_LIST_LIMIT: usize = 1000;
/// Largest `limit` of a list.
const MAX_LIST_LIMIT: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PutParams {
    if_revision: Option<u64>,
    lease: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReadParams {
    consistency: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    prefix: Option<String>,
    limit: Option<usize>,
    consistency: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NoParams {}

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
    let command = match params.lease {
        None | Some(0) => KvCommand::Put {
            key,
            value,
            if_revision: params.if_revision,
        },
        Some(lease) => leased_put(key, value, lease, params.if_revision)?,
    };
    match propose(&state, command, path_and_query(&uri)).await? {
        KvResponse::Written { revision } => {
            state.metrics.proposal(ProposalOutcome::Applied);
            state.metrics.proposal_seconds.observe(started.elapsed());
            Ok(Json(PutResponse { revision }))
        }
        KvResponse::CompareFailed { current } => {
            state.metrics.proposal(ProposalOutcome::CompareFailed);
            Err(ApiError::compare_failed(current))
        }
        KvResponse::Txn(TxnResponse { revision, .. }) => {
            state.metrics.proposal(ProposalOutcome::Applied);
            state.metrics.proposal_seconds.observe(started.elapsed());
            Ok(Json(PutResponse { revision }))
        }
        KvResponse::Refused(KvError::LeaseNotFound { id }) => {
            state.metrics.proposal(ProposalOutcome::Failed);
            Err(super::leases::lease_not_found(id))
        }
        _ => Err(unexpected("a put")),
    }
}

/// `PUT ?lease=ID`: a put attaching the key to a lease, as a one-put txn.
///
/// A minimal form for the lease endpoints' tests: the kv endpoints' own
/// work (`?lease=` with `if_revision`, `prev_kv`) replaces it.
fn leased_put(
    key: Bytes,
    value: Bytes,
    lease: i64,
    if_revision: Option<u64>,
) -> Result<KvCommand, ApiError> {
    if lease < 0 {
        return Err(ApiError::bad_request(format!("lease {lease} is negative")));
    }
    if if_revision.is_some() {
        return Err(ApiError::bad_request(
            "lease with if_revision is not supported yet",
        ));
    }
    let put = PutRequest {
        key,
        value,
        lease,
        ..PutRequest::default()
    };
    Ok(KvCommand::Txn(TxnRequest {
        success: vec![RequestOp::Put(put)],
        ..TxnRequest::default()
    }))
}

pub(super) async fn delete(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    key: Result<Path<String>, PathRejection>,
    params: Result<Query<NoParams>, QueryRejection>,
) -> Result<Json<DeleteResponse>, ApiError> {
    let started = Instant::now();
    let key = checked_key(&state, key)?;
    params.map_err(|error| ApiError::bad_request(error.body_text()))?;
    match propose(&state, KvCommand::Delete { key }, path_and_query(&uri)).await? {
        KvResponse::Deleted { deleted, revision } => {
            state.metrics.proposal(ProposalOutcome::Applied);
            state.metrics.proposal_seconds.observe(started.elapsed());
            Ok(Json(DeleteResponse { deleted, revision }))
        }
        _ => Err(unexpected("a delete")),
    }
}

pub(super) async fn get(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    key: Result<Path<String>, PathRejection>,
    params: Result<Query<ReadParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let key = checked_key(&state, key)?;
    let Query(params) = params.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let consistency = consistency(params.consistency.as_deref())?;
    state.metrics.read(consistency);
    let answer = state
        .node
        .read_with(KvQuery::Get { key }, consistency)
        .await
        .map_err(|error| ApiError::from_raft(error, path_and_query(&uri)))?;
    let KvAnswer::Get {
        value,
        cluster_revision,
    } = answer
    else {
        return Err(unexpected("a get"));
    };
    let mut headers = HeaderMap::new();
    headers.insert(CLUSTER_REVISION_HEADER, HeaderValue::from(cluster_revision));
    match value {
        Some(found) => {
            headers.insert(REVISION_HEADER, HeaderValue::from(found.revision));
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            Ok((StatusCode::OK, headers, found.value).into_response())
        }
        None => Ok((headers, ApiError::not_found("no such key")).into_response()),
    }
}

pub(super) async fn list(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let consistency = consistency(params.consistency.as_deref())?;
    let limit = params.limit.unwrap_or(DEFAULT_LIST_LIMIT);
    if limit == 0 || limit > MAX_LIST_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIST_LIMIT}"
        )));
    }
    let prefix = params.prefix.unwrap_or_default();
    if prefix.len() > state.limits.max_key_bytes {
        return Err(ApiError::bad_request(
            "the prefix is longer than the longest key",
        ));
    }
    state.metrics.read(consistency);
    let query = KvQuery::List {
        prefix: Bytes::from(prefix),
        limit,
    };
    let answer = state
        .node
        .read_with(query, consistency)
        .await
        .map_err(|error| ApiError::from_raft(error, path_and_query(&uri)))?;
    let KvAnswer::List {
        items,
        more,
        cluster_revision,
    } = answer
    else {
        return Err(unexpected("a list"));
    };
    let items = items
        .into_iter()
        .map(|(key, versioned)| {
            let key = String::from_utf8_lossy(&key).into_owned();
            let (value, encoding) = match std::str::from_utf8(&versioned.value) {
                Ok(text) => (text.to_owned(), None),
                Err(_) => (
                    base64::engine::general_purpose::STANDARD.encode(&versioned.value),
                    Some("base64".to_owned()),
                ),
            };
            ListItem {
                key,
                value,
                revision: versioned.revision,
                encoding,
            }
        })
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert(CLUSTER_REVISION_HEADER, HeaderValue::from(cluster_revision));
    Ok((headers, Json(ListResponse { items, more })).into_response())
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
            ApiError::Failed { .. } => ProposalOutcome::Failed,
        };
        state.metrics.proposal(outcome);
        error
    })
}

fn checked_key(
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

fn consistency(text: Option<&str>) -> Result<ReadConsistency, ApiError> {
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
