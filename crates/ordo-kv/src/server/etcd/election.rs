//! `v3electionpb.Election`: etcd's server-side elections, on the
//! coordination recipes (`client/recipes/election.rs` and `contend.rs`),
//! through the loopback client `lock.rs` uses, with the same limits.
//!
//! Campaign(name, lease, value) enters the line under `name/` with key
//! `name/<lease in hex>` and answers once it leads (a campaign found from
//! an earlier call proclaims the new value); Proclaim and Resign act only
//! if the leader's key is still the one created at its revision; Leader
//! answers the first in line; Observe streams each leader as it changes
//! (its `kv` carries key, value and create revision only).

use std::pin::Pin;

use futures_core::Stream;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

use crate::client::recipes::election::{LeaderKey, proclaim_as, resign_as};
use crate::client::recipes::{Election as RecipeElection, contend};
use crate::server::etcd::EtcdService;
use crate::server::etcd::header::{current_header, signed};
use crate::server::etcd::lock::{recipe_status, text};
use crate::server::etcd::pb::mvccpb::KeyValue;
use crate::server::etcd::pb::v3electionpb::{self as pb, election_server::Election};

/// etcd's message when an election has no leader.
pub(crate) const ELECTION_NO_LEADER: &str = "etcdserver: election: no leader";

/// The leader key a Proclaim or Resign names, as text and numbers.
fn leader_key(leader: Option<&pb::LeaderKey>) -> Result<(String, u64, i64), Status> {
    let leader = leader.ok_or_else(|| Status::invalid_argument("etcdserver: no leader key"))?;
    let key = text(&leader.key, "leader key")?;
    let revision = u64::try_from(leader.rev)
        .map_err(|_| Status::invalid_argument("etcdserver: a negative revision"))?;
    Ok((key, revision, leader.lease))
}

#[tonic::async_trait]
impl Election for EtcdService {
    type ObserveStream = Pin<Box<dyn Stream<Item = Result<pb::LeaderResponse, Status>> + Send>>;

    async fn campaign(
        &self,
        request: Request<pb::CampaignRequest>,
    ) -> Result<Response<pb::CampaignResponse>, Status> {
        let request = request.into_inner();
        let name = text(&request.name, "election name")?;
        if request.lease <= 0 {
            return Err(Status::invalid_argument(
                "etcdserver: a campaign needs the caller's lease",
            ));
        }
        let prefix = format!("{name}/");
        let key = format!("{prefix}{:x}", request.lease);
        let client = self.loopback_client()?;
        let place = contend::enter(&client, &prefix, &key, &request.value, request.lease)
            .await
            .map_err(recipe_status)?;
        contend::wait_for_turn(&client, &prefix, place.revision)
            .await
            .map_err(recipe_status)?;
        let leader = LeaderKey {
            key: &key,
            revision: place.revision,
            lease: request.lease,
        };
        // Also proves the key is still there: a lease lost while waiting
        // answers "not leader".
        proclaim_as(&client, &leader, &request.value)
            .await
            .map_err(recipe_status)?;
        Ok(Response::new(pb::CampaignResponse {
            header: current_header(&self.state, self.ids),
            leader: Some(pb::LeaderKey {
                name: request.name,
                key: key.into_bytes().into(),
                rev: signed(place.revision),
                lease: request.lease,
            }),
        }))
    }

    async fn proclaim(
        &self,
        request: Request<pb::ProclaimRequest>,
    ) -> Result<Response<pb::ProclaimResponse>, Status> {
        let request = request.into_inner();
        let (key, revision, lease) = leader_key(request.leader.as_ref())?;
        let leader = LeaderKey {
            key: &key,
            revision,
            lease,
        };
        proclaim_as(&self.loopback_client()?, &leader, &request.value)
            .await
            .map_err(recipe_status)?;
        Ok(Response::new(pb::ProclaimResponse {
            header: current_header(&self.state, self.ids),
        }))
    }

    async fn leader(
        &self,
        request: Request<pb::LeaderRequest>,
    ) -> Result<Response<pb::LeaderResponse>, Status> {
        let name = text(&request.get_ref().name, "election name")?;
        let (first, _) = contend::first(&self.loopback_client()?, &format!("{name}/"))
            .await
            .map_err(recipe_status)?;
        let first = first.ok_or_else(|| Status::failed_precondition(ELECTION_NO_LEADER))?;
        Ok(Response::new(pb::LeaderResponse {
            header: current_header(&self.state, self.ids),
            kv: Some(KeyValue {
                key: first.key.into_bytes().into(),
                create_revision: signed(first.create_revision),
                mod_revision: signed(first.mod_revision),
                version: signed(first.version),
                value: first.value,
                lease: first.lease,
            }),
        }))
    }

    async fn observe(
        &self,
        request: Request<pb::LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        let name = text(&request.get_ref().name, "election name")?;
        let leaders = RecipeElection::observe(&self.loopback_client()?, &name);
        let state = std::sync::Arc::clone(&self.state);
        let ids = self.ids;
        let answers = leaders.filter_map(move |leader| match leader {
            Ok(None) => None,
            Ok(Some(leader)) => Some(Ok(pb::LeaderResponse {
                header: current_header(&state, ids),
                kv: Some(KeyValue {
                    key: leader.key.into_bytes().into(),
                    create_revision: signed(leader.revision),
                    value: leader.value,
                    ..KeyValue::default()
                }),
            })),
            Err(error) => Some(Err(recipe_status(error))),
        });
        Ok(Response::new(Box::pin(answers)))
    }

    async fn resign(
        &self,
        request: Request<pb::ResignRequest>,
    ) -> Result<Response<pb::ResignResponse>, Status> {
        let (key, revision, _) = leader_key(request.get_ref().leader.as_ref())?;
        resign_as(&self.loopback_client()?, &key, revision)
            .await
            .map_err(recipe_status)?;
        Ok(Response::new(pb::ResignResponse {
            header: current_header(&self.state, self.ids),
        }))
    }
}
