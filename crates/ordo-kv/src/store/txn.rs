//! Transactions, as etcd v3's `Txn`: compares, then one branch of
//! operations, atomic, every write at one revision.
//!
//! # Rules
//! - The compares are evaluated against the state before the txn; all hold →
//!   `success` runs, otherwise `failure`. A compare over a range holds only
//!   if it holds for every live key in it; over no key, it compares a zero
//!   kv (version, revisions and lease 0), except that a `Value` compare on
//!   no key is false (as etcd).
//! - Nested txns' compares are also evaluated against the state before the
//!   txn: the whole path of branches is decided first (as etcd).
//! - Before anything changes, the request is checked (`txn_check.rs`); any
//!   failure refuses the txn as a whole with a [`KvError`].
//! - Operations run in order and see the writes before them; a range with
//!   revision 0 reads that view. Every write takes the same revision,
//!   `cluster_revision + 1`, and the cluster revision moves to it only if
//!   some key changed.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::range::{KeyRange, RangeRequest, RangeResponse};
use super::state::KvStore;
use super::writes::PendingWrite;
use super::{KeyValue, KvError};

/// A transaction, as etcd's `TxnRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnRequest {
    /// Conditions, all of which must hold for `success` to run.
    pub compare: Vec<Compare>,
    /// Operations run when every compare holds.
    pub success: Vec<RequestOp>,
    /// Operations run otherwise.
    pub failure: Vec<RequestOp>,
}

/// One condition on a key or a range of keys, as etcd's `Compare`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compare {
    /// What is compared, and to what.
    pub target: CompareTarget,
    /// How.
    pub result: CompareResult,
    /// The key.
    pub key: Bytes,
    /// The range end, as in [`KeyRange`] (empty: just `key`).
    pub range_end: Bytes,
}

/// The field a [`Compare`] reads and the operand it compares it with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareTarget {
    /// The value.
    Value(Bytes),
    /// `version`.
    Version(u64),
    /// `create_revision`.
    CreateRevision(u64),
    /// `mod_revision`.
    ModRevision(u64),
    /// `lease`.
    Lease(i64),
}

/// The relation a [`Compare`] asks for: `field RELATION operand`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareResult {
    /// `=`.
    Equal,
    /// `!=`.
    NotEqual,
    /// `<`.
    Less,
    /// `>`.
    Greater,
}

/// One operation of a branch, as etcd's `RequestOp`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestOp {
    /// A read.
    Range(RangeRequest),
    /// A put.
    Put(PutRequest),
    /// A delete of a key or range.
    DeleteRange(DeleteRangeRequest),
    /// A nested transaction, at most
    /// [`MAX_TXN_NESTING`](super::MAX_TXN_NESTING) levels deep (deeper ones
    /// do not decode).
    #[serde(deserialize_with = "super::txn_nesting::deserialize_nested")]
    Txn(TxnRequest),
}

/// A put, as etcd's `PutRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutRequest {
    /// The key.
    pub key: Bytes,
    /// The value (ignored with `ignore_value`).
    pub value: Bytes,
    /// The lease to attach to (0: none; ignored with `ignore_lease`).
    pub lease: i64,
    /// Answer the kv before the put.
    pub prev_kv: bool,
    /// Keep the current value (the key must exist).
    pub ignore_value: bool,
    /// Keep the current lease (the key must exist).
    pub ignore_lease: bool,
}

/// A delete, as etcd's `DeleteRangeRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRangeRequest {
    /// The first key.
    pub key: Bytes,
    /// The end, as in [`KeyRange`] (empty: just `key`).
    pub range_end: Bytes,
    /// Answer the deleted kvs.
    pub prev_kv: bool,
}

impl DeleteRangeRequest {
    /// The keys it deletes.
    pub fn range(&self) -> KeyRange {
        KeyRange {
            key: self.key.clone(),
            range_end: self.range_end.clone(),
        }
    }
}

/// The answer to a txn, as etcd's `TxnResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnResponse {
    /// Whether the compares held (`success` ran).
    pub succeeded: bool,
    /// The cluster revision after the txn.
    pub revision: u64,
    /// One answer per operation of the branch that ran, in order.
    pub responses: Vec<ResponseOp>,
}

