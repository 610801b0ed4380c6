//! `etcdserverpb.KV`: Range, Put, DeleteRange, Txn, Compact.
//!
//! Put and DeleteRange are proposed as one-operation transactions, so they
//! follow the store's etcd rules exactly (leases, `prev_kv`,
//! `ignore_value`/`ignore_lease`). Writes on a follower are forwarded to
//! the leader (`forward.rs`); reads are answered where they arrive, and so
//! are txns without a put or delete (a linearizable read, as etcd serves
//! them: no log entry). While auth is on, each range a call touches is
//! checked before anything is read or proposed (`auth_gate.rs`); compaction
//! is root's (the gate).

use ordo::ReadConsistency;
use tonic::{Request, Response, Status};

use crate::auth::Access;
use crate::server::etcd::EtcdService;
use crate::server::etcd::auth_gate::{caller_of, permitted, permitted_txn};
use crate::server::etcd::convert::{Checker, key_value, range_response, txn_response, unsigned};
use crate::server::etcd::failure::{Failure, NO_SPACE, store_status};
use crate::server::etcd::forward::Onward;
use crate::server::etcd::header::{header, signed};
use crate::server::etcd::pb::etcdserverpb::{self as pb, kv_client::KvClient, kv_server::Kv};
use crate::server::http::auth_gate::Caller;
use crate::server::metrics::ProposalOutcome;
use crate::store::{self, KeyRange, KvAnswer, KvCommand, KvQuery, KvResponse};

impl EtcdService {
    /// Proposes `command`, unless the node is out of space for a write that
    /// adds data.
    pub(crate) async fn propose(
        &self,
        command: KvCommand,
        adds_data: bool,
    ) -> Result<KvResponse, Failure> {
        let metrics = &self.state.metrics;
        if adds_data && (metrics.storage_full() || self.state.store.over_quota()) {
            return Err(Status::resource_exhausted(NO_SPACE).into());
        }
        match self.state.node.propose(command).await {
            Ok(response) => {
                metrics.proposal(ProposalOutcome::Applied);
                Ok(response)
            }
            Err(error) => {
                let outcome = match &error {
                    ordo::RaftError::NotLeader { .. } => ProposalOutcome::Redirected,
                    ordo::RaftError::OutcomeUnknown | ordo::RaftError::Timeout => {
                        ProposalOutcome::OutcomeUnknown
                    }
                    _ => ProposalOutcome::Failed,
                };
                metrics.proposal(outcome);
                Err(error.into())
            }
        }
    }

    /// Runs `txn` through the log.
    pub(crate) async fn run_txn(
        &self,
        txn: store::TxnRequest,
    ) -> Result<store::TxnResponse, Failure> {
        let adds_data = puts(&txn);
        match self.propose(KvCommand::Txn(txn), adds_data).await? {
            KvResponse::Txn(response) => Ok(response),
            KvResponse::Refused(error) => Err(error.into()),
            other => Err(unexpected(&other)),
        }
    }

    async fn range_here(
        &self,
        caller: Option<&Caller>,
        request: pb::RangeRequest,
    ) -> Result<pb::RangeResponse, Status> {
        let consistency = if request.serializable {
            ReadConsistency::Stale
        } else {
            ReadConsistency::Linearizable
        };
        let range = Checker::new(&self.state.limits).range(request)?;
        let keys = KeyRange {
            key: range.key.clone(),
            range_end: range.range_end.clone(),
        };
        permitted(caller, Access::Read, &keys)?;
        self.state.metrics.read(consistency);
        let answer = self
            .state
            .node
            .read_with(KvQuery::Range(range), consistency)
            .await
            .map_err(|error| Failure::from(error).into_status())?;
        match answer {
            KvAnswer::Range(range) => {
                let header = header(&self.state, self.ids, range.revision);
                Ok(range_response(range, header))
            }
            KvAnswer::Refused(error) => Err(store_status(&error)),
            _ => Err(Status::internal(
                "the store answered a range with something else",
            )),
        }
    }

    /// A txn that cannot write, answered like a linearizable range (read
    /// index, here, follower or not), not through the log.
    async fn read_txn_here(&self, txn: store::ReadOnlyTxn) -> Result<store::TxnResponse, Failure> {
        self.state.metrics.read(ReadConsistency::Linearizable);
        let answer = self
            .state
            .node
            .read_with(KvQuery::ReadTxn(txn), ReadConsistency::Linearizable)
            .await?;
        match answer {
            KvAnswer::Txn(response) => Ok(response),
            KvAnswer::Refused(error) => Err(error.into()),
            _ => Err(Status::internal("the store answered a txn with something else").into()),
        }
    }

    async fn put_here(
        &self,
        caller: Option<&Caller>,
        request: pb::PutRequest,
    ) -> Result<pb::PutResponse, Failure> {
        let put = Checker::new(&self.state.limits).put(request)?;
        let txn = store::TxnRequest {
            success: vec![store::RequestOp::Put(put)],
            ..store::TxnRequest::default()
        };
        permitted_txn(caller, &txn)?;
        let mut answer = self.run_txn(txn).await?;
        let header = header(&self.state, self.ids, answer.revision);
        match answer.responses.pop() {
            Some(store::ResponseOp::Put { prev_kv }) => Ok(pb::PutResponse {
                header,
                prev_kv: prev_kv.map(key_value),
            }),
            _ => Err(Status::internal("the store answered a put with something else").into()),
        }
    }

