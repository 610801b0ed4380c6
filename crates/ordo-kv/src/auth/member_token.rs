//! Member tokens: how a member proves, to the leader's client port, that
//! it is member N, so that it can have its own address logged after it
//! moved while auth is enabled (`server/peers.rs`).
//!
//! A member token is `m1.PAYLOAD.TAG`: the payload names a node id, an
//! expiry and a digest of the one report it authorizes (the peer and
//! client address exactly as sent in the request body), the tag is
//! HMAC-SHA256 under the cluster's replicated signing key, like a user's
//! `v1.` token ([`token`](super::token)), and the tag covers the kind
//! prefix, so neither kind ever verifies as the other. Only one route
//! accepts it, `PUT /v1/cluster/members/N/address`, only for the N it
//! names (`server/http/auth_gate.rs`: another N is 403), and only with a
//! body whose addresses match its digest (`server/http/cluster.rs`:
//! other addresses are 403 `permission_denied`, since the token is
//! authentic but does not permit that change); every other route refuses
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
//! works the same with or without TLS.
//!
//! # What a copied token can do
//! Without TLS a token can be seen on the wire, and a proxy may log it.
//! Whoever copies one can, until it expires, only send the same report
//! again: member N at the very addresses N reported when it minted the
//! token. It cannot point N anywhere else (the digest would not match), nor
//! speak for another member, nor use any other route. The most a replay
//! does is re-log an address N reported within the last
//! [`MEMBER_TOKEN_TTL_SECONDS`] + [`CLOCK_SKEW_LEEWAY_SECONDS`]: if N moved
//! again in that time, the old address is logged once more, N's reporter
//! sees the log disagree with it (it wakes on every change to the members'
//! information) and reports its current address again.
//!
//! # Clocks
//! The expiry is set by the minting member's clock and checked by the
//! leader's. The leader accepts a token up to [`CLOCK_SKEW_LEEWAY_SECONDS`]
//! past its expiry, so a member whose clock runs behind the leader's by
//! less than that still has its reports accepted; a member further behind
//! is refused (401) until its clock is corrected. A clock that runs ahead
//! only makes its tokens live longer, which a copy can use for nothing but
//! the replay above.
//!
//! A member that has not applied `auth enable` yet mints nothing and is
//! answered 401; it retries, and once it has applied the enable (it
//! catches up through its peer link), its token verifies everywhere.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest;
use serde::{Deserialize, Serialize};

use super::AuthState;
use super::token::{TokenError, open, seal};

/// The member token's prefix (its kind and version).
const PREFIX: &str = "m1.";

/// Domain separation for the report digest.
const REPORT_DIGEST_CONTEXT: &[u8] = b"ordo member address report v1\0";

/// How long a member token is valid, in seconds: long enough for one
/// report and its redirects, short enough that a copy is soon useless.
pub const MEMBER_TOKEN_TTL_SECONDS: u64 = 60;

/// How far past its expiry a member token is still accepted, in seconds:
/// the minting member's clock and the verifying leader's may disagree by
/// this much (see the module docs).
pub const CLOCK_SKEW_LEEWAY_SECONDS: u64 = 30;

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
    /// The [`report_digest`] of the addresses it may report.
    #[serde(rename = "a")]
    report_digest: String,
}

/// The addresses one report names, as sent in its request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportedAddresses<'a> {
    /// Where the other nodes reach the member (`peer_addr`).
    pub peer_addr: &'a str,
    /// Where clients reach it (`client_addr`).
    pub client_addr: &'a str,
}

/// A verified member token: the member it speaks for, and the one report
/// it permits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberGrant {
    /// The node it speaks for.
    pub node_id: u64,
    report_digest: String,
}

impl MemberGrant {
    /// True if `addresses` are exactly those the token was minted for.
    pub fn permits(&self, addresses: ReportedAddresses<'_>) -> bool {
        self.report_digest == report_digest(addresses)
    }
}

/// SHA-256 (base64url) of `addresses`, each length-prefixed, so that no
/// two different pairs share an encoding.
fn report_digest(addresses: ReportedAddresses<'_>) -> String {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(REPORT_DIGEST_CONTEXT);
    for part in [addresses.peer_addr, addresses.client_addr] {
        let length = u64::try_from(part.len()).unwrap_or(u64::MAX);
        context.update(&length.to_be_bytes());
        context.update(part.as_bytes());
    }
    URL_SAFE_NO_PAD.encode(context.finish().as_ref())
}

/// True if `token` is of the member kind (not that it verifies).
pub fn is_member_token(token: &str) -> bool {
    token.starts_with(PREFIX)
}

impl AuthState {
    /// A token saying "member `node_id` reports `addresses`", valid for
    /// `ttl_seconds` from `now_unix_seconds`; `None` while auth is disabled
    /// (no key to sign with, and nothing to prove).
    pub fn issue_member_token(
        &self,
        node_id: u64,
        addresses: ReportedAddresses<'_>,
        now_unix_seconds: u64,
        ttl_seconds: u64,
    ) -> Option<String> {
        if !self.enabled() {
            return None;
        }
        let claims = MemberClaims {
            node_id,
            expires_at_unix_seconds: now_unix_seconds.saturating_add(ttl_seconds),
            report_digest: report_digest(addresses),
        };
        Some(seal(PREFIX, &self.signing_key, &claims))
    }

    /// What member `token` permits, at `now_unix_seconds` (allowing
    /// [`CLOCK_SKEW_LEEWAY_SECONDS`] past its expiry).
    ///
    /// # Errors
    /// A token that is malformed, not of the member kind, signed with
    /// another key (forged, or from before auth was last enabled), or
    /// expired.
    pub fn verify_member_token(
        &self,
        token: &str,
        now_unix_seconds: u64,
    ) -> Result<MemberGrant, TokenError> {
        let claims: MemberClaims = open(PREFIX, token, &self.signing_key)?;
        let accepted_until = claims
            .expires_at_unix_seconds
            .saturating_add(CLOCK_SKEW_LEEWAY_SECONDS);
        if accepted_until <= now_unix_seconds {
            return Err(TokenError::Expired);
        }
        Ok(MemberGrant {
            node_id: claims.node_id,
            report_digest: claims.report_digest,
        })
    }
}
