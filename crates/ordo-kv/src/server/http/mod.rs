//! The HTTP API (documented in the README; wire types in [`crate::api`]).
//!
//! Handlers are thin: they check the request (limits, key, query, body),
//! hand one command or query to the Raft node, and turn its answer or
//! error into a response ([`ApiError`] holds the mapping). A request that
//! fails a check never reaches the node, so a bad request never changes
//! the store.
//!
//! Files: the routes' handlers in `kv.rs`, `cluster.rs`, `ops.rs`,
//! `health.rs`, their errors in `error.rs`; the connections under them in
//! `accept.rs` (the accept loop and every timeout and cap on a client),
//! `connections.rs` (the capped table of open connections),
//! `h2_authority/` (an HTTP/2 `:authority` that is a URL made bare before
//! h2 sees it: etcdctl 3.4 sends one),
//! `request_gate.rs` (in-flight cap, body deadline, the authenticated
//! user), `auth_gate.rs` (who a request speaks for and what it may do,
//! when auth is enabled), `auth_routes.rs` (`/v1/auth/...`), `tls.rs` (HTTPS, reloaded on SIGHUP) and `cert_name.rs` (the
//! user name in a client certificate).

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use ordo::RaftNode;
use ordo::storage::LogStore;
use ordo::transport::tcp::TcpTransport;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use crate::server::auth_view::{AuthContext, DEFAULT_AUTH_TOKEN_TTL, MAX_AUTH_TOKEN_TTL};
use crate::server::leases::NodeLeases;
use crate::server::metrics::Metrics;
use crate::server::settings::Limits;
use crate::server::store_gauge::StoreGauge;
use crate::server::watch::WatchHub;
use crate::store::KvStore;

mod accept;
pub mod auth_gate;
mod auth_routes;
pub mod cert_name;
pub(crate) mod cluster;
pub(crate) use cluster::cluster_view;
mod connections;
pub(crate) use connections::ConnectionTable;
mod compact;
mod error;
mod h2_authority;
pub mod health;
mod kv;
mod kv_read;
mod kv_txn;
mod leases;
pub(crate) mod ops;
mod refusal;
mod request_gate;
pub mod tls;
mod txn;
mod txn_json;

pub use accept::{
    ConnectionLimits, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_IN_FLIGHT_REQUESTS,
};
pub use error::ApiError;
pub use request_gate::AuthenticatedUser;
pub use txn_json::{MAX_READ_LIMIT, MAX_TXN_DEPTH};

/// Room in a transaction's body beyond its values, in bytes.
const TXN_BODY_EXTRA_BYTES: usize = 1 << 20;

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
    /// The leader's lease clock (`server/leases/`).
    pub leases: Arc<NodeLeases>,
    /// The store's counters and quota, as the store last reported them.
    pub store: Arc<StoreGauge>,
    /// One backup (`GET /v1/snapshot`, etcd's Snapshot) at a time: each
    /// holds a snapshot file open and a reading thread until it is sent
    /// (`server/backup.rs`).
    pub backups: BackupSlot,
    /// Users, roles and tokens (`auth_gate.rs`, `auth_routes.rs`).
    pub auth: AuthContext,
    /// The CA the members' client-port certificates chain to, when known
    /// (the peer TLS CA, else the client port's trusted CA): the
    /// dashboard asks members behind HTTPS through it (`ui/members.rs`).
    pub cluster_ca: Option<std::path::PathBuf>,
    /// This node's client-port TLS files, if it has them: the etcd API
    /// presents this certificate as a client certificate when a follower
    /// forwards a call to a leader behind TLS (`server/etcd/forward.rs`).
    pub client_port_tls: Option<tls::ClientTls>,
}

/// The one backup a node serves at a time (a second one is 429 `busy`).
#[derive(Debug)]
pub struct BackupSlot(Arc<tokio::sync::Semaphore>);

impl Default for BackupSlot {
    fn default() -> Self {
        BackupSlot(Arc::new(tokio::sync::Semaphore::new(1)))
    }
}

impl BackupSlot {
    /// The slot, if free; it is free again when the permit is dropped.
    pub(crate) fn try_take(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.0).try_acquire_owned().ok()
    }
}

/// Shared state handle.
pub type SharedState = Arc<AppState>;

