//! The HTTP API's wire types, shared by the server and the client so the two
//! cannot drift apart. The README documents the API; this module is its
//! single source of truth for field names, headers and error codes.
//!
//! Every error is a JSON [`ErrorBody`] `{"error": CODE, "message": TEXT}`,
//! with the status code and `error` code below:
//!
//! | status | `error`           | meaning                                            |
//! |--------|-------------------|----------------------------------------------------|
//! | 400    | `bad_request`     | malformed key, query string or JSON body           |
//! | 404    | `not_found`       | no such key (or route)                             |
//! | 405    | `bad_request`     | the path does not take this method                 |
//! | 400    | `future_revision` | a read or compaction at a revision not yet reached |
//! | 404    | `lease_not_found` | the lease does not exist (expired or revoked)      |
//! | 409    | `compare_failed`  | `if_revision` did not match; `revision` is current |
//! | 410    | `compacted`       | the revision asked for was compacted; `compact_revision` says to which |
//! | 413    | `too_large`       | key or value over the configured limit             |
//! | 429    | `busy`            | the node sheds load; retry after a pause           |
//! | 503    | `no_leader`       | no leader known yet, or leadership is moving; retry after `Retry-After` |
//! | 503    | `unavailable`     | a write's outcome is unknown (timeout, leader change, storage failure): read before retrying; or the node is stopping |
//! | 507    | `quota_exceeded`  | the store is over `--quota-bytes`: delete or compact; deletes and compaction still work |
//! | 507    | `insufficient_storage` | the node's disk is full; the write was not proposed |
//! | 401    | `unauthenticated` | auth is enabled and the request has no valid token nor client certificate |
//! | 403    | `permission_denied` | the user may not do this; nothing changed     |
//! | 409    | `auth_refused`    | an auth change the auth state refused (a user that exists, a missing role, root's lockout) |
//! | 500    | `internal`        | a read failed inside the node, or a command could not be encoded |
//!
//! A write sent to a follower is answered `307 Temporary Redirect` with
//! `Location` at the same path and query on the leader's client address.

use serde::{Deserialize, Serialize};

mod auth;
mod coordination;

pub use auth::*;
pub use coordination::*;

/// Header with the key's last-modified revision, on `GET /v1/kv/{key}`.
pub const REVISION_HEADER: &str = "x-ordo-revision";
/// Header with the cluster revision the read saw, on `GET /v1/kv/{key}`.
pub const CLUSTER_REVISION_HEADER: &str = "x-ordo-cluster-revision";
/// Header with the key's creating revision, on `GET /v1/kv/{key}`.
pub const CREATE_REVISION_HEADER: &str = "x-ordo-create-revision";
/// Header with the key's version (writes since creation), on `GET /v1/kv/{key}`.
pub const VERSION_HEADER: &str = "x-ordo-version";
/// Header with the key's lease, on `GET /v1/kv/{key}` (only when attached).
pub const LEASE_HEADER: &str = "x-ordo-lease";

/// Error codes (the `error` field of [`ErrorBody`]).
pub mod code {
    /// Malformed key, query or body.
    pub const BAD_REQUEST: &str = "bad_request";
    /// Missing key or route.
    pub const NOT_FOUND: &str = "not_found";
    /// A compare-and-set whose revision did not match.
    pub const COMPARE_FAILED: &str = "compare_failed";
    /// A key or value over the limit.
    pub const TOO_LARGE: &str = "too_large";
    /// The node is shedding load.
    pub const BUSY: &str = "busy";
    /// No leader is known.
    pub const NO_LEADER: &str = "no_leader";
    /// The node cannot answer now (stopping, timed out, outcome unknown).
    pub const UNAVAILABLE: &str = "unavailable";
    /// A failure inside the node (on a read; a write's is `unavailable`).
    pub const INTERNAL: &str = "internal";
    /// The node's disk is full: a write was refused before it was proposed.
    pub const INSUFFICIENT_STORAGE: &str = "insufficient_storage";
    /// The store is over its quota: writes are refused until space is back.
    pub const QUOTA_EXCEEDED: &str = "quota_exceeded";
    /// The revision asked for was compacted away.
    pub const COMPACTED: &str = "compacted";
    /// The revision asked for is ahead of the cluster revision.
    pub const FUTURE_REVISION: &str = "future_revision";
    /// The lease does not exist (never granted, expired or revoked).
    pub const LEASE_NOT_FOUND: &str = "lease_not_found";
    /// The request body did not arrive in time (the connection is closed).
    pub const REQUEST_TIMEOUT: &str = "request_timeout";
    /// Auth is enabled and the request proved no identity (or a bad one).
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    /// The user may not do this.
    pub const PERMISSION_DENIED: &str = "permission_denied";
    /// An auth management request the auth state refused (a user that
    /// exists, a role that does not, root's lockout).
    pub const AUTH_REFUSED: &str = "auth_refused";
}

