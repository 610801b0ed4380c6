//! `/v1/auth/...`: tokens (`authenticate`), the auth switch, users and
//! roles (wire types in [`crate::api`]; the model in [`crate::auth`]).
//!
//! Changes are [`AuthCommand`]s proposed to the log (followers redirect,
//! like a put); reads answer this node's applied auth state. Passwords are
//! hashed and checked here, off the async runtime
//! ([`AuthContext::run_password_work`]), at most
//! [`MAX_PASSWORD_CHECKS_RUNNING`] at once and [`MAX_PASSWORD_CHECKS_QUEUED`]
//! waiting or running; past that the answer is 429 `busy`, so a flood of
//! logins cannot stall the node.
//!
//! [`AuthContext::run_password_work`]: crate::server::auth_view::AuthContext::run_password_work
//!
//! [`MAX_PASSWORD_CHECKS_RUNNING`]: crate::server::auth_view::MAX_PASSWORD_CHECKS_RUNNING
//! [`MAX_PASSWORD_CHECKS_QUEUED`]: crate::server::auth_view::MAX_PASSWORD_CHECKS_QUEUED

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;

use crate::api::{
    AuthChangeResponse, AuthStatusResponse, AuthenticateRequest, AuthenticateResponse,
    NamesResponse, PasswordRequest, PermissionJson, RoleAddRequest, RoleResponse, UserAddRequest,
    UserResponse,
};
use crate::auth::{AuthCommand, Permission, PermissionKind, ROOT, SIGNING_KEY_BYTES};
use crate::server::auth_view::PasswordWorkError;
use crate::server::http::auth_gate::unix_seconds_now;
use crate::server::http::kv::{path_and_query, propose, unexpected};
use crate::server::http::txn::json_body;
use crate::server::http::{ApiError, SharedState, refusal};
use crate::store::{KeyRange, KvResponse};

