//! The auth gate: what every request passes, after the request gate and
//! before its handler, while auth is enabled.
//!
//! 1. Open routes pass as they are: `/health` and `/metrics` (probes and
//!    scrapers carry no credentials; they reveal no key or value),
//!    `POST /v1/auth/authenticate` (how a token is had), `GET
//!    /v1/cluster` (members read it to join; etcd's member list is open too)
//!    and the dashboard's files and session answer (`/ui`, `/ui/*`,
//!    `/v1/ui/session`: no data; the page then signs in).
//! 2. Every other request proves who it is: `Authorization: Bearer TOKEN`
//!    (checked first, as etcd does), else the verified client certificate's
//!    name. Neither, or a token that does not verify: 401 `unauthenticated`.
//! 3. Root-only routes (membership, leadership, compaction, backups, user
//!    and role management) answer 403 `permission_denied` to anyone else,
//!    with one exception: `PUT /v1/cluster/members/N/address` also takes a
//!    member token for N (`auth/member_token.rs`), so a member that moved
//!    can have its own address logged, and only its own (a member token
//!    for another node: 403). The gate passes the token's [`MemberGrant`]
//!    to the handler, which refuses (403) a body whose addresses are not
//!    the ones the token was minted for. No user but root can re-point a
//!    member.
//! 4. Key routes (`/v1/kv`, `/v1/txn`, `/v1/watch`) get the [`Caller`] and
//!    check each range they touch with `authorize` before anything is
//!    proposed or read; leases need only an identity (etcd's rule), but a
//!    revoke, which deletes its keys, needs write on every one of them.
//!
//! Nothing is read from the body before the gate decides, so a refused
//! request changes nothing and costs little (the one body check, a member
//! token's addresses, is the address handler's, before it proposes).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::AUTHORIZATION_SCHEME;
use crate::auth::member_token::{self, MemberGrant};
use crate::auth::token::TokenError;
use crate::auth::{Access, AuthState};
use crate::server::http::{ApiError, AuthenticatedUser, SharedState};
use crate::store::{KeyRange, RequestOp, TxnRequest};

/// Who sent a request, and the auth state it was checked against. Present
/// in a request's extensions only while auth is enabled.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user.
    pub user: String,
    /// The auth state at the gate.
    pub auth: Arc<AuthState>,
}

/// How the gate treats a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RouteClass {
    Open,
    Authenticated,
    Root,
    /// Root's, or member N's own: `PUT /v1/cluster/members/N/address`.
    MemberAddress(u64),
}

fn route_class(method: &Method, path: &str) -> RouteClass {
    if let (&Method::PUT, Some(id)) = (method, member_address_of(path)) {
        return RouteClass::MemberAddress(id);
    }
    match (method, path) {
        (_, "/health" | "/metrics") => RouteClass::Open,
        (&Method::POST, "/v1/auth/authenticate") => RouteClass::Open,
        (&Method::GET, "/v1/cluster") => RouteClass::Open,
        // The dashboard's files hold no data, and its session answer is
        // how a page learns it must sign in (it identifies the caller
        // itself); the page's data comes through the guarded routes.
        (&Method::GET, "/ui" | "/v1/ui/session") => RouteClass::Open,
        (&Method::GET, _) if path.starts_with("/ui/") => RouteClass::Open,
        (&Method::GET, "/v1/auth/status") => RouteClass::Authenticated,
        (_, "/v1/compact" | "/v1/snapshot") => RouteClass::Root,
        _ if path.starts_with("/v1/cluster/") || path.starts_with("/v1/auth/") => RouteClass::Root,
        _ => RouteClass::Authenticated,
    }
}

/// The N of `/v1/cluster/members/N/address`.
fn member_address_of(path: &str) -> Option<u64> {
    let id = path
        .strip_prefix("/v1/cluster/members/")?
        .strip_suffix("/address")?;
    id.parse().ok()
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
    let class = route_class(request.method(), request.uri().path());
    if class == RouteClass::Open {
        return next.run(request).await;
    }
    if let RouteClass::MemberAddress(id) = class {
        match member_of(&auth, &request) {
            Some(Ok(grant)) if grant.node_id == id => {
                // The handler checks the body against the grant.
                request.extensions_mut().insert(grant);
                return next.run(request).await;
            }
            Some(Ok(grant)) => {
                return ApiError::permission_denied(format!(
                    "member {} may change only its own address, not node {id}'s",
                    grant.node_id
                ))
                .into_response();
            }
            Some(Err(error)) => {
                return ApiError::unauthenticated(error.to_string()).into_response();
            }
            None => {}
        }
    }
    let user = match identify(&auth, &request) {
        Ok(user) => user,
        Err(error) => return error.into_response(),
    };
    let root_only = matches!(class, RouteClass::Root | RouteClass::MemberAddress(_));
    if root_only && !auth.is_root(&user) {
        return ApiError::permission_denied(format!(
            "only a user with the role root may do this; {user:?} may not"
        ))
        .into_response();
    }
    request.extensions_mut().insert(Caller { user, auth });
    next.run(request).await
}

