//! The persistence thread: group commit of the core's persist actions.
//!
//! The consensus task hands every [`Persist`] to this thread through an
//! in-order channel and goes on at once (the core holds back whatever must
//! wait for durability). The thread loops: take every persist queued so far,
//! [`LogStore::write`] each in id order (page cache only), then one
//! [`LogStore::sync`] for all of them, then publish the highest id written.
//! Persists that arrive during a sync ride on the next one, so under load one
//! fdatasync covers many proposals.
//!
//! It is a plain thread, not a Tokio task: writes and fsyncs block, and a
//! dedicated thread keeps them off the async workers without the per-call
//! cost of `spawn_blocking`.
//!
//! Durability is reported by the id this thread *wrote*, not by the store's
//! own count: a store reused across node restarts may remember higher ids
//! from a previous life, which the new core never issued.
//!
//! On a storage failure the thread records the error for the consensus task
//! (which stops the node) and exits; nothing is ever reported durable that
//! the store did not confirm. When the consensus task drops its sender
//! (stop), the thread writes and syncs whatever is still queued, then exits:
//! a graceful stop leaves storage flushed.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};

use ordo_core::{Index, Persist, PersistId};
use tokio::sync::oneshot;

use crate::runtime::consensus::SnapshotEvent;
use crate::runtime::shared::Shared;
use crate::storage::{LogStore, StorageError};

/// Most persists written before one sync, so completions flow under a flood.
const PERSISTS_PER_SYNC_MAX: usize = 1024;

/// Work for the persistence thread, carried out in order.
pub(crate) enum PersistJob {
    /// Write a persist action of the core.
    Write(Persist),
    /// Discard the log up to and including this index (a snapshot covers it).
    Compact(Index),
    /// Replace the whole log with a received snapshot's position, then report.
    Reset(ordo_core::SnapshotMeta),
}

/// Starts the thread. `done` resolves (by being dropped) when it has exited
/// and released the store.
pub(crate) fn spawn(
    node_id: u64,
    store: Arc<dyn LogStore>,
    jobs: Receiver<PersistJob>,
    shared: Arc<Shared>,
    done: oneshot::Sender<()>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("ordo-persist-{node_id}"))
        .spawn(move || {
            if let Err(error) = run(store.as_ref(), &jobs, &shared) {
                tracing::error!(node_id, %error, "storage failed; the node stops");
                shared.fail(error.into());
            }
            drop(store);
            drop(done);
        })
        .map(|_| ())
}

fn run(
    store: &dyn LogStore,
    jobs: &Receiver<PersistJob>,
    shared: &Shared,
) -> Result<(), StorageError> {
    // `recv` fails once the consensus task dropped its sender and the queue
    // is empty: everything handed over has been written and synced.
    while let Ok(first) = jobs.recv() {
        let mut next = Some(first);
        let mut written: Option<PersistId> = None;
        for _ in 0..PERSISTS_PER_SYNC_MAX {
            let job = match next.take() {
                Some(job) => job,
                None => match jobs.try_recv() {
                    Ok(job) => job,
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                },
            };
            match job {
                PersistJob::Write(persist) => {
                    written = Some(persist.id);
                    store.write(persist)?;
                }
                PersistJob::Compact(through) => {
                    sync(store, shared, written.take())?;
                    store.compact(through)?;
                }
                PersistJob::Reset(meta) => {
                    sync(store, shared, written.take())?;
                    store.reset(meta.index, meta.term)?;
                    shared.snapshot_event(SnapshotEvent::LogReset(meta));
                }
            }
        }
        sync(store, shared, written)?;
    }
    Ok(())
}

/// One sync for everything written, then the highest id written is durable.
fn sync(
    store: &dyn LogStore,
    shared: &Shared,
    written: Option<PersistId>,
) -> Result<(), StorageError> {
    if let Some(id) = written {
        store.sync()?;
        shared.persisted(id);
    }
    Ok(())
}