/// The answer to one operation, as etcd's `ResponseOp`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseOp {
    /// A read's answer.
    Range(RangeResponse),
    /// A put's answer.
    Put {
        /// The kv before the put, if asked for and the key was live.
        prev_kv: Option<KeyValue>,
    },
    /// A delete's answer.
    DeleteRange {
        /// Keys deleted.
        deleted: u64,
        /// The deleted kvs, if asked for.
        prev_kvs: Vec<KeyValue>,
    },
    /// A nested txn's answer.
    Txn(TxnResponse),
}

/// The branches a txn takes, decided before it runs: whether its compares
/// held, and the same for each nested txn of the branch taken, in order.
#[derive(Debug)]
pub(super) struct Path {
    pub(super) succeeded: bool,
    pub(super) nested: Vec<Path>,
}

impl TxnRequest {
    /// The branch `succeeded` picks.
    pub(super) fn branch(&self, succeeded: bool) -> &[RequestOp] {
        if succeeded {
            &self.success
        } else {
            &self.failure
        }
    }
}

impl KvStore {
    /// Checks and runs `request`.
    pub(super) fn txn(&mut self, request: &TxnRequest) -> Result<TxnResponse, KvError> {
        let path = self.check_txn(request)?;
        let mut write = self.begin_write_if_possible();
        let mut response = self.run_txn(request, &path, &mut write);
        let revision = match write {
            Some(write) => self.finish_write(write),
            None => self.cluster_revision,
        };
        set_revision(&mut response, revision);
        Ok(response)
    }

    /// A pending write, unless revisions are exhausted (then the check has
    /// made sure the txn writes nothing).
    fn begin_write_if_possible(&self) -> Option<PendingWrite> {
        (self.cluster_revision < u64::MAX).then(|| self.begin_write())
    }

    fn run_txn(
        &mut self,
        request: &TxnRequest,
        path: &Path,
        write: &mut Option<PendingWrite>,
    ) -> TxnResponse {
        let mut nested = path.nested.iter();
        let mut responses = Vec::new();
        for op in request.branch(path.succeeded) {
            let response = match op {
                RequestOp::Range(range) => ResponseOp::Range(self.range_in_txn(range, write)),
                RequestOp::Put(put) => {
                    let Some(write) = write.as_mut() else {
                        unreachable!("a txn that writes was let through at the last revision");
                    };
                    self.run_put(put, write)
                }
                RequestOp::DeleteRange(delete) => {
                    let Some(write) = write.as_mut() else {
                        unreachable!("a txn that writes was let through at the last revision");
                    };
                    let mut prev_kvs = Vec::new();
                    let wanted = delete.prev_kv.then_some(&mut prev_kvs);
                    let deleted = write.delete_range(self, &delete.range(), wanted);
                    ResponseOp::DeleteRange { deleted, prev_kvs }
                }
                RequestOp::Txn(inner) => {
                    let Some(inner_path) = nested.next() else {
                        unreachable!("the path has one entry per nested txn");
                    };
                    ResponseOp::Txn(self.run_txn(inner, inner_path, write))
                }
            };
            responses.push(response);
        }
        TxnResponse {
            succeeded: path.succeeded,
            revision: 0,
            responses,
        }
    }

    fn run_put(&mut self, put: &PutRequest, write: &mut PendingWrite) -> ResponseOp {
        let live = self
            .keys
            .get(&put.key[..])
            .and_then(|history| history.live());
        let value = match live {
            Some(live) if put.ignore_value => live.value_bytes(),
            _ => put.value.clone(),
        };
        let lease = match live {
            Some(live) if put.ignore_lease => live.lease(),
            _ => put.lease,
        };
        let prev_kv = write.put(self, &put.key, value, lease, put.prev_kv);
        ResponseOp::Put { prev_kv }
    }

    /// A range inside a txn: revision 0 reads the txn's own view, which
    /// includes its writes so far.
    fn range_in_txn(&self, request: &RangeRequest, write: &Option<PendingWrite>) -> RangeResponse {
        let (view, reported) = match write {
            Some(write) if request.revision == 0 => {
                let reported = if write.wrote() {
                    write.revision()
                } else {
                    self.cluster_revision
                };
                (write.revision(), reported)
            }
            _ if request.revision == 0 => (self.cluster_revision, self.cluster_revision),
            _ => (request.revision, request.revision),
        };
        self.range_at(request, view, reported)
    }
}

/// Stamps the final cluster revision on a txn answer and its nested ones.
fn set_revision(response: &mut TxnResponse, revision: u64) {
    response.revision = revision;
    for op in &mut response.responses {
        if let ResponseOp::Txn(nested) = op {
            set_revision(nested, revision);
        }
    }
}
