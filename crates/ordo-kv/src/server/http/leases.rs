//! `/v1/leases`: grant, keepalive (one or many), revoke, time-to-live, list.
//!
//! Grants and revokes are proposals (a follower answers 307 to the
//! leader); keepalives and time-to-live are answered by the leader's clock
//! (`server/leases/`), so a follower redirects them too. The list is read
//! from the replicated state and answered by any node.

use std::time::Instant;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use ordo::ReadConsistency;

use super::kv::{path_and_query, propose, unexpected};
use crate::api::{
    KeepAliveRequest, KeepAliveResponse, KeepAliveResult, LeaseGrantRequest, LeaseInfo, LeaseList,
    LeaseResponse, LeaseRevokeResponse, code,
};
use crate::auth::Access;
use crate::server::http::auth_gate::{Caller, authorize};
use crate::server::http::{ApiError, SharedState};
use crate::server::metrics::ProposalOutcome;
use crate::store::{KvAnswer, KvCommand, KvError, KvQuery, KvResponse};

/// The lease routes take no query parameters: any is refused (400).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NoParams {}

/// Most ids in one `POST /v1/leases/keepalive`.
pub(super) const MAX_KEEPALIVE_IDS: usize = 10_000;

/// `POST /v1/leases` `{"ttl": S, "id"?: N}`.
pub(super) async fn grant(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    params: Result<Query<NoParams>, QueryRejection>,
    body: Result<Json<LeaseGrantRequest>, JsonRejection>,
) -> Result<Json<LeaseResponse>, ApiError> {
    let started = Instant::now();
    params.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let Json(request) = body.map_err(|error| ApiError::bad_request(error.body_text()))?;
    if request.id < 0 {
        return Err(ApiError::bad_request(format!(
            "lease id {} is negative (0 or absent: the cluster picks one)",
            request.id
        )));
    }
    let ttl = state
        .leases
        .rules()
        .granted_ttl(request.ttl)
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    // A grant is a write: past the storage quota it is refused (507).
    super::refusal::check_quota(&state)?;
    let command = KvCommand::LeaseGrant {
        id: request.id,
        ttl,
    };
    match propose(&state, command, path_and_query(&uri)).await? {
        KvResponse::LeaseGranted { id, ttl } => {
            state.leases.granted(id, ttl);
            applied(&state, started);
            Ok(Json(LeaseResponse { id, ttl }))
        }
        KvResponse::Refused(refusal) => Err(refused(&state, &refusal)),
        _ => Err(unexpected("a lease grant")),
    }
}

/// `DELETE /v1/leases/{id}`.
pub(super) async fn revoke(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    caller: Option<Extension<Caller>>,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<NoParams>, QueryRejection>,
) -> Result<Json<LeaseRevokeResponse>, ApiError> {
    let started = Instant::now();
    let id = lease_id(id)?;
    params.map_err(|error| ApiError::bad_request(error.body_text()))?;
    if let Some(caller) = caller.as_deref() {
        authorize_revoke(&state, &uri, caller, id).await?;
    }
    match propose(&state, KvCommand::LeaseRevoke { id }, path_and_query(&uri)).await? {
        KvResponse::LeaseRevoked { revision, .. } => {
            state.leases.revoked(id);
            applied(&state, started);
            Ok(Json(LeaseRevokeResponse { revision }))
        }
        KvResponse::Refused(refusal) => Err(refused(&state, &refusal)),
        _ => Err(unexpected("a lease revoke")),
    }
}

/// A revoke deletes the lease's keys, so (as etcd) the caller needs write
/// on each key attached to it now. A key attached between this check and
/// the revoke is deleted too: the check is as of the linearizable read.
async fn authorize_revoke(
    state: &SharedState,
    uri: &axum::http::Uri,
    caller: &Caller,
    id: i64,
) -> Result<(), ApiError> {
    let answer = state
        .node
        .read_with(KvQuery::Lease { id }, ReadConsistency::Linearizable)
        .await
        .map_err(|error| ApiError::from_raft(error, path_and_query(uri)))?;
    match answer {
        KvAnswer::Lease(info) => info.keys.into_iter().try_for_each(|key| {
            authorize(
                Some(caller),
                Access::Write,
                &crate::store::KeyRange::single(key),
            )
        }),
        // Not found: the revoke itself answers 404.
        _ => Ok(()),
    }
}

