//! The JSON transaction ([`api::TxnRequest`]) as the store's
//! ([`store::TxnRequest`]), and the store's answer back as JSON.
//!
//! Everything a request can get wrong is found here, before anything is
//! proposed: selectors (`key`, `prefix`, `key` + `range_end`), operand
//! types, value encodings, sizes, the number of operations
//! (`--max-txn-ops`, counting compares and the operations of every branch,
//! nested ones included) and the nesting depth ([`MAX_TXN_DEPTH`]). What only
//! the state can tell (a lease that does not exist, a duplicate key, a
//! compacted revision) the store refuses, changing nothing.

use base64::Engine;
use bytes::Bytes;

use crate::api::{self, Encoding, KeySelector, KeyValueJson, OpResult, RangeResult};
use crate::server::http::ApiError;
use crate::server::settings::Limits;
use crate::store::{self, KeyRange, KeyValue, RangeRequest, RequestOp, ResponseOp};

/// Deepest nesting of transactions inside transactions (the top one is 1).
pub const MAX_TXN_DEPTH: usize = 8;
/// Most keys one read answers (`limit` 0 means this).
pub const MAX_READ_LIMIT: u64 = 10_000;

/// Converts `request`, checking it against `limits`.
///
/// # Errors
/// 400 `bad_request` for anything malformed or over the operation or depth
/// limits; 413 `too_large` for a key or value over its limit.
pub(super) fn to_store(
    request: &api::TxnRequest,
    limits: &Limits,
) -> Result<store::TxnRequest, ApiError> {
    let mut converter = Converter {
        limits,
        ops_seen: 0,
    };
    converter.txn(request, 1)
}

/// Whether `request` may add data (a put, in any branch): what the quota stops.
pub(super) fn puts(request: &store::TxnRequest) -> bool {
    any_op(request, &|op| matches!(op, RequestOp::Put(_)))
}

fn any_op(request: &store::TxnRequest, test: &dyn Fn(&RequestOp) -> bool) -> bool {
    request
        .success
        .iter()
        .chain(&request.failure)
        .any(|op| match op {
            RequestOp::Txn(nested) => any_op(nested, test),
            op => test(op),
        })
}

struct Converter<'a> {
    limits: &'a Limits,
    /// Compares and operations converted so far, over every level.
    ops_seen: usize,
}

