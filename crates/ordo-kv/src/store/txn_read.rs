//! Read-only transactions ([`ReadOnlyTxn`]), answered as a query
//! ([`KvQuery::ReadTxn`](super::KvQuery::ReadTxn)) instead of through the
//! log: etcd serves a txn without puts or deletes the same way.
//!
//! # Invariants
//! - A [`ReadOnlyTxn`] holds no put or delete in any branch at any depth,
//!   so answering it changes nothing, and the answer is exactly what
//!   applying it as a command would answer at the same state.

use super::KvError;
use super::state::KvStore;
use super::txn::{Path, RequestOp, ResponseOp, TxnRequest, TxnResponse};

/// A txn with no put or delete in either branch, nested txns included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOnlyTxn(TxnRequest);

impl ReadOnlyTxn {
    /// `txn`, if it cannot write; else `txn` back.
    pub fn new(txn: TxnRequest) -> Result<Self, TxnRequest> {
        if reads_only(&txn) {
            Ok(ReadOnlyTxn(txn))
        } else {
            Err(txn)
        }
    }

    /// The txn.
    pub fn request(&self) -> &TxnRequest {
        &self.0
    }
}

/// Whether no branch of `txn`, at any depth, puts or deletes.
fn reads_only(txn: &TxnRequest) -> bool {
    txn.success.iter().chain(&txn.failure).all(|op| match op {
        RequestOp::Range(_) => true,
        RequestOp::Txn(inner) => reads_only(inner),
        RequestOp::Put(_) | RequestOp::DeleteRange(_) => false,
    })
}

impl KvStore {
    /// Checks and answers `txn` at the current revision.
    pub(super) fn read_txn(&self, txn: &ReadOnlyTxn) -> Result<TxnResponse, KvError> {
        let path = self.check_txn(txn.request())?;
        Ok(self.read_branch(txn.request(), &path))
    }

    fn read_branch(&self, request: &TxnRequest, path: &Path) -> TxnResponse {
        let mut nested = path.nested.iter();
        let responses = request
            .branch(path.succeeded)
            .iter()
            .map(|op| match op {
                RequestOp::Range(range) => {
                    let (view, reported) = if range.revision == 0 {
                        (self.cluster_revision, self.cluster_revision)
                    } else {
                        (range.revision, range.revision)
                    };
                    ResponseOp::Range(self.range_at(range, view, reported))
                }
                RequestOp::Txn(inner) => {
                    let Some(inner_path) = nested.next() else {
                        unreachable!("the path has one entry per nested txn");
                    };
                    ResponseOp::Txn(self.read_branch(inner, inner_path))
                }
                RequestOp::Put(_) | RequestOp::DeleteRange(_) => {
                    unreachable!("a ReadOnlyTxn holds no writes")
                }
            })
            .collect();
        TxnResponse {
            succeeded: path.succeeded,
            revision: self.cluster_revision,
            responses,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::Bytes;
    use ordo::{Entry, StateMachine};

    use super::*;
    use crate::store::{KvAnswer, KvCommand, KvQuery, KvResponse, PutRequest, RangeRequest};

    fn range_op(key: &'static [u8]) -> RequestOp {
        RequestOp::Range(RangeRequest {
            key: Bytes::from_static(key),
            ..RangeRequest::default()
        })
    }

    /// The same txn, as a query and as a command, answers the same.
    #[test]
    fn a_read_only_txn_answers_as_the_same_txn_applied() {
        let mut store = KvStore::new();
        let put = TxnRequest {
            success: vec![RequestOp::Put(PutRequest {
                key: Bytes::from_static(b"a"),
                value: Bytes::from_static(b"1"),
                ..PutRequest::default()
            })],
            ..TxnRequest::default()
        };
        let read = TxnRequest {
            success: vec![
                range_op(b"a"),
                RequestOp::Txn(TxnRequest {
                    success: vec![range_op(b"b")],
                    ..TxnRequest::default()
                }),
            ],
            ..TxnRequest::default()
        };
        let entry = |index, txn: &TxnRequest| Entry {
            index,
            term: 1,
            command: KvCommand::Txn(txn.clone()),
        };
        store.apply(vec![entry(1, &put)]);
        let queried = store.query(KvQuery::ReadTxn(ReadOnlyTxn::new(read.clone()).unwrap()));
        let applied = store.apply(vec![entry(2, &read)]);
        let [KvResponse::Txn(applied)] = applied.as_slice() else {
            panic!("{applied:?}");
        };
        assert_eq!(queried, KvAnswer::Txn(applied.clone()));
        assert!(ReadOnlyTxn::new(put).is_err());
    }
}
