//! Operations: `/v1/status`, `/v1/snapshot`, `/metrics` (and `health.rs`: `/health`).

use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ordo::ReadConsistency;

use crate::api::NodeStatusInfo;
use crate::server::http::cluster::{node_status, status_info};
use crate::server::http::kv::{path_and_query, unexpected};
use crate::server::http::{ApiError, SharedState};
use crate::server::metrics::{PageExtras, StoreStats};
use crate::store::{KvAnswer, KvQuery};

pub(super) async fn status(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<NodeStatusInfo>, ApiError> {
    let status = node_status(&state, path_and_query(&uri)).await?;
    Ok(Json(status_info(&status)))
}

/// A consistent backup: the whole store as of a linearizable read.
pub(super) async fn snapshot(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    let answer = state
        .node
        .read_with(KvQuery::Backup, ReadConsistency::Linearizable)
        .await
        .map_err(|error| ApiError::from_raft(error, path_and_query(&uri)))?;
    let KvAnswer::Backup(bytes) = answer else {
        return Err(unexpected("a backup"));
    };
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        ),
        (
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"ordo.backup\""),
        ),
    ];
    Ok((headers, bytes).into_response())
}

pub(super) async fn metrics(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    let status = node_status(&state, path_and_query(&uri)).await?;
    let store = match state.node.read_stale(KvQuery::Stats).await {
        Ok(KvAnswer::Stats(stats)) => Some(StoreStats {
            keys: stats.keys,
            bytes: stats.live_bytes,
            cluster_revision: stats.cluster_revision,
        }),
        _ => None,
    };
    let extras = PageExtras {
        wal: state.metrics.wal_dir().and_then(|dir| wal_size(&dir)),
        handshakes_refused: state.transport.stats().handshakes_refused,
    };
    let mut page = state.metrics.render(&status, store, extras);
    state.watch_hub.render_metrics(&mut page);
    let content_type = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    Ok(([(header::CONTENT_TYPE, content_type)], page).into_response())
}

/// The log's segments (`*.wal`) in `dir`: (total bytes, files).
fn wal_size(dir: &std::path::Path) -> Option<(u64, u64)> {
    let mut total = (0, 0);
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "wal") {
            total.0 += entry.metadata().map_or(0, |meta| meta.len());
            total.1 += 1;
        }
    }
    Some(total)
}

pub(super) async fn no_route(OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {}", uri.path()))
}

pub(super) async fn no_method(
    method: axum::http::Method,
    OriginalUri(uri): OriginalUri,
) -> ApiError {
    ApiError::method_not_allowed(format!("{} does not take {method}", uri.path()))
}
