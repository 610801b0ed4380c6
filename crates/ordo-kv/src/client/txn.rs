//! A builder for transactions, so callers do not hand-write JSON:
//!
//! ```
//! use ordo_kv::client::{Cmp, Op, Txn};
//! use ordo_kv::api::CompareOp;
//!
//! // Claim job 7 if nobody has; otherwise read who did.
//! let request = Txn::new()
//!     .when([Cmp::version("jobs/7", CompareOp::Equal, 0)])
//!     .then([Op::put_with_lease("jobs/7", "worker-2", 42)])
//!     .otherwise([Op::get("jobs/7")])
//!     .build();
//! assert_eq!(request.compare.len(), 1);
//! ```

use base64::Engine as _;

use crate::api::{
    Compare, CompareOp, CompareTarget, Encoding, KeySelector, TxnDelete, TxnOp, TxnPut, TxnRange,
    TxnRequest,
};

/// A transaction being built: compares, then the ops run when they all
/// hold, and the ops run otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Txn {
    request: TxnRequest,
}

impl Txn {
    /// An empty transaction (no compares: `then` always runs).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds conditions; all must hold for the `then` branch.
    pub fn when(mut self, compares: impl IntoIterator<Item = Compare>) -> Self {
        self.request.compare.extend(compares);
        self
    }

    /// Adds operations run when every compare holds.
    pub fn then(mut self, ops: impl IntoIterator<Item = TxnOp>) -> Self {
        self.request.success.extend(ops);
        self
    }

    /// Adds operations run when a compare fails.
    pub fn otherwise(mut self, ops: impl IntoIterator<Item = TxnOp>) -> Self {
        self.request.failure.extend(ops);
        self
    }

    /// The request, for [`Client::txn`](super::Client::txn).
    pub fn build(self) -> TxnRequest {
        self.request
    }
}

/// Constructors of [`Compare`]s on one key.
#[derive(Debug)]
pub struct Cmp;

impl Cmp {
    /// On the key's version (writes since creation; 0 when absent).
    pub fn version(key: &str, op: CompareOp, version: u64) -> Compare {
        number(key, CompareTarget::Version, op, version.into())
    }

    /// On the key's creating revision (0 when absent).
    pub fn create_revision(key: &str, op: CompareOp, revision: u64) -> Compare {
        number(key, CompareTarget::CreateRevision, op, revision.into())
    }

    /// On the key's last-modifying revision (0 when absent).
    pub fn mod_revision(key: &str, op: CompareOp, revision: u64) -> Compare {
        number(key, CompareTarget::ModRevision, op, revision.into())
    }

    /// On the key's lease (0 when none or absent).
    pub fn lease(key: &str, op: CompareOp, lease: i64) -> Compare {
        number(key, CompareTarget::Lease, op, lease.into())
    }

    /// On the key's value, as bytes (false when the key is absent).
    pub fn value(key: &str, op: CompareOp, value: impl AsRef<[u8]>) -> Compare {
        let (text, encoding) = encode_value(value.as_ref());
        Compare {
            keys: one_key(key),
            target: CompareTarget::Value,
            op,
            value: text.into(),
            encoding,
        }
    }

    /// Holds when the key does not exist.
    pub fn absent(key: &str) -> Compare {
        Self::create_revision(key, CompareOp::Equal, 0)
    }
}

/// Constructors of [`TxnOp`]s.
#[derive(Debug)]
pub struct Op;

impl Op {
    /// Writes `value` under `key`.
    pub fn put(key: &str, value: impl AsRef<[u8]>) -> TxnOp {
        Self::put_with_lease(key, value, 0)
    }

    /// Writes `value` under `key`, attached to `lease` (0: none).
    pub fn put_with_lease(key: &str, value: impl AsRef<[u8]>, lease: i64) -> TxnOp {
        let (value, encoding) = encode_value(value.as_ref());
        TxnOp::Put(TxnPut {
            key: key.to_owned(),
            value,
            encoding,
            lease,
            prev_kv: false,
            ignore_value: false,
            ignore_lease: false,
        })
    }

    /// Reads one key.
    pub fn get(key: &str) -> TxnOp {
        TxnOp::Get(TxnRange {
            keys: one_key(key),
            ..TxnRange::default()
        })
    }

    /// Reads every key with `prefix`.
    pub fn prefix(prefix: &str) -> TxnOp {
        Self::range(TxnRange {
            keys: prefix_keys(prefix),
            ..TxnRange::default()
        })
    }

    /// A read with every knob (sort, bounds, limit): see [`TxnRange`].
    pub fn range(range: TxnRange) -> TxnOp {
        TxnOp::Range(range)
    }

    /// Deletes one key.
    pub fn delete(key: &str) -> TxnOp {
        TxnOp::Delete(TxnDelete {
            keys: one_key(key),
            prev_kv: false,
        })
    }

    /// Deletes every key with `prefix`.
    pub fn delete_prefix(prefix: &str) -> TxnOp {
        TxnOp::Delete(TxnDelete {
            keys: prefix_keys(prefix),
            prev_kv: false,
        })
    }
}

/// A selector of one key.
pub fn one_key(key: &str) -> KeySelector {
    KeySelector {
        key: Some(key.to_owned()),
        ..KeySelector::default()
    }
}

/// A selector of every key with `prefix`.
pub fn prefix_keys(prefix: &str) -> KeySelector {
    KeySelector {
        prefix: Some(prefix.to_owned()),
        ..KeySelector::default()
    }
}

fn number(key: &str, target: CompareTarget, op: CompareOp, value: serde_json::Value) -> Compare {
    Compare {
        keys: one_key(key),
        target,
        op,
        value,
        encoding: Encoding::Utf8,
    }
}

/// A value as JSON spells it: as is when UTF-8, else base64.
fn encode_value(value: &[u8]) -> (String, Encoding) {
    match std::str::from_utf8(value) {
        Ok(text) => (text.to_owned(), Encoding::Utf8),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(value),
            Encoding::Base64,
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The builder writes the same JSON as the API module's documented
    /// example.
    #[test]
    fn the_builder_writes_the_documented_json() {
        let built = Txn::new()
            .when([Cmp::version("jobs/7", CompareOp::Equal, 0)])
            .then([Op::put_with_lease("jobs/7", "worker-2", 42)])
            .otherwise([Op::get("jobs/7")])
            .build();
        let expected = serde_json::json!({
            "compare": [{"key": "jobs/7", "target": "version", "op": "=", "value": 0}],
            "success": [{"put": {"key": "jobs/7", "value": "worker-2", "lease": 42,
                                 "prev_kv": false, "ignore_value": false, "ignore_lease": false}}],
            "failure": [{"get": {"key": "jobs/7", "limit": 0, "revision": 0, "keys_only": false,
                                 "count_only": false, "min_create_revision": 0,
                                 "max_create_revision": 0, "min_mod_revision": 0,
                                 "max_mod_revision": 0}}]
        });
        assert_eq!(serde_json::to_value(&built).unwrap(), expected);
    }

    #[test]
    fn binary_values_travel_in_base64() {
        let compare = Cmp::value("k", CompareOp::NotEqual, [0xff, 0x00]);
        assert_eq!(compare.encoding, Encoding::Base64);
        assert_eq!(compare.value, serde_json::json!("/wA="));
        let TxnOp::Put(put) = Op::put("k", "plain") else {
            panic!("not a put");
        };
        assert_eq!(
            (put.value.as_str(), put.encoding),
            ("plain", Encoding::Utf8)
        );
    }
}