/// What a request's member token permits; `None` if it carries no member
/// token (a user's token, a certificate, or nothing).
fn member_of(auth: &AuthState, request: &Request) -> Option<Result<MemberGrant, TokenError>> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = value.strip_prefix(AUTHORIZATION_SCHEME)?.trim();
    member_token::is_member_token(token)
        .then(|| auth.verify_member_token(token, unix_seconds_now()))
}

/// The user a request speaks for: its token's, else its certificate's.
pub(crate) fn identify(auth: &AuthState, request: &Request) -> Result<String, ApiError> {
    let token = match request.headers().get(header::AUTHORIZATION) {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.strip_prefix(AUTHORIZATION_SCHEME))
                .ok_or_else(|| {
                    ApiError::unauthenticated("the Authorization header must be `Bearer TOKEN`")
                })?,
        ),
        None => None,
    };
    let certificate = request.extensions().get::<AuthenticatedUser>();
    user_of(auth, token, certificate).map_err(|refusal| match refusal {
        Unidentified::BadToken(error) => ApiError::unauthenticated(error.to_string()),
        Unidentified::NoCredentials => ApiError::unauthenticated(
            "auth is enabled: send `Authorization: Bearer TOKEN` (from POST \
             /v1/auth/authenticate) or a client certificate",
        ),
    })
}

/// Why a request has no user.
#[derive(Debug)]
pub(crate) enum Unidentified {
    /// It carries neither a token nor a verified client certificate.
    NoCredentials,
    /// Its token does not verify.
    BadToken(TokenError),
}

/// The one rule of who a request speaks for, shared by the HTTP and etcd
/// APIs: the token's user if a token is sent (checked first, as etcd does;
/// a bad one is refused, never passed over for the certificate), else the
/// verified client certificate's name.
pub(crate) fn user_of(
    auth: &AuthState,
    token: Option<&str>,
    certificate: Option<&AuthenticatedUser>,
) -> Result<String, Unidentified> {
    match (token, certificate) {
        (Some(token), _) => auth
            .verify_token(token.trim(), unix_seconds_now())
            .map_err(Unidentified::BadToken),
        (None, Some(AuthenticatedUser(name))) => Ok(name.clone()),
        (None, None) => Err(Unidentified::NoCredentials),
    }
}

/// Seconds since the Unix epoch by this node's clock.
pub(crate) fn unix_seconds_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Checks that the caller (if auth is on) may have `access` to all of
/// `range`.
///
/// # Errors
/// 403 `permission_denied` otherwise.
pub(crate) fn authorize(
    caller: Option<&Caller>,
    access: Access,
    range: &KeyRange,
) -> Result<(), ApiError> {
    let Some(caller) = caller else {
        return Ok(());
    };
    if caller.auth.permits(&caller.user, access, range) {
        return Ok(());
    }
    let verb = match access {
        Access::Read => "read",
        Access::Write => "write",
    };
    Err(ApiError::permission_denied(format!(
        "user {:?} may not {verb} {} (a range must be permitted whole)",
        caller.user,
        describe(range)
    )))
}

/// Checks every compare and operation of `txn`, nested ones too: compares
/// and range reads need read; puts and deletes write, and read as well when
/// they answer the previous value.
///
/// # Errors
/// 403 `permission_denied` for the first one not permitted.
pub(crate) fn authorize_txn(caller: Option<&Caller>, txn: &TxnRequest) -> Result<(), ApiError> {
    if caller.is_none() {
        return Ok(());
    }
    for compare in &txn.compare {
        let range = KeyRange {
            key: compare.key.clone(),
            range_end: compare.range_end.clone(),
        };
        authorize(caller, Access::Read, &range)?;
    }
    for op in txn.success.iter().chain(&txn.failure) {
        match op {
            RequestOp::Range(read) => {
                let range = KeyRange {
                    key: read.key.clone(),
                    range_end: read.range_end.clone(),
                };
                authorize(caller, Access::Read, &range)?;
            }
            RequestOp::Put(put) => {
                let range = KeyRange::single(put.key.clone());
                authorize(caller, Access::Write, &range)?;
                if put.prev_kv {
                    authorize(caller, Access::Read, &range)?;
                }
            }
            RequestOp::DeleteRange(delete) => {
                authorize(caller, Access::Write, &delete.range())?;
                if delete.prev_kv {
                    authorize(caller, Access::Read, &delete.range())?;
                }
            }
            RequestOp::Txn(nested) => authorize_txn(caller, nested)?,
        }
    }
    Ok(())
}

