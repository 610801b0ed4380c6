//! etcd's messages to the store's types and back, with etcd's checks on
//! the way in (an empty key, too many operations, too deep, too large).
//!
//! Numbers: etcd's revisions, limits and versions are `int64`; the store's
//! are `u64`. A negative revision or limit means what 0 means (the current
//! revision, no limit), as in etcd.

use bytes::Bytes;
use tonic::Status;

use crate::server::etcd::failure::{KEY_NOT_PROVIDED, REQUEST_TOO_LARGE, TOO_MANY_OPS};
use crate::server::etcd::header::signed;
use crate::server::etcd::pb::etcdserverpb as pb;
use crate::server::etcd::pb::mvccpb;
use crate::server::settings::Limits;
use crate::store::{self, MAX_TXN_NESTING};

/// A non-negative `int64` as the store's `u64` (negative: 0).
pub(crate) fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A store kv as etcd's.
pub(crate) fn key_value(kv: store::KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key,
        create_revision: signed(kv.create_revision),
        mod_revision: signed(kv.mod_revision),
        version: signed(kv.version),
        value: kv.value,
        lease: kv.lease,
    }
}

/// Checks requests against the node's limits while converting them.
pub(crate) struct Checker<'a> {
    limits: &'a Limits,
    ops_seen: usize,
}

impl<'a> Checker<'a> {
    /// A checker for one request.
    pub(crate) fn new(limits: &'a Limits) -> Self {
        Checker {
            limits,
            ops_seen: 0,
        }
    }

    fn key(&self, key: &Bytes) -> Result<(), Status> {
        if key.is_empty() {
            return Err(Status::invalid_argument(KEY_NOT_PROVIDED));
        }
        if key.len() > self.limits.max_key_bytes {
            return Err(Status::invalid_argument(REQUEST_TOO_LARGE));
        }
        Ok(())
    }

    /// A range read.
    pub(crate) fn range(&self, request: pb::RangeRequest) -> Result<store::RangeRequest, Status> {
        self.key(&request.key)?;
        Ok(store::RangeRequest {
            sort_order: sort_order(request.sort_order()),
            sort_target: sort_target(request.sort_target()),
            key: request.key,
            range_end: request.range_end,
            revision: unsigned(request.revision),
            limit: unsigned(request.limit),
            max_bytes: 0,
            keys_only: request.keys_only,
            count_only: request.count_only,
            min_mod_revision: unsigned(request.min_mod_revision),
            max_mod_revision: unsigned(request.max_mod_revision),
            min_create_revision: unsigned(request.min_create_revision),
            max_create_revision: unsigned(request.max_create_revision),
        })
    }

    /// A put the server builds itself (the Lock and Election recipes'): the
    /// same key and value limits as a client's.
    pub(crate) fn built_put(&self, put: &store::PutRequest) -> Result<(), Status> {
        self.key(&put.key)?;
        if put.value.len() > self.limits.max_value_bytes {
            return Err(Status::invalid_argument(REQUEST_TOO_LARGE));
        }
        Ok(())
    }

    /// A put.
    pub(crate) fn put(&self, request: pb::PutRequest) -> Result<store::PutRequest, Status> {
        self.key(&request.key)?;
        if request.value.len() > self.limits.max_value_bytes {
            return Err(Status::invalid_argument(REQUEST_TOO_LARGE));
        }
        Ok(store::PutRequest {
            key: request.key,
            value: request.value,
            lease: request.lease,
            prev_kv: request.prev_kv,
            ignore_value: request.ignore_value,
            ignore_lease: request.ignore_lease,
        })
    }

    /// A delete.
    pub(crate) fn delete(
        &self,
        request: pb::DeleteRangeRequest,
    ) -> Result<store::DeleteRangeRequest, Status> {
        self.key(&request.key)?;
        Ok(store::DeleteRangeRequest {
            key: request.key,
            range_end: request.range_end,
            prev_kv: request.prev_kv,
        })
    }