impl Converter<'_> {
    fn txn(
        &mut self,
        request: &api::TxnRequest,
        depth: usize,
    ) -> Result<store::TxnRequest, ApiError> {
        if depth > MAX_TXN_DEPTH {
            return Err(ApiError::bad_request(format!(
                "transactions nest at most {MAX_TXN_DEPTH} deep"
            )));
        }
        self.count(request.compare.len() + request.success.len() + request.failure.len())?;
        let compare = request
            .compare
            .iter()
            .map(|compare| self.compare(compare))
            .collect::<Result<_, _>>()?;
        let success = self.branch(&request.success, depth)?;
        let failure = self.branch(&request.failure, depth)?;
        Ok(store::TxnRequest {
            compare,
            success,
            failure,
        })
    }

    fn count(&mut self, ops: usize) -> Result<(), ApiError> {
        self.ops_seen = self.ops_seen.saturating_add(ops);
        let max = self.limits.max_txn_ops;
        if self.ops_seen > max {
            return Err(ApiError::bad_request(format!(
                "a transaction takes at most {max} compares and operations, nested ones \
                 included (--max-txn-ops)"
            )));
        }
        Ok(())
    }

    fn branch(&mut self, ops: &[api::TxnOp], depth: usize) -> Result<Vec<RequestOp>, ApiError> {
        ops.iter().map(|op| self.op(op, depth)).collect()
    }

    fn op(&mut self, op: &api::TxnOp, depth: usize) -> Result<RequestOp, ApiError> {
        Ok(match op {
            api::TxnOp::Put(put) => RequestOp::Put(self.put(put)?),
            api::TxnOp::Get(get) => {
                if get.keys.key.is_none()
                    || get.keys.prefix.is_some()
                    || get.keys.range_end.is_some()
                {
                    return Err(ApiError::bad_request(
                        "get reads one key: give \"key\" (use range for a prefix or range)",
                    ));
                }
                RequestOp::Range(self.range(get)?)
            }
            api::TxnOp::Range(range) => RequestOp::Range(self.range(range)?),
            api::TxnOp::Delete(delete) => {
                let range = self.selector(&delete.keys)?;
                RequestOp::DeleteRange(store::DeleteRangeRequest {
                    key: range.key,
                    range_end: range.range_end,
                    prev_kv: delete.prev_kv,
                })
            }
            api::TxnOp::Txn(nested) => RequestOp::Txn(self.txn(nested, depth + 1)?),
        })
    }

    fn compare(&self, compare: &api::Compare) -> Result<store::Compare, ApiError> {
        let range = self.selector(&compare.keys)?;
        let target = match compare.target {
            api::CompareTarget::Value => {
                let Some(text) = compare.value.as_str() else {
                    return Err(ApiError::bad_request(
                        "a compare on value takes a string operand",
                    ));
                };
                store::CompareTarget::Value(self.value(text, compare.encoding)?)
            }
            api::CompareTarget::Version => store::CompareTarget::Version(counter(compare)?),
            api::CompareTarget::CreateRevision => {
                store::CompareTarget::CreateRevision(counter(compare)?)
            }
            api::CompareTarget::ModRevision => store::CompareTarget::ModRevision(counter(compare)?),
            api::CompareTarget::Lease => {
                let Some(lease) = compare.value.as_i64() else {
                    return Err(ApiError::bad_request(
                        "a compare on lease takes an integer operand (a lease id, 0: none)",
                    ));
                };
                store::CompareTarget::Lease(lease)
            }
        };
        let result = match compare.op {
            api::CompareOp::Equal => store::CompareResult::Equal,
            api::CompareOp::NotEqual => store::CompareResult::NotEqual,
            api::CompareOp::Less => store::CompareResult::Less,
            api::CompareOp::Greater => store::CompareResult::Greater,
        };
        Ok(store::Compare {
            target,
            result,
            key: range.key,
            range_end: range.range_end,
        })
    }

    fn put(&self, put: &api::TxnPut) -> Result<store::PutRequest, ApiError> {
        let key = self.key(&put.key)?;
        if key.is_empty() {
            return Err(ApiError::bad_request("a put needs a non-empty key"));
        }
        if put.lease < 0 {
            return Err(ApiError::bad_request(
                "lease ids are positive (0: no lease)",
            ));
        }
        let value = self.value(&put.value, put.encoding)?;
        if value.len() > self.limits.max_value_bytes {
            return Err(ApiError::too_large(format!(
                "a value is {} bytes; the limit is {}",
                value.len(),
                self.limits.max_value_bytes
            )));
        }
        Ok(store::PutRequest {
            key,
            value,
            lease: put.lease,
            prev_kv: put.prev_kv,
            ignore_value: put.ignore_value,
            ignore_lease: put.ignore_lease,
        })
    }

    fn range(&self, range: &api::TxnRange) -> Result<RangeRequest, ApiError> {
        let keys = self.selector(&range.keys)?;
        if range.limit > MAX_READ_LIMIT {
            return Err(ApiError::bad_request(format!(
                "limit must be at most {MAX_READ_LIMIT} (0: {MAX_READ_LIMIT})"
            )));
        }
        let sort_target = match range.sort_target {
            None | Some(api::SortTarget::Key) => store::SortTarget::Key,
            Some(api::SortTarget::Version) => store::SortTarget::Version,
            Some(api::SortTarget::CreateRevision) => store::SortTarget::Create,
            Some(api::SortTarget::ModRevision) => store::SortTarget::Mod,
            Some(api::SortTarget::Value) => store::SortTarget::Value,
        };
        let sort_order = match range.sort_order {
            None => store::SortOrder::None,
            Some(api::SortOrder::Ascend) => store::SortOrder::Ascend,
            Some(api::SortOrder::Descend) => store::SortOrder::Descend,
        };
        Ok(RangeRequest {
            key: keys.key,
            range_end: keys.range_end,
            revision: range.revision,
            limit: if range.limit == 0 {
                MAX_READ_LIMIT
            } else {
                range.limit
            },
            max_bytes: self.limits.max_list_bytes,
            keys_only: range.keys_only,
            count_only: range.count_only,
            min_mod_revision: range.min_mod_revision,
            max_mod_revision: range.max_mod_revision,
            min_create_revision: range.min_create_revision,
            max_create_revision: range.max_create_revision,
            sort_order,
            sort_target,
        })
    }

    /// One key, a prefix, or `[key, range_end)`.
    fn selector(&self, keys: &KeySelector) -> Result<KeyRange, ApiError> {
        match (&keys.key, &keys.prefix, &keys.range_end) {
            (Some(key), None, None) if !key.is_empty() => Ok(KeyRange::single(self.key(key)?)),
            (None, Some(prefix), None) => Ok(KeyRange::prefix(self.key(prefix)?)),
            (Some(key), None, Some(end)) if !end.is_empty() => Ok(KeyRange {
                key: self.key(key)?,
                range_end: self.key(end)?,
            }),
            _ => Err(ApiError::bad_request(
                "name the keys with a non-empty \"key\", a \"prefix\", or \"key\" and a \
                 non-empty \"range_end\"",
            )),
        }
    }

    fn key(&self, key: &str) -> Result<Bytes, ApiError> {
        if key.len() > self.limits.max_key_bytes {
            return Err(ApiError::too_large(format!(
                "a key is {} bytes; the limit is {}",
                key.len(),
                self.limits.max_key_bytes
            )));
        }
        Ok(Bytes::copy_from_slice(key.as_bytes()))
    }

    fn value(&self, text: &str, encoding: Encoding) -> Result<Bytes, ApiError> {
        match encoding {
            Encoding::Utf8 => Ok(Bytes::copy_from_slice(text.as_bytes())),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(text)
                .map(Bytes::from)
                .map_err(|error| ApiError::bad_request(format!("a value is not base64: {error}"))),
        }
    }
}

