//! [`AuthError`]: why an auth command was refused.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Why an [`AuthCommand`](super::AuthCommand) was refused. Decided from the
/// state and the command alone, so every node refuses alike; a refused
/// command changes nothing (not even the auth revision).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A user with this name exists.
    #[error("user {0:?} already exists")]
    UserExists(String),
    /// No user has this name.
    #[error("user {0:?} not found")]
    UserNotFound(String),
    /// A role with this name exists (`root` always does).
    #[error("role {0:?} already exists")]
    RoleExists(String),
    /// No role has this name.
    #[error("role {0:?} not found")]
    RoleNotFound(String),
    /// The user does not hold the role.
    #[error("user {user:?} does not have role {role:?}")]
    RoleNotGranted {
        /// The user.
        user: String,
        /// The role.
        role: String,
    },
    /// The role has no permission on exactly this range.
    #[error("role {0:?} has no permission on that range")]
    PermissionNotGranted(String),
    /// Auth cannot be enabled without a user `root` holding the role `root`.
    #[error("auth needs a user \"root\" with the role \"root\" first")]
    RootUserMissing,
    /// The built-in role `root` cannot be deleted nor given permissions.
    #[error("the role \"root\" is built in: it holds every permission and cannot change")]
    RootRoleIsBuiltIn,
    /// While auth is on, `root` cannot be deleted nor lose the role `root`.
    #[error("while auth is enabled, the user \"root\" must keep the role \"root\"")]
    RootLockout,
    /// A name that is empty, too long, or holds control characters.
    #[error("bad name {0:?}: names are 1 to 256 bytes without control characters")]
    BadName(String),
    /// A password hash, signing key or permission range that cannot be valid.
    #[error("bad {0}")]
    BadField(Cow<'static, str>),
    /// A count limit would be passed.
    #[error("too many {0}")]
    TooMany(Cow<'static, str>),
}
