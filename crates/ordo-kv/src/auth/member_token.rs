//! Member tokens: how a member proves, to the leader's client port, that
//! it is member N, so that it can have its own address logged after it
//! moved while auth is enabled (`server/peers.rs`).
//!
//! A member token is `m1.PAYLOAD.TAG`: the payload names a node id and an
//! expiry, the tag is HMAC-SHA256 under the cluster's replicated signing
//! key, like a user's `v1.` token ([`token`](super::token)), and the tag
//! covers the kind prefix, so neither kind ever verifies as the other. Only
//! one route accepts it, `PUT /v1/cluster/members/N/address`, and only for
//! the N it names (`server/http/auth_gate.rs`); every other route refuses
//! it as a malformed user token (401).
//!
//! # Why a token, and what it defends against
//! The threat is a client on the network, even one holding a valid token of
//! an ordinary user, re-pointing a member's address to its own host (the
//! leader would then replicate every write to it). Minting a member token
//! needs the signing key; a user's token reveals nothing of it, and the key
//! leaves a node only in its snapshots and in backups (root only). Every
//! member holds the key, so a member can mint a token for any node, or a
//! root token: a member is already trusted with everything it replicates,
//! and nothing here tries to defend against a compromised member.
//!
//! The other way, the node's peer certificate presented as a client
//! certificate, would need TLS on both ports and a second trust path into
//! the client port, and would do nothing for a cluster without TLS. A token
//! works the same with or without TLS (without it, like any token, it can
//! be seen on the wire: it then lives [`MEMBER_TOKEN_TTL_SECONDS`] and can
//! change one address, to one the member would report anyway).
//!
//! A member that has not applied `auth enable` yet mints nothing and is
//! answered 401; it retries, and once it has applied the enable (it
//! catches up through its peer link), its token verifies everywhere.

use serde::{Deserialize, Serialize};

use super::AuthState;
use super::token::{TokenError, open, seal};

/// The member token's prefix (its kind and version).
const PREFIX: &str = "m1.";

/// How long a member token is valid, in seconds: long enough for one
/// report and its redirects, short enough that a copy is soon useless.
pub const MEMBER_TOKEN_TTL_SECONDS: u64 = 60;

/// What a member token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberClaims {
    /// The node it speaks for.
    #[serde(rename = "n")]
    node_id: u64,
    /// When it stops being valid, in Unix seconds.
    #[serde(rename = "e")]
    expires_at_unix_seconds: u64,
}

/// True if `token` is of the member kind (not that it verifies).
pub fn is_member_token(token: &str) -> bool {
    token.starts_with(PREFIX)
}

impl AuthState {
    /// A token saying "member `node_id`", valid for `ttl_seconds` from
    /// `now_unix_seconds`; `None` while auth is disabled (no key to sign
    /// with, and nothing to prove).
    pub fn issue_member_token(
        &self,
        node_id: u64,
        now_unix_seconds: u64,
        ttl_seconds: u64,
    ) -> Option<String> {
        if !self.enabled() {
            return None;
        }
        let claims = MemberClaims {
            node_id,
            expires_at_unix_seconds: now_unix_seconds.saturating_add(ttl_seconds),
        };
        Some(seal(PREFIX, &self.signing_key, &claims))
    }

    /// The member `token` speaks for, at `now_unix_seconds`.
    ///
    /// # Errors
    /// A token that is malformed, not of the member kind, signed with
    /// another key (forged, or from before auth was last enabled), or
    /// expired.
    pub fn verify_member_token(
        &self,
        token: &str,
        now_unix_seconds: u64,
    ) -> Result<u64, TokenError> {
        let claims: MemberClaims = open(PREFIX, token, &self.signing_key)?;
        if claims.expires_at_unix_seconds <= now_unix_seconds {
            return Err(TokenError::Expired);
        }
        Ok(claims.node_id)
    }
}
