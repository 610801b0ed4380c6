//! The etcd API's auth gate: what every gRPC call passes while auth is
//! enabled, with etcd's scheme and the HTTP API's rules
//! (`server/http/auth_gate.rs` holds the rules; this file only speaks
//! gRPC).
//!
//! 1. A client gets a token from `Auth.Authenticate` and sends it in the
//!    `token` metadata of every call (etcd's clients do this themselves
//!    for `--user`). Without one, a verified client certificate's name is
//!    the user. Neither: "etcdserver: user name is empty"; a token that
//!    does not verify: "etcdserver: invalid auth token" (on which etcd's
//!    clients authenticate again and retry).
//! 2. Open calls pass as they are: `Authenticate`, `AuthStatus` (as in
//!    etcd) and `Cluster.MemberList` (the HTTP API's `GET /v1/cluster` is
//!    open too).
//! 3. Key calls (`KV.Range/Put/DeleteRange/Txn`, `Watch`, `Lease`,
//!    `Maintenance.Status`, `Lock`, `Election`) need a user; the service
//!    checks each range it touches with [`permitted`] / [`permitted_txn`]
//!    (the HTTP API's `authorize`), and a lease revoke needs write on every
//!    key it deletes. Lock and Election check every read and write of
//!    their recipe, as etcd does (`contenders.rs`).
//! 4. Everything else is root's: users and roles, the auth switch,
//!    membership, compaction, the rest of Maintenance; and any call this
//!    file does not name (a service added later is closed until it is
//!    classed here: the gate fails closed).
//!
//! A call another node forwarded (`forward.rs`) is identified by its token
//! only: the client certificate on it is the forwarding node's, not its
//! caller's, and names no user.
//!
//! The checked user rides in the request's extensions as a [`Caller`],
//! which tonic hands to the service; with auth off there is none, and the
//! checks pass.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tonic::Status;

use crate::auth::Access;
use crate::server::etcd::forward::FORWARDED;
use crate::server::http::auth_gate::{Caller, Unidentified, authorize, authorize_txn, user_of};
use crate::server::http::{AuthenticatedUser, SharedState};
use crate::store::{KeyRange, TxnRequest};

/// The metadata key carrying a token (etcd's `rpctypes.TokenFieldNameGRPC`).
pub(crate) const TOKEN_METADATA: &str = "token";
/// etcd's message for a call without credentials while auth is on.
pub(crate) const USER_EMPTY: &str = "etcdserver: user name is empty";
/// etcd's message for a token that does not verify.
pub(crate) const INVALID_AUTH_TOKEN: &str = "etcdserver: invalid auth token";
/// etcd's message for a call the user may not make.
pub(crate) const PERMISSION_DENIED: &str = "etcdserver: permission denied";

/// How the gate treats a call (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallClass {
    Open,
    Keys,
    Root,
}

fn call_class(path: &str) -> CallClass {
    match path {
        "/etcdserverpb.Auth/Authenticate"
        | "/etcdserverpb.Auth/AuthStatus"
        | "/etcdserverpb.Cluster/MemberList" => CallClass::Open,
        "/etcdserverpb.KV/Range"
        | "/etcdserverpb.KV/Put"
        | "/etcdserverpb.KV/DeleteRange"
        | "/etcdserverpb.KV/Txn"
        | "/etcdserverpb.Watch/Watch"
        | "/etcdserverpb.Lease/LeaseGrant"
        | "/etcdserverpb.Lease/LeaseRevoke"
        | "/etcdserverpb.Lease/LeaseKeepAlive"
        | "/etcdserverpb.Lease/LeaseTimeToLive"
        | "/etcdserverpb.Lease/LeaseLeases"
        | "/etcdserverpb.Maintenance/Status"
        | "/v3lockpb.Lock/Lock"
        | "/v3lockpb.Lock/Unlock"
        | "/v3electionpb.Election/Campaign"
        | "/v3electionpb.Election/Proclaim"
        | "/v3electionpb.Election/Leader"
        | "/v3electionpb.Election/Observe"
        | "/v3electionpb.Election/Resign" => CallClass::Keys,
        _ => CallClass::Root,
    }
}

/// The middleware (see the module docs).
pub(super) async fn gate(
    State(state): State<SharedState>,
    mut request: Request,
    next: Next,
) -> Response {
    let auth = state.auth.view.current();
    if !auth.enabled() {
        return next.run(request).await;
    }
    let class = call_class(request.uri().path());
    if class == CallClass::Open {
        return next.run(request).await;
    }
    let user = match identify(&auth, &request) {
        Ok(user) => user,
        Err(status) => return status.into_http(),
    };
    if class == CallClass::Root && !auth.is_root(&user) {
        return permission_denied().into_http();
    }
    request.extensions_mut().insert(Caller { user, auth });
    next.run(request).await
}

/// The user a call speaks for (the shared rule, with etcd's answers).
fn identify(auth: &crate::auth::AuthState, request: &Request) -> Result<String, Status> {
    let token = match request.headers().get(TOKEN_METADATA) {
        Some(value) => Some(value.to_str().map_err(|_| invalid_auth_token())?),
        None => None,
    };
    let certificate = if request.headers().contains_key(FORWARDED) {
        None
    } else {
        request.extensions().get::<AuthenticatedUser>()
    };
    user_of(auth, token, certificate).map_err(|refusal| match refusal {
        Unidentified::NoCredentials => Status::invalid_argument(USER_EMPTY),
        Unidentified::BadToken(_) => invalid_auth_token(),
    })
}

fn invalid_auth_token() -> Status {
    Status::unauthenticated(INVALID_AUTH_TOKEN)
}

/// etcd's refusal of a call the user may not make.
pub(crate) fn permission_denied() -> Status {
    Status::permission_denied(PERMISSION_DENIED)
}

/// The checked caller of `request` (none while auth is off).
pub(crate) fn caller_of<T>(request: &tonic::Request<T>) -> Option<Caller> {
    request.extensions().get::<Caller>().cloned()
}

/// Checks that `caller` (if any) may have `access` to all of `range`.
///
/// # Errors
/// "etcdserver: permission denied".
pub(crate) fn permitted(
    caller: Option<&Caller>,
    access: Access,
    range: &KeyRange,
) -> Result<(), Status> {
    authorize(caller, access, range).map_err(|_| permission_denied())
}

/// Checks every compare and operation of `txn` (the HTTP API's rule).
///
/// # Errors
/// "etcdserver: permission denied".
pub(crate) fn permitted_txn(caller: Option<&Caller>, txn: &TxnRequest) -> Result<(), Status> {
    authorize_txn(caller, txn).map_err(|_| permission_denied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_calls_are_few_key_calls_are_named_and_the_rest_is_roots() {
        assert_eq!(
            call_class("/etcdserverpb.Auth/Authenticate"),
            CallClass::Open
        );
        assert_eq!(call_class("/etcdserverpb.KV/Txn"), CallClass::Keys);
        assert_eq!(call_class("/etcdserverpb.KV/Compact"), CallClass::Root);
        assert_eq!(call_class("/etcdserverpb.Auth/UserAdd"), CallClass::Root);
        assert_eq!(call_class("/v3lockpb.Lock/Lock"), CallClass::Keys);
        assert_eq!(
            call_class("/v3electionpb.Election/Observe"),
            CallClass::Keys
        );
        assert_eq!(call_class("/v3lockpb.Lock/Other"), CallClass::Root);
        assert_eq!(call_class("/etcdserverpb.KV/Range/x"), CallClass::Root);
    }
}
