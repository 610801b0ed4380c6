//! Wire types of the coordination endpoints: transactions, compaction,
//! leases and watch. They follow etcd v3's model (revisions, compares,
//! leases), spelled for people using `curl`.
//!
//! Values travel as JSON strings: as is when they are UTF-8, otherwise in
//! base64 with `"encoding": "base64"` beside them ([`Encoding`]). Keys are
//! UTF-8 (they are path segments elsewhere in the API).
//!
//! # Transactions: `POST /v1/txn`
//! ```json
//! {"compare": [{"key": "jobs/7", "target": "version", "op": "=", "value": 0}],
//!  "success": [{"put": {"key": "jobs/7", "value": "worker-2", "lease": 42}}],
//!  "failure": [{"get": {"key": "jobs/7"}}]}
//! ```
//! answers [`TxnResponse`]: which branch ran, the cluster revision after it
//! and one [`OpResult`] per operation of that branch, in order.
//!
//! # Watch: `GET /v1/watch?key=K` or `?prefix=P`
//! A `text/event-stream`. Each message carries one revision's events:
//! `event: change`, `id: REVISION`, `data: `[`WatchChange`]. The first
//! message and quiet streams get `event: progress` with [`WatchProgress`]. A
//! start already compacted is answered 410 `compacted` (no stream); history
//! compacted under a catching-up stream gets `event: compacted` with
//! [`WatchEnd`] and the stream ends; a watcher the node had to drop (it is
//! stopping) gets `event: cancelled` with [`WatchEnd`].
//! A client that reconnects with `start_revision` = last `id` + 1 (or the
//! `Last-Event-ID` header, which browsers send) misses nothing.

use serde::{Deserialize, Serialize};

/// How a value is spelled in JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// The string is the value's bytes (UTF-8).
    #[default]
    Utf8,
    /// The string is the value's bytes in standard base64.
    Base64,
}

impl Encoding {
    /// True for the default, so that it is left out of answers.
    pub fn is_utf8(&self) -> bool {
        *self == Encoding::Utf8
    }
}

/// One key with everything the store knows of it (etcd's `KeyValue`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValueJson {
    /// The key.
    pub key: String,
    /// The value (see [`encoding`](Self::encoding)); absent when keys only
    /// were asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// How `value` is spelled.
    #[serde(default, skip_serializing_if = "Encoding::is_utf8")]
    pub encoding: Encoding,
    /// The revision that created the key (since its last delete).
    pub create_revision: u64,
    /// The revision that last changed it.
    pub mod_revision: u64,
    /// Writes since it was created (1 after the first).
    pub version: u64,
    /// The lease it is attached to; 0 for none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lease: i64,
}

fn is_zero(lease: &i64) -> bool {
    *lease == 0
}

/// Which keys an operation or compare covers: one `key`, or every key
/// starting with `prefix`, or every key in `[key, range_end)`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySelector {
    /// One key, or the start of `[key, range_end)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Every key with this prefix (exclusive with `key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// With `key`: the end of the range, exclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_end: Option<String>,
}

/// What a [`Compare`] looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareTarget {
    /// The value (compared as bytes).
    Value,
    /// Writes since creation; 0 when absent.
    Version,
    /// The creating revision; 0 when absent.
    CreateRevision,
    /// The last-modifying revision; 0 when absent.
    ModRevision,
    /// The attached lease; 0 when none or absent.
    Lease,
}

/// How a [`Compare`] compares: `=`, `!=`, `<` or `>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareOp {
    /// Equal.
    #[serde(rename = "=")]
    Equal,
    /// Not equal.
    #[serde(rename = "!=")]
    NotEqual,
    /// Less than.
    #[serde(rename = "<")]
    Less,
    /// Greater than.
    #[serde(rename = ">")]
    Greater,
}

/// One condition of a transaction. Over a prefix or range, it holds only if
/// it holds for every key there; an absent key has version, revisions and
/// lease 0, and a `value` compare on it is false (as in etcd).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compare {
    /// The keys compared.
    #[serde(flatten)]
    pub keys: KeySelector,
    /// What is compared.
    pub target: CompareTarget,
    /// How.
    pub op: CompareOp,
    /// The operand: a number for every target but `value`, a string for it.
    pub value: serde_json::Value,
    /// How a string operand is spelled.
    #[serde(default, skip_serializing_if = "Encoding::is_utf8")]
    pub encoding: Encoding,
}

/// A put inside a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxnPut {
    /// The key.
    pub key: String,
    /// The new value (ignored with `ignore_value`).
    #[serde(default)]
    pub value: String,
    /// How `value` is spelled.
    #[serde(default, skip_serializing_if = "Encoding::is_utf8")]
    pub encoding: Encoding,
    /// Attach to this lease (0: detach).
    #[serde(default)]
    pub lease: i64,
    /// Answer the previous key-value.
    #[serde(default)]
    pub prev_kv: bool,
    /// Keep the current value (the key must exist).
    #[serde(default)]
    pub ignore_value: bool,
    /// Keep the current lease (the key must exist).
    #[serde(default)]
    pub ignore_lease: bool,
}