    async fn delete_here(
        &self,
        caller: Option<&Caller>,
        request: pb::DeleteRangeRequest,
    ) -> Result<pb::DeleteRangeResponse, Failure> {
        let delete = Checker::new(&self.state.limits).delete(request)?;
        let txn = store::TxnRequest {
            success: vec![store::RequestOp::DeleteRange(delete)],
            ..store::TxnRequest::default()
        };
        permitted_txn(caller, &txn)?;
        let mut answer = self.run_txn(txn).await?;
        let header = header(&self.state, self.ids, answer.revision);
        match answer.responses.pop() {
            Some(store::ResponseOp::DeleteRange { deleted, prev_kvs }) => {
                Ok(pb::DeleteRangeResponse {
                    header,
                    deleted: signed(deleted),
                    prev_kvs: prev_kvs.into_iter().map(key_value).collect(),
                })
            }
            _ => Err(Status::internal("the store answered a delete with something else").into()),
        }
    }

    async fn txn_here(
        &self,
        caller: Option<&Caller>,
        request: pb::TxnRequest,
    ) -> Result<pb::TxnResponse, Failure> {
        let txn = Checker::new(&self.state.limits).txn(request)?;
        permitted_txn(caller, &txn)?;
        let answer = match store::ReadOnlyTxn::new(txn) {
            Ok(read_only) => self.read_txn_here(read_only).await?,
            Err(txn) => self.run_txn(txn).await?,
        };
        let header = header(&self.state, self.ids, answer.revision);
        Ok(txn_response(answer, header))
    }

    async fn compact_here(
        &self,
        request: pb::CompactionRequest,
    ) -> Result<pb::CompactionResponse, Failure> {
        let command = KvCommand::Compact {
            revision: unsigned(request.revision),
        };
        match self.propose(command, false).await? {
            KvResponse::Compacted { .. } => {
                let revision = self.state.store.counters().cluster_revision;
                Ok(pb::CompactionResponse {
                    header: header(&self.state, self.ids, revision),
                })
            }
            KvResponse::Refused(error) => Err(error.into()),
            other => Err(unexpected(&other)),
        }
    }

    /// A client for the leader at `url`.
    fn kv_client(&self, url: &str) -> Result<KvClient<tonic::transport::Channel>, Status> {
        Ok(KvClient::new(self.forwarder.channel(url)?))
    }
}

/// Whether `txn` may add data (a put anywhere in it): what the quota stops.
fn puts(txn: &store::TxnRequest) -> bool {
    txn.success.iter().chain(&txn.failure).any(|op| match op {
        store::RequestOp::Put(_) => true,
        store::RequestOp::Txn(nested) => puts(nested),
        store::RequestOp::Range(_) | store::RequestOp::DeleteRange(_) => false,
    })
}

fn unexpected(response: &KvResponse) -> Failure {
    Status::internal(format!(
        "the store answered with something else: {response:?}"
    ))
    .into()
}

#[tonic::async_trait]
impl Kv for EtcdService {
    async fn range(
        &self,
        request: Request<pb::RangeRequest>,
    ) -> Result<Response<pb::RangeResponse>, Status> {
        let caller = caller_of(&request);
        self.range_here(caller.as_ref(), request.into_inner())
            .await
            .map(Response::new)
    }

    async fn put(
        &self,
        request: Request<pb::PutRequest>,
    ) -> Result<Response<pb::PutResponse>, Status> {
        let onward = Onward::of(&request);
        let caller = caller_of(&request);
        let message = request.into_inner();
        match self.put_here(caller.as_ref(), message.clone()).await {
            Ok(response) => Ok(Response::new(response)),
            Err(Failure::NotLeader(url)) if onward.allowed() => {
                self.kv_client(&url)?.put(onward.call(message)).await
            }
            Err(failure) => Err(failure.into_status()),
        }
    }

    async fn delete_range(
        &self,
        request: Request<pb::DeleteRangeRequest>,
    ) -> Result<Response<pb::DeleteRangeResponse>, Status> {
        let onward = Onward::of(&request);
        let caller = caller_of(&request);
        let message = request.into_inner();
        match self.delete_here(caller.as_ref(), message.clone()).await {
            Ok(response) => Ok(Response::new(response)),
            Err(Failure::NotLeader(url)) if onward.allowed() => {
                self.kv_client(&url)?
                    .delete_range(onward.call(message))
                    .await
            }
            Err(failure) => Err(failure.into_status()),
        }
    }

    async fn txn(
        &self,
        request: Request<pb::TxnRequest>,
    ) -> Result<Response<pb::TxnResponse>, Status> {
        let onward = Onward::of(&request);
        let caller = caller_of(&request);
        let message = request.into_inner();
        match self.txn_here(caller.as_ref(), message.clone()).await {
            Ok(response) => Ok(Response::new(response)),
            Err(Failure::NotLeader(url)) if onward.allowed() => {
                self.kv_client(&url)?.txn(onward.call(message)).await
            }
            Err(failure) => Err(failure.into_status()),
        }
    }

    async fn compact(
        &self,
        request: Request<pb::CompactionRequest>,
    ) -> Result<Response<pb::CompactionResponse>, Status> {
        let onward = Onward::of(&request);
        let message = request.into_inner();
        match self.compact_here(message).await {
            Ok(response) => Ok(Response::new(response)),
            Err(Failure::NotLeader(url)) if onward.allowed() => {
                self.kv_client(&url)?.compact(onward.call(message)).await
            }
            Err(failure) => Err(failure.into_status()),
        }
    }
}