    /// A transaction, nested ones included.
    pub(crate) fn txn(&mut self, request: pb::TxnRequest) -> Result<store::TxnRequest, Status> {
        self.txn_at(request, 1)
    }

    fn txn_at(
        &mut self,
        request: pb::TxnRequest,
        depth: usize,
    ) -> Result<store::TxnRequest, Status> {
        if depth > MAX_TXN_NESTING {
            return Err(Status::invalid_argument(format!(
                "etcdserver: txn nested deeper than {MAX_TXN_NESTING} levels"
            )));
        }
        let ops = request.compare.len() + request.success.len() + request.failure.len();
        self.ops_seen = self.ops_seen.saturating_add(ops);
        if self.ops_seen > self.limits.max_txn_ops {
            return Err(Status::invalid_argument(TOO_MANY_OPS));
        }
        let compare = request
            .compare
            .into_iter()
            .map(|compare| self.compare(compare))
            .collect::<Result<_, _>>()?;
        let success = self.ops(request.success, depth)?;
        let failure = self.ops(request.failure, depth)?;
        Ok(store::TxnRequest {
            compare,
            success,
            failure,
        })
    }

    fn ops(
        &mut self,
        ops: Vec<pb::RequestOp>,
        depth: usize,
    ) -> Result<Vec<store::RequestOp>, Status> {
        ops.into_iter().map(|op| self.op(op, depth)).collect()
    }

    fn op(&mut self, op: pb::RequestOp, depth: usize) -> Result<store::RequestOp, Status> {
        use pb::request_op::Request;
        let Some(request) = op.request else {
            return Err(Status::invalid_argument(
                "etcdserver: a txn operation names no request",
            ));
        };
        Ok(match request {
            Request::RequestRange(range) => store::RequestOp::Range(self.range(range)?),
            Request::RequestPut(put) => store::RequestOp::Put(self.put(put)?),
            Request::RequestDeleteRange(delete) => {
                store::RequestOp::DeleteRange(self.delete(delete)?)
            }
            Request::RequestTxn(txn) => store::RequestOp::Txn(self.txn_at(txn, depth + 1)?),
        })
    }

    fn compare(&self, compare: pb::Compare) -> Result<store::Compare, Status> {
        use pb::compare::{CompareTarget as Target, TargetUnion};
        self.key(&compare.key)?;
        let result = match compare.result() {
            pb::compare::CompareResult::Equal => store::CompareResult::Equal,
            pb::compare::CompareResult::Greater => store::CompareResult::Greater,
            pb::compare::CompareResult::Less => store::CompareResult::Less,
            pb::compare::CompareResult::NotEqual => store::CompareResult::NotEqual,
        };
        // etcd reads the operand the target names; a missing one is zero.
        let union = compare.target_union.as_ref();
        let number = |pick: fn(&TargetUnion) -> Option<i64>| union.and_then(pick).unwrap_or(0);
        let target = match compare.target() {
            Target::Version => store::CompareTarget::Version(unsigned(number(|u| match u {
                TargetUnion::Version(v) => Some(*v),
                _ => None,
            }))),
            Target::Create => store::CompareTarget::CreateRevision(unsigned(number(|u| match u {
                TargetUnion::CreateRevision(v) => Some(*v),
                _ => None,
            }))),
            Target::Mod => store::CompareTarget::ModRevision(unsigned(number(|u| match u {
                TargetUnion::ModRevision(v) => Some(*v),
                _ => None,
            }))),
            Target::Lease => store::CompareTarget::Lease(number(|u| match u {
                TargetUnion::Lease(v) => Some(*v),
                _ => None,
            })),
            Target::Value => store::CompareTarget::Value(match union {
                Some(TargetUnion::Value(value)) => value.clone(),
                _ => Bytes::new(),
            }),
        };
        Ok(store::Compare {
            target,
            result,
            key: compare.key,
            range_end: compare.range_end,
        })
    }
}