/// A read inside a transaction (`get` of one key, `range` of a prefix or
/// range); the same knobs as `GET /v1/kv`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxnRange {
    /// The keys read.
    #[serde(flatten)]
    pub keys: KeySelector,
    /// Most keys answered (0: the server's cap).
    #[serde(default)]
    pub limit: u64,
    /// Read the state at this revision (0: current).
    #[serde(default)]
    pub revision: u64,
    /// Answer keys without values.
    #[serde(default)]
    pub keys_only: bool,
    /// Answer only the count.
    #[serde(default)]
    pub count_only: bool,
    /// Order the answer by this (absent: by key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_target: Option<SortTarget>,
    /// Ascending (the default) or descending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<SortOrder>,
    /// Only keys created at or after this revision (0: no bound).
    #[serde(default)]
    pub min_create_revision: u64,
    /// Only keys created at or before this revision (0: no bound).
    #[serde(default)]
    pub max_create_revision: u64,
    /// Only keys last changed at or after this revision (0: no bound).
    #[serde(default)]
    pub min_mod_revision: u64,
    /// Only keys last changed at or before this revision (0: no bound).
    #[serde(default)]
    pub max_mod_revision: u64,
}

/// What a read's answer is ordered by (etcd's `SortTarget`). The lock and
/// election recipes read the oldest or youngest contender by
/// `create_revision`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortTarget {
    /// Key bytes.
    Key,
    /// Writes since creation.
    Version,
    /// Creating revision.
    CreateRevision,
    /// Last-modifying revision.
    ModRevision,
    /// Value bytes.
    Value,
}

/// Which way a read is ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// Smallest first.
    Ascend,
    /// Largest first.
    Descend,
}

/// A delete inside a transaction: one key, a prefix or a range.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxnDelete {
    /// The keys deleted.
    #[serde(flatten)]
    pub keys: KeySelector,
    /// Answer the deleted key-values.
    #[serde(default)]
    pub prev_kv: bool,
}

/// One operation of a transaction's branch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TxnOp {
    /// Write a key.
    Put(TxnPut),
    /// Read one key.
    Get(TxnRange),
    /// Read a prefix or range.
    Range(TxnRange),
    /// Delete a key, prefix or range.
    Delete(TxnDelete),
    /// A nested transaction.
    Txn(TxnRequest),
}

/// `POST /v1/txn` body: if every compare holds, run `success`, else
/// `failure`; atomically, with one revision for all of its writes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxnRequest {
    /// The conditions (none: always `success`).
    #[serde(default)]
    pub compare: Vec<Compare>,
    /// Run when every compare holds.
    #[serde(default)]
    pub success: Vec<TxnOp>,
    /// Run otherwise.
    #[serde(default)]
    pub failure: Vec<TxnOp>,
}

/// The answer to a read operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeResult {
    /// The keys found, in byte order (none with `count_only`).
    pub items: Vec<KeyValueJson>,
    /// More keys follow the last one.
    pub more: bool,
    /// Keys in the range at that revision (regardless of `limit`).
    pub count: u64,
}

/// The answer to one [`TxnOp`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpResult {
    /// A put: the previous key-value when asked for and present.
    Put {
        /// The key before the put.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prev: Option<KeyValueJson>,
    },
    /// A get or range.
    Range(RangeResult),
    /// A delete: how many keys it removed, and them when asked for.
    Delete {
        /// Keys removed.
        deleted: u64,
        /// The removed key-values, with `prev_kv`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        prev: Vec<KeyValueJson>,
    },
    /// A nested transaction.
    Txn(TxnResponse),
}

/// `POST /v1/txn` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnResponse {
    /// Whether the compares held (`success` ran) or not (`failure` ran).
    pub succeeded: bool,
    /// The cluster revision after the transaction (its writes' revision,
    /// if it wrote).
    pub revision: u64,
    /// One per operation of the branch that ran, in order.
    pub results: Vec<OpResult>,
}

/// `DELETE /v1/kv?prefix=P` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRangeResponse {
    /// Keys removed.
    pub deleted: u64,
    /// The cluster revision after the delete.
    pub revision: u64,
}

/// `POST /v1/compact` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompactRequest {
    /// Forget history below this revision; reads and watches below it
    /// answer 410 `compacted` afterwards.
    pub revision: u64,
}

/// `POST /v1/compact` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactResponse {
    /// The compacted revision now.
    pub compact_revision: u64,
    /// The cluster revision.
    pub revision: u64,
}

/// `POST /v1/leases` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseGrantRequest {
    /// Seconds the lease lives without a keepalive.
    pub ttl: i64,
    /// The id to use (0 or absent: the cluster picks one).
    #[serde(default)]
    pub id: i64,
}

/// A lease's id and TTL: the answer to a grant and to a keepalive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseResponse {
    /// The lease.
    pub id: i64,
    /// Its TTL in seconds (what a keepalive restores).
    pub ttl: i64,
}

/// `POST /v1/leases/keepalive` body: keep many leases alive in one call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepAliveRequest {
    /// The leases to renew.
    pub ids: Vec<i64>,
}

