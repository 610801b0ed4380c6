//! Operations: `/v1/status`, `/v1/snapshot`, `/metrics` (and `health.rs`: `/health`).

use axum::Json;
use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_core::Stream;

use crate::api::StatusResponse;
use crate::server::backup::{BACKUP_BUSY, BackupChunks, BackupRefusal, take_backup};
use crate::server::http::cluster::{node_status, status_info};
use crate::server::http::kv::path_and_query;
use crate::server::http::{ApiError, SharedState};
use crate::server::metrics::{PageExtras, StoreStats};

pub(super) async fn status(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<StatusResponse>, ApiError> {
    let status = node_status(&state, path_and_query(&uri)).await?;
    let counters = state.store.counters();
    Ok(Json(StatusResponse {
        node: status_info(&status),
        revision: Some(counters.cluster_revision),
        compact_revision: Some(counters.compact_revision),
        alarms: state.store.alarms(),
    }))
}

/// `GET /v1/snapshot`: [`take_backup`] as a download, streamed from the
/// snapshot file (`server/backup.rs`).
pub(super) async fn snapshot(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    let backup = take_backup(&state).await.map_err(|refusal| match refusal {
        BackupRefusal::Busy => ApiError::busy(BACKUP_BUSY),
        BackupRefusal::Raft(error) => ApiError::from_raft(error, path_and_query(&uri)),
    })?;
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
    // The chunks hold the backup slot until the last one is taken.
    let body = Body::new(BackupBody(backup.into_chunks()));
    Ok((headers, body).into_response())
}

pub(super) async fn metrics(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    let status = node_status(&state, path_and_query(&uri)).await?;
    let store = Some(StoreStats {
        counters: state.store.counters(),
        quota_bytes: state.store.quota_bytes(),
        quota_alarm: state.store.over_quota(),
    });
    let extras = PageExtras {
        wal: state.metrics.wal_dir().and_then(|dir| wal_size(&dir)),
        handshakes_refused: state.transport.stats().handshakes_refused,
    };
    let mut page = state.metrics.render(&status, store, extras);
    state.leases.render_metrics(&mut page);
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

/// A backup's chunks as a body of known length (so the answer carries a
/// `Content-Length` a client can check the download against).
struct BackupBody(BackupChunks);

impl http_body::Body for BackupBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.0)
            .poll_next(cx)
            .map(|chunk| chunk.map(|chunk| chunk.map(http_body::Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.0.remaining_bytes() == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.0.remaining_bytes())
    }
}