fn sort_order(order: pb::range_request::SortOrder) -> store::SortOrder {
    match order {
        pb::range_request::SortOrder::None => store::SortOrder::None,
        pb::range_request::SortOrder::Ascend => store::SortOrder::Ascend,
        pb::range_request::SortOrder::Descend => store::SortOrder::Descend,
    }
}

fn sort_target(target: pb::range_request::SortTarget) -> store::SortTarget {
    match target {
        pb::range_request::SortTarget::Key => store::SortTarget::Key,
        pb::range_request::SortTarget::Version => store::SortTarget::Version,
        pb::range_request::SortTarget::Create => store::SortTarget::Create,
        pb::range_request::SortTarget::Mod => store::SortTarget::Mod,
        pb::range_request::SortTarget::Value => store::SortTarget::Value,
    }
}

/// A range answer as etcd's, with `header`.
pub(crate) fn range_response(
    range: store::RangeResponse,
    header: Option<pb::ResponseHeader>,
) -> pb::RangeResponse {
    pb::RangeResponse {
        header,
        kvs: range.kvs.into_iter().map(key_value).collect(),
        more: range.more,
        count: signed(range.count),
    }
}

/// A txn answer as etcd's; `header` for it and each answer inside it.
pub(crate) fn txn_response(
    txn: store::TxnResponse,
    header: Option<pb::ResponseHeader>,
) -> pb::TxnResponse {
    use pb::response_op::Response;
    let responses = txn
        .responses
        .into_iter()
        .map(|op| {
            let response = match op {
                store::ResponseOp::Range(range) => {
                    Response::ResponseRange(range_response(range, header))
                }
                store::ResponseOp::Put { prev_kv } => Response::ResponsePut(pb::PutResponse {
                    header,
                    prev_kv: prev_kv.map(key_value),
                }),
                store::ResponseOp::DeleteRange { deleted, prev_kvs } => {
                    Response::ResponseDeleteRange(pb::DeleteRangeResponse {
                        header,
                        deleted: signed(deleted),
                        prev_kvs: prev_kvs.into_iter().map(key_value).collect(),
                    })
                }
                store::ResponseOp::Txn(nested) => {
                    Response::ResponseTxn(txn_response(nested, header))
                }
            };
            pb::ResponseOp {
                response: Some(response),
            }
        })
        .collect();
    pb::TxnResponse {
        header,
        succeeded: txn.succeeded,
        responses,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_txn_ops: 4,
            ..Limits::default()
        }
    }

    #[test]
    fn an_empty_key_is_refused_with_etcds_message() {
        let limits = limits();
        let error = Checker::new(&limits)
            .range(pb::RangeRequest::default())
            .unwrap_err();
        assert_eq!(error.message(), KEY_NOT_PROVIDED);
    }

    #[test]
    fn operations_over_the_limit_are_refused_counting_nested_txns() {
        let limits = limits();
        let put = |key: &'static str| pb::RequestOp {
            request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
                key: Bytes::from_static(key.as_bytes()),
                ..Default::default()
            })),
        };
        let nested = pb::TxnRequest {
            success: vec![put("a"), put("b"), put("c")],
            ..Default::default()
        };
        let outer = pb::TxnRequest {
            success: vec![
                put("d"),
                pb::RequestOp {
                    request: Some(pb::request_op::Request::RequestTxn(nested)),
                },
            ],
            ..Default::default()
        };
        let error = Checker::new(&limits).txn(outer).unwrap_err();
        assert_eq!(error.message(), TOO_MANY_OPS);
    }

    #[test]
    fn a_negative_revision_or_limit_means_zero() {
        let limits = limits();
        let request = pb::RangeRequest {
            key: Bytes::from_static(b"k"),
            revision: -3,
            limit: -1,
            ..Default::default()
        };
        let range = Checker::new(&limits).range(request).unwrap();
        assert_eq!((range.revision, range.limit), (0, 0));
    }
}
