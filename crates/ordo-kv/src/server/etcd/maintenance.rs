//! `etcdserverpb.Maintenance`: Status, Alarm (`alarm.rs`), Defragment (a no-op:
//! the store has no file to defragment), Snapshot (the backup `ordo
//! snapshot save` writes, in chunks), MoveLeader, HashKV and Hash.
//!
//! - HashKV hashes this member's applied state up to a revision
//!   (`store/hash.rs`): members at the same revision answer the same hash.
//!   Hash answers the HashKV of the current revision (etcd hashes its
//!   database file, which ordo does not have).
//! - Snapshot is the backup format in etcd's frame (`snapshot_envelope.rs`),
//!   streamed from the node's snapshot file (`server/backup.rs`), not a
//!   bbolt file: `etcdctl snapshot save` stores it; `ordo snapshot
//!   restore` restores it (`etcdctl snapshot restore` cannot).
//! - MoveLeader runs on the leader (a follower forwards it) and answers once
//!   this node sees the target lead.

use std::pin::Pin;

use futures_core::Stream;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

use crate::server::backup::{BACKUP_BUSY, BackupChunks, BackupRefusal, take_backup};
use crate::server::etcd::alarm;
use crate::server::etcd::failure::{Failure, store_status};
use crate::server::etcd::forward::Onward;
use crate::server::etcd::header::{current_header, header, signed};
use crate::server::etcd::pb::etcdserverpb::{
    self as pb, maintenance_client::MaintenanceClient, maintenance_server::Maintenance,
};
use crate::server::etcd::snapshot_envelope::Framer;
use crate::server::etcd::{ETCD_API_VERSION, EtcdService};
use crate::server::http::cluster::transfer_and_wait;
use crate::store::{KvAnswer, KvHash, KvQuery};

/// etcd's message for a MoveLeader target that cannot lead.
pub(crate) const BAD_TRANSFEREE: &str = "etcdserver: bad leader transferee";
/// etcd's message for a MoveLeader that did not finish in time.
pub(crate) const TRANSFER_TIMED_OUT: &str =
    "etcdserver: request timed out, leader transfer took too long";

impl EtcdService {
    /// This member's hash as of `revision` (0: the current one).
    async fn hash_here(&self, revision: i64) -> Result<KvHash, Status> {
        let revision = u64::try_from(revision)
            .map_err(|_| Status::invalid_argument("etcdserver: revision is negative"))?;
        let answer = self
            .state
            .node
            .read_with(KvQuery::Hash { revision }, ordo::ReadConsistency::Stale)
            .await
            .map_err(|error| Failure::from(error).into_status())?;
        match answer {
            KvAnswer::Hash(hash) => Ok(hash),
            KvAnswer::Refused(error) => Err(store_status(&error)),
            _ => Err(Status::internal(
                "the store answered a hash with something else",
            )),
        }
    }

    async fn move_leader_here(&self, target: ordo::NodeId) -> Result<(), Failure> {
        let status = self.state.node.status().await?;
        if !status.membership.is_voter(target) {
            return Err(Status::failed_precondition(BAD_TRANSFEREE).into());
        }
        match transfer_and_wait(&self.state, target).await {
            Err(ordo::RaftError::Timeout) => Err(Status::unavailable(TRANSFER_TIMED_OUT).into()),
            other => Ok(other?),
        }
    }
}

/// A backup, framed (`snapshot_envelope.rs`), as etcd's snapshot stream:
/// each message says how many bytes follow it; the chunks hold the backup
/// slot until the stream is dropped.
fn snapshot_stream(
    chunks: BackupChunks,
    header: Option<pb::ResponseHeader>,
) -> impl Stream<Item = Result<pb::SnapshotResponse, Status>> + Send {
    let frames = SnapshotFrames {
        total: Framer::framed_bytes(chunks.remaining_bytes()),
        chunks,
        framer: Some(Framer::new()),
        sent: 0,
        header,
    };
    futures_util::stream::unfold(frames, |mut frames| async move {
        let next = frames.next().await?;
        Some((next, frames))
    })
}

/// Where a snapshot stream is: the backup's chunks, then the frame's
/// trailer.
struct SnapshotFrames {
    chunks: BackupChunks,
    /// `None` once the trailer was sent, or the backup failed.
    framer: Option<Framer>,
    /// Framed bytes sent.
    sent: u64,
    /// Framed bytes in all.
    total: u64,
    header: Option<pb::ResponseHeader>,
}

impl SnapshotFrames {
    async fn next(&mut self) -> Option<Result<pb::SnapshotResponse, Status>> {
        let blob = match self.chunks.next().await {
            Some(Ok(chunk)) => {
                self.framer.as_mut()?.update(&chunk);
                chunk
            }
            Some(Err(error)) => {
                self.framer = None;
                let message = format!("etcdserver: reading the backup failed: {error}");
                return Some(Err(Status::internal(message)));
            }
            None => bytes::Bytes::from(self.framer.take()?.trailer()),
        };
        self.sent += blob.len() as u64;
        assert!(self.sent <= self.total, "a snapshot stream past its frame");
        Some(Ok(pb::SnapshotResponse {
            header: self.header,
            remaining_bytes: self.total - self.sent,
            blob,
        }))
    }
}

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
        let raised = self.state.store.over_quota();
        let alarms = alarm::answer(request.get_ref(), raised, self.ids.member_id)?;
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
            errors: alarm::status_errors(self.state.store.over_quota(), self.ids.member_id),
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
        let hash = self.hash_here(0).await?;
        Ok(Response::new(pb::HashResponse {
            header: header(&self.state, self.ids, hash.revision),
            hash: hash.hash,
        }))
    }

    async fn hash_kv(
        &self,
        request: Request<pb::HashKvRequest>,
    ) -> Result<Response<pb::HashKvResponse>, Status> {
        let hash = self.hash_here(request.get_ref().revision).await?;
        Ok(Response::new(pb::HashKvResponse {
            header: current_header(&self.state, self.ids),
            hash: hash.hash,
            compact_revision: signed(hash.compact_revision),
            hash_revision: signed(hash.revision),
        }))
    }

    async fn snapshot(
        &self,
        _request: Request<pb::SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        let backup = take_backup(&self.state)
            .await
            .map_err(|refusal| match refusal {
                BackupRefusal::Busy => Status::resource_exhausted(BACKUP_BUSY),
                BackupRefusal::Raft(error) => Failure::from(error).into_status(),
            })?;
        let header = current_header(&self.state, self.ids);
        Ok(Response::new(Box::pin(snapshot_stream(
            backup.into_chunks(),
            header,
        ))))
    }

    async fn move_leader(
        &self,
        request: Request<pb::MoveLeaderRequest>,
    ) -> Result<Response<pb::MoveLeaderResponse>, Status> {
        let onward = Onward::of(&request);
        let message = request.into_inner();
        match self.move_leader_here(message.target_id).await {
            Ok(()) => Ok(Response::new(pb::MoveLeaderResponse {
                header: current_header(&self.state, self.ids),
            })),
            Err(Failure::NotLeader(url)) if onward.allowed() => {
                let mut leader = MaintenanceClient::new(self.forwarder.channel(&url)?);
                leader.move_leader(onward.call(message)).await
            }
            Err(failure) => Err(failure.into_status()),
        }
    }

    async fn downgrade(
        &self,
        _request: Request<pb::DowngradeRequest>,
    ) -> Result<Response<pb::DowngradeResponse>, Status> {
        Err(not_served("Downgrade"))
    }
}
