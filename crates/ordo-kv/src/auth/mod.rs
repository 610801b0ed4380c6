//! Users, roles and permissions: the replicated auth state, in etcd v3's
//! model, and the checks every request passes when auth is enabled. Pure:
//! no I/O, no clocks (the caller passes the time), no randomness (the
//! caller passes salts and keys), so every node applies the same
//! [`AuthCommand`]s to the same [`AuthState`].
//!
//! # The model
//! - A **user** has a name, an argon2 password hash (or none: a user who
//!   signs in only with a client certificate) and a set of roles.
//! - A **role** has permissions: `read`, `write` or `readwrite` on a
//!   [`KeyRange`](crate::store::KeyRange) (one key, a prefix, or every key
//!   from one on). The role `root` is built in: it exists always, holds
//!   every permission, and alone may manage users and roles, enable or
//!   disable auth, change membership, move leadership, compact and take
//!   backups.
//! - Auth is **enabled** only while a user `root` with the role `root`
//!   exists (etcd's rule); that user cannot be deleted nor lose the role
//!   while auth is on.
//! - The **auth revision** goes up by one with every applied change.
//!   A user records the auth revision of its last password change or role
//!   revocation; a token issued before it is refused ([`token`]).
//! - The **signing key** signs tokens (HMAC-SHA256). It is replicated, so a
//!   token any node issued is valid on every node and across leader
//!   changes; each `Enable` carries a fresh one, chosen by the node that
//!   took the request. Members sign with it too: a member token
//!   ([`member_token`]) lets a member have its own address logged.
//!
//! Password hashing is slow by design and never happens in apply: the node
//! that takes a request hashes, and the log carries the hash
//! ([`password`]).
//!
//! # Invariants (checked by [`AuthState::validate`], kept by apply)
//! - Every role a user holds exists (or is `root`).
//! - `enabled` implies the user `root` exists and holds the role `root`,
//!   and the signing key is [`SIGNING_KEY_BYTES`] long.
//! - Names are 1..=[`MAX_NAME_BYTES`] bytes with no control characters;
//!   counts stay within [`MAX_USERS`], [`MAX_ROLES`] and
//!   [`MAX_PERMISSIONS_PER_ROLE`].

mod check;
mod command;
mod error;
pub mod member_token;
pub mod password;
mod state;
pub mod token;

#[cfg(test)]
mod tests;

pub use check::Access;
pub use command::AuthCommand;
pub use error::AuthError;
pub use state::{
    AuthState, MAX_AUTH_STATE_BYTES, MAX_NAME_BYTES, MAX_PASSWORD_HASH_BYTES,
    MAX_PERMISSIONS_PER_ROLE, MAX_ROLES, MAX_USERS, Permission, PermissionKind, ROOT, Role,
    SIGNING_KEY_BYTES, User,
};
