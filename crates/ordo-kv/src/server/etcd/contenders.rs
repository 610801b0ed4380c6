//! [`Line`]: the line of contenders under a prefix, what `v3lockpb.Lock` and
//! `v3electionpb.Election` share, run on this node's store and watch hub
//! directly. It is the server's twin of the client recipes'
//! `client/recipes/contend.rs`: the same keys (`NAME/<lease in hex>`), the
//! same order (a key's creating revision is its place) and the same guards,
//! so etcd's Lock, etcdctl's `lock` and `ordo lock` exclude one another.
//!
//! - Writes are guarded txns proposed through the log: create the key if
//!   absent; put or delete it only if it is still the one created at a
//!   given revision. Running one twice changes nothing, so one whose
//!   outcome is unknown is proposed again (at most [`UNKNOWN_OUTCOME_RETRIES`]
//!   times), and a whole call forwarded to the leader on
//!   [`Failure::NotLeader`] may repeat what it already did.
//! - Reads are linearizable (read index), answered here, follower or not;
//!   a wait watches this node's hub (`server/watch/`), which streams from
//!   the applied state, so a wait survives a change of leader.
//! - Every txn and read is authorized as the caller
//!   ([`permitted_txn`]), as etcd authorizes its recipes' own KV calls: a
//!   contender needs write on its key and read on the whole prefix. Every
//!   key and value written is held to the limits a client's put is
//!   (`--max-key-bytes`, `--max-value-bytes`).
//! - A key entered by a call that ends before handing it to its caller (a
//!   Lock or Campaign cancelled by its client, or whose wait failed) is
//!   deleted again ([`InLine`]), as etcd's recipes do: otherwise a client
//!   that keeps its lease alive would leave a key at the head of the line
//!   that no one holds and every later contender waits on.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ordo::ReadConsistency;
use tonic::{Code, Status};

use crate::auth::Access;
use crate::server::etcd::EtcdService;
use crate::server::etcd::auth_gate::{permitted, permitted_txn};
use crate::server::etcd::convert::Checker;
use crate::server::etcd::failure::{Failure, LEADER_CHANGED, TIMED_OUT};
use crate::server::http::auth_gate::Caller;
use crate::server::watch::index::WatchRange;
use crate::server::watch::stream::{Message, OpenError, Start, WatchOptions, WatchStream};
use crate::store::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, EventKind, KeyRange, KeyValue,
    KvAnswer, KvQuery, PutRequest, RangeRequest, RangeResponse, RequestOp, ResponseOp, SortOrder,
    SortTarget, TxnRequest, TxnResponse,
};

/// How many times a guarded txn whose outcome is unknown (a leader lost
/// mid-proposal) is proposed again.
pub(crate) const UNKNOWN_OUTCOME_RETRIES: u32 = 5;

/// The pause before proposing such a txn again (an election settles).
const UNKNOWN_OUTCOME_BACKOFF: Duration = Duration::from_millis(100);

/// etcd's message for a Proclaim by a campaigner that does not lead.
pub(crate) const ELECTION_NOT_LEADER: &str = "etcdserver: election: not leader";

/// A contender's place in line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    /// Its key's creating revision: its place in line.
    pub(crate) revision: u64,
}

/// A key this call entered in line, deleted again (guarded by its creating
/// revision, so only that very key) when dropped unsettled (the call was
/// cancelled) or settled by a failure ([`InLine::settle`]).
pub(crate) struct InLine {
    service: EtcdService,
    caller: Option<Caller>,
    key: Bytes,
    revision: u64,
    kept: bool,
}

impl InLine {
    /// Keeps the key if the call that entered it `ended` well (the caller
    /// holds the lock, or leads) or goes on at the leader
    /// ([`Failure::NotLeader`]: forwarded whole, it finds this key again
    /// and keeps its place); deletes it otherwise.
    pub(crate) fn settle<T>(mut self, ended: &Result<T, Failure>) {
        self.kept = matches!(ended, Ok(_) | Err(Failure::NotLeader(_)));
    }
}

impl Drop for InLine {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        // Dropped inside a request's task, so on the server's runtime; a
        // drop outside one (the runtime shutting down) has nothing to
        // delete through.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (service, caller) = (self.service.clone(), self.caller.take());
        let (key, revision) = (self.key.clone(), self.revision);
        runtime.spawn(async move {
            let line = Line {
                service: &service,
                caller: caller.as_ref(),
                prefix: Bytes::new(),
            };
            if let Err(failure) = line.resign(&key, revision).await {
                tracing::warn!(
                    ?failure,
                    "a lock or campaign key left by an ended call was not deleted; its lease's \
                     expiry or revocation will delete it"
                );
            }
        });
    }
}

/// The contenders under `NAME/`, seen as one caller.
pub(crate) struct Line<'a> {
    service: &'a EtcdService,
    caller: Option<&'a Caller>,
    prefix: Bytes,
}

