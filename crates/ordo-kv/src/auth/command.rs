//! [`AuthCommand`]: every change to the auth state, as the log carries it,
//! and how it applies.
//!
//! # Log compatibility
//! Commands are encoded with postcard, by variant position: new variants go
//! at the end.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::state::{
    MAX_AUTH_STATE_BYTES, MAX_PERMISSIONS_PER_ROLE, MAX_ROLES, MAX_USERS, check_name,
    check_password_hash, check_range, check_signing_key,
};
use super::{AuthError, AuthState, Permission, ROOT, User};
use crate::store::KeyRange;

/// A change to the auth state, replicated through the log inside
/// [`KvCommand::Auth`](crate::store::KvCommand::Auth). Every applied one
/// bumps the auth revision; a refused one changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthCommand {
    /// Turns auth on, with a fresh signing key (which invalidates tokens
    /// signed before). Needs the user `root` with the role `root`.
    Enable {
        /// [`SIGNING_KEY_BYTES`](super::SIGNING_KEY_BYTES) random bytes.
        signing_key: Bytes,
    },
    /// Turns auth off (users and roles stay).
    Disable,
    /// Adds a user without roles.
    UserAdd {
        /// Its name.
        name: String,
        /// Its password hash; `None`: certificate only.
        password_hash: Option<String>,
    },
    /// Deletes a user.
    UserDelete {
        /// Its name.
        name: String,
    },
    /// Replaces a user's password hash; its older tokens stop working.
    UserChangePassword {
        /// Its name.
        name: String,
        /// The new hash; `None`: certificate only.
        password_hash: Option<String>,
    },
    /// Gives a user a role.
    UserGrantRole {
        /// The user.
        user: String,
        /// The role.
        role: String,
    },
    /// Takes a role from a user; its older tokens stop working.
    UserRevokeRole {
        /// The user.
        user: String,
        /// The role.
        role: String,
    },
    /// Adds a role without permissions.
    RoleAdd {
        /// Its name.
        name: String,
    },
    /// Deletes a role, and takes it from every user who held it.
    RoleDelete {
        /// Its name.
        name: String,
    },
    /// Grants a permission to a role; one on the same range is replaced.
    RoleGrantPermission {
        /// The role.
        role: String,
        /// The permission.
        permission: Permission,
    },
    /// Takes a role's permission on exactly `range`.
    RoleRevokePermission {
        /// The role.
        role: String,
        /// The range of the permission.
        range: KeyRange,
    },
}

impl AuthState {
    /// Applies `command`: on success the auth revision goes up by one and is
    /// answered; on refusal nothing changes.
    ///
    /// # Errors
    /// Why the command was refused.
    pub fn apply(&mut self, command: AuthCommand) -> Result<u64, AuthError> {
        let mut changed = self.clone();
        changed.apply_change(command)?;
        // Rare and at most MAX_AUTH_STATE_BYTES: measuring exactly is cheap
        // enough, and keeps every state encodable in a backup.
        if changed.encode().len() > MAX_AUTH_STATE_BYTES {
            return Err(AuthError::TooMany("bytes of auth state".into()));
        }
        changed.revision += 1;
        *self = changed;
        Ok(self.revision)
    }

    fn apply_change(&mut self, command: AuthCommand) -> Result<(), AuthError> {
        let next_revision = self.revision + 1;
        match command {
            AuthCommand::Enable { signing_key } => {
                check_signing_key(&signing_key)?;
                if !self.root_user_is_root() {
                    return Err(AuthError::RootUserMissing);
                }
                self.enabled = true;
                self.signing_key = signing_key;
            }
            AuthCommand::Disable => self.enabled = false,
            AuthCommand::UserAdd {
                name,
                password_hash,
            } => {
                check_name(&name)?;
                check_password_hash(password_hash.as_deref())?;
                if self.users.contains_key(&name) {
                    return Err(AuthError::UserExists(name));
                }
                if self.users.len() >= MAX_USERS {
                    return Err(AuthError::TooMany("users".into()));
                }
                let user = User {
                    password_hash,
                    roles: Default::default(),
                    tokens_valid_from: next_revision,
                };
                self.users.insert(name, user);
            }
            AuthCommand::UserDelete { name } => {
                if self.enabled && name == ROOT {
                    return Err(AuthError::RootLockout);
                }
                self.users
                    .remove(&name)
                    .ok_or(AuthError::UserNotFound(name))?;
            }
            AuthCommand::UserChangePassword {
                name,
                password_hash,
            } => {
                check_password_hash(password_hash.as_deref())?;
                let user = self.user_mut(name)?;
                user.password_hash = password_hash;
                user.tokens_valid_from = next_revision;
            }
            AuthCommand::UserGrantRole { user, role } => {
                if !self.role_exists(&role) {
                    return Err(AuthError::RoleNotFound(role));
                }
                self.user_mut(user)?.roles.insert(role);
            }
            AuthCommand::UserRevokeRole { user, role } => {
                if self.enabled && user == ROOT && role == ROOT {
                    return Err(AuthError::RootLockout);
                }
                let held = self.user_mut(user.clone())?;
                if !held.roles.remove(&role) {
                    return Err(AuthError::RoleNotGranted { user, role });
                }
                held.tokens_valid_from = next_revision;
            }
            AuthCommand::RoleAdd { name } => {
                check_name(&name)?;
                if self.role_exists(&name) {
                    return Err(AuthError::RoleExists(name));
                }
                if self.roles.len() >= MAX_ROLES {
                    return Err(AuthError::TooMany("roles".into()));
                }
                self.roles.insert(name, Default::default());
            }
            AuthCommand::RoleDelete { name } => {
                if name == ROOT {
                    return Err(AuthError::RootRoleIsBuiltIn);
                }
                self.roles
                    .remove(&name)
                    .ok_or_else(|| AuthError::RoleNotFound(name.clone()))?;
                for user in self.users.values_mut() {
                    if user.roles.remove(&name) {
                        user.tokens_valid_from = next_revision;
                    }
                }
            }
            AuthCommand::RoleGrantPermission { role, permission } => {
                check_range(&permission.range)?;
                let permissions = &mut self.role_mut(role)?.permissions;
                let full = permissions.len() >= MAX_PERMISSIONS_PER_ROLE;
                match permissions.iter_mut().find(|p| p.range == permission.range) {
                    Some(existing) => existing.kind = permission.kind,
                    None if full => return Err(AuthError::TooMany("permissions".into())),
                    None => permissions.push(permission),
                }
            }
            AuthCommand::RoleRevokePermission { role, range } => {
                let permissions = &mut self.role_mut(role.clone())?.permissions;
                let before = permissions.len();
                permissions.retain(|permission| permission.range != range);
                if permissions.len() == before {
                    return Err(AuthError::PermissionNotGranted(role));
                }
            }
        }
        Ok(())
    }

    fn user_mut(&mut self, name: String) -> Result<&mut User, AuthError> {
        self.users
            .get_mut(&name)
            .ok_or(AuthError::UserNotFound(name))
    }

    fn role_mut(&mut self, name: String) -> Result<&mut super::Role, AuthError> {
        if name == ROOT {
            return Err(AuthError::RootRoleIsBuiltIn);
        }
        self.roles
            .get_mut(&name)
            .ok_or(AuthError::RoleNotFound(name))
    }
}