fn describe(range: &KeyRange) -> String {
    let key = String::from_utf8_lossy(&range.key);
    match &range.range_end[..] {
        [] => format!("the key {key:?}"),
        [0] => format!("the keys from {key:?} on"),
        end => format!("the keys [{key:?}, {:?})", String::from_utf8_lossy(end)),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use bytes::Bytes;

    use axum::http::StatusCode;

    use super::*;
    use crate::api::MemberAddressRequest;
    use crate::auth::member_token::ReportedAddresses;
    use crate::auth::{AuthCommand, ROOT, SIGNING_KEY_BYTES};
    use crate::server::http::cluster::member_may_report;

    /// Auth enabled with root and the signing key `[key; 32]`.
    fn enabled(key: u8) -> AuthState {
        let mut auth = AuthState::default();
        for command in [
            AuthCommand::UserAdd {
                name: ROOT.into(),
                password_hash: Some("$argon2id$fake".into()),
            },
            AuthCommand::UserGrantRole {
                user: ROOT.into(),
                role: ROOT.into(),
            },
            AuthCommand::Enable {
                signing_key: Bytes::from(vec![key; SIGNING_KEY_BYTES]),
            },
        ] {
            auth.apply(command)
                .unwrap_or_else(|error| panic!("refused: {error}"));
        }
        auth
    }

    fn with_token(token: &str) -> Request {
        Request::builder()
            .header(
                header::AUTHORIZATION,
                format!("{AUTHORIZATION_SCHEME}{token}"),
            )
            .body(Body::empty())
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// Only a PUT to one member's address route is the member's class; the
    /// other membership routes stay root's.
    #[test]
    fn the_address_route_is_the_only_one_a_member_may_use() {
        let class = |method: &Method, path: &str| route_class(method, path);
        assert_eq!(
            class(&Method::PUT, "/v1/cluster/members/3/address"),
            RouteClass::MemberAddress(3)
        );
        for (method, path) in [
            (Method::GET, "/v1/cluster/members/3/address"),
            (Method::PUT, "/v1/cluster/members/x/address"),
            (Method::PUT, "/v1/cluster/members/3/address/more"),
            (Method::DELETE, "/v1/cluster/members/3"),
            (Method::POST, "/v1/cluster/members/3/promote"),
        ] {
            assert_eq!(class(&method, path), RouteClass::Root, "{method} {path}");
        }
    }

    const PEER_A: &str = "10.0.0.3:7003";
    const CLIENT_A: &str = "http://10.0.0.3:8003";

    fn addresses_a() -> ReportedAddresses<'static> {
        ReportedAddresses {
            peer_addr: PEER_A,
            client_addr: CLIENT_A,
        }
    }

    /// A member token names its member; a user's token (root's too), none,
    /// or a forged member token is no member.
    #[test]
    fn a_member_token_names_its_member_and_nothing_else_does() {
        let auth = enabled(5);
        let now = unix_seconds_now();
        let member = auth
            .issue_member_token(3, addresses_a(), now, 60)
            .unwrap_or_else(|| panic!("auth is on"));
        let grant = member_of(&auth, &with_token(&member)).map(|grant| grant.map(|g| g.node_id));
        assert_eq!(grant, Some(Ok(3)));
        let root = auth.issue_token(ROOT, now, 60);
        assert_eq!(member_of(&auth, &with_token(&root)), None);
        assert!(identify(&auth, &with_token(&member)).is_err(), "no user");
        let unsigned = Request::builder()
            .body(Body::empty())
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(member_of(&auth, &unsigned), None);
        let forged = enabled(6).issue_member_token(3, addresses_a(), now, 60);
        let forged = forged.unwrap_or_else(|| panic!("auth is on"));
        assert_eq!(
            member_of(&auth, &with_token(&forged)),
            Some(Err(TokenError::BadSignature))
        );
    }

    /// A member token minted for addresses A, as the gate verifies it,
    /// lets the address handler log A and nothing else: a copy replayed
    /// with another peer or client address, or the two swapped, is 403.
    #[test]
    fn a_member_token_permits_only_the_addresses_it_was_minted_for() {
        let auth = enabled(5);
        let token = auth
            .issue_member_token(3, addresses_a(), unix_seconds_now(), 60)
            .unwrap_or_else(|| panic!("auth is on"));
        let grant = match member_of(&auth, &with_token(&token)) {
            Some(Ok(grant)) => grant,
            other => panic!("the gate refused the member token: {other:?}"),
        };
        let report = |peer_addr: &str, client_addr: &str| MemberAddressRequest {
            peer_addr: peer_addr.into(),
            client_addr: client_addr.into(),
        };
        assert!(member_may_report(&grant, &report(PEER_A, CLIENT_A)).is_ok());
        for (peer, client) in [
            ("203.0.113.9:7003", CLIENT_A),
            (PEER_A, "http://203.0.113.9:8003"),
            ("203.0.113.9:7003", "http://203.0.113.9:8003"),
            (CLIENT_A, PEER_A),
            ("", ""),
        ] {
            let refusal = member_may_report(&grant, &report(peer, client))
                .map_err(IntoResponse::into_response)
                .err()
                .unwrap_or_else(|| panic!("{peer} {client} was accepted"));
            assert_eq!(refusal.status(), StatusCode::FORBIDDEN, "{peer} {client}");
        }
    }
}
