//! What the node's tasks and threads share: the progress the persistence
//! and apply stages publish to the consensus task (atomics, a mailbox, one
//! `Notify`; see ARCHITECTURE.md on why this direction is not a channel),
//! the role the handles read, the member directory, and the counted limits.
//! Each message type lives with the stage that consumes it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use ordo_core::{Index, PersistId, SoftState};
use tokio::sync::{Notify, oneshot, watch};

use crate::runtime::addresses::Directory;
use crate::runtime::consensus::SnapshotEvent;
use crate::runtime::error::RaftError;

/// Where an answer goes: the caller's half of a oneshot channel.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, RaftError>>;

/// State shared by the handle, the consensus task and the two threads.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Role, term and leader, as last reported by the core.
    pub(crate) soft_state: watch::Sender<SoftState>,
    /// Set once the node has fully stopped (threads joined, storage flushed).
    pub(crate) stopped: watch::Sender<bool>,
    /// Wakes the consensus task: storage or the state machine progressed, or failed.
    pub(crate) wake: Notify,
    /// Highest persist id the persistence thread made durable.
    pub(crate) durable_id: AtomicU64,
    /// Highest index the apply stage applied.
    pub(crate) applied_index: AtomicU64,
    /// The first fatal failure of a thread, for the consensus task to act on.
    fatal: Mutex<Option<RaftError>>,
    /// Snapshot work finished, for the consensus task to report to the core.
    snapshot_events: Mutex<Vec<SnapshotEvent>>,
    /// What this node knows of its members (see `addresses.rs`): written by
    /// the apply stage, read by everyone.
    directory: std::sync::RwLock<Directory>,
    /// The directory's versions and whether it holds pending entries,
    /// published by every writer as its lock is released, so the consensus
    /// task's every-round checks take no lock when nothing changed.
    directory_marks: DirectoryMarks,
    /// Proposal calls in progress.
    pub(crate) pending_proposals: AtomicUsize,
    /// Read calls in progress.
    pub(crate) pending_reads: AtomicUsize,
    /// Snapshot builds that failed (see `snapshot_retry.rs`).
    pub(crate) snapshot_failures: AtomicU64,
    /// Closed by `RaftNode::pause`; the consensus task passes it each round.
    pub(crate) pause: crate::runtime::consensus::PauseGate,
}

impl Shared {
    pub(crate) fn new(soft_state: SoftState, directory: Directory) -> Self {
        Shared {
            directory_marks: DirectoryMarks::default(),
            directory: std::sync::RwLock::new(directory),
            soft_state: watch::Sender::new(soft_state),
            stopped: watch::Sender::new(false),
            wake: Notify::new(),
            durable_id: AtomicU64::new(0),
            applied_index: AtomicU64::new(0),
            fatal: Mutex::new(None),
            snapshot_events: Mutex::new(Vec::new()),
            pending_proposals: AtomicUsize::new(0),
            pending_reads: AtomicUsize::new(0),
            snapshot_failures: AtomicU64::new(0),
            pause: Default::default(),
        }
    }

    /// Records a fatal failure (the first one wins) and wakes the consensus task.
    pub(crate) fn fail(&self, error: RaftError) {
        let mut fatal = self.fatal.lock().unwrap_or_else(PoisonError::into_inner);
        fatal.get_or_insert(error);
        drop(fatal);
        self.wake.notify_one();
    }

    /// The fatal failure, if any.
    pub(crate) fn fatal(&self) -> Option<RaftError> {
        self.fatal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reports finished snapshot work and wakes the consensus task.
    pub(crate) fn snapshot_event(&self, event: SnapshotEvent) {
        self.snapshot_events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
        self.wake.notify_one();
    }

    /// Takes the snapshot work finished since the last call.
    pub(crate) fn take_snapshot_events(&self) -> Vec<SnapshotEvent> {
        std::mem::take(
            &mut *self
                .snapshot_events
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Reads the member directory.
    pub(crate) fn directory(&self) -> std::sync::RwLockReadGuard<'_, Directory> {
        self.directory
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the member directory: the applied view (the apply stage),
    /// the appended view and the configuration (the consensus task), both
    /// at start.
    pub(crate) fn directory_mut(&self) -> DirectoryWriter<'_> {
        let guard = self
            .directory
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        DirectoryWriter {
            guard,
            marks: &self.directory_marks,
        }
    }

    /// The directory's version and applied-view version, as last published.
    pub(crate) fn directory_versions(&self) -> (u64, u64) {
        let marks = &self.directory_marks;
        (
            marks.version.load(Ordering::Acquire),
            marks.applied_version.load(Ordering::Acquire),
        )
    }

    /// True if the directory holds pending entries, as last published.
    pub(crate) fn directory_has_pending(&self) -> bool {
        self.directory_marks.pending.load(Ordering::Acquire)
    }

    /// The client address of `id`, if one is known (not empty).
    pub(crate) fn client_address(&self, id: ordo_core::NodeId) -> Option<String> {
        self.directory()
            .info(id)
            .map(|info| info.address)
            .filter(|address| !address.is_empty())
    }

    /// Publishes progress of the persistence thread.
    pub(crate) fn persisted(&self, id: PersistId) {
        self.durable_id.store(id, Ordering::Release);
        self.wake.notify_one();
    }

    /// Publishes progress of the apply stage.
    pub(crate) fn applied(&self, index: Index) {
        self.applied_index.store(index, Ordering::Release);
        self.wake.notify_one();
    }
}

/// Holds one unit of a counted limit; gives it back when dropped (also when
/// the caller's future is cancelled).
#[derive(Debug)]
pub(crate) struct Slot<'a> {
    counter: &'a AtomicUsize,
}

impl<'a> Slot<'a> {
    /// Takes a unit of `counter` unless `limit` are taken.
    pub(crate) fn acquire(counter: &'a AtomicUsize, limit: usize) -> Option<Self> {
        let taken = counter.fetch_add(1, Ordering::AcqRel);
        if taken >= limit {
            counter.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot { counter })
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::AcqRel);
    }
}

/// See [`Shared::directory_marks`](Shared).
#[derive(Debug, Default)]
struct DirectoryMarks {
    version: AtomicU64,
    applied_version: AtomicU64,
    pending: std::sync::atomic::AtomicBool,
}

/// Write access to the member directory; publishes its marks when dropped,
/// before the lock is released.
pub(crate) struct DirectoryWriter<'a> {
    guard: std::sync::RwLockWriteGuard<'a, Directory>,
    marks: &'a DirectoryMarks,
}

impl std::ops::Deref for DirectoryWriter<'_> {
    type Target = Directory;

    fn deref(&self) -> &Directory {
        &self.guard
    }
}

impl std::ops::DerefMut for DirectoryWriter<'_> {
    fn deref_mut(&mut self) -> &mut Directory {
        &mut self.guard
    }
}

impl Drop for DirectoryWriter<'_> {
    fn drop(&mut self) {
        let directory = &*self.guard;
        self.marks
            .pending
            .store(directory.has_pending(), Ordering::Release);
        self.marks
            .applied_version
            .store(directory.applied_version(), Ordering::Release);
        self.marks
            .version
            .store(directory.version(), Ordering::Release);
    }
}