impl<'a> Line<'a> {
    /// The line of lock or election `name` (any bytes, as in etcd), for
    /// `caller`.
    pub(crate) fn new(service: &'a EtcdService, caller: Option<&'a Caller>, name: &[u8]) -> Self {
        let mut prefix = BytesMut::from(name);
        prefix.extend_from_slice(b"/");
        Line {
            service,
            caller,
            prefix: prefix.freeze(),
        }
    }

    /// The key of the contender holding `lease`: `NAME/<lease in hex>`.
    pub(crate) fn key_of(&self, lease: i64) -> Bytes {
        let mut key = BytesMut::from(&self.prefix[..]);
        key.extend_from_slice(format!("{lease:x}").as_bytes());
        key.freeze()
    }

    /// Creates `key` (with `value`, on `lease`) unless it exists, and
    /// answers its place.
    pub(crate) async fn enter(
        &self,
        key: &Bytes,
        value: Bytes,
        lease: i64,
    ) -> Result<Place, Failure> {
        let own = RequestOp::Range(RangeRequest::new(KeyRange::single(key.clone())));
        let txn = TxnRequest {
            compare: vec![created_at(key, 0)],
            success: vec![RequestOp::Put(PutRequest {
                key: key.clone(),
                value,
                lease,
                ..PutRequest::default()
            })],
            failure: vec![own],
        };
        let answer = self.write(txn).await?;
        if answer.succeeded {
            return Ok(Place {
                revision: answer.revision,
            });
        }
        match answer.responses.first() {
            Some(ResponseOp::Range(own)) => match own.kvs.first() {
                Some(own) => Ok(Place {
                    revision: own.create_revision,
                }),
                // Not there when compared, gone when read: impossible in
                // one txn.
                None => Err(Status::internal("etcdserver: a contender's key vanished").into()),
            },
            _ => Err(Status::internal("the store answered a txn with something else").into()),
        }
    }

    /// Deletes `key`, entered at `place`, unless the returned guard is
    /// settled well (see [`InLine`]).
    pub(crate) fn guard(&self, key: &Bytes, place: Place) -> InLine {
        InLine {
            service: self.service.clone(),
            caller: self.caller.cloned(),
            key: key.clone(),
            revision: place.revision,
            kept: false,
        }
    }

    /// Waits until no contender entered before `revision`, watching one key
    /// at a time: the one just before.
    pub(crate) async fn wait_for_turn(&self, revision: u64) -> Result<(), Failure> {
        loop {
            let (predecessor, read_revision) = self.predecessor(revision).await?;
            let Some(predecessor) = predecessor else {
                return Ok(());
            };
            self.wait_deleted(predecessor.key, read_revision.saturating_add(1))
                .await?;
        }
    }

    /// The first in line now, and the revision read at.
    pub(crate) async fn first(&self) -> Result<(Option<KeyValue>, u64), Failure> {
        let range = RangeRequest {
            limit: 1,
            sort_target: SortTarget::Create,
            sort_order: SortOrder::Ascend,
            ..RangeRequest::new(KeyRange::prefix(self.prefix.clone()))
        };
        let answer = self.read(range).await?;
        Ok((answer.kvs.into_iter().next(), answer.revision))
    }

    /// Whether `key` still exists with creating revision `revision`.
    pub(crate) async fn still_in_line(&self, key: &Bytes, revision: u64) -> Result<bool, Failure> {
        let answer = self
            .read(RangeRequest::new(KeyRange::single(key.clone())))
            .await?;
        Ok(answer
            .kvs
            .first()
            .is_some_and(|own| own.create_revision == revision))
    }

    /// Puts `value` (on `lease`) under `key` if it is still the one created
    /// at `revision`; "election: not leader" otherwise.
    pub(crate) async fn proclaim(
        &self,
        key: &Bytes,
        revision: u64,
        lease: i64,
        value: Bytes,
    ) -> Result<(), Failure> {
        let txn = TxnRequest {
            compare: vec![created_at(key, revision)],
            success: vec![RequestOp::Put(PutRequest {
                key: key.clone(),
                value,
                lease,
                ..PutRequest::default()
            })],
            failure: Vec::new(),
        };
        if self.write(txn).await?.succeeded {
            Ok(())
        } else {
            Err(Status::failed_precondition(ELECTION_NOT_LEADER).into())
        }
    }

    /// Deletes `key` if it is still the one created at `revision` (a leader
    /// that already lost its key has nothing to resign).
    pub(crate) async fn resign(&self, key: &Bytes, revision: u64) -> Result<(), Failure> {
        let txn = TxnRequest {
            compare: vec![created_at(key, revision)],
            success: vec![RequestOp::DeleteRange(DeleteRangeRequest {
                key: key.clone(),
                ..DeleteRangeRequest::default()
            })],
            failure: Vec::new(),
        };
        self.write(txn).await.map(drop)
    }

    /// Opens a watch of every key in line from `start` (for Observe).
    pub(crate) async fn watch_from(
        &self,
        start: u64,
    ) -> Result<WatchStream<ordo::RaftNode<crate::store::KvStore>>, Failure> {
        self.watch(WatchRange::Prefix(self.prefix.clone()), start)
            .await
    }

