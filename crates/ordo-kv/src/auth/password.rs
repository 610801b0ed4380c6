//! Password hashes: argon2id in the PHC string format, with a salt the
//! caller draws (this crate's auth model takes no randomness of its own).
//!
//! Hashing and checking are slow by design (tens of milliseconds, ~19 MiB):
//! the server runs them off its async runtime, a few at a time, and never
//! in apply (the log carries the hash).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Bytes of salt to draw for [`hash_password`].
pub const SALT_BYTES: usize = 16;
/// Longest password accepted, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Why a password could not be hashed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Empty or longer than [`MAX_PASSWORD_BYTES`].
    #[error("a password is 1 to {MAX_PASSWORD_BYTES} bytes")]
    BadLength,
    /// The hasher refused (it should not, for these inputs).
    #[error("hashing the password failed: {0}")]
    Hashing(String),
}

/// The argon2id hash of `password` with `salt`, as a PHC string.
///
/// # Errors
/// A password of a bad length; a failure inside the hasher.
pub fn hash_password(password: &str, salt: &[u8; SALT_BYTES]) -> Result<String, PasswordError> {
    if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::BadLength);
    }
    let salt =
        SaltString::encode_b64(salt).map_err(|error| PasswordError::Hashing(error.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| PasswordError::Hashing(error.to_string()))
}

/// Whether `password` matches `hash` (false for a hash that does not parse).
pub fn verify_password(hash: &str, password: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}
