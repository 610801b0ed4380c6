//! The Auth service's work: etcd's requests turned into the auth model's
//! [`AuthCommand`]s (proposed through the log, as the HTTP API's), tokens
//! issued, and the applied state read back in etcd's shapes.
//!
//! Passwords are hashed and checked here, through the same bounded pool as
//! the HTTP API's (`AuthContext::run_password_work`); the log carries only
//! hashes. etcd 3.5's `hashedPassword` (a bcrypt hash) is refused: this
//! model keeps argon2 hashes it made itself.

use bytes::Bytes;
use tonic::Status;

use crate::auth::{AuthCommand, AuthState, Permission, PermissionKind, ROOT, SIGNING_KEY_BYTES};
use crate::server::etcd::EtcdService;
use crate::server::etcd::auth_failure::{
    AUTH_FAILED, ROLE_EMPTY, ROLE_NOT_FOUND, USER_NOT_FOUND, auth_status, not_enabled,
    password_work_status,
};
use crate::server::etcd::auth_gate::USER_EMPTY;
use crate::server::etcd::failure::Failure;
use crate::server::etcd::pb::authpb::{self, permission::Type as PermissionType};
use crate::server::etcd::pb::etcdserverpb as pb;
use crate::server::http::auth_gate::unix_seconds_now;
use crate::store::{KeyRange, KvCommand, KvError, KvResponse};

impl EtcdService {
    /// Proposes `command`; a refusal is answered as etcd answers it.
    pub(crate) async fn auth_change(&self, command: AuthCommand) -> Result<(), Failure> {
        match self.propose(KvCommand::Auth(command), false).await? {
            KvResponse::AuthChanged { .. } => Ok(()),
            KvResponse::Refused(KvError::Auth(error)) => {
                let root_exists = self.state.auth.view.current().user(ROOT).is_some();
                Err(auth_status(&error, root_exists).into())
            }
            KvResponse::Refused(error) => Err(error.into()),
            other => Err(Status::internal(format!("unexpected answer {other:?}")).into()),
        }
    }

    /// `AuthEnable`: with a fresh signing key; a no-op if auth is on (as
    /// etcd; a new key would end every token, the caller's too).
    pub(crate) async fn enable_here(&self) -> Result<(), Failure> {
        if self.state.auth.view.current().enabled() {
            return Ok(());
        }
        let mut signing_key = vec![0; SIGNING_KEY_BYTES];
        getrandom::fill(&mut signing_key).map_err(|error| {
            Status::internal(format!("etcdserver: no random source for a key: {error}"))
        })?;
        let signing_key = Bytes::from(signing_key);
        self.auth_change(AuthCommand::Enable { signing_key }).await
    }

    /// `AuthDisable`: a no-op if auth is off (as etcd).
    pub(crate) async fn disable_here(&self) -> Result<(), Failure> {
        if !self.state.auth.view.current().enabled() {
            return Ok(());
        }
        self.auth_change(AuthCommand::Disable).await
    }

    /// `Authenticate`: a token for the user, answered by this node (every
    /// node verifies it: the signing key is replicated).
    pub(crate) async fn token_for(
        &self,
        request: pb::AuthenticateRequest,
    ) -> Result<String, Status> {
        let auth = self.state.auth.view.current();
        if !auth.enabled() {
            return Err(not_enabled());
        }
        let hash = auth
            .user(&request.name)
            .and_then(|user| user.password_hash.clone());
        // An unknown user or one without a password is refused as a wrong
        // password is, so the answer does not say which names exist.
        let Some(hash) = hash else {
            return Err(Status::invalid_argument(AUTH_FAILED));
        };
        let matches = self
            .state
            .auth
            .password_matches(hash, request.password)
            .await
            .map_err(|error| password_work_status(&error))?;
        if !matches {
            return Err(Status::invalid_argument(AUTH_FAILED));
        }
        let ttl_seconds = self.state.auth.token_ttl.as_secs();
        Ok(auth.issue_token(&request.name, unix_seconds_now(), ttl_seconds))
    }

