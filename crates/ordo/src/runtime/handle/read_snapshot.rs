//! `RaftNode::read_snapshot`: the whole state as a linearizable read, from
//! a durable snapshot file rather than a copy built in the apply stage.
//!
//! Three steps, each on the stage that owns what it needs:
//! 1. a read barrier (ReadIndex, through the apply stage): answered with
//!    the read index once this node has applied up to it, so every write
//!    acknowledged before the call is applied here;
//! 2. the consensus task answers with the newest durable snapshot if it
//!    covers that index, else has one built (the apply stage builds at its
//!    applied index, already past the read index; a build already under
//!    way is waited for, not doubled). Under writes the newest snapshot is
//!    usually older than the read, so this usually builds one: the wait is
//!    not bounded by `propose_timeout`, since a large store takes longer
//!    than that to write out, and a bound would fail every backup of a
//!    large busy store (each retry has a newer read index, so builds
//!    again). It ends when the build does (bounded by the store's size and
//!    the disk), when building fails, or when the node stops; a caller that
//!    gives up drops the future, and its request is then dropped too;
//! 3. the newest snapshot file is opened off the async workers; it covers
//!    the read index (snapshots are only ever replaced by newer ones).

use ordo_core::{Index, ReadMode};
use tokio::sync::oneshot;

use crate::runtime::apply::ReadWork;
use crate::runtime::consensus::Request;
use crate::runtime::error::RaftError;
use crate::runtime::handle::{RaftNode, send, wait};
use crate::runtime::snapshot_file::SnapshotFile;
use crate::runtime::state_machine::StateMachine;

impl<S: StateMachine> RaftNode<S> {
    /// The whole state as a linearizable read, streamed from a durable
    /// snapshot file: it reflects every write acknowledged anywhere before
    /// the call (and possibly later ones). The newest snapshot is used if it
    /// is recent enough; otherwise one is taken first (and the log compacted
    /// behind it, as after any snapshot). Under writes that is the usual
    /// case, and the call then waits for the whole state to be written out:
    /// this wait has no timeout (not `propose_timeout`: a large store takes
    /// longer), it ends when the snapshot is durable, when building it
    /// fails, or when the node stops. To bound it, drop the future (for
    /// example with `tokio::time::timeout`): the snapshot being built is
    /// still finished, but no further one is taken for this call. The file stays readable for as
    /// long as the [`SnapshotFile`] is held, whatever snapshots follow, so a
    /// slow reader (a backup sent to a slow client) holds neither the state
    /// machine nor memory: only the file's disk space. Needs a snapshot
    /// store ([`RaftNodeBuilder::snapshot_store`](crate::RaftNodeBuilder::snapshot_store)).
    ///
    /// # Errors
    /// As [`read_index`](Self::read_index) for the read (on a follower
    /// without a leader, [`RaftError::NotLeader`]); as
    /// [`snapshot`](Self::snapshot) for the snapshot;
    /// [`RaftError::Snapshot`] without a snapshot store, or if the file
    /// cannot be opened; [`RaftError::Storage`] on an I/O error.
    pub async fn read_snapshot(&self) -> Result<SnapshotFile, RaftError> {
        let running = self.running()?;
        let store = running
            .snapshot_store
            .clone()
            .ok_or_else(|| RaftError::Snapshot("this node has no snapshot store".into()))?;
        let read_index = self.read_barrier().await?;
        let (reply, answer) = oneshot::channel();
        let covering = Some(read_index);
        send(&running.requests, Request::Snapshot { covering, reply })?;
        // No timeout: see the module docs. Dropped (the node stopped): the
        // node is shutting down.
        answer.await.map_err(|_| RaftError::ShuttingDown)??;
        // Gone once the node's stages stopped.
        let store = store.upgrade().ok_or(RaftError::ShuttingDown)?;
        let opened =
            tokio::task::spawn_blocking(move || SnapshotFile::open_newest(&store, read_index));
        opened.await.map_err(|error| {
            RaftError::Snapshot(format!("opening the snapshot did not finish: {error}"))
        })?
    }

    /// A linearizable read of nothing: answers its read index once this node
    /// has applied up to it.
    async fn read_barrier(&self) -> Result<Index, RaftError> {
        let running = self.running()?;
        let _slot = self.read_slot()?;
        let (reply, answer) = oneshot::channel();
        let work = ReadWork::Barrier { reply };
        let mode = ReadMode::ReadIndex;
        send(&running.requests, Request::Read { work, mode })?;
        wait(answer, self.inner.config.read_timeout).await
    }
}
