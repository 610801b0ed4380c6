//! The auth model's refusals as etcd answers them: its gRPC codes and the
//! exact messages etcd's clients match on (`rpctypes`).

use tonic::Status;

use crate::auth::AuthError;
use crate::server::auth_view::PasswordWorkError;
use crate::server::etcd::failure::{AUTH_NOT_ENABLED, TOO_MANY_REQUESTS};

/// etcd's message for a wrong user or password.
pub(crate) const AUTH_FAILED: &str =
    "etcdserver: authentication failed, invalid user ID or password";
/// etcd's message for an empty role name.
pub(crate) const ROLE_EMPTY: &str = "etcdserver: role name is empty";
/// etcd's message for a user that exists.
pub(crate) const USER_EXISTS: &str = "etcdserver: user name already exists";
/// etcd's message for an unknown user.
pub(crate) const USER_NOT_FOUND: &str = "etcdserver: user name not found";
/// etcd's message for a role that exists.
pub(crate) const ROLE_EXISTS: &str = "etcdserver: role name already exists";
/// etcd's message for an unknown role.
pub(crate) const ROLE_NOT_FOUND: &str = "etcdserver: role name not found";
/// etcd's message for revoking a role the user does not hold.
pub(crate) const ROLE_NOT_GRANTED: &str = "etcdserver: role is not granted to the user";
/// etcd's message for revoking a permission the role does not hold.
pub(crate) const PERMISSION_NOT_GRANTED: &str = "etcdserver: permission is not granted to the role";
/// etcd's message for enabling auth without a user `root`.
pub(crate) const ROOT_USER_MISSING: &str = "etcdserver: root user does not exist";
/// etcd's message for enabling auth while `root` lacks the role `root`.
pub(crate) const ROOT_ROLE_MISSING: &str = "etcdserver: root user does not have root role";
/// etcd's message for a change that would lock root out.
pub(crate) const INVALID_AUTH_MANAGEMENT: &str = "etcdserver: invalid auth management";

/// What etcd answers an Auth call that needs auth on while it is off.
pub(crate) fn not_enabled() -> Status {
    Status::failed_precondition(AUTH_NOT_ENABLED)
}

/// `error` as etcd answers it. `root_user_exists` tells etcd's two
/// messages for enabling without a usable root apart.
pub(crate) fn auth_status(error: &AuthError, root_user_exists: bool) -> Status {
    match error {
        AuthError::UserExists(_) => Status::failed_precondition(USER_EXISTS),
        AuthError::UserNotFound(_) => Status::failed_precondition(USER_NOT_FOUND),
        AuthError::RoleExists(_) => Status::failed_precondition(ROLE_EXISTS),
        AuthError::RoleNotFound(_) => Status::failed_precondition(ROLE_NOT_FOUND),
        AuthError::RoleNotGranted { .. } => Status::failed_precondition(ROLE_NOT_GRANTED),
        AuthError::PermissionNotGranted(_) => Status::failed_precondition(PERMISSION_NOT_GRANTED),
        AuthError::RootUserMissing if root_user_exists => {
            Status::failed_precondition(ROOT_ROLE_MISSING)
        }
        AuthError::RootUserMissing => Status::failed_precondition(ROOT_USER_MISSING),
        AuthError::RootRoleIsBuiltIn | AuthError::RootLockout => {
            Status::invalid_argument(INVALID_AUTH_MANAGEMENT)
        }
        AuthError::TooMany(_) => Status::resource_exhausted(format!("etcdserver: {error}")),
        _ => Status::invalid_argument(format!("etcdserver: {error}")),
    }
}

/// Password work not done, as etcd answers it.
pub(crate) fn password_work_status(error: &PasswordWorkError) -> Status {
    match error {
        PasswordWorkError::Busy | PasswordWorkError::Stopping => {
            Status::resource_exhausted(TOO_MANY_REQUESTS)
        }
        PasswordWorkError::BadPassword(_) => {
            Status::invalid_argument(format!("etcdserver: {error}"))
        }
        PasswordWorkError::Failed(_) => Status::internal(format!("etcdserver: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    /// etcd's clients compare these messages (`rpctypes`).
    #[test]
    fn auth_refusals_carry_etcds_codes_and_messages() {
        let exists = auth_status(&AuthError::UserExists("a".into()), true);
        assert_eq!(
            (exists.code(), exists.message()),
            (Code::FailedPrecondition, USER_EXISTS)
        );
        let no_root = auth_status(&AuthError::RootUserMissing, false);
        assert_eq!(no_root.message(), ROOT_USER_MISSING);
        let root_not_root = auth_status(&AuthError::RootUserMissing, true);
        assert_eq!(root_not_root.message(), ROOT_ROLE_MISSING);
        let lockout = auth_status(&AuthError::RootLockout, true);
        assert_eq!(
            (lockout.code(), lockout.message()),
            (Code::InvalidArgument, INVALID_AUTH_MANAGEMENT)
        );
        let busy = password_work_status(&PasswordWorkError::Busy);
        assert_eq!(
            (busy.code(), busy.message()),
            (Code::ResourceExhausted, TOO_MANY_REQUESTS)
        );
    }
}