/// Every error response's body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// One of the [`code`] constants.
    pub error: String,
    /// What happened, for people.
    #[serde(default)]
    pub message: String,
    /// On `compare_failed`: the key's current revision (0: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// On `compacted`: the compacted revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact_revision: Option<u64>,
}

/// `PUT /v1/kv/{key}` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutResponse {
    /// The cluster revision of this write (also the key's new revision).
    pub revision: u64,
    /// With `prev_kv=true`: the key before the put, if it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<KeyValueJson>,
}

/// `DELETE /v1/kv/{key}` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteResponse {
    /// Whether the key existed.
    pub deleted: bool,
    /// The cluster revision after the delete (unchanged if nothing was deleted).
    pub revision: u64,
}

/// One key in a [`ListResponse`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListItem {
    /// The key (keys are UTF-8).
    pub key: String,
    /// The value: as is when UTF-8, else base64 and `encoding` is `"base64"`.
    pub value: String,
    /// The key's last-modified revision.
    pub revision: u64,
    /// `Some("base64")` when `value` is base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The revision that created the key (absent from older servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_revision: Option<u64>,
    /// The key's last-modified revision (the same as `revision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mod_revision: Option<u64>,
    /// Writes since the key was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The lease the key is attached to (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<i64>,
}

/// `GET /v1/kv?prefix=P&limit=N` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListResponse {
    /// Keys in order, at most `limit`.
    pub items: Vec<ListItem>,
    /// More keys with the prefix follow the last one (cut by `limit` or by
    /// the server's byte cap).
    pub more: bool,
    /// The cluster revision read at: pass it back as `revision=` with
    /// `start_after=` the last key to read the next page of the same state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// Keys in the range read (after `start_after`), regardless of `limit`;
    /// with `count_only=true`, the only answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// `GET /v1/status` → 200: the node's own view and the store's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusResponse {
    /// The node's view (the fields of [`NodeStatusInfo`], at the top level).
    #[serde(flatten)]
    pub node: NodeStatusInfo,
    /// The cluster revision this node has applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// The compact revision this node has applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact_revision: Option<u64>,
    /// Alarms raised now (`quota_exceeded`); empty when all is well.
    #[serde(default)]
    pub alarms: Vec<String>,
}

/// `POST /v1/cluster/members` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The new node's id.
    pub id: u64,
    /// Where the other nodes reach it (`HOST:PORT`).
    pub peer_addr: String,
    /// Where clients reach it (`http://HOST:PORT`).
    pub client_addr: String,
    /// A voter (added as a learner first, promoted once caught up), or a learner.
    #[serde(default = "default_true")]
    pub voter: bool,
}

fn default_true() -> bool {
    true
}

/// `POST /v1/cluster/leader` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferLeaderRequest {
    /// The voter to hand leadership to.
    pub to: u64,
}

/// One member in [`ClusterResponse`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Node id.
    pub id: u64,
    /// Voter or learner.
    pub voter: bool,
    /// Where nodes reach it, if known.
    pub peer_addr: Option<String>,
    /// Where clients reach it, if known.
    pub client_addr: Option<String>,
}

/// One node's own view, in [`ClusterResponse`] and `GET /v1/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatusInfo {
    /// Node id.
    pub id: u64,
    /// `leader`, `follower`, `candidate` or `pre_candidate`.
    pub role: String,
    /// Current term.
    pub term: u64,
    /// The leader this node knows of.
    pub leader: Option<u64>,
    /// Highest index known committed.
    pub commit_index: u64,
    /// Highest index applied.
    pub applied_index: u64,
    /// Last index durable on its disk.
    pub durable_index: u64,
}

/// The leader's view of one member's replication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationInfo {
    /// Node id.
    pub id: u64,
    /// Highest index known replicated on it.
    pub matched: u64,
    /// How many entries it is behind the leader's last index.
    pub lag: u64,
}

/// `GET /v1/cluster` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterResponse {
    /// The cluster's name (for people; `ordo` by default).
    #[serde(default)]
    pub cluster: String,
    /// The cluster's unique id (32 hex digits; a cluster bootstrapped
    /// before ids existed reports its name). Absent from older servers.
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// The node that answered.
    pub node: NodeStatusInfo,
    /// The leader it knows of.
    pub leader: Option<u64>,
    /// Its term.
    pub term: u64,
    /// The membership it follows.
    pub members: Vec<MemberInfo>,
    /// Replication progress, when the answering node is the leader.
    #[serde(default)]
    pub replication: Vec<ReplicationInfo>,
}

/// `PUT /v1/cluster/members/{id}/address` body: where member `id` is now
/// reached. Nodes send it to the leader about themselves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberAddressRequest {
    /// Where the other nodes reach it (`HOST:PORT`).
    pub peer_addr: String,
    /// Where clients reach it (`http://HOST:PORT`).
    pub client_addr: String,
}