    /// `UserAdd`.
    pub(crate) async fn user_add_here(
        &self,
        request: &pb::AuthUserAddRequest,
    ) -> Result<(), Failure> {
        if request.name.is_empty() {
            return Err(Status::invalid_argument(USER_EMPTY).into());
        }
        let no_password = request.options.is_some_and(|options| options.no_password);
        let password_hash = if no_password {
            None
        } else {
            Some(
                self.new_hash(request.password.clone(), &request.hashed_password)
                    .await?,
            )
        };
        let name = request.name.clone();
        self.auth_change(AuthCommand::UserAdd {
            name,
            password_hash,
        })
        .await
    }

    /// `UserChangePassword`.
    pub(crate) async fn user_password_here(
        &self,
        request: &pb::AuthUserChangePasswordRequest,
    ) -> Result<(), Failure> {
        let hash = self
            .new_hash(request.password.clone(), &request.hashed_password)
            .await?;
        self.auth_change(AuthCommand::UserChangePassword {
            name: request.name.clone(),
            password_hash: Some(hash),
        })
        .await
    }

    /// `RoleAdd`.
    pub(crate) async fn role_add_here(
        &self,
        request: &pb::AuthRoleAddRequest,
    ) -> Result<(), Failure> {
        if request.name.is_empty() {
            return Err(Status::invalid_argument(ROLE_EMPTY).into());
        }
        let name = request.name.clone();
        self.auth_change(AuthCommand::RoleAdd { name }).await
    }

    /// `RoleGrantPermission`.
    pub(crate) async fn role_grant_here(
        &self,
        request: &pb::AuthRoleGrantPermissionRequest,
    ) -> Result<(), Failure> {
        let granted = request
            .perm
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("etcdserver: permission is not provided"))?;
        let kind = match PermissionType::try_from(granted.perm_type) {
            Ok(PermissionType::Read) => PermissionKind::Read,
            Ok(PermissionType::Write) => PermissionKind::Write,
            Ok(PermissionType::Readwrite) => PermissionKind::ReadWrite,
            Err(_) => {
                return Err(Status::invalid_argument("etcdserver: unknown permission type").into());
            }
        };
        let range = KeyRange {
            key: granted.key.clone(),
            range_end: granted.range_end.clone(),
        };
        let permission = Permission { kind, range };
        let role = request.name.clone();
        self.auth_change(AuthCommand::RoleGrantPermission { role, permission })
            .await
    }

    /// A new password's hash; a bcrypt hash from the client is refused.
    async fn new_hash(&self, password: String, hashed_password: &str) -> Result<String, Status> {
        if !hashed_password.is_empty() {
            return Err(Status::invalid_argument(
                "etcdserver: ordo does not take password hashes; send the password",
            ));
        }
        self.state
            .auth
            .hash_password(password)
            .await
            .map_err(|error| password_work_status(&error))
    }
}

/// `UserGet`'s roles.
pub(crate) fn user_roles(auth: &AuthState, name: &str) -> Result<Vec<String>, Status> {
    let user = auth
        .user(name)
        .ok_or_else(|| Status::failed_precondition(USER_NOT_FOUND))?;
    Ok(user.roles.iter().cloned().collect())
}

/// `RoleGet`'s permissions (none listed for `root`: it holds all).
pub(crate) fn role_permissions(
    auth: &AuthState,
    name: &str,
) -> Result<Vec<authpb::Permission>, Status> {
    if name == ROOT {
        return Ok(Vec::new());
    }
    let role = auth
        .role(name)
        .ok_or_else(|| Status::failed_precondition(ROLE_NOT_FOUND))?;
    Ok(role.permissions.iter().map(permission_pb).collect())
}

/// `RoleList`: every role, `root` included (as the HTTP API lists them).
pub(crate) fn role_names(auth: &AuthState) -> Vec<String> {
    let mut names: Vec<String> = auth.roles().keys().cloned().collect();
    names.push(ROOT.to_owned());
    names.sort();
    names
}

fn permission_pb(permission: &Permission) -> authpb::Permission {
    let kind = match permission.kind {
        PermissionKind::Read => PermissionType::Read,
        PermissionKind::Write => PermissionType::Write,
        PermissionKind::ReadWrite => PermissionType::Readwrite,
    };
    authpb::Permission {
        perm_type: kind as i32,
        key: permission.range.key.clone(),
        range_end: permission.range.range_end.clone(),
    }
}
