//! `etcdserverpb.Lease` on the leader's lease clock (`server/leases/`).
//!
//! Grant and revoke are proposals; keepalive and time-to-live are answered
//! by the leader's clock. On a follower every call is forwarded to the
//! leader (`forward.rs`), a keepalive stream one keepalive at a time.
//! As etcd: a keepalive of an unknown lease answers TTL 0, a time-to-live
//! of one answers TTL -1.
//!
//! While auth is on, every call needs a user (`auth_gate.rs`), and a revoke
//! needs write on every key attached to the lease (it deletes them).

use std::pin::Pin;

use futures_core::Stream;
use ordo::ReadConsistency;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::Access;
use crate::server::etcd::EtcdService;
use crate::server::etcd::auth_gate::{caller_of, permitted};
use crate::server::etcd::failure::{Failure, TTL_TOO_LARGE};
use crate::server::etcd::forward::Onward;
use crate::server::etcd::header::current_header;
use crate::server::etcd::pb::etcdserverpb::{
    self as pb, lease_client::LeaseClient, lease_server::Lease,
};
use crate::server::http::auth_gate::Caller;
use crate::server::leases::TtlError;
use crate::store::{KeyRange, KvAnswer, KvCommand, KvQuery, KvResponse};

/// Keepalive answers waiting for the client, per stream.
const KEEPALIVE_OUTBOX: usize = 16;

impl EtcdService {
    fn lease_client(&self, url: &str) -> Result<LeaseClient<Channel>, Status> {
        Ok(LeaseClient::new(self.forwarder.channel(url)?))
    }

    async fn grant_here(
        &self,
        request: pb::LeaseGrantRequest,
    ) -> Result<pb::LeaseGrantResponse, Failure> {
        if request.id < 0 {
            return Err(Status::invalid_argument("etcdserver: lease ids are positive").into());
        }
        let ttl = match self.state.leases.rules().granted_ttl(request.ttl) {
            Ok(ttl) => ttl,
            // etcd raises a ttl that is too short (0 or less) to its minimum.
            Err(TtlError::NotPositive { .. }) => self
                .state
                .leases
                .rules()
                .granted_ttl(1)
                .map_err(|_| Status::out_of_range(TTL_TOO_LARGE))?,
            Err(_) => return Err(Status::out_of_range(TTL_TOO_LARGE).into()),
        };
        let command = KvCommand::LeaseGrant {
            id: request.id,
            ttl,
        };
        match self.propose(command, true).await? {
            KvResponse::LeaseGranted { id, ttl } => {
                self.state.leases.granted(id, ttl);
                Ok(pb::LeaseGrantResponse {
                    header: current_header(&self.state, self.ids),
                    id,
                    ttl,
                    error: String::new(),
                })
            }
            KvResponse::Refused(error) => Err(error.into()),
            other => Err(Status::internal(format!("unexpected answer {other:?}")).into()),
        }
    }

    async fn revoke_here(
        &self,
        caller: Option<&Caller>,
        request: pb::LeaseRevokeRequest,
    ) -> Result<pb::LeaseRevokeResponse, Failure> {
        let id = request.id;
        if let Some(caller) = caller {
            self.permit_revoke(caller, id).await?;
        }
        match self.propose(KvCommand::LeaseRevoke { id }, false).await? {
            KvResponse::LeaseRevoked { revision, .. } => {
                self.state.leases.revoked(id);
                Ok(pb::LeaseRevokeResponse {
                    header: crate::server::etcd::header::header(&self.state, self.ids, revision),
                })
            }
            KvResponse::Refused(error) => Err(error.into()),
            other => Err(Status::internal(format!("unexpected answer {other:?}")).into()),
        }
    }

    /// A revoke deletes the lease's keys, so (as etcd, and the HTTP API)
    /// the caller needs write on each key attached to it now.
    async fn permit_revoke(&self, caller: &Caller, id: i64) -> Result<(), Failure> {
        let answer = self
            .state
            .node
            .read_with(KvQuery::Lease { id }, ReadConsistency::Linearizable)
            .await?;
        match answer {
            KvAnswer::Lease(info) => info.keys.into_iter().try_for_each(|key| {
                permitted(Some(caller), Access::Write, &KeyRange::single(key))
                    .map_err(Failure::from)
            }),
            // An unknown lease: the revoke answers "not found" itself.
            KvAnswer::Refused(_) => Ok(()),
            _ => Err(Status::internal("the store answered a lease with something else").into()),
        }
    }

    async fn keep_alive_here(
        &self,
        request: &pb::LeaseKeepAliveRequest,
    ) -> Result<pb::LeaseKeepAliveResponse, Failure> {
        let renewed = self.state.leases.keep_alive(request.id).await?;
        Ok(pb::LeaseKeepAliveResponse {
            header: current_header(&self.state, self.ids),
            id: request.id,
            ttl: renewed.unwrap_or(0),
        })
    }