    /// The contender entered last before `revision`, and the revision read at.
    async fn predecessor(&self, revision: u64) -> Result<(Option<KeyValue>, u64), Failure> {
        if revision <= 1 {
            // Nothing is created before revision 1 (and 0 means "no bound").
            return Ok((None, 0));
        }
        let range = RangeRequest {
            limit: 1,
            max_create_revision: revision - 1,
            sort_target: SortTarget::Create,
            sort_order: SortOrder::Descend,
            ..RangeRequest::new(KeyRange::prefix(self.prefix.clone()))
        };
        let answer = self.read(range).await?;
        Ok((answer.kvs.into_iter().next(), answer.revision))
    }

    /// Returns once `key` is deleted at or after `from_revision` (or once
    /// that history is compacted: the caller looks again).
    async fn wait_deleted(&self, key: Bytes, from_revision: u64) -> Result<(), Failure> {
        let mut changes = match self.watch(WatchRange::Key(key), from_revision).await {
            Ok(changes) => changes,
            Err(Failure::Status(status)) if status.code() == Code::OutOfRange => return Ok(()),
            Err(failure) => return Err(failure),
        };
        while let Some(message) = changes.next_message().await {
            match message {
                Message::Change(change) => {
                    if change
                        .events
                        .iter()
                        .any(|event| event.kind == EventKind::Delete)
                    {
                        return Ok(());
                    }
                }
                Message::Progress(_) => {}
                Message::Compacted { .. } => return Ok(()),
                Message::Cancelled(reason) => return Err(watch_ended(&reason)),
            }
        }
        Err(watch_ended("the watch ended"))
    }

    /// A watch of `range` from `start`; a compacted start is OutOfRange.
    async fn watch(
        &self,
        range: WatchRange,
        start: u64,
    ) -> Result<WatchStream<ordo::RaftNode<crate::store::KvStore>>, Failure> {
        let state = &self.service.state;
        let options = WatchOptions {
            range,
            start: Start::At(start),
            prev_kv: false,
            progress_interval: None,
        };
        match WatchStream::open(&state.watch_hub, state.node.clone(), options).await {
            Ok(stream) => Ok(stream),
            Err(OpenError::Compacted { .. }) => {
                Err(Status::out_of_range(crate::server::etcd::failure::COMPACTED).into())
            }
            Err(error) => Err(watch_ended(&error.to_string())),
        }
    }

    /// A linearizable range read, authorized as the caller.
    async fn read(&self, range: RangeRequest) -> Result<RangeResponse, Failure> {
        permitted(self.caller, Access::Read, &range.range())?;
        let state = &self.service.state;
        state.metrics.read(ReadConsistency::Linearizable);
        match state
            .node
            .read_with(KvQuery::Range(range), ReadConsistency::Linearizable)
            .await?
        {
            KvAnswer::Range(answer) => Ok(answer),
            KvAnswer::Refused(error) => Err(error.into()),
            _ => Err(Status::internal("the store answered a range with something else").into()),
        }
    }

    /// Proposes a guarded txn, authorized as the caller, again while its
    /// outcome is unknown (see the module docs: running it twice is safe).
    async fn write(&self, txn: TxnRequest) -> Result<TxnResponse, Failure> {
        permitted_txn(self.caller, &txn)?;
        let checker = Checker::new(&self.service.state.limits);
        for op in &txn.success {
            if let RequestOp::Put(put) = op {
                checker.built_put(put)?;
            }
        }
        let mut retries = 0;
        loop {
            match self.service.run_txn(txn.clone()).await {
                Err(Failure::Status(status))
                    if outcome_unknown(&status) && retries < UNKNOWN_OUTCOME_RETRIES =>
                {
                    retries += 1;
                    tokio::time::sleep(UNKNOWN_OUTCOME_BACKOFF).await;
                }
                answer => return answer,
            }
        }
    }
}

/// A compare that `key` was created at `revision` (0: it does not exist).
fn created_at(key: &Bytes, revision: u64) -> Compare {
    Compare {
        target: CompareTarget::CreateRevision(revision),
        result: CompareResult::Equal,
        key: key.clone(),
        range_end: Bytes::new(),
    }
}

/// Whether `status` says a proposal may or may not have been applied
/// (`failure::raft_status` of a timeout, a lost outcome or a leader change).
fn outcome_unknown(status: &Status) -> bool {
    status.code() == Code::Unavailable && [TIMED_OUT, LEADER_CHANGED].contains(&status.message())
}

fn watch_ended(reason: &str) -> Failure {
    Status::unavailable(format!("etcdserver: {reason}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_lost_or_timed_out_proposal_is_proposed_again() {
        assert!(outcome_unknown(&Status::unavailable(TIMED_OUT)));
        assert!(outcome_unknown(&Status::unavailable(LEADER_CHANGED)));
        assert!(!outcome_unknown(&Status::unavailable(
            crate::server::etcd::failure::NOT_LEADER
        )));
        assert!(!outcome_unknown(&Status::permission_denied(TIMED_OUT)));
    }
}
