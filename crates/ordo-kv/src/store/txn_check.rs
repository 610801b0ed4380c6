//! Deciding a txn's path and checking it before anything changes.
//!
//! The checks (etcd's, applied to the branches the txn will take):
//! - "duplicate key given in txn request": within one branch (nested txns'
//!   branches included, both of them), no key is put twice and no key put is
//!   inside a delete range. Checked on both top-level branches, as etcd's
//!   request validation does.
//! - A put's lease exists (unless 0 or `ignore_lease`); `ignore_value` and
//!   `ignore_lease` need a live key; keys and values are within the limits.
//! - A range's revision is neither compacted nor in the future.
//! - A txn that writes is refused once revisions are exhausted.
//! - No compare, put or delete names the empty key (etcd's "key is not
//!   provided"), anywhere in the request, nested txns and both branches
//!   included. A range read may (an empty key with a `range_end` reads
//!   from the first key).

use std::collections::BTreeSet;

use bytes::Bytes;

use super::range::KeyRange;
use super::state::KvStore;
use super::txn::{Compare, CompareResult, CompareTarget, Path, PutRequest, RequestOp, TxnRequest};
use super::{KeyValue, KvError, MAX_KEY_BYTES, MAX_VALUE_BYTES};

impl KvStore {
    /// Decides `request`'s path and checks it; `Ok` means running it cannot fail.
    pub(super) fn check_txn(&self, request: &TxnRequest) -> Result<Path, KvError> {
        check_keys_given(request)?;
        written_keys(&request.success)?;
        written_keys(&request.failure)?;
        let path = self.decide_path(request);
        let writes = self.check_branch(request, &path)?;
        if writes && self.cluster_revision == u64::MAX {
            return Err(KvError::RevisionsExhausted);
        }
        Ok(path)
    }

    fn decide_path(&self, request: &TxnRequest) -> Path {
        let succeeded = request.compare.iter().all(|compare| self.holds(compare));
        let nested = request
            .branch(succeeded)
            .iter()
            .filter_map(|op| match op {
                RequestOp::Txn(inner) => Some(self.decide_path(inner)),
                _ => None,
            })
            .collect();
        Path { succeeded, nested }
    }

    /// Checks the ops of the branch `path` takes; returns whether any writes.
    fn check_branch(&self, request: &TxnRequest, path: &Path) -> Result<bool, KvError> {
        let mut nested = path.nested.iter();
        let mut writes = false;
        for op in request.branch(path.succeeded) {
            match op {
                RequestOp::Range(range) => {
                    self.readable_revision(range.revision)?;
                }
                RequestOp::Put(put) => {
                    self.check_put(put)?;
                    writes = true;
                }
                RequestOp::DeleteRange(_) => writes = true,
                RequestOp::Txn(inner) => {
                    let Some(inner_path) = nested.next() else {
                        unreachable!("the path has one entry per nested txn");
                    };
                    writes |= self.check_branch(inner, inner_path)?;
                }
            }
        }
        Ok(writes)
    }

    fn check_put(&self, put: &PutRequest) -> Result<(), KvError> {
        if put.key.len() > MAX_KEY_BYTES as usize {
            return Err(KvError::KeyTooLong { len: put.key.len() });
        }
        if !put.ignore_value && put.value.len() > MAX_VALUE_BYTES as usize {
            return Err(KvError::ValueTooLong {
                len: put.value.len(),
            });
        }
        let live = self
            .keys
            .get(&put.key[..])
            .and_then(|history| history.live());
        if (put.ignore_value || put.ignore_lease) && live.is_none() {
            return Err(KvError::KeyNotFound {
                key: put.key.clone(),
            });
        }
        if !put.ignore_lease && put.lease != 0 && !self.leases.contains_key(&put.lease) {
            return Err(KvError::LeaseNotFound { id: put.lease });
        }
        Ok(())
    }

    /// Whether `compare` holds now.
    fn holds(&self, compare: &Compare) -> bool {
        let range = KeyRange {
            key: compare.key.clone(),
            range_end: compare.range_end.clone(),
        };
        let mut live = self.live_in(&range, self.cluster_revision).peekable();
        if live.peek().is_none() {
            return !matches!(compare.target, CompareTarget::Value(_))
                && compares(&KeyValue::default(), compare);
        }
        live.all(|kv| compares(&kv, compare))
    }
}

/// Whether `kv` satisfies `compare`.
fn compares(kv: &KeyValue, compare: &Compare) -> bool {
    let ordering = match &compare.target {
        CompareTarget::Value(value) => kv.value[..].cmp(&value[..]),
        CompareTarget::Version(version) => kv.version.cmp(version),
        CompareTarget::CreateRevision(revision) => kv.create_revision.cmp(revision),
        CompareTarget::ModRevision(revision) => kv.mod_revision.cmp(revision),
        CompareTarget::Lease(lease) => kv.lease.cmp(lease),
    };
    match compare.result {
        CompareResult::Equal => ordering.is_eq(),
        CompareResult::NotEqual => ordering.is_ne(),
        CompareResult::Less => ordering.is_lt(),
        CompareResult::Greater => ordering.is_gt(),
    }
}

/// The keys `ops` put and the ranges they delete (nested txns' both
/// branches included), refusing a key put twice or put inside a deleted
/// range, as etcd's `checkIntervals`.
fn written_keys(ops: &[RequestOp]) -> Result<(BTreeSet<Bytes>, Vec<KeyRange>), KvError> {
    let mut puts = BTreeSet::new();
    let mut deletes = Vec::new();
    for op in ops {
        match op {
            RequestOp::Put(put) => {
                if !puts.insert(put.key.clone()) {
                    return Err(KvError::DuplicateKey {
                        key: put.key.clone(),
                    });
                }
            }
            RequestOp::DeleteRange(delete) => deletes.push(delete.range()),
            RequestOp::Txn(inner) => {
                let (success_puts, success_deletes) = written_keys(&inner.success)?;
                let (failure_puts, failure_deletes) = written_keys(&inner.failure)?;
                // Only one nested branch runs: their puts may overlap each
                // other, but not the outer branch's.
                for key in success_puts.union(&failure_puts) {
                    if !puts.insert(key.clone()) {
                        return Err(KvError::DuplicateKey { key: key.clone() });
                    }
                }
                deletes.extend(success_deletes);
                deletes.extend(failure_deletes);
            }
            RequestOp::Range(_) => {}
        }
    }
    if let Some(key) = puts
        .iter()
        .find(|key| deletes.iter().any(|range| range.contains(key)))
    {
        return Err(KvError::DuplicateKey { key: key.clone() });
    }
    Ok((puts, deletes))
}

/// Refuses a compare, put or delete of the empty key anywhere in `request`.
fn check_keys_given(request: &TxnRequest) -> Result<(), KvError> {
    if request.compare.iter().any(|compare| compare.key.is_empty()) {
        return Err(KvError::EmptyKey);
    }
    for op in request.success.iter().chain(&request.failure) {
        match op {
            RequestOp::Put(put) if put.key.is_empty() => return Err(KvError::EmptyKey),
            RequestOp::DeleteRange(delete) if delete.key.is_empty() => {
                return Err(KvError::EmptyKey);
            }
            RequestOp::Txn(inner) => check_keys_given(inner)?,
            _ => {}
        }
    }
    Ok(())
}