/// `POST /v1/auth/authenticate`: a token for a user and its password.
pub(super) async fn authenticate(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AuthenticateResponse>, ApiError> {
    let request: AuthenticateRequest = json_body(body)?;
    let auth = state.auth.view.current();
    if !auth.enabled() {
        return Err(ApiError::bad_request("auth is not enabled"));
    }
    let hash = auth
        .user(&request.name)
        .and_then(|user| user.password_hash.clone());
    // An unknown user or one without a password is checked against nothing
    // and refused alike, so the answer does not say which names exist.
    let matches = match hash {
        Some(hash) => state
            .auth
            .password_matches(hash, request.password)
            .await
            .map_err(password_work_failed)?,
        None => false,
    };
    if !matches {
        return Err(ApiError::unauthenticated("wrong user name or password"));
    }
    let ttl_seconds = state.auth.token_ttl.as_secs();
    let token = auth.issue_token(&request.name, unix_seconds_now(), ttl_seconds);
    Ok(Json(AuthenticateResponse { token, ttl_seconds }))
}

/// `GET /v1/auth/status`.
pub(super) async fn status(State(state): State<SharedState>) -> Json<AuthStatusResponse> {
    let auth = state.auth.view.current();
    Json(AuthStatusResponse {
        enabled: auth.enabled(),
        auth_revision: auth.revision(),
    })
}

/// `POST /v1/auth/enable`: with a fresh signing key drawn here.
pub(super) async fn enable(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<AuthChangeResponse>, ApiError> {
    let mut signing_key = vec![0; SIGNING_KEY_BYTES];
    getrandom::fill(&mut signing_key)
        .map_err(|error| internal(format!("no random source for the signing key: {error}")))?;
    let command = AuthCommand::Enable {
        signing_key: Bytes::from(signing_key),
    };
    change(&state, &uri, command).await
}

/// `POST /v1/auth/disable`.
pub(super) async fn disable(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<AuthChangeResponse>, ApiError> {
    change(&state, &uri, AuthCommand::Disable).await
}

/// `GET /v1/auth/users`.
pub(super) async fn users(State(state): State<SharedState>) -> Json<NamesResponse> {
    let names = state.auth.view.current().users().keys().cloned().collect();
    Json(NamesResponse { names })
}

/// `GET /v1/auth/users/{name}`.
pub(super) async fn user(
    State(state): State<SharedState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<UserResponse>, ApiError> {
    let name = path_name(name)?;
    let auth = state.auth.view.current();
    let user = auth
        .user(&name)
        .ok_or_else(|| ApiError::not_found(format!("no user {name:?}")))?;
    Ok(Json(UserResponse {
        roles: user.roles.iter().cloned().collect(),
        has_password: user.password_hash.is_some(),
        name,
    }))
}

/// `POST /v1/auth/users`.
pub(super) async fn user_add(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AuthChangeResponse>, ApiError> {
    let request: UserAddRequest = json_body(body)?;
    let password_hash = hash(&state, request.password).await?;
    let command = AuthCommand::UserAdd {
        name: request.name,
        password_hash,
    };
    change(&state, &uri, command).await
}

/// `DELETE /v1/auth/users/{name}`.
pub(super) async fn user_delete(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<AuthChangeResponse>, ApiError> {
    let name = path_name(name)?;
    change(&state, &uri, AuthCommand::UserDelete { name }).await
}

/// `PUT /v1/auth/users/{name}/password`.
pub(super) async fn user_password(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    name: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AuthChangeResponse>, ApiError> {
    let name = path_name(name)?;
    let request: PasswordRequest = json_body(body)?;
    let password_hash = hash(&state, request.password).await?;
    let command = AuthCommand::UserChangePassword {
        name,
        password_hash,
    };
    change(&state, &uri, command).await
}

/// `PUT /v1/auth/users/{name}/roles/{role}`.
pub(super) async fn user_grant_role(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    names: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<AuthChangeResponse>, ApiError> {
    let (user, role) = path_names(names)?;
    change(&state, &uri, AuthCommand::UserGrantRole { user, role }).await
}

/// `DELETE /v1/auth/users/{name}/roles/{role}`.
pub(super) async fn user_revoke_role(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    names: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<AuthChangeResponse>, ApiError> {
    let (user, role) = path_names(names)?;
    change(&state, &uri, AuthCommand::UserRevokeRole { user, role }).await
}

/// `GET /v1/auth/roles` (`root` included).
pub(super) async fn roles(State(state): State<SharedState>) -> Json<NamesResponse> {
    let auth = state.auth.view.current();
    let mut names: Vec<String> = auth.roles().keys().cloned().collect();
    names.push(ROOT.to_owned());
    names.sort();
    Json(NamesResponse { names })
}

/// `GET /v1/auth/roles/{name}`.
pub(super) async fn role(
    State(state): State<SharedState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<RoleResponse>, ApiError> {
    let name = path_name(name)?;
    let auth = state.auth.view.current();
    let permissions = if name == ROOT {
        Vec::new()
    } else {
        let role = auth
            .role(&name)
            .ok_or_else(|| ApiError::not_found(format!("no role {name:?}")))?;
        role.permissions.iter().map(permission_json).collect()
    };
    Ok(Json(RoleResponse { name, permissions }))
}

/// `POST /v1/auth/roles`.
pub(super) async fn role_add(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AuthChangeResponse>, ApiError> {
    let request: RoleAddRequest = json_body(body)?;
    change(&state, &uri, AuthCommand::RoleAdd { name: request.name }).await
}

/// `DELETE /v1/auth/roles/{name}`.
pub(super) async fn role_delete(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<AuthChangeResponse>, ApiError> {
    let name = path_name(name)?;
    change(&state, &uri, AuthCommand::RoleDelete { name }).await
}

/// `POST /v1/auth/roles/{name}/permissions`: grant.
pub(super) async fn role_grant(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    name: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AuthChangeResponse>, ApiError> {
    let role = path_name(name)?;
    let request: PermissionJson = json_body(body)?;
    let kind = permission_kind(&request.kind)?;
    let range = permission_range(&request)?;
    let permission = Permission { kind, range };
    change(
        &state,
        &uri,
        AuthCommand::RoleGrantPermission { role, permission },
    )
    .await
}

/// `POST /v1/auth/roles/{name}/permissions/revoke`.
pub(super) async fn role_revoke(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    name: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AuthChangeResponse>, ApiError> {
    let role = path_name(name)?;
    let request: PermissionJson = json_body(body)?;
    let range = permission_range(&request)?;
    change(
        &state,
        &uri,
        AuthCommand::RoleRevokePermission { role, range },
    )
    .await
}

/// Proposes `command` and answers the new auth revision.
async fn change(
    state: &SharedState,
    uri: &axum::http::Uri,
    command: AuthCommand,
) -> Result<Json<AuthChangeResponse>, ApiError> {
    match propose(
        state,
        crate::store::KvCommand::Auth(command),
        path_and_query(uri),
    )
    .await?
    {
        KvResponse::AuthChanged { auth_revision } => Ok(Json(AuthChangeResponse { auth_revision })),
        KvResponse::Refused(error) => Err(refusal::from_store(error)),
        _ => Err(unexpected("an auth change")),
    }
}

/// The hash of `password` (with a fresh salt), or `None` for none.
async fn hash(state: &SharedState, password: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(password) = password else {
        return Ok(None);
    };
    state
        .auth
        .hash_password(password)
        .await
        .map(Some)
        .map_err(password_work_failed)
}

/// The answer for password work not done.
fn password_work_failed(error: PasswordWorkError) -> ApiError {
    match error {
        PasswordWorkError::Busy | PasswordWorkError::Stopping => ApiError::busy(error.to_string()),
        PasswordWorkError::BadPassword(_) => ApiError::bad_request(error.to_string()),
        PasswordWorkError::Failed(message) => internal(message),
    }
}

fn path_name(name: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    name.map(|Path(name)| name)
        .map_err(|error| ApiError::bad_request(error.body_text()))
}

fn path_names(
    names: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, String), ApiError> {
    names
        .map(|Path(names)| names)
        .map_err(|error| ApiError::bad_request(error.body_text()))
}

fn permission_kind(text: &str) -> Result<PermissionKind, ApiError> {
    match text {
        "read" => Ok(PermissionKind::Read),
        "write" => Ok(PermissionKind::Write),
        "readwrite" => Ok(PermissionKind::ReadWrite),
        other => Err(ApiError::bad_request(format!(
            "kind must be read, write or readwrite, not {other:?}"
        ))),
    }
}

fn permission_range(request: &PermissionJson) -> Result<KeyRange, ApiError> {
    match (&request.prefix, &request.range_end) {
        (Some(prefix), None) if request.key.is_empty() => {
            Ok(KeyRange::prefix(Bytes::from(prefix.clone())))
        }
        (None, range_end) => Ok(KeyRange {
            key: Bytes::from(request.key.clone()),
            range_end: Bytes::from(range_end.clone().unwrap_or_default()),
        }),
        _ => Err(ApiError::bad_request(
            "give either prefix, or key with an optional range_end",
        )),
    }
}

fn permission_json(permission: &Permission) -> PermissionJson {
    let kind = match permission.kind {
        PermissionKind::Read => "read",
        PermissionKind::Write => "write",
        PermissionKind::ReadWrite => "readwrite",
    };
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    PermissionJson {
        kind: kind.to_owned(),
        key: text(&permission.range.key),
        range_end: (!permission.range.range_end.is_empty())
            .then(|| text(&permission.range.range_end)),
        prefix: None,
    }
}

fn internal(message: String) -> ApiError {
    ApiError::Failed {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: crate::api::code::INTERNAL,
        message,
        retry_after: None,
        revision: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_work_refused_for_load_is_429_busy() {
        let answer = password_work_failed(PasswordWorkError::Busy);
        assert!(
            matches!(answer, ApiError::Failed { status, .. } if status == StatusCode::TOO_MANY_REQUESTS),
            "{answer:?}"
        );
    }
}
