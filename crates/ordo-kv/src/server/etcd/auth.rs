//! `etcdserverpb.Auth`: users, roles and tokens on the auth model
//! (`crate::auth`), as etcd serves them.
//!
//! - Changes are [`AuthCommand`]s through the log (`auth_commands.rs`); on
//!   a follower they are forwarded to the leader with the caller's token.
//!   Reads answer this node's applied auth state.
//! - With auth off, as etcd: users and roles can be managed (that is how
//!   `root` is made before `AuthEnable`), `AuthDisable` succeeds, and
//!   `Authenticate` fails with "etcdserver: authentication is not enabled".
//! - With auth on, `Authenticate` and `AuthStatus` are open and everything
//!   else is root's (`auth_gate.rs`).

use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::auth::AuthCommand;
use crate::server::etcd::EtcdService;
use crate::server::etcd::auth_commands::{role_names, role_permissions, user_roles};
use crate::server::etcd::failure::Failure;
use crate::server::etcd::forward::Onward;
use crate::server::etcd::header::current_header;
use crate::server::etcd::pb::etcdserverpb::{
    self as pb, ResponseHeader, auth_client::AuthClient, auth_server::Auth,
};

impl EtcdService {
    fn auth_client(&self, url: &str) -> Result<AuthClient<Channel>, Status> {
        Ok(AuthClient::new(self.forwarder.channel(url)?))
    }

    fn auth_header(&self) -> Option<ResponseHeader> {
        current_header(&self.state, self.ids)
    }
}

/// One auth change: `$work` (a `Result<(), Failure>` future over
/// `message`) here, or the same call on the leader; answered with only a
/// header, as every etcd auth change is.
macro_rules! changed {
    ($service:ident, $request:ident, |$message:ident| $work:expr, $response:ident, $rpc:ident) => {{
        let onward = Onward::of(&$request);
        let $message = $request.into_inner();
        let outcome: Result<(), Failure> = $work.await;
        match outcome {
            Ok(()) => Ok(Response::new(pb::$response {
                header: $service.auth_header(),
            })),
            Err(Failure::NotLeader(url)) if onward.allowed() => {
                $service
                    .auth_client(&url)?
                    .$rpc(onward.call($message))
                    .await
            }
            Err(failure) => Err(failure.into_status()),
        }
    }};
}

#[tonic::async_trait]
impl Auth for EtcdService {
    async fn auth_enable(
        &self,
        request: Request<pb::AuthEnableRequest>,
    ) -> Result<Response<pb::AuthEnableResponse>, Status> {
        changed!(
            self,
            request,
            |message| self.enable_here(),
            AuthEnableResponse,
            auth_enable
        )
    }

    async fn auth_disable(
        &self,
        request: Request<pb::AuthDisableRequest>,
    ) -> Result<Response<pb::AuthDisableResponse>, Status> {
        changed!(
            self,
            request,
            |message| self.disable_here(),
            AuthDisableResponse,
            auth_disable
        )
    }

    async fn auth_status(
        &self,
        _request: Request<pb::AuthStatusRequest>,
    ) -> Result<Response<pb::AuthStatusResponse>, Status> {
        let auth = self.state.auth.view.current();
        Ok(Response::new(pb::AuthStatusResponse {
            header: self.auth_header(),
            enabled: auth.enabled(),
            auth_revision: auth.revision(),
        }))
    }

    async fn authenticate(
        &self,
        request: Request<pb::AuthenticateRequest>,
    ) -> Result<Response<pb::AuthenticateResponse>, Status> {
        let token = self.token_for(request.into_inner()).await?;
        Ok(Response::new(pb::AuthenticateResponse {
            header: self.auth_header(),
            token,
        }))
    }

    async fn user_add(
        &self,
        request: Request<pb::AuthUserAddRequest>,
    ) -> Result<Response<pb::AuthUserAddResponse>, Status> {
        changed!(
            self,
            request,
            |message| self.user_add_here(&message),
            AuthUserAddResponse,
            user_add
        )
    }

    async fn user_get(
        &self,
        request: Request<pb::AuthUserGetRequest>,
    ) -> Result<Response<pb::AuthUserGetResponse>, Status> {
        let roles = user_roles(&self.state.auth.view.current(), &request.get_ref().name)?;
        Ok(Response::new(pb::AuthUserGetResponse {
            header: self.auth_header(),
            roles,
        }))
    }