    /// One keepalive, here or on the leader.
    async fn keep_alive_once(
        &self,
        request: pb::LeaseKeepAliveRequest,
        onward: &Onward,
    ) -> Result<pb::LeaseKeepAliveResponse, Status> {
        match self.keep_alive_here(&request).await {
            Ok(response) => Ok(response),
            Err(Failure::NotLeader(url)) if onward.allowed() => {
                let once = tokio_stream::once(request);
                let mut answers = self
                    .lease_client(&url)?
                    .lease_keep_alive(onward.call(once))
                    .await?
                    .into_inner();
                answers
                    .message()
                    .await?
                    .ok_or_else(|| Status::unavailable("etcdserver: leader changed"))
            }
            Err(failure) => Err(failure.into_status()),
        }
    }

    async fn time_to_live_here(
        &self,
        request: &pb::LeaseTimeToLiveRequest,
    ) -> Result<pb::LeaseTimeToLiveResponse, Failure> {
        let header = current_header(&self.state, self.ids);
        let Some(lease) = self.state.leases.time_to_live(request.id).await? else {
            return Ok(pb::LeaseTimeToLiveResponse {
                header,
                id: request.id,
                ttl: -1,
                ..pb::LeaseTimeToLiveResponse::default()
            });
        };
        let keys = if request.keys {
            lease.info.keys.into_iter().collect()
        } else {
            Vec::new()
        };
        Ok(pb::LeaseTimeToLiveResponse {
            header,
            id: request.id,
            ttl: lease.remaining_seconds,
            granted_ttl: lease.info.ttl,
            keys,
        })
    }
}

#[tonic::async_trait]
impl Lease for EtcdService {
    type LeaseKeepAliveStream =
        Pin<Box<dyn Stream<Item = Result<pb::LeaseKeepAliveResponse, Status>> + Send>>;

    async fn lease_grant(
        &self,
        request: Request<pb::LeaseGrantRequest>,
    ) -> Result<Response<pb::LeaseGrantResponse>, Status> {
        let onward = Onward::of(&request);
        let message = request.into_inner();
        match self.grant_here(message).await {
            Ok(response) => Ok(Response::new(response)),
            Err(Failure::NotLeader(url)) if onward.allowed() => {
                self.lease_client(&url)?
                    .lease_grant(onward.call(message))
                    .await
            }
            Err(failure) => Err(failure.into_status()),
        }
    }

    async fn lease_revoke(
        &self,
        request: Request<pb::LeaseRevokeRequest>,
    ) -> Result<Response<pb::LeaseRevokeResponse>, Status> {
        let onward = Onward::of(&request);
        let caller = caller_of(&request);
        let message = request.into_inner();
        match self.revoke_here(caller.as_ref(), message).await {
            Ok(response) => Ok(Response::new(response)),
            Err(Failure::NotLeader(url)) if onward.allowed() => {
                self.lease_client(&url)?
                    .lease_revoke(onward.call(message))
                    .await
            }
            Err(failure) => Err(failure.into_status()),
        }
    }

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<pb::LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let onward = Onward::of(&request);
        let mut requests = request.into_inner();
        let (outbox, answers) = tokio::sync::mpsc::channel(KEEPALIVE_OUTBOX);
        let service = self.clone();
        tokio::spawn(async move {
            while let Ok(Some(request)) = requests.message().await {
                let answer = service.keep_alive_once(request, &onward).await;
                let failed = answer.is_err();
                if outbox.send(answer).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(answers))))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<pb::LeaseTimeToLiveRequest>,
    ) -> Result<Response<pb::LeaseTimeToLiveResponse>, Status> {
        let onward = Onward::of(&request);
        let message = request.into_inner();
        match self.time_to_live_here(&message).await {
            Ok(response) => Ok(Response::new(response)),
            Err(Failure::NotLeader(url)) if onward.allowed() => {
                self.lease_client(&url)?
                    .lease_time_to_live(onward.call(message))
                    .await
            }
            Err(failure) => Err(failure.into_status()),
        }
    }

    async fn lease_leases(
        &self,
        _request: Request<pb::LeaseLeasesRequest>,
    ) -> Result<Response<pb::LeaseLeasesResponse>, Status> {
        let consistency = ReadConsistency::Linearizable;
        self.state.metrics.read(consistency);
        let answer = self
            .state
            .node
            .read_with(KvQuery::Leases, consistency)
            .await
            .map_err(|error| Failure::from(error).into_status())?;
        let KvAnswer::Leases(leases) = answer else {
            return Err(Status::internal(
                "the store answered a lease list with something else",
            ));
        };
        Ok(Response::new(pb::LeaseLeasesResponse {
            header: current_header(&self.state, self.ids),
            leases: leases
                .into_iter()
                .map(|(id, _)| pb::LeaseStatus { id })
                .collect(),
        }))
    }
}
