//! [`RegistryApi`]: the `Registry` gRPC service clients use.
//!
//! Writes are proposed on this node: the leader applies them and answers
//! what changed; a follower answers UNAVAILABLE naming the leader
//! ([`crate::status`]) rather than forwarding, so a client learns the
//! leader once and talks to it directly. Lists are linearizable reads on
//! any node (ReadIndex), or this node's applied state when asked `local`.
//! `Watch` streams the changes this node applies, from the moment it is
//! called.

use ordo::RaftNode;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::model::{Change, RouterCommand};
use crate::proto;
use crate::proto::registry_server::Registry;
use crate::state_machine::{IndexedChange, RegistryView, RouterStateMachine};
use crate::status::{raft_status, rule_status};

/// The `Registry` service of one node.
#[derive(Clone)]
pub struct RegistryApi {
    node: RaftNode<RouterStateMachine>,
    changes: broadcast::Sender<IndexedChange>,
    /// Cancelled when the node stops: ends every watch.
    stopping: CancellationToken,
}

impl RegistryApi {
    /// The service for `node`, whose state machine announces on `changes`;
    /// watches end when `stopping` is cancelled.
    pub fn new(
        node: RaftNode<RouterStateMachine>,
        changes: broadcast::Sender<IndexedChange>,
        stopping: CancellationToken,
    ) -> Self {
        RegistryApi {
            node,
            changes,
            stopping,
        }
    }

    async fn write(&self, command: RouterCommand) -> Result<Response<proto::WriteReply>, Status> {
        let applied = self
            .node
            .propose(command)
            .await
            .map_err(raft_status)?
            .map_err(|error| rule_status(&error))?;
        let revoked_pipelines = applied
            .changes
            .iter()
            .filter_map(|change| match change {
                Change::PipelineRevoked(id) => Some(id.clone()),
                _ => None,
            })
            .collect();
        Ok(Response::new(proto::WriteReply {
            index: applied.index,
            changed: !applied.changes.is_empty(),
            revoked_pipelines,
        }))
    }

    async fn view(&self, request: Request<proto::ListRequest>) -> Result<RegistryView, Status> {
        let read = if request.get_ref().local {
            self.node.read_stale(()).await
        } else {
            self.node.read_index(()).await
        };
        read.map_err(raft_status)
    }
}

#[tonic::async_trait]
impl Registry for RegistryApi {
    type WatchStream = ReceiverStream<Result<proto::Change, Status>>;

    async fn register_service(
        &self,
        request: Request<proto::RegisterServiceRequest>,
    ) -> Result<Response<proto::WriteReply>, Status> {
        let service = request.into_inner().service.unwrap_or_default();
        self.write(RouterCommand::RegisterService(service.into()))
            .await
    }

    async fn deregister_service(
        &self,
        request: Request<proto::DeregisterServiceRequest>,
    ) -> Result<Response<proto::WriteReply>, Status> {
        let service_id = request.into_inner().service_id;
        self.write(RouterCommand::DeregisterService { service_id })
            .await
    }

    async fn register_sidecar(
        &self,
        request: Request<proto::RegisterSidecarRequest>,
    ) -> Result<Response<proto::WriteReply>, Status> {
        let sidecar = request.into_inner().sidecar.unwrap_or_default();
        self.write(RouterCommand::RegisterSidecar(sidecar.into()))
            .await
    }

    async fn deregister_sidecar(
        &self,
        request: Request<proto::DeregisterSidecarRequest>,
    ) -> Result<Response<proto::WriteReply>, Status> {
        let sidecar_id = request.into_inner().sidecar_id;
        self.write(RouterCommand::DeregisterSidecar { sidecar_id })
            .await
    }

    async fn assign_pipeline(
        &self,
        request: Request<proto::AssignPipelineRequest>,
    ) -> Result<Response<proto::WriteReply>, Status> {
        let pipeline = request.into_inner().pipeline.unwrap_or_default();
        self.write(RouterCommand::AssignPipeline(pipeline.into()))
            .await
    }

    async fn revoke_pipeline(
        &self,
        request: Request<proto::RevokePipelineRequest>,
    ) -> Result<Response<proto::WriteReply>, Status> {
        let request = request.into_inner();
        self.write(RouterCommand::RevokePipeline {
            pipeline_id: request.pipeline_id,
            sidecar_id: request.sidecar_id,
        })
        .await
    }

    async fn list_services(
        &self,
        request: Request<proto::ListRequest>,
    ) -> Result<Response<proto::ListServicesReply>, Status> {
        let view = self.view(request).await?;
        Ok(Response::new(proto::ListServicesReply {
            services: view
                .state
                .services
                .values()
                .cloned()
                .map(Into::into)
                .collect(),
            applied_index: view.applied_index,
        }))
    }

    async fn list_sidecars(
        &self,
        request: Request<proto::ListRequest>,
    ) -> Result<Response<proto::ListSidecarsReply>, Status> {
        let view = self.view(request).await?;
        Ok(Response::new(proto::ListSidecarsReply {
            sidecars: view
                .state
                .sidecars
                .values()
                .cloned()
                .map(Into::into)
                .collect(),
            applied_index: view.applied_index,
        }))
    }

    async fn list_pipelines(
        &self,
        request: Request<proto::ListRequest>,
    ) -> Result<Response<proto::ListPipelinesReply>, Status> {
        let view = self.view(request).await?;
        Ok(Response::new(proto::ListPipelinesReply {
            pipelines: view
                .state
                .pipelines
                .values()
                .cloned()
                .map(Into::into)
                .collect(),
            applied_index: view.applied_index,
        }))
    }

    async fn watch(
        &self,
        _request: Request<proto::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let changes = self.changes.subscribe();
        let (sender, stream) = mpsc::channel(64);
        tokio::spawn(forward_changes(changes, sender, self.stopping.clone()));
        Ok(Response::new(ReceiverStream::new(stream)))
    }
}

/// Forwards applied changes to one watcher until it hangs up, the node
/// stops, or it falls [`WATCH_BUFFER_CHANGES`](crate::state_machine::WATCH_BUFFER_CHANGES)
/// behind (then it is told DATA_LOSS: it must list again).
async fn forward_changes(
    mut changes: broadcast::Receiver<IndexedChange>,
    watcher: mpsc::Sender<Result<proto::Change, Status>>,
    stopping: CancellationToken,
) {
    loop {
        let received = tokio::select! {
            received = changes.recv() => received,
            () = watcher.closed() => return,
            () = stopping.cancelled() => return,
        };
        let next = match received {
            Ok(change) => Ok(change.into()),
            Err(broadcast::error::RecvError::Lagged(missed)) => Err(Status::data_loss(format!(
                "the watcher fell {missed} changes behind: list again, then watch again"
            ))),
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let cut_off = next.is_err();
        if watcher.send(next).await.is_err() || cut_off {
            return;
        }
    }
}
