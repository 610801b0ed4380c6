//! Short builders for txns, ranges and leases, so rules tests read as tables.

use bytes::Bytes;
use ordo::StateMachine;
use ordo_kv::store::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, KeyRange, KeyValue, KvAnswer,
    KvCommand, KvError, KvQuery, KvResponse, KvStore, PutRequest, RangeRequest, RequestOp,
    TxnRequest, TxnResponse,
};

use super::apply;

/// A put op.
pub fn put_op(key: &str, value: &str) -> RequestOp {
    RequestOp::Put(PutRequest {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
        ..PutRequest::default()
    })
}

/// A put op attaching the key to `lease`.
pub fn leased_put_op(key: &str, value: &str, lease: i64) -> RequestOp {
    RequestOp::Put(PutRequest {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
        lease,
        ..PutRequest::default()
    })
}

/// A delete op over `range`.
pub fn delete_op(range: KeyRange) -> RequestOp {
    RequestOp::DeleteRange(DeleteRangeRequest {
        key: range.key,
        range_end: range.range_end,
        prev_kv: true,
    })
}

/// A range op over `range` at the current revision.
pub fn range_op(range: KeyRange) -> RequestOp {
    RequestOp::Range(RangeRequest::new(range))
}

/// A compare on one key.
pub fn compare(key: &str, target: CompareTarget, result: CompareResult) -> Compare {
    Compare {
        target,
        result,
        key: Bytes::copy_from_slice(key.as_bytes()),
        range_end: Bytes::new(),
    }
}

/// A txn command.
pub fn txn(compare: Vec<Compare>, success: Vec<RequestOp>, failure: Vec<RequestOp>) -> KvCommand {
    KvCommand::Txn(TxnRequest {
        compare,
        success,
        failure,
    })
}

/// Applies one command and answers it.
pub fn run(store: &mut KvStore, command: KvCommand) -> KvResponse {
    apply(store, vec![command]).remove(0)
}

/// Applies a txn that must not be refused.
pub fn run_txn(store: &mut KvStore, command: KvCommand) -> TxnResponse {
    match run(store, command) {
        KvResponse::Txn(response) => response,
        other => panic!("the txn was answered {other:?}"),
    }
}

/// Applies a command that must be refused.
pub fn refused(store: &mut KvStore, command: KvCommand) -> KvError {
    match run(store, command) {
        KvResponse::Refused(error) => error,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Grants a lease with the store's next id.
pub fn grant(store: &mut KvStore, ttl: i64) -> i64 {
    match run(store, KvCommand::LeaseGrant { id: 0, ttl }) {
        KvResponse::LeaseGranted { id, .. } => id,
        other => panic!("grant answered {other:?}"),
    }
}

/// The kvs in `range` at `revision` (0: current), or the refusal.
pub fn read_at(store: &KvStore, range: KeyRange, revision: u64) -> Result<Vec<KeyValue>, KvError> {
    let request = RangeRequest {
        revision,
        ..RangeRequest::new(range)
    };
    match store.query(KvQuery::Range(request)) {
        KvAnswer::Range(response) => Ok(response.kvs),
        KvAnswer::Refused(error) => Err(error),
        other => panic!("a range answered {other:?}"),
    }
}

/// `key => value` pairs of kvs, as text.
pub fn pairs(kvs: &[KeyValue]) -> Vec<(String, String)> {
    kvs.iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(&kv.key).into_owned(),
                String::from_utf8_lossy(&kv.value).into_owned(),
            )
        })
        .collect()
}
