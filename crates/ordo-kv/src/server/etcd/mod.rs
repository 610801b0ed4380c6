//! etcd's v3 gRPC API on the client port, so that etcdctl and etcd's client
//! libraries work against `ordo` unchanged.
//!
//! The client port's accept loop (`server/http/accept.rs`) speaks HTTP/1.1
//! and HTTP/2 (h2c, or h2 over TLS by ALPN); `request_gate.rs` sends every
//! `content-type: application/grpc*` request to [`router`], the rest to the
//! JSON API. Both see the same store, lease clock and watch hub, under the
//! same connection limits.
//!
//! - `pb.rs`: the types and stubs generated from `proto/etcd/` (written from
//!   etcd's documented API; names and numbers are the wire contract).
//! - `convert.rs`: etcd's messages to the store's and back, with etcd's
//!   checks; `failure.rs`: errors with etcd's codes and exact messages;
//!   `header.rs`: the `ResponseHeader`.
//! - `kv.rs`, `watch.rs`, `watch_session.rs`, `lease.rs`, `cluster.rs`,
//!   `maintenance.rs`, `auth.rs`: the services; `lock.rs`, `election.rs`
//!   and `election_observer.rs`: `v3lockpb.Lock` and
//!   `v3electionpb.Election`, on `contenders.rs` (the coordination
//!   recipes' line of contenders, run on the store and the watch hub);
//!   `alarm.rs`: etcd's NOSPACE alarm over the storage quota.
//! - `snapshot_envelope.rs`: the frame etcdctl wants around a snapshot.
//! - `auth_gate.rs`: while auth is enabled, every call is authenticated
//!   (etcd's `token` metadata, or a client certificate) and authorized with
//!   the HTTP API's rules before its service sees it.
//! - `forward.rs`: a follower forwards writes to the leader (etcd clients do
//!   not follow redirects), over TLS when the leader's client port has it.
//!
//! Reads: a `Range` is linearizable (ReadIndex, answered by the node asked,
//! follower or not) unless `serializable`, then served from the node's
//! applied state. A `Txn` without a put or delete at any depth is served the
//! same way as a linearizable Range (read index, no log entry), as etcd
//! does; any other is proposed through the log. What is not served yet answers `UNIMPLEMENTED`
//! with what is missing; the README's "etcd API" section lists it.

use std::sync::Arc;

use axum::Router;

use crate::server::etcd::forward::{Forwarder, ForwardingTls};
use crate::server::etcd::header::HeaderIds;
use crate::server::http::SharedState;

mod alarm;
mod auth;
mod auth_commands;
mod auth_failure;
mod auth_gate;
mod cluster;
mod contenders;
mod convert;
mod election;
mod election_observer;
mod failure;
mod forward;
mod header;
mod kv;
mod lease;
mod lock;
mod maintenance;
mod membership;
pub mod pb;
pub mod snapshot_envelope;
mod watch;
mod watch_session;

/// The version `Maintenance.Status` reports: the etcd API level served.
pub const ETCD_API_VERSION: &str = "3.5.0";

/// What every service holds.
#[derive(Clone)]
pub(crate) struct EtcdService {
    pub(crate) state: SharedState,
    pub(crate) ids: HeaderIds,
    pub(crate) forwarder: Arc<Forwarder>,
}

/// The etcd services, as routes for the client port's gRPC requests.
pub fn router(state: SharedState) -> Router {
    use pb::etcdserverpb::{
        auth_server::AuthServer, cluster_server::ClusterServer, kv_server::KvServer,
        lease_server::LeaseServer, maintenance_server::MaintenanceServer,
        watch_server::WatchServer,
    };
    use pb::v3electionpb::election_server::ElectionServer;
    use pb::v3lockpb::lock_server::LockServer;
    let forwarding_tls = ForwardingTls {
        cluster_ca: state.cluster_ca.clone(),
        own: state.client_port_tls.clone(),
    };
    let service = EtcdService {
        ids: HeaderIds::of(&state),
        state,
        forwarder: Arc::new(Forwarder::new(forwarding_tls)),
    };
    let gate_state = Arc::clone(&service.state);
    tonic::service::Routes::new(KvServer::new(service.clone()))
        .add_service(WatchServer::new(service.clone()))
        .add_service(LeaseServer::new(service.clone()))
        .add_service(ClusterServer::new(service.clone()))
        .add_service(MaintenanceServer::new(service.clone()))
        .add_service(LockServer::new(service.clone()))
        .add_service(ElectionServer::new(service.clone()))
        .add_service(AuthServer::new(service))
        .into_axum_router()
        .layer(axum::middleware::from_fn_with_state(
            gate_state,
            auth_gate::gate,
        ))
}
