//! [`BackupApi`]: the `BackupService`. A backup is a linearizable copy of
//! the whole state in the snapshot format ([`write_view`]), streamed in
//! chunks; a restore reads one back and proposes it as one
//! [`RouterCommand::Restore`], so every node of the group replaces its
//! state at the same log index, and watchers see a reset.
//!
//! The restored state travels as one log entry, so it is bounded by
//! [`MAX_RESTORE_BYTES`] (a registry this example is for is far smaller; a
//! larger one would seed a new group from the backup instead, with
//! [`ordo::seed_snapshot`]).

use ordo::RaftNode;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use crate::model::RouterCommand;
use crate::proto;
use crate::proto::backup_service_server::BackupService;
use crate::state_machine::{RouterStateMachine, read_view, write_view};
use crate::status::{raft_status, rule_status};

/// Bytes in one streamed chunk of a backup.
pub const BACKUP_CHUNK_BYTES: usize = 64 * 1024;
/// The largest backup a restore accepts.
pub const MAX_RESTORE_BYTES: usize = 8 * 1024 * 1024;

/// The `BackupService` of one node.
#[derive(Clone)]
pub struct BackupApi {
    node: RaftNode<RouterStateMachine>,
}

impl BackupApi {
    /// The service for `node`.
    pub fn new(node: RaftNode<RouterStateMachine>) -> Self {
        BackupApi { node }
    }
}

#[tonic::async_trait]
impl BackupService for BackupApi {
    type BackupStream = tokio_stream::Iter<std::vec::IntoIter<Result<proto::BackupChunk, Status>>>;

    async fn backup(
        &self,
        _request: Request<proto::BackupRequest>,
    ) -> Result<Response<Self::BackupStream>, Status> {
        let view = self.node.read_index(()).await.map_err(raft_status)?;
        let mut bytes = Vec::new();
        write_view(&view, &mut bytes).map_err(|error| Status::internal(error.to_string()))?;
        let chunks: Vec<_> = bytes
            .chunks(BACKUP_CHUNK_BYTES)
            .map(|chunk| {
                Ok(proto::BackupChunk {
                    data: chunk.to_vec(),
                })
            })
            .collect();
        Ok(Response::new(tokio_stream::iter(chunks)))
    }

    async fn restore(
        &self,
        request: Request<Streaming<proto::BackupChunk>>,
    ) -> Result<Response<proto::RestoreReply>, Status> {
        let mut chunks = request.into_inner();
        let mut bytes = Vec::new();
        while let Some(chunk) = chunks.next().await {
            bytes.extend_from_slice(&chunk?.data);
            if bytes.len() > MAX_RESTORE_BYTES {
                return Err(Status::invalid_argument(format!(
                    "a backup larger than {MAX_RESTORE_BYTES} bytes cannot be restored through the log"
                )));
            }
        }
        let view = read_view(&mut bytes.as_slice())
            .map_err(|error| Status::invalid_argument(format!("not a registry backup: {error}")))?;
        let state = std::sync::Arc::unwrap_or_clone(view.state);
        // Checked here too, so a broken backup is refused before it is logged.
        state
            .check_invariants()
            .map_err(|error| rule_status(&error))?;
        let applied = self
            .node
            .propose(RouterCommand::Restore(state))
            .await
            .map_err(raft_status)?
            .map_err(|error| rule_status(&error))?;
        Ok(Response::new(proto::RestoreReply {
            index: applied.index,
        }))
    }
}
