//! `POST /v1/txn`: an etcd transaction over HTTP (wire types in
//! [`crate::api`]; the JSON mapping and its checks in `txn_json.rs`).
//!
//! Every transaction goes through the log, read-only ones included, so it
//! is proposed on the leader (followers answer 307, like a put) and its
//! reads are linearizable; a transaction that writes nothing takes no
//! revision. The body is JSON whatever its content type, so `curl -d`
//! works as written.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use crate::api;
use crate::server::http::auth_gate::{Caller, authorize_txn};
use crate::server::http::kv::{path_and_query, propose, unexpected};
use crate::server::http::refusal::{self, check_quota};
use crate::server::http::txn_json;
use crate::server::http::{ApiError, SharedState};
use crate::server::metrics::ProposalOutcome;
use crate::store::{self, KvCommand, KvResponse};

pub(super) async fn txn(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    caller: Option<Extension<Caller>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<api::TxnResponse>, ApiError> {
    let started = Instant::now();
    let request: api::TxnRequest = json_body(body)?;
    let request = txn_json::to_store(&request, &state.limits)?;
    authorize_txn(caller.as_deref(), &request)?;
    if txn_json::puts(&request) {
        check_quota(&state)?;
    }
    let response = run(&state, request.clone(), path_and_query(&uri)).await?;
    state.metrics.proposal_seconds.observe(started.elapsed());
    Ok(Json(txn_json::from_store(&request, response)))
}

/// Proposes `request` and answers the store's answer, or its refusal as
/// the API's error.
pub(super) async fn run(
    state: &SharedState,
    request: store::TxnRequest,
    path_and_query: &str,
) -> Result<store::TxnResponse, ApiError> {
    match propose(state, KvCommand::Txn(request), path_and_query).await? {
        KvResponse::Txn(response) => {
            state.metrics.proposal(ProposalOutcome::Applied);
            Ok(response)
        }
        KvResponse::Refused(error) => {
            // Committed and applied, as a refusal every node made alike.
            state.metrics.proposal(ProposalOutcome::Applied);
            Err(refusal::from_store(error))
        }
        _ => Err(unexpected("a txn")),
    }
}

/// A JSON body, read whatever its content type says.
pub(super) fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(|error| {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large("the request body is over the limit")
        } else {
            ApiError::bad_request(error.body_text())
        }
    })?;
    serde_json::from_slice(&body).map_err(|error| {
        ApiError::bad_request(format!("the body is not the JSON expected: {error}"))
    })
}
