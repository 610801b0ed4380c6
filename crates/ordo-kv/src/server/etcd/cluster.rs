//! `etcdserverpb.Cluster`: MemberList here; MemberAdd, MemberRemove,
//! MemberUpdate and MemberPromote in `membership.rs`, carried out by the
//! leader (a follower forwards them, as it does writes).

use tonic::{Request, Response, Status};

use crate::server::etcd::EtcdService;
use crate::server::etcd::failure::Failure;
use crate::server::etcd::forward::Onward;
use crate::server::etcd::header::current_header;
use crate::server::etcd::pb::etcdserverpb::{
    self as pb, cluster_client::ClusterClient, cluster_server::Cluster,
};
use crate::server::member_address::MemberAddress;

impl EtcdService {
    /// Every member as etcd lists it.
    pub(crate) async fn members(&self) -> Result<Vec<pb::Member>, Status> {
        let status = self
            .state
            .node
            .status()
            .await
            .map_err(|error| Failure::from(error).into_status())?;
        let mut infos = self.state.node.member_infos();
        // This node knows its own addresses before the log says so.
        let own = infos.entry(self.state.node.id()).or_default();
        *own = own.updated_by(&self.state.own);
        let membership = &status.membership;
        Ok(membership
            .members()
            .into_iter()
            .map(|id| {
                let address = infos
                    .get(&id)
                    .map(MemberAddress::from_info)
                    .unwrap_or_default();
                // etcd names a member once it started and published its
                // client URLs; before, etcdctl lists it as "unstarted".
                let name = if address.client.is_some() {
                    format!("node-{id}")
                } else {
                    String::new()
                };
                pb::Member {
                    id,
                    name,
                    peer_ur_ls: address.peer.iter().map(|peer| as_url(peer)).collect(),
                    client_ur_ls: address.client.into_iter().collect(),
                    is_learner: !membership.is_voter(id),
                }
            })
            .collect())
    }
}

/// A peer address (`HOST:PORT`) as the URL etcd lists.
fn as_url(address: &str) -> String {
    if address.contains("://") {
        address.to_owned()
    } else {
        format!("http://{address}")
    }
}

/// Answers a membership change made here, or forwards it to the leader.
macro_rules! here_or_on_leader {
    ($service:expr, $request:expr, $here:expr, $rpc:ident) => {{
        let onward = Onward::of(&$request);
        let message = $request.into_inner();
        match $here(&message).await {
            Ok(()) => {}
            Err(Failure::NotLeader(url)) if onward.allowed() => {
                let mut leader = ClusterClient::new($service.forwarder.channel(&url)?);
                return leader.$rpc(onward.call(message)).await;
            }
            Err(failure) => return Err(failure.into_status()),
        }
    }};
}

#[tonic::async_trait]
impl Cluster for EtcdService {
    async fn member_add(
        &self,
        request: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        let onward = Onward::of(&request);
        let message = request.into_inner();
        let member = match self.add_member_here(&message).await {
            Ok(member) => member,
            Err(Failure::NotLeader(url)) if onward.allowed() => {
                let mut leader = ClusterClient::new(self.forwarder.channel(&url)?);
                return leader.member_add(onward.call(message)).await;
            }
            Err(failure) => return Err(failure.into_status()),
        };
        Ok(Response::new(pb::MemberAddResponse {
            header: current_header(&self.state, self.ids),
            member: Some(member),
            members: self.members().await?,
        }))
    }

    async fn member_remove(
        &self,
        request: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        here_or_on_leader!(
            self,
            request,
            |message: &pb::MemberRemoveRequest| self.remove_member_here(message.id),
            member_remove
        );
        Ok(Response::new(pb::MemberRemoveResponse {
            header: current_header(&self.state, self.ids),
            members: self.members().await?,
        }))
    }

    async fn member_update(
        &self,
        request: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        here_or_on_leader!(
            self,
            request,
            |message| self.update_member_here(message),
            member_update
        );
        Ok(Response::new(pb::MemberUpdateResponse {
            header: current_header(&self.state, self.ids),
            members: self.members().await?,
        }))
    }

    async fn member_list(
        &self,
        _request: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        let members = self.members().await?;
        Ok(Response::new(pb::MemberListResponse {
            header: current_header(&self.state, self.ids),
            members,
        }))
    }

    async fn member_promote(
        &self,
        request: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        here_or_on_leader!(
            self,
            request,
            |message: &pb::MemberPromoteRequest| self.promote_member_here(message.id),
            member_promote
        );
        Ok(Response::new(pb::MemberPromoteResponse {
            header: current_header(&self.state, self.ids),
            members: self.members().await?,
        }))
    }
}
