//! The HTTP API (documented in the README; wire types in [`crate::api`]).
//!
//! Handlers are thin: they check the request (limits, key, query, body),
//! hand one command or query to the Raft node, and turn its answer or
//! error into a response ([`ApiError`] holds the mapping). A request that
//! fails a check never reaches the node, so a bad request never changes
//! the store.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::serve::ListenerExt;
use ordo::RaftNode;
use ordo::storage::LogStore;
use ordo::transport::tcp::TcpTransport;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::server::metrics::Metrics;
use crate::server::settings::Limits;
use crate::server::watch::WatchHub;
use crate::store::KvStore;

mod cluster;
mod error;
pub mod health;
mod kv;
mod ops;

pub use error::ApiError;

/// What every handler can reach.
pub struct AppState {
    /// The Raft node.
    pub node: RaftNode<KvStore>,
    /// Its transport (for its counters).
    pub transport: TcpTransport,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Request limits.
    pub limits: Limits,
    /// This node's addresses.
    pub own: ordo::MemberInfo,
    /// The cluster's name (for people).
    pub cluster: String,
    /// The cluster's id (what the handshake checks).
    pub cluster_id: String,
    /// The node's log store (for its repair point, on `/health`).
    pub log: Arc<dyn LogStore>,
    /// The node's watchers (the store's observer).
    pub watch_hub: Arc<WatchHub>,
}

/// Shared state handle.
pub type SharedState = Arc<AppState>;

/// The API's routes.
pub fn router(state: SharedState) -> Router {
    // Room for the largest value plus a little, so that a value just over
    // the limit is read and refused by the handler with a clear 413.
    let body_limit = state.limits.max_value_bytes.saturating_add(1);
    Router::new()
        .route("/v1/kv", get(kv::list))
        .route(
            "/v1/kv/{*key}",
            put(kv::put).get(kv::get).delete(kv::delete),
        )
        .route("/v1/watch", get(crate::server::watch::endpoint::watch))
        .route("/v1/cluster", get(cluster::describe))
        .route("/v1/cluster/members", post(cluster::add_member))
        .route(
            "/v1/cluster/members/{id}",
            axum::routing::delete(cluster::remove_member),
        )
        .route("/v1/cluster/members/{id}/promote", post(cluster::promote))
        .route(
            "/v1/cluster/members/{id}/address",
            put(cluster::set_address),
        )
        .route("/v1/cluster/leader", post(cluster::transfer_leader))
        .route("/v1/snapshot", get(ops::snapshot))
        .route("/v1/status", get(ops::status))
        .route("/metrics", get(ops::metrics))
        .route("/health", get(health::health))
        .fallback(ops::no_route)
        .method_not_allowed_fallback(ops::no_method)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` turns true.
pub async fn serve(listener: TcpListener, state: SharedState, mut shutdown: watch::Receiver<bool>) {
    let app = router(state);
    let stopped = async move {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                return;
            }
        }
    };
    // Without TCP_NODELAY, a response whose head and body go out in two
    // writes waits for the client's delayed ACK (~40 ms).
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(stopped)
        .await
    {
        tracing::error!(%error, "the HTTP server failed");
    }
}
