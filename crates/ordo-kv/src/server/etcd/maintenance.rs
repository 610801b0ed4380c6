//! `etcdserverpb.Maintenance`: Status, Alarm (list), Defragment (a no-op:
//! the store has no file to defragment). The rest answers `UNIMPLEMENTED`.

use std::pin::Pin;

use futures_core::Stream;
use tonic::{Request, Response, Status};

use crate::server::etcd::header::{current_header, signed};
use crate::server::etcd::pb::etcdserverpb::{self as pb, maintenance_server::Maintenance};
use crate::server::etcd::{ETCD_API_VERSION, EtcdService, failure::Failure};

fn not_served(what: &str) -> Status {
    Status::unimplemented(format!("{what} is not served over the etcd API yet"))
}

#[tonic::async_trait]
impl Maintenance for EtcdService {
    type SnapshotStream = Pin<Box<dyn Stream<Item = Result<pb::SnapshotResponse, Status>> + Send>>;

    async fn alarm(
        &self,
        request: Request<pb::AlarmRequest>,
    ) -> Result<Response<pb::AlarmResponse>, Status> {
        if request.get_ref().action() != pb::alarm_request::AlarmAction::Get {
            return Err(not_served("Alarm ACTIVATE/DEACTIVATE"));
        }
        let alarms = if self.state.store.over_quota() {
            vec![pb::AlarmMember {
                member_id: self.ids.member_id,
                alarm: pb::AlarmType::Nospace as i32,
            }]
        } else {
            Vec::new()
        };
        Ok(Response::new(pb::AlarmResponse {
            header: current_header(&self.state, self.ids),
            alarms,
        }))
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let status = self
            .state
            .node
            .status()
            .await
            .map_err(|error| Failure::from(error).into_status())?;
        let counters = self.state.store.counters();
        Ok(Response::new(pb::StatusResponse {
            header: current_header(&self.state, self.ids),
            version: ETCD_API_VERSION.to_owned(),
            db_size: signed(counters.bytes),
            leader: status.leader.unwrap_or(0),
            raft_index: status.commit_index,
            raft_term: status.term,
            raft_applied_index: status.applied_index,
            errors: self.state.store.alarms(),
            db_size_in_use: signed(counters.live_bytes),
            is_learner: !status.membership.is_voter(status.id),
        }))
    }

    async fn defragment(
        &self,
        _request: Request<pb::DefragmentRequest>,
    ) -> Result<Response<pb::DefragmentResponse>, Status> {
        Ok(Response::new(pb::DefragmentResponse {
            header: current_header(&self.state, self.ids),
        }))
    }

    async fn hash(
        &self,
        _request: Request<pb::HashRequest>,
    ) -> Result<Response<pb::HashResponse>, Status> {
        Err(not_served("Hash"))
    }

    async fn hash_kv(
        &self,
        _request: Request<pb::HashKvRequest>,
    ) -> Result<Response<pb::HashKvResponse>, Status> {
        Err(not_served("HashKV"))
    }

    async fn snapshot(
        &self,
        _request: Request<pb::SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        Err(not_served("Snapshot (use ordo's /v1/snapshot)"))
    }

    async fn move_leader(
        &self,
        _request: Request<pb::MoveLeaderRequest>,
    ) -> Result<Response<pb::MoveLeaderResponse>, Status> {
        Err(not_served("MoveLeader (use ordo's /v1/cluster/leader)"))
    }

    async fn downgrade(
        &self,
        _request: Request<pb::DowngradeRequest>,
    ) -> Result<Response<pb::DowngradeResponse>, Status> {
        Err(not_served("Downgrade"))
    }
}
