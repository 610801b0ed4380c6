//! [`AuthState`]: the users, roles, enabled flag, auth revision and signing
//! key every node holds, and the invariants every state passes (see the
//! [module docs](super)).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::AuthError;
use crate::store::{KeyRange, MAX_KEY_BYTES};

/// The built-in role (holds every permission) and the user auth needs.
pub const ROOT: &str = "root";
/// Longest user or role name, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Longest password hash (a PHC string), in bytes.
pub const MAX_PASSWORD_HASH_BYTES: usize = 512;
/// The signing key's length, in bytes (HMAC-SHA256's block-sized key).
pub const SIGNING_KEY_BYTES: usize = 32;
/// Most users.
pub const MAX_USERS: usize = 10_000;
/// Most roles besides `root`.
pub const MAX_ROLES: usize = 10_000;
/// Most permissions one role holds.
pub const MAX_PERMISSIONS_PER_ROLE: usize = 1_000;
/// Largest auth state, in bytes of its JSON encoding (how backups and
/// snapshots carry it): a command that would grow it past this is refused.
pub const MAX_AUTH_STATE_BYTES: usize = 16 << 20;

/// What a permission allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PermissionKind {
    /// Reads (get, list, range, watch, txn compares and reads).
    Read,
    /// Writes (put, delete, txn writes).
    Write,
    /// Both.
    ReadWrite,
}

/// A permission on a range of keys (etcd's `authpb.Permission`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    /// What it allows.
    pub kind: PermissionKind,
    /// On which keys.
    pub range: KeyRange,
}

/// A user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Its argon2 password hash (PHC string); `None`: it signs in only with
    /// a client certificate.
    pub password_hash: Option<String>,
    /// Its roles.
    pub roles: BTreeSet<String>,
    /// Tokens issued at an auth revision below this are refused: the auth
    /// revision of its creation, last password change or role revocation.
    pub tokens_valid_from: u64,
}

/// A role other than `root`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Its permissions, in the order granted; at most one per range.
    pub permissions: Vec<Permission>,
}

/// The replicated auth state (see the [module docs](super)).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthState {
    pub(super) enabled: bool,
    pub(super) revision: u64,
    pub(super) users: BTreeMap<String, User>,
    pub(super) roles: BTreeMap<String, Role>,
    pub(super) signing_key: Bytes,
}

impl AuthState {
    /// Whether requests must authenticate.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The auth revision: applied auth changes so far.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Whether nothing was ever changed (a store that never saw auth).
    pub fn is_pristine(&self) -> bool {
        *self == Self::default()
    }

    /// The user, if it exists.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// Every user, by name.
    pub fn users(&self) -> &BTreeMap<String, User> {
        &self.users
    }

    /// The role, if it exists (`root` has no entry: it holds everything).
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    /// Every role but `root`, by name.
    pub fn roles(&self) -> &BTreeMap<String, Role> {
        &self.roles
    }

    /// The key tokens are signed with (empty until auth is first enabled).
    pub fn signing_key(&self) -> &[u8] {
        &self.signing_key
    }

    /// The state as backups and snapshots carry it (JSON).
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self)
            .unwrap_or_else(|error| unreachable!("the auth state always serializes: {error}"))
    }

    /// The state [`encode`](Self::encode) wrote, checked by
    /// [`validate`](Self::validate).
    ///
    /// # Errors
    /// Bytes that are not an encoded auth state, or one that breaks an
    /// invariant.
    pub fn decode(bytes: &[u8]) -> Result<Self, AuthError> {
        if bytes.len() > MAX_AUTH_STATE_BYTES {
            return Err(AuthError::TooMany("bytes of auth state".into()));
        }
        let state: AuthState = serde_json::from_slice(bytes)
            .map_err(|_| AuthError::BadField("auth state encoding".into()))?;
        state.validate()?;
        Ok(state)
    }

    /// Checks every invariant of the [module docs](super): what a restore
    /// must hold before it replaces the state.
    ///
    /// # Errors
    /// The first invariant broken.
    pub fn validate(&self) -> Result<(), AuthError> {
        if self.users.len() > MAX_USERS {
            return Err(AuthError::TooMany("users".into()));
        }
        if self.roles.len() > MAX_ROLES {
            return Err(AuthError::TooMany("roles".into()));
        }
        for (name, role) in &self.roles {
            check_name(name)?;
            if name == ROOT {
                return Err(AuthError::RootRoleIsBuiltIn);
            }
            if role.permissions.len() > MAX_PERMISSIONS_PER_ROLE {
                return Err(AuthError::TooMany("permissions".into()));
            }
            for permission in &role.permissions {
                check_range(&permission.range)?;
            }
        }
        for (name, user) in &self.users {
            check_name(name)?;
            check_password_hash(user.password_hash.as_deref())?;
            if let Some(role) = user.roles.iter().find(|role| !self.role_exists(role)) {
                return Err(AuthError::RoleNotFound(role.clone()));
            }
            if user.tokens_valid_from > self.revision {
                return Err(AuthError::BadField("token revision of a user".into()));
            }
        }
        if self.enabled {
            if !self.root_user_is_root() {
                return Err(AuthError::RootUserMissing);
            }
            check_signing_key(&self.signing_key)?;
        }
        Ok(())
    }

    pub(super) fn role_exists(&self, name: &str) -> bool {
        name == ROOT || self.roles.contains_key(name)
    }

    pub(super) fn root_user_is_root(&self) -> bool {
        self.users
            .get(ROOT)
            .is_some_and(|root| root.roles.contains(ROOT))
    }
}

/// A user or role name: 1..=[`MAX_NAME_BYTES`] bytes, no control characters.
///
/// # Errors
/// [`AuthError::BadName`].
pub(crate) fn check_name(name: &str) -> Result<(), AuthError> {
    let fits = !name.is_empty() && name.len() <= MAX_NAME_BYTES;
    if fits && !name.contains(char::is_control) {
        Ok(())
    } else {
        let shown: String = name.chars().take(MAX_NAME_BYTES).collect();
        Err(AuthError::BadName(shown))
    }
}

pub(super) fn check_password_hash(hash: Option<&str>) -> Result<(), AuthError> {
    match hash {
        Some(hash) if hash.is_empty() || hash.len() > MAX_PASSWORD_HASH_BYTES => {
            Err(AuthError::BadField("password hash".into()))
        }
        _ => Ok(()),
    }
}

pub(super) fn check_signing_key(key: &[u8]) -> Result<(), AuthError> {
    if key.len() == SIGNING_KEY_BYTES {
        Ok(())
    } else {
        Err(AuthError::BadField("signing key".into()))
    }
}

pub(super) fn check_range(range: &KeyRange) -> Result<(), AuthError> {
    let limit = MAX_KEY_BYTES as usize;
    if range.key.len() > limit || range.range_end.len() > limit {
        return Err(AuthError::BadField("permission range".into()));
    }
    Ok(())
}
