//! Bearer tokens: `v1.PAYLOAD.TAG`, where `PAYLOAD` is the base64url (no
//! padding) of a small JSON object — user, auth revision at issue, expiry
//! in Unix seconds — and `TAG` the base64url HMAC-SHA256 of `v1.PAYLOAD`
//! under the cluster's signing key.
//!
//! A token is a string from the network: [`parse`] bounds its length,
//! checks the tag (in constant time) before it decodes anything else, and
//! answers a [`TokenError`] for anything it does not expect; it never
//! panics. [`AuthState::verify_token`] then checks expiry and that the user
//! still exists and has not changed its password or lost a role since.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::{Deserialize, Serialize};

use super::AuthState;

/// Longest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 1024;
/// The user token's prefix (its kind and version; a member token's is
/// [`member_token`](super::member_token)'s).
const PREFIX: &str = "v1.";

/// What a token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenClaims {
    /// The user.
    #[serde(rename = "u")]
    pub user: String,
    /// The auth revision the issuing node had applied.
    #[serde(rename = "r")]
    pub auth_revision: u64,
    /// When it stops being valid, in Unix seconds.
    #[serde(rename = "e")]
    pub expires_at_unix_seconds: u64,
}

/// Why a token is refused (every one is 401 `unauthenticated`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Longer than [`MAX_TOKEN_BYTES`].
    #[error("the token is longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
    /// Not `v1.PAYLOAD.TAG` with base64url parts and a JSON payload.
    #[error("the token is malformed")]
    Malformed,
    /// The tag does not match: forged, altered, or signed before auth was
    /// last enabled.
    #[error("the token's signature is not valid (it may predate `auth enable`)")]
    BadSignature,
    /// Past its expiry.
    #[error("the token has expired; authenticate again")]
    Expired,
    /// The user no longer exists.
    #[error("the token's user no longer exists")]
    UnknownUser,
    /// Issued before the user's password changed or a role was taken away.
    #[error("the token was revoked by a change to its user; authenticate again")]
    Revoked,
}

/// Signs `claims` with `key`.
pub fn sign(key: &[u8], claims: &TokenClaims) -> String {
    seal(PREFIX, key, claims)
}

/// The claims of `token`, if `key` signed it (expiry is not checked here).
///
/// # Errors
/// Anything but a well-formed token with a valid tag.
pub fn parse(token: &str, key: &[u8]) -> Result<TokenClaims, TokenError> {
    open(PREFIX, token, key)
}

/// `KIND.PAYLOAD.TAG` for `claims`: the tag covers the kind, so a token of
/// one kind never verifies as another (a user's token is not a member's).
pub(super) fn seal<T: Serialize>(kind: &str, key: &[u8], claims: &T) -> String {
    let payload = serde_json::to_vec(claims)
        .unwrap_or_else(|error| unreachable!("claims always serialize: {error}"));
    let signed = format!("{kind}{}", URL_SAFE_NO_PAD.encode(payload));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// The claims of a `kind` token `key` signed: the length is bounded and
/// the tag checked (in constant time) before anything else is decoded.
pub(super) fn open<T: serde::de::DeserializeOwned>(
    kind: &str,
    token: &str,
    key: &[u8],
) -> Result<T, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLong);
    }
    let (signed, tag) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let payload = signed.strip_prefix(kind).ok_or(TokenError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| TokenError::Malformed)?;
    if key.is_empty() {
        return Err(TokenError::BadSignature);
    }
    hmac::verify(
        &hmac::Key::new(hmac::HMAC_SHA256, key),
        signed.as_bytes(),
        &tag,
    )
    .map_err(|_| TokenError::BadSignature)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)
}

impl AuthState {
    /// A token for `user`, valid for `ttl_seconds` from `now_unix_seconds`.
    pub fn issue_token(&self, user: &str, now_unix_seconds: u64, ttl_seconds: u64) -> String {
        let claims = TokenClaims {
            user: user.to_owned(),
            auth_revision: self.revision,
            expires_at_unix_seconds: now_unix_seconds.saturating_add(ttl_seconds),
        };
        sign(&self.signing_key, &claims)
    }

    /// The user `token` speaks for, at `now_unix_seconds`.
    ///
    /// # Errors
    /// A token that is malformed, forged, expired, for a deleted user, or
    /// issued before its user's password changed or it lost a role.
    pub fn verify_token(&self, token: &str, now_unix_seconds: u64) -> Result<String, TokenError> {
        let claims = parse(token, &self.signing_key)?;
        if claims.expires_at_unix_seconds <= now_unix_seconds {
            return Err(TokenError::Expired);
        }
        let user = self
            .users
            .get(&claims.user)
            .ok_or(TokenError::UnknownUser)?;
        if claims.auth_revision < user.tokens_valid_from {
            return Err(TokenError::Revoked);
        }
        Ok(claims.user)
    }
}
