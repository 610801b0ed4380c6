//! The `/v1/auth/...` management calls: the auth switch, users and roles
//! (tokens: `auth_token.rs`). Changes go to the leader; reads to any node.

use http::Method;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use super::Client;
use super::endpoint::path_and_query;
use super::error::ClientError;
use super::ops::JSON;
use super::routing::{Call, Route};
use crate::api::{
    AuthChangeResponse, AuthStatusResponse, NamesResponse, PasswordRequest, PermissionJson,
    RoleAddRequest, RoleResponse, UserAddRequest, UserResponse,
};

/// A user or role name as one path segment.
fn segment(name: &str) -> String {
    utf8_percent_encode(name, NON_ALPHANUMERIC).to_string()
}

impl Client {
    /// Turns auth on (needs the user `root` with the role `root`).
    pub async fn auth_enable(&self) -> Result<AuthChangeResponse, ClientError> {
        self.auth_change(Method::POST, "/v1/auth/enable".into(), None::<&()>)
            .await
    }

    /// Turns auth off (root only, while it is on).
    pub async fn auth_disable(&self) -> Result<AuthChangeResponse, ClientError> {
        self.auth_change(Method::POST, "/v1/auth/disable".into(), None::<&()>)
            .await
    }

    /// Whether auth is on, and the auth revision.
    pub async fn auth_status(&self) -> Result<AuthStatusResponse, ClientError> {
        self.auth_read("/v1/auth/status".into()).await
    }

    /// Adds a user; no password: it signs in only with a client certificate.
    pub async fn user_add(
        &self,
        name: &str,
        password: Option<&str>,
    ) -> Result<AuthChangeResponse, ClientError> {
        let body = UserAddRequest {
            name: name.to_owned(),
            password: password.map(str::to_owned),
        };
        self.auth_change(Method::POST, "/v1/auth/users".into(), Some(&body))
            .await
    }

    /// Deletes a user.
    pub async fn user_delete(&self, name: &str) -> Result<AuthChangeResponse, ClientError> {
        let path = format!("/v1/auth/users/{}", segment(name));
        self.auth_change(Method::DELETE, path, None::<&()>).await
    }

    /// Replaces a user's password (its older tokens stop working).
    pub async fn user_passwd(
        &self,
        name: &str,
        password: Option<&str>,
    ) -> Result<AuthChangeResponse, ClientError> {
        let path = format!("/v1/auth/users/{}/password", segment(name));
        let body = PasswordRequest {
            password: password.map(str::to_owned),
        };
        self.auth_change(Method::PUT, path, Some(&body)).await
    }

    /// Gives a user a role.
    pub async fn user_grant_role(
        &self,
        name: &str,
        role: &str,
    ) -> Result<AuthChangeResponse, ClientError> {
        let path = format!("/v1/auth/users/{}/roles/{}", segment(name), segment(role));
        self.auth_change(Method::PUT, path, None::<&()>).await
    }

    /// Takes a role from a user.
    pub async fn user_revoke_role(
        &self,
        name: &str,
        role: &str,
    ) -> Result<AuthChangeResponse, ClientError> {
        let path = format!("/v1/auth/users/{}/roles/{}", segment(name), segment(role));
        self.auth_change(Method::DELETE, path, None::<&()>).await
    }

    /// Every user's name.
    pub async fn user_list(&self) -> Result<NamesResponse, ClientError> {
        self.auth_read("/v1/auth/users".into()).await
    }

    /// One user.
    pub async fn user_get(&self, name: &str) -> Result<UserResponse, ClientError> {
        self.auth_read(format!("/v1/auth/users/{}", segment(name)))
            .await
    }

    /// Adds a role without permissions.
    pub async fn role_add(&self, name: &str) -> Result<AuthChangeResponse, ClientError> {
        let body = RoleAddRequest {
            name: name.to_owned(),
        };
        self.auth_change(Method::POST, "/v1/auth/roles".into(), Some(&body))
            .await
    }

    /// Deletes a role (and takes it from its users).
    pub async fn role_delete(&self, name: &str) -> Result<AuthChangeResponse, ClientError> {
        let path = format!("/v1/auth/roles/{}", segment(name));
        self.auth_change(Method::DELETE, path, None::<&()>).await
    }

    /// Grants a permission to a role.
    pub async fn role_grant(
        &self,
        role: &str,
        permission: &PermissionJson,
    ) -> Result<AuthChangeResponse, ClientError> {
        let path = format!("/v1/auth/roles/{}/permissions", segment(role));
        self.auth_change(Method::POST, path, Some(permission)).await
    }

    /// Takes a role's permission on exactly that range.
    pub async fn role_revoke(
        &self,
        role: &str,
        permission: &PermissionJson,
    ) -> Result<AuthChangeResponse, ClientError> {
        let path = format!("/v1/auth/roles/{}/permissions/revoke", segment(role));
        self.auth_change(Method::POST, path, Some(permission)).await
    }

    /// Every role's name (`root` included).
    pub async fn role_list(&self) -> Result<NamesResponse, ClientError> {
        self.auth_read("/v1/auth/roles".into()).await
    }

    /// One role and its permissions.
    pub async fn role_get(&self, name: &str) -> Result<RoleResponse, ClientError> {
        self.auth_read(format!("/v1/auth/roles/{}", segment(name)))
            .await
    }

    async fn auth_change<B: Serialize>(
        &self,
        method: Method,
        path: String,
        body: Option<&B>,
    ) -> Result<AuthChangeResponse, ClientError> {
        let mut call = Call::new(method, path_and_query(path)?, Route::Leader);
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body)
                .map_err(|error| ClientError::invalid(format!("auth request: {error}")))?;
            call = call.with_body(bytes.into(), JSON);
        }
        self.call_json(&call).await
    }

    async fn auth_read<T: serde::de::DeserializeOwned>(
        &self,
        path: String,
    ) -> Result<T, ClientError> {
        let call = Call::new(Method::GET, path_and_query(path)?, Route::Any);
        self.call_json(&call).await
    }
}