/// The API's routes.
pub fn router(state: SharedState) -> Router {
    // Room for the largest value plus a little, so that a value just over
    // the limit is read and refused by the handler with a clear 413.
    let body_limit = state.limits.max_value_bytes.saturating_add(1);
    // A transaction carries values in JSON, base64 ones a third larger:
    // room for one largest value so spelled and the rest of the body.
    let txn_body_limit = body_limit
        .saturating_mul(2)
        .saturating_add(TXN_BODY_EXTRA_BYTES);
    Router::new()
        .route("/v1/kv", get(kv_read::list).delete(kv_txn::delete_prefix))
        .route(
            "/v1/kv/{*key}",
            put(kv::put).get(kv_read::get).delete(kv::delete),
        )
        .route(
            "/v1/txn",
            post(txn::txn).layer(DefaultBodyLimit::max(txn_body_limit)),
        )
        .route("/v1/compact", post(compact::compact))
        .route("/v1/leases", post(leases::grant).get(leases::list))
        .route("/v1/leases/keepalive", post(leases::keep_alive_many))
        .route(
            "/v1/leases/{id}",
            get(leases::time_to_live).delete(leases::revoke),
        )
        .route("/v1/leases/{id}/keepalive", post(leases::keep_alive))
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
        .merge(crate::server::ui::router())
        .merge(auth_router())
        .fallback(ops::no_route)
        .method_not_allowed_fallback(ops::no_method)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            auth_gate::gate,
        ))
        .with_state(state)
}

/// `/v1/auth/...` (`auth_routes.rs`).
fn auth_router() -> Router<SharedState> {
    Router::new()
        .route("/v1/auth/authenticate", post(auth_routes::authenticate))
        .route("/v1/auth/status", get(auth_routes::status))
        .route("/v1/auth/enable", post(auth_routes::enable))
        .route("/v1/auth/disable", post(auth_routes::disable))
        .route(
            "/v1/auth/users",
            get(auth_routes::users).post(auth_routes::user_add),
        )
        .route(
            "/v1/auth/users/{name}",
            get(auth_routes::user).delete(auth_routes::user_delete),
        )
        .route(
            "/v1/auth/users/{name}/password",
            put(auth_routes::user_password),
        )
        .route(
            "/v1/auth/users/{name}/roles/{role}",
            put(auth_routes::user_grant_role).delete(auth_routes::user_revoke_role),
        )
        .route(
            "/v1/auth/roles",
            get(auth_routes::roles).post(auth_routes::role_add),
        )
        .route(
            "/v1/auth/roles/{name}",
            get(auth_routes::role).delete(auth_routes::role_delete),
        )
        .route(
            "/v1/auth/roles/{name}/permissions",
            post(auth_routes::role_grant),
        )
        .route(
            "/v1/auth/roles/{name}/permissions/revoke",
            post(auth_routes::role_revoke),
        )
}

/// How the client port listens: its limits and, optionally, HTTPS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    /// Timeouts and caps on client connections.
    pub limits: ConnectionLimits,
    /// HTTPS, when given.
    pub tls: Option<tls::ClientTls>,
    /// How long an auth token is valid (`--auth-token-ttl`).
    pub auth_token_ttl: std::time::Duration,
}

impl Default for HttpSettings {
    /// Default limits, no TLS, tokens valid [`DEFAULT_AUTH_TOKEN_TTL`].
    fn default() -> Self {
        Self {
            limits: ConnectionLimits::default(),
            tls: None,
            auth_token_ttl: DEFAULT_AUTH_TOKEN_TTL,
        }
    }
}

/// Serves the API on `listener` with the default limits and no TLS until
/// `shutdown` turns true.
pub async fn serve(listener: TcpListener, state: SharedState, shutdown: watch::Receiver<bool>) {
    serve_with(listener, state, ConnectionLimits::default(), None, shutdown).await;
}

/// Serves the API on `listener` within `limits`, over HTTPS when `tls` is
/// given, until `shutdown` turns true; then lets requests in flight finish.
pub async fn serve_with(
    listener: TcpListener,
    state: SharedState,
    limits: ConnectionLimits,
    tls: Option<Arc<tls::TlsAcceptors>>,
    shutdown: watch::Receiver<bool>,
) {
    let connections = connections::ConnectionTable::new(limits.max_connections);
    state
        .metrics
        .set_client_connections(Arc::clone(&connections));
    let listening = accept::Listening {
        grpc: crate::server::etcd::router(Arc::clone(&state)),
        app: router(state),
        limits,
        tls,
        connections,
    };
    accept::accept_loop(listener, listening, shutdown).await;
}