/// `POST /v1/leases/{id}/keepalive`.
pub(super) async fn keep_alive(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<NoParams>, QueryRejection>,
) -> Result<Json<LeaseResponse>, ApiError> {
    let id = lease_id(id)?;
    params.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let renewed = state
        .leases
        .keep_alive(id)
        .await
        .map_err(|error| ApiError::from_raft(error, path_and_query(&uri)))?;
    match renewed {
        Some(ttl) => Ok(Json(LeaseResponse { id, ttl })),
        None => Err(lease_not_found(id)),
    }
}

/// `POST /v1/leases/keepalive` `{"ids": [..]}`: ttl 0 for a lease that is gone.
pub(super) async fn keep_alive_many(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    params: Result<Query<NoParams>, QueryRejection>,
    body: Result<Json<KeepAliveRequest>, JsonRejection>,
) -> Result<Json<KeepAliveResponse>, ApiError> {
    params.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let Json(request) = body.map_err(|error| ApiError::bad_request(error.body_text()))?;
    if request.ids.len() > MAX_KEEPALIVE_IDS {
        return Err(ApiError::bad_request(format!(
            "{} ids; at most {MAX_KEEPALIVE_IDS} per call",
            request.ids.len()
        )));
    }
    if let Some(bad) = request.ids.iter().find(|id| **id <= 0) {
        return Err(ApiError::bad_request(format!(
            "lease id {bad} is not positive"
        )));
    }
    let mut leases = Vec::with_capacity(request.ids.len());
    for id in request.ids {
        let renewed = state
            .leases
            .keep_alive(id)
            .await
            .map_err(|error| ApiError::from_raft(error, path_and_query(&uri)))?;
        leases.push(KeepAliveResult {
            id,
            ttl: renewed.unwrap_or(0),
        });
    }
    Ok(Json(KeepAliveResponse { leases }))
}

/// `GET /v1/leases/{id}`: the leader's view, with the time left.
pub(super) async fn time_to_live(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<NoParams>, QueryRejection>,
) -> Result<Json<LeaseInfo>, ApiError> {
    let id = lease_id(id)?;
    params.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let lease = state
        .leases
        .time_to_live(id)
        .await
        .map_err(|error| ApiError::from_raft(error, path_and_query(&uri)))?
        .ok_or_else(|| lease_not_found(id))?;
    let keys = lease
        .info
        .keys
        .iter()
        .map(|key| String::from_utf8_lossy(key).into_owned())
        .collect();
    Ok(Json(LeaseInfo {
        id,
        ttl: lease.info.ttl,
        remaining: lease.remaining_seconds,
        keys,
    }))
}

/// `GET /v1/leases`: every lease, from any node (a linearizable read: a
/// follower asks the leader how far to catch up, then answers itself).
pub(super) async fn list(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    params: Result<Query<NoParams>, QueryRejection>,
) -> Result<Json<LeaseList>, ApiError> {
    params.map_err(|error| ApiError::bad_request(error.body_text()))?;
    state.metrics.read(ReadConsistency::Linearizable);
    let answer = state
        .node
        .read_with(KvQuery::Leases, ReadConsistency::Linearizable)
        .await
        .map_err(|error| ApiError::from_raft(error, path_and_query(&uri)))?;
    let KvAnswer::Leases(leases) = answer else {
        return Err(unexpected("a list of leases"));
    };
    let leases = leases
        .into_iter()
        .map(|(id, ttl)| LeaseResponse { id, ttl })
        .collect();
    Ok(Json(LeaseList { leases }))
}

/// A lease id from the path: decimal, positive.
fn lease_id(id: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    let Path(text) =
        id.map_err(|error| ApiError::bad_request(format!("malformed id: {}", error.body_text())))?;
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::bad_request(format!(
            "lease id {text:?} is not a positive decimal number"
        ))),
    }
}

pub(super) fn lease_not_found(id: i64) -> ApiError {
    ApiError::Failed {
        status: StatusCode::NOT_FOUND,
        code: code::LEASE_NOT_FOUND,
        message: format!("lease {id} not found (never granted, revoked or expired)"),
        retry_after: None,
        revision: None,
    }
}

fn applied(state: &SharedState, started: Instant) {
    state.metrics.proposal(ProposalOutcome::Applied);
    state.metrics.proposal_seconds.observe(started.elapsed());
}

/// A grant or revoke the store refused (nothing changed).
fn refused(state: &SharedState, refusal: &KvError) -> ApiError {
    state.metrics.proposal(ProposalOutcome::Failed);
    super::refusal::from_store(refusal.clone())
}