/// One lease in a [`KeepAliveResponse`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepAliveResult {
    /// The lease.
    pub id: i64,
    /// Its TTL, renewed; 0 if the lease does not exist (expired or revoked).
    pub ttl: i64,
}

/// `POST /v1/leases/keepalive` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepAliveResponse {
    /// One per requested id, in order.
    pub leases: Vec<KeepAliveResult>,
}

/// `GET /v1/leases/{id}` → 200 (answered by the leader).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    /// The lease.
    pub id: i64,
    /// Its granted TTL in seconds.
    pub ttl: i64,
    /// Seconds left before it expires, unless kept alive.
    pub remaining: i64,
    /// The keys attached to it.
    pub keys: Vec<String>,
}

/// `GET /v1/leases` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseList {
    /// Every lease, by id.
    pub leases: Vec<LeaseResponse>,
}

/// `DELETE /v1/leases/{id}` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRevokeResponse {
    /// The cluster revision after the revoke (the attached keys' deletes).
    pub revision: u64,
}

/// What happened to a key, in a [`WatchChange`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Created or changed.
    Put,
    /// Deleted (by a delete, a revoke or an expired lease).
    Delete,
}

/// One key's change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEvent {
    /// Put or delete.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The key after the change (for a delete: the key, its delete
    /// revision as `mod_revision`, and zeros).
    pub kv: KeyValueJson,
    /// The key before the change, with `prev_kv=true` (when still known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<KeyValueJson>,
}

/// `event: change`: every watched event of one revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchChange {
    /// The revision (also the message's SSE `id`).
    pub revision: u64,
    /// Its events in the watched range, in the order written (a txn's in
    /// the order of its operations, as etcd).
    pub events: Vec<WatchEvent>,
}

/// `event: progress`: every change in the range up to `revision` was sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchProgress {
    /// A revision the node has applied, never past an event not yet sent:
    /// in the first message, the node's applied revision, or
    /// `start_revision - 1` if that is lower (history from the start follows).
    pub revision: u64,
}

/// `event: compacted` or `event: cancelled`: the stream ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEnd {
    /// Why, for people.
    pub reason: String,
    /// On `compacted`: the compacted revision (restart at or after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact_revision: Option<u64>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The module doc's example is what the server parses.
    #[test]
    fn the_documented_transaction_parses() {
        let body = r#"{"compare": [{"key": "jobs/7", "target": "version", "op": "=", "value": 0}],
            "success": [{"put": {"key": "jobs/7", "value": "worker-2", "lease": 42}}],
            "failure": [{"get": {"key": "jobs/7"}}]}"#;
        let txn: TxnRequest = serde_json::from_str(body).unwrap();
        assert_eq!(txn.compare[0].target, CompareTarget::Version);
        assert_eq!(txn.compare[0].op, CompareOp::Equal);
        assert_eq!(txn.compare[0].keys.key.as_deref(), Some("jobs/7"));
        let TxnOp::Put(put) = &txn.success[0] else {
            panic!("not a put: {:?}", txn.success[0]);
        };
        assert_eq!((put.value.as_str(), put.lease), ("worker-2", 42));
        assert!(
            matches!(&txn.failure[0], TxnOp::Get(get) if get.keys.key.as_deref() == Some("jobs/7"))
        );
    }

    /// Prefixes, ranges and the read knobs reach the flattened selector.
    #[test]
    fn selectors_and_knobs_parse() {
        let body = r#"{"compare": [{"prefix": "jobs/", "target": "value", "op": "!=", "value": "x"}],
            "success": [{"range": {"key": "a", "range_end": "c", "limit": 5, "keys_only": true}},
                        {"delete": {"prefix": "tmp/", "prev_kv": true}}]}"#;
        let txn: TxnRequest = serde_json::from_str(body).unwrap();
        assert_eq!(txn.compare[0].keys.prefix.as_deref(), Some("jobs/"));
        let TxnOp::Range(range) = &txn.success[0] else {
            panic!("not a range: {:?}", txn.success[0]);
        };
        assert_eq!(range.keys.range_end.as_deref(), Some("c"));
        assert_eq!((range.limit, range.keys_only), (5, true));
        assert!(matches!(&txn.success[1], TxnOp::Delete(delete) if delete.prev_kv));
    }

    /// A misspelt field is refused rather than ignored: a txn that silently
    /// dropped a compare would write unconditionally.
    #[test]
    fn unknown_fields_are_refused() {
        for body in [
            r#"{"compares": []}"#,
            r#"{"compare": [{"key": "a", "target": "version", "op": "=", "value": 0, "vaule": 1}]}"#,
            r#"{"success": [{"put": {"key": "a", "value": "1", "ttl": 5}}]}"#,
            r#"{"success": [{"upsert": {"key": "a"}}]}"#,
            r#"{"compare": [{"key": "a", "target": "size", "op": "=", "value": 0}]}"#,
            r#"{"compare": [{"key": "a", "target": "version", "op": "==", "value": 0}]}"#,
        ] {
            assert!(serde_json::from_str::<TxnRequest>(body).is_err(), "{body}");
        }
    }
}
