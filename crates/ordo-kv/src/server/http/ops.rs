//! Operations: `/v1/status`, `/v1/snapshot`, `/metrics` (and `health.rs`: `/health`).

use axum::Json;
use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ordo::ReadConsistency;

use crate::api::StatusResponse;
use crate::server::http::cluster::{node_status, status_info};
use crate::server::http::kv::{path_and_query, unexpected};
use crate::server::http::{ApiError, Holding, SharedState};
use crate::server::metrics::{PageExtras, StoreStats};
use crate::store::{KvAnswer, KvQuery};

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

/// Why [`take_backup`] took none.
#[derive(Debug)]
pub(crate) enum BackupRefusal {
    /// Another backup is being taken or sent by this node.
    Busy,
    /// The linearizable read failed.
    Raft(ordo::RaftError),
    /// The store answered with something other than a backup.
    Unexpected,
}

/// What a refused backup says when another one is in progress.
pub(crate) const BACKUP_BUSY: &str =
    "a backup is already being taken or sent by this node; retry when it is done";

/// A consistent backup: the whole store as of a linearizable read, with
/// the slot that must be held until it has been sent (one at a time). On
/// the leader, lease times are checkpointed first, so the backup holds what
/// each lease has left now; elsewhere it holds their last checkpoint.
pub(crate) async fn take_backup(
    state: &SharedState,
) -> Result<(tokio::sync::OwnedSemaphorePermit, bytes::Bytes), BackupRefusal> {
    let slot = state.backups.try_take().ok_or(BackupRefusal::Busy)?;
    if let Err(error) = state.leases.checkpoint_now().await {
        // The backup then holds older records: longer, never shorter.
        tracing::warn!(%error, "lease times were not checkpointed before a backup");
    }
    let answer = state
        .node
        .read_with(KvQuery::Backup, ReadConsistency::Linearizable)
        .await
        .map_err(BackupRefusal::Raft)?;
    let KvAnswer::Backup(bytes) = answer else {
        return Err(BackupRefusal::Unexpected);
    };
    Ok((slot, bytes))
}

/// `GET /v1/snapshot`: [`take_backup`] as a download.
pub(super) async fn snapshot(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    let (slot, bytes) = take_backup(&state).await.map_err(|refusal| match refusal {
        BackupRefusal::Busy => ApiError::busy(BACKUP_BUSY),
        BackupRefusal::Raft(error) => ApiError::from_raft(error, path_and_query(&uri)),
        BackupRefusal::Unexpected => unexpected("a backup"),
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
    // In chunks, so the slot is held until the last one is being written,
    // not merely handed to hyper's buffer whole.
    let body = Body::new(Holding {
        inner: Body::new(Chunks(bytes)),
        _held: slot,
    });
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

/// Bytes sent as a body of `BACKUP_CHUNK_BYTES` frames (slices, no copy).
struct Chunks(bytes::Bytes);

/// Frame size of a backup body.
const BACKUP_CHUNK_BYTES: usize = 64 << 10;

impl http_body::Body for Chunks {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        if self.0.is_empty() {
            return std::task::Poll::Ready(None);
        }
        let take = self.0.len().min(BACKUP_CHUNK_BYTES);
        let chunk = self.0.split_to(take);
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.0.len() as u64)
    }
}
