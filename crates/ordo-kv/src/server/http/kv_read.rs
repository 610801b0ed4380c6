//! `/v1/kv` reads: one key (`GET /v1/kv/{key}`) and a page of a prefix
//! (`GET /v1/kv?prefix=`), now or at a past revision, both answered by
//! [`KvQuery::Range`] from the node's applied state.
//!
//! Paging: a page is cut by `limit` and by `--max-list-bytes` (whichever
//! comes first; a page always holds at least one key) and says the
//! revision it was read at. Reading the next page with `start_after=` the
//! last key and `revision=` that revision reads the same state, however
//! many writes happened in between, until that revision is compacted.

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use crate::api::{
    CLUSTER_REVISION_HEADER, CREATE_REVISION_HEADER, LEASE_HEADER, ListItem, ListResponse,
    REVISION_HEADER, VERSION_HEADER,
};
use crate::auth::Access;
use crate::server::http::auth_gate::{Caller, authorize};
use crate::server::http::kv::{checked_key, consistency, path_and_query, unexpected};
use crate::server::http::refusal;
use crate::server::http::txn_json::value_text;
use crate::server::http::{ApiError, SharedState};
use crate::store::{KeyRange, KeyValue, KvAnswer, KvQuery, RangeRequest, RangeResponse};

/// Default `limit` of a list.
const DEFAULT_LIST_LIMIT: u64 = 1000;
/// Largest `limit` of a list.
const MAX_LIST_LIMIT: u64 = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReadParams {
    consistency: Option<String>,
    revision: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    prefix: Option<String>,
    limit: Option<u64>,
    start_after: Option<String>,
    revision: Option<u64>,
    #[serde(default)]
    keys_only: bool,
    #[serde(default)]
    count_only: bool,
    consistency: Option<String>,
}

pub(super) async fn get(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    caller: Option<Extension<Caller>>,
    key: Result<Path<String>, PathRejection>,
    params: Result<Query<ReadParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let key = checked_key(&state, key)?;
    authorize(
        caller.as_deref(),
        Access::Read,
        &KeyRange::single(key.clone()),
    )?;
    let Query(params) = params.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let request = RangeRequest {
        revision: params.revision.unwrap_or(0),
        ..RangeRequest::new(KeyRange::single(key))
    };
    let range = read(&state, &uri, request, params.consistency.as_deref()).await?;
    let mut headers = HeaderMap::new();
    headers.insert(CLUSTER_REVISION_HEADER, HeaderValue::from(range.revision));
    let Some(found) = range.kvs.into_iter().next() else {
        return Ok((headers, ApiError::not_found("no such key")).into_response());
    };
    headers.insert(REVISION_HEADER, HeaderValue::from(found.mod_revision));
    headers.insert(
        CREATE_REVISION_HEADER,
        HeaderValue::from(found.create_revision),
    );
    headers.insert(VERSION_HEADER, HeaderValue::from(found.version));
    if found.lease != 0 {
        headers.insert(LEASE_HEADER, HeaderValue::from(found.lease));
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok((StatusCode::OK, headers, found.value).into_response())
}

pub(super) async fn list(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    caller: Option<Extension<Caller>>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|error| ApiError::bad_request(error.body_text()))?;
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
    let range = page_range(prefix, params.start_after)?;
    // The whole page range must be readable (etcd's rule): a list is
    // refused, never trimmed to what the user may see.
    authorize(caller.as_deref(), Access::Read, &range)?;
    let request = RangeRequest {
        revision: params.revision.unwrap_or(0),
        limit,
        max_bytes: state.limits.max_list_bytes,
        keys_only: params.keys_only,
        count_only: params.count_only,
        ..RangeRequest::new(range)
    };
    let range = read(&state, &uri, request, params.consistency.as_deref()).await?;
    let mut headers = HeaderMap::new();
    headers.insert(CLUSTER_REVISION_HEADER, HeaderValue::from(range.revision));
    let items = range
        .kvs
        .into_iter()
        .map(|kv| list_item(kv, params.keys_only))
        .collect();
    let page = ListResponse {
        items,
        more: range.more,
        revision: Some(range.revision),
        count: Some(range.count),
    };
    Ok((headers, Json(page)).into_response())
}

/// The keys with `prefix`, strictly after `start_after` if given (which
/// must itself start with the prefix).
fn page_range(prefix: String, start_after: Option<String>) -> Result<KeyRange, ApiError> {
    let whole = KeyRange::prefix(Bytes::from(prefix));
    let Some(start_after) = start_after else {
        return Ok(whole);
    };
    if !start_after.as_bytes().starts_with(&whole.key) {
        return Err(ApiError::bad_request(
            "start_after must start with the prefix (it is the last key of the previous page)",
        ));
    }
    // The first key after `start_after` in byte order is `start_after\0`.
    let mut first = start_after.into_bytes();
    first.push(0);
    Ok(KeyRange {
        key: Bytes::from(first),
        range_end: whole.range_end,
    })
}

/// Runs `request` with the consistency asked for; the store's refusals
/// (a compacted or future revision) as the API's errors.
async fn read(
    state: &SharedState,
    uri: &axum::http::Uri,
    request: RangeRequest,
    consistency_text: Option<&str>,
) -> Result<RangeResponse, ApiError> {
    let consistency = consistency(consistency_text)?;
    state.metrics.read(consistency);
    let answer = state
        .node
        .read_with(KvQuery::Range(request), consistency)
        .await
        .map_err(|error| ApiError::from_raft(error, path_and_query(uri)))?;
    match answer {
        KvAnswer::Range(range) => Ok(range),
        KvAnswer::Refused(error) => Err(refusal::from_store(error)),
        _ => Err(unexpected("a range read")),
    }
}

fn list_item(kv: KeyValue, keys_only: bool) -> ListItem {
    let (value, encoding) = if keys_only {
        (String::new(), crate::api::Encoding::Utf8)
    } else {
        value_text(&kv.value)
    };
    ListItem {
        key: String::from_utf8_lossy(&kv.key).into_owned(),
        value,
        revision: kv.mod_revision,
        encoding: (!encoding.is_utf8()).then(|| "base64".to_owned()),
        create_revision: Some(kv.create_revision),
        mod_revision: Some(kv.mod_revision),
        version: Some(kv.version),
        lease: (kv.lease != 0).then_some(kv.lease),
    }
}
