//! Wire types of `/v1/auth/...`: tokens, users and roles (see the README,
//! "Users, roles and tokens", and [`crate::auth`] for the model).

use serde::{Deserialize, Serialize};

/// Header a request carries its token in: `Authorization: Bearer TOKEN`.
pub const AUTHORIZATION_SCHEME: &str = "Bearer ";

/// `POST /v1/auth/authenticate` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticateRequest {
    /// The user.
    pub name: String,
    /// Its password.
    pub password: String,
}

/// `POST /v1/auth/authenticate` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticateResponse {
    /// The token, for `Authorization: Bearer TOKEN`.
    pub token: String,
    /// Seconds it stays valid (unless the user's password or roles change).
    pub ttl_seconds: u64,
}

/// Every auth change → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthChangeResponse {
    /// The auth revision after the change.
    pub auth_revision: u64,
}

/// `GET /v1/auth/status` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthStatusResponse {
    /// Whether requests must authenticate.
    pub enabled: bool,
    /// The auth revision this node has applied.
    pub auth_revision: u64,
}

/// `POST /v1/auth/users` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserAddRequest {
    /// The new user's name.
    pub name: String,
    /// Its password; absent: it signs in only with a client certificate.
    #[serde(default)]
    pub password: Option<String>,
}

/// `PUT /v1/auth/users/{name}/password` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    /// The new password; absent: certificate only from now on.
    #[serde(default)]
    pub password: Option<String>,
}

/// `GET /v1/auth/users/{name}` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserResponse {
    /// The name.
    pub name: String,
    /// Its roles, in name order.
    pub roles: Vec<String>,
    /// Whether it has a password (else: certificate only).
    pub has_password: bool,
}

/// `GET /v1/auth/users` and `GET /v1/auth/roles` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamesResponse {
    /// Names, in order.
    pub names: Vec<String>,
}

/// `POST /v1/auth/roles` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleAddRequest {
    /// The new role's name.
    pub name: String,
}

/// A permission as JSON: `kind` is `read`, `write` or `readwrite`; the keys
/// are `key` alone, every key with `prefix`, or `[key, range_end)`
/// (`range_end` `"\u0000"`: every key from `key` on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionJson {
    /// `read`, `write` or `readwrite` (ignored when revoking).
    #[serde(default)]
    pub kind: String,
    /// The key, or the start of the range.
    #[serde(default)]
    pub key: String,
    /// The end of the range (etcd's convention); absent: `key` alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_end: Option<String>,
    /// Every key starting with this (instead of `key`/`range_end`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// `GET /v1/auth/roles/{name}` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleResponse {
    /// The name.
    pub name: String,
    /// Its permissions (`root`: none listed; it holds every one).
    pub permissions: Vec<PermissionJson>,
}
