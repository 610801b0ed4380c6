//! `v3electionpb.Election`: etcd's server-side elections, on the line of
//! contenders (`contenders.rs`) run on this node's store.
//!
//! Campaign(name, lease, value) enters the line under `name/` with key
//! `name/<lease in hex>` and answers once it leads (a campaign found from
//! an earlier call proclaims the new value); Proclaim and Resign act only
//! if the leader's key is still the one created at its revision; Leader
//! answers the first in line; Observe streams each leader as it changes
//! (`election_observer.rs`; its `kv` carries key, value and create
//! revision only).
//!
//! Campaign, Proclaim and Resign write: a follower forwards them to the
//! leader whole (`forward.rs`); every step is safe to repeat there. Leader
//! and Observe read, and are answered here. While auth is on, each call is
//! held to the caller's permissions on the keys it reads and writes, as
//! `lock.rs` says.

use std::pin::Pin;

use futures_core::Stream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::server::etcd::EtcdService;
use crate::server::etcd::auth_gate::caller_of;
use crate::server::etcd::contenders::Line;
use crate::server::etcd::election_observer::observe;
use crate::server::etcd::failure::Failure;
use crate::server::etcd::forward::Onward;
use crate::server::etcd::header::{current_header, signed};
use crate::server::etcd::pb::mvccpb::KeyValue;
use crate::server::etcd::pb::v3electionpb::{
    self as pb, election_client::ElectionClient, election_server::Election,
};
use crate::server::http::auth_gate::Caller;

/// etcd's message when an election has no leader.
pub(crate) const ELECTION_NO_LEADER: &str = "etcdserver: election: no leader";

/// The leader key a Proclaim or Resign names.
fn leader_key(leader: Option<pb::LeaderKey>) -> Result<(pb::LeaderKey, u64), Status> {
    let leader = leader.ok_or_else(|| Status::invalid_argument("etcdserver: no leader key"))?;
    let revision = u64::try_from(leader.rev)
        .map_err(|_| Status::invalid_argument("etcdserver: a negative revision"))?;
    Ok((leader, revision))
}

impl EtcdService {
    fn election_client(&self, url: &str) -> Result<ElectionClient<Channel>, Status> {
        Ok(ElectionClient::new(self.forwarder.channel(url)?))
    }

    async fn campaign_here(
        &self,
        caller: Option<&Caller>,
        request: pb::CampaignRequest,
    ) -> Result<pb::CampaignResponse, Failure> {
        if request.lease <= 0 {
            return Err(Status::invalid_argument(
                "etcdserver: a campaign needs the caller's lease",
            )
            .into());
        }
        let line = Line::new(self, caller, &request.name);
        let key = line.key_of(request.lease);
        let place = line
            .enter(&key, request.value.clone(), request.lease)
            .await?;
        let entered = line.guard(&key, place);
        let leads = async {
            line.wait_for_turn(place.revision).await?;
            // Also proves the key is still there (a lease lost while waiting
            // answers "not leader"), and sets the value of a key found from
            // an earlier campaign.
            line.proclaim(&key, place.revision, request.lease, request.value)
                .await
        }
        .await;
        entered.settle(&leads);
        leads?;
        Ok(pb::CampaignResponse {
            header: current_header(&self.state, self.ids),
            leader: Some(pb::LeaderKey {
                name: request.name,
                key,
                rev: signed(place.revision),
                lease: request.lease,
            }),
        })
    }

    async fn proclaim_here(
        &self,
        caller: Option<&Caller>,
        request: pb::ProclaimRequest,
    ) -> Result<pb::ProclaimResponse, Failure> {
        let (leader, revision) = leader_key(request.leader)?;
        Line::new(self, caller, &leader.name)
            .proclaim(&leader.key, revision, leader.lease, request.value)
            .await?;
        Ok(pb::ProclaimResponse {
            header: current_header(&self.state, self.ids),
        })
    }

    async fn resign_here(
        &self,
        caller: Option<&Caller>,
        request: pb::ResignRequest,
    ) -> Result<pb::ResignResponse, Failure> {
        let (leader, revision) = leader_key(request.leader)?;
        Line::new(self, caller, &leader.name)
            .resign(&leader.key, revision)
            .await?;
        Ok(pb::ResignResponse {
            header: current_header(&self.state, self.ids),
        })
    }

    async fn leader_here(
        &self,
        caller: Option<&Caller>,
        request: pb::LeaderRequest,
    ) -> Result<pb::LeaderResponse, Failure> {
        let (first, _) = Line::new(self, caller, &request.name).first().await?;
        let first = first.ok_or_else(|| Status::failed_precondition(ELECTION_NO_LEADER))?;
        Ok(pb::LeaderResponse {
            header: current_header(&self.state, self.ids),
            kv: Some(KeyValue {
                key: first.key,
                create_revision: signed(first.create_revision),
                mod_revision: signed(first.mod_revision),
                version: signed(first.version),
                value: first.value,
                lease: first.lease,
            }),
        })
    }
}

#[tonic::async_trait]
impl Election for EtcdService {
    type ObserveStream = Pin<Box<dyn Stream<Item = Result<pb::LeaderResponse, Status>> + Send>>;

    async fn campaign(
        &self,
        request: Request<pb::CampaignRequest>,
    ) -> Result<Response<pb::CampaignResponse>, Status> {
        let onward = Onward::of(&request);
        let caller = caller_of(&request);
        let message = request.into_inner();
        match self.campaign_here(caller.as_ref(), message.clone()).await {
            Ok(response) => Ok(Response::new(response)),
            Err(Failure::NotLeader(url)) if onward.allowed() => {
                self.election_client(&url)?
                    .campaign(onward.call(message))
                    .await
            }
            Err(failure) => Err(failure.into_status()),
        }
    }

    async fn proclaim(
        &self,
        request: Request<pb::ProclaimRequest>,
    ) -> Result<Response<pb::ProclaimResponse>, Status> {
        let onward = Onward::of(&request);
        let caller = caller_of(&request);
        let message = request.into_inner();
        match self.proclaim_here(caller.as_ref(), message.clone()).await {
            Ok(response) => Ok(Response::new(response)),
            Err(Failure::NotLeader(url)) if onward.allowed() => {
                self.election_client(&url)?
                    .proclaim(onward.call(message))
                    .await
            }
            Err(failure) => Err(failure.into_status()),
        }
    }

    async fn leader(
        &self,
        request: Request<pb::LeaderRequest>,
    ) -> Result<Response<pb::LeaderResponse>, Status> {
        let caller = caller_of(&request);
        self.leader_here(caller.as_ref(), request.into_inner())
            .await
            .map(Response::new)
            .map_err(Failure::into_status)
    }

    async fn observe(
        &self,
        request: Request<pb::LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        let caller = caller_of(&request);
        let leaders = observe(self.clone(), caller, request.into_inner().name);
        Ok(Response::new(Box::pin(leaders)))
    }

    async fn resign(
        &self,
        request: Request<pb::ResignRequest>,
    ) -> Result<Response<pb::ResignResponse>, Status> {
        let onward = Onward::of(&request);
        let caller = caller_of(&request);
        let message = request.into_inner();
        match self.resign_here(caller.as_ref(), message.clone()).await {
            Ok(response) => Ok(Response::new(response)),
            Err(Failure::NotLeader(url)) if onward.allowed() => {
                self.election_client(&url)?
                    .resign(onward.call(message))
                    .await
            }
            Err(failure) => Err(failure.into_status()),
        }
    }
}