    async fn user_list(
        &self,
        _request: Request<pb::AuthUserListRequest>,
    ) -> Result<Response<pb::AuthUserListResponse>, Status> {
        let users = self
            .state
            .auth
            .view
            .current()
            .users()
            .keys()
            .cloned()
            .collect();
        Ok(Response::new(pb::AuthUserListResponse {
            header: self.auth_header(),
            users,
        }))
    }

    async fn user_delete(
        &self,
        request: Request<pb::AuthUserDeleteRequest>,
    ) -> Result<Response<pb::AuthUserDeleteResponse>, Status> {
        changed!(
            self,
            request,
            |message| self.auth_change(AuthCommand::UserDelete {
                name: message.name.clone()
            }),
            AuthUserDeleteResponse,
            user_delete
        )
    }

    async fn user_change_password(
        &self,
        request: Request<pb::AuthUserChangePasswordRequest>,
    ) -> Result<Response<pb::AuthUserChangePasswordResponse>, Status> {
        changed!(
            self,
            request,
            |message| self.user_password_here(&message),
            AuthUserChangePasswordResponse,
            user_change_password
        )
    }

    async fn user_grant_role(
        &self,
        request: Request<pb::AuthUserGrantRoleRequest>,
    ) -> Result<Response<pb::AuthUserGrantRoleResponse>, Status> {
        changed!(
            self,
            request,
            |message| self.auth_change(AuthCommand::UserGrantRole {
                user: message.user.clone(),
                role: message.role.clone(),
            }),
            AuthUserGrantRoleResponse,
            user_grant_role
        )
    }

    async fn user_revoke_role(
        &self,
        request: Request<pb::AuthUserRevokeRoleRequest>,
    ) -> Result<Response<pb::AuthUserRevokeRoleResponse>, Status> {
        changed!(
            self,
            request,
            |message| self.auth_change(AuthCommand::UserRevokeRole {
                user: message.name.clone(),
                role: message.role.clone(),
            }),
            AuthUserRevokeRoleResponse,
            user_revoke_role
        )
    }

    async fn role_add(
        &self,
        request: Request<pb::AuthRoleAddRequest>,
    ) -> Result<Response<pb::AuthRoleAddResponse>, Status> {
        changed!(
            self,
            request,
            |message| self.role_add_here(&message),
            AuthRoleAddResponse,
            role_add
        )
    }

    async fn role_get(
        &self,
        request: Request<pb::AuthRoleGetRequest>,
    ) -> Result<Response<pb::AuthRoleGetResponse>, Status> {
        let perm = role_permissions(&self.state.auth.view.current(), &request.get_ref().role)?;
        Ok(Response::new(pb::AuthRoleGetResponse {
            header: self.auth_header(),
            perm,
        }))
    }

    async fn role_list(
        &self,
        _request: Request<pb::AuthRoleListRequest>,
    ) -> Result<Response<pb::AuthRoleListResponse>, Status> {
        Ok(Response::new(pb::AuthRoleListResponse {
            header: self.auth_header(),
            roles: role_names(&self.state.auth.view.current()),
        }))
    }

    async fn role_delete(
        &self,
        request: Request<pb::AuthRoleDeleteRequest>,
    ) -> Result<Response<pb::AuthRoleDeleteResponse>, Status> {
        changed!(
            self,
            request,
            |message| self.auth_change(AuthCommand::RoleDelete {
                name: message.role.clone()
            }),
            AuthRoleDeleteResponse,
            role_delete
        )
    }

    async fn role_grant_permission(
        &self,
        request: Request<pb::AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<pb::AuthRoleGrantPermissionResponse>, Status> {
        changed!(
            self,
            request,
            |message| self.role_grant_here(&message),
            AuthRoleGrantPermissionResponse,
            role_grant_permission
        )
    }

    async fn role_revoke_permission(
        &self,
        request: Request<pb::AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<pb::AuthRoleRevokePermissionResponse>, Status> {
        changed!(
            self,
            request,
            |message| self.auth_change(AuthCommand::RoleRevokePermission {
                role: message.role.clone(),
                range: crate::store::KeyRange {
                    key: message.key.clone(),
                    range_end: message.range_end.clone(),
                },
            }),
            AuthRoleRevokePermissionResponse,
            role_revoke_permission
        )
    }
}