/// A version or revision operand: a non-negative integer.
fn counter(compare: &api::Compare) -> Result<u64, ApiError> {
    compare.value.as_u64().ok_or_else(|| {
        ApiError::bad_request(format!(
            "a compare on {:?} takes a non-negative integer operand",
            compare.target
        ))
    })
}

/// The store's answer to `request` as JSON.
pub(super) fn from_store(
    request: &store::TxnRequest,
    response: store::TxnResponse,
) -> api::TxnResponse {
    let ops = if response.succeeded {
        &request.success
    } else {
        &request.failure
    };
    assert_eq!(
        ops.len(),
        response.responses.len(),
        "the store answers once per operation of the branch that ran"
    );
    let results = ops
        .iter()
        .zip(response.responses)
        .map(|(op, answer)| op_result(op, answer))
        .collect();
    api::TxnResponse {
        succeeded: response.succeeded,
        revision: response.revision,
        results,
    }
}

fn op_result(op: &RequestOp, answer: ResponseOp) -> OpResult {
    match (op, answer) {
        (RequestOp::Range(read), ResponseOp::Range(range)) => {
            OpResult::Range(range_result(range, read.keys_only))
        }
        (_, ResponseOp::Put { prev_kv }) => OpResult::Put {
            prev: prev_kv.map(|kv| key_value_json(kv, false)),
        },
        (_, ResponseOp::DeleteRange { deleted, prev_kvs }) => OpResult::Delete {
            deleted,
            prev: prev_kvs
                .into_iter()
                .map(|kv| key_value_json(kv, false))
                .collect(),
        },
        (RequestOp::Txn(nested), ResponseOp::Txn(inner)) => {
            OpResult::Txn(from_store(nested, inner))
        }
        (op, answer) => panic!("the store answered {op:?} with {answer:?}"),
    }
}

/// A read's answer as JSON.
pub(super) fn range_result(range: store::RangeResponse, keys_only: bool) -> RangeResult {
    RangeResult {
        items: range
            .kvs
            .into_iter()
            .map(|kv| key_value_json(kv, keys_only))
            .collect(),
        more: range.more,
        count: range.count,
    }
}

/// A kv as JSON: the value as is when UTF-8, else base64; none with `keys_only`.
pub(super) fn key_value_json(kv: KeyValue, keys_only: bool) -> KeyValueJson {
    let (value, encoding) = if keys_only {
        (None, Encoding::Utf8)
    } else {
        let (text, encoding) = value_text(&kv.value);
        (Some(text), encoding)
    };
    KeyValueJson {
        key: String::from_utf8_lossy(&kv.key).into_owned(),
        value,
        encoding,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        lease: kv.lease,
    }
}

/// A value as a JSON string and how it is spelled.
pub(super) fn value_text(value: &[u8]) -> (String, Encoding) {
    match std::str::from_utf8(value) {
        Ok(text) => (text.to_owned(), Encoding::Utf8),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(value),
            Encoding::Base64,
        ),
    }
}
