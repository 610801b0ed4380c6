//! `etcdserverpb.Cluster`: MemberList. Membership changes are served by
//! the JSON API (`/v1/cluster/members`) and answer `UNIMPLEMENTED` here.

use tonic::{Request, Response, Status};

use crate::server::etcd::EtcdService;
use crate::server::etcd::failure::Failure;
use crate::server::etcd::header::current_header;
use crate::server::etcd::pb::etcdserverpb::{self as pb, cluster_server::Cluster};
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
                pb::Member {
                    id,
                    name: format!("node-{id}"),
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

fn not_served(what: &str) -> Status {
    Status::unimplemented(format!(
        "{what} is not served over the etcd API yet; use ordo's /v1/cluster/members"
    ))
}

#[tonic::async_trait]
impl Cluster for EtcdService {
    async fn member_add(
        &self,
        _request: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        Err(not_served("MemberAdd"))
    }

    async fn member_remove(
        &self,
        _request: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        Err(not_served("MemberRemove"))
    }

    async fn member_update(
        &self,
        _request: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        Err(not_served("MemberUpdate"))
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
        _request: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        Err(not_served("MemberPromote"))
    }
}
