//! The apply stage's side of snapshots: building one from the state
//! machine when the core asks, restoring the state machine from a received
//! one. Both block on file I/O (see [`blocking`]); a failed build is
//! counted and reported, never fatal (`snapshot_retry.rs`); a failed restore
//! stops the node, since the state machine may be half replaced.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::runtime::apply::Applier;
use crate::runtime::consensus::SnapshotEvent;
use crate::runtime::envelope::{self, SnapshotHeader};
use crate::runtime::error::RaftError;
use crate::runtime::event::Event;
use crate::runtime::snapshot_retry::SnapshotFailure;
use crate::runtime::state_machine::StateMachine;
use crate::storage::{SnapshotMeta, SnapshotStore};

impl<S: StateMachine> Applier<S> {
    /// The core asked for a snapshot: stream the state machine, as of the
    /// applied index, into the snapshot store, and report the outcome.
    pub(super) fn build_snapshot(&mut self) {
        let Some(store) = self.snapshot_store.take() else {
            self.shared.snapshot_event(SnapshotEvent::Built(None));
            return;
        };
        let meta = SnapshotMeta {
            index: self.applied_index,
            term: self.applied_term,
            membership: self.membership.clone(),
        };
        let header = SnapshotHeader::new(self.shared.directory().logged_all().clone());
        let on_thread = self.on_thread;
        let taken = self.call(|state_machine| {
            blocking(on_thread, || {
                take_snapshot(state_machine, &store, meta, &header)
            })
        });
        self.snapshot_store = Some(store);
        let built = match taken {
            Some(Ok(meta)) => {
                let last_index = meta.index;
                self.events.send(Event::SnapshotTaken { last_index });
                Some(meta)
            }
            Some(Err(failure)) => {
                // Not fatal: the log still holds everything; the consensus
                // task lets the core ask again after a back-off.
                self.snapshot_failed(failure);
                None
            }
            None => None,
        };
        self.shared.snapshot_event(SnapshotEvent::Built(built));
    }

    /// Counts a failed build, and reports it if it is the first of its kind
    /// or the first in `REPORT_INTERVAL` (see `snapshot_retry.rs`).
    fn snapshot_failed(&mut self, failure: SnapshotFailure) {
        self.shared
            .snapshot_failures
            .fetch_add(1, Ordering::Relaxed);
        let SnapshotFailure { kind, message } = failure;
        if self.snapshot_reports.due(kind, Instant::now()) {
            tracing::warn!(
                node_id = self.node_id,
                %kind,
                error = %message,
                "taking a snapshot failed; the node keeps running on its log and retries with \
                 back-off (reported once a minute at most)"
            );
            let error = RaftError::Snapshot(format!(
                "{kind}: {message}; the node keeps running on its log and retries with back-off"
            ));
            self.events.send(Event::Error { error });
        } else {
            tracing::debug!(node_id = self.node_id, %kind, error = %message, "taking a snapshot failed again");
        }
    }

    /// Replaces the state with the received snapshot `meta` (already durable
    /// in the store). Proposals it covers may or may not be in it: their
    /// outcome is unknown. Later ones stay: their entries may still come.
    pub(super) fn install(&mut self, meta: SnapshotMeta) {
        let Some(store) = self.snapshot_store.clone() else {
            let error = RaftError::Snapshot("no snapshot store to install from".into());
            self.shared.fail(error);
            return;
        };
        let on_thread = self.on_thread;
        let restored = self.call(|state_machine| {
            blocking(on_thread, || {
                let mut reader = store
                    .open_snapshot(meta.index, meta.term)
                    .map_err(|error| error.to_string())?;
                restore_from(state_machine, &mut reader)
            })
        });
        let members = match restored {
            Some(Ok(header)) => header.into_members(),
            Some(Err(reason)) => {
                // The state machine may be half replaced: the node must stop.
                let error = RaftError::Snapshot(format!(
                    "restoring snapshot {} failed: {reason}",
                    meta.index
                ));
                self.shared.fail(error.clone());
                self.fail_waiting(&error);
                self.broken = Some(error);
                return;
            }
            None => return,
        };
        self.waiters.replaced_through(meta.index);
        self.changes.replaced_through(meta.index);
        self.applied_index = meta.index;
        self.applied_term = meta.term;
        // Not published as applied: the consensus task learns it from the
        // installation, after the log is reset.
        self.published_index = meta.index;
        self.membership = meta.membership.clone();
        self.shared.directory_mut().restore(members);
        self.serve_reads();
        self.shared.snapshot_event(SnapshotEvent::Restored(meta));
    }
}

/// Runs `work`, which blocks, without stalling the async runtime: directly on
/// the apply thread, through `block_in_place` on a multi-threaded runtime.
/// On a current-thread runtime there is no other worker to hand off to, so
/// it runs in place (snapshots are rare; use a dedicated apply thread there).
fn blocking<T>(on_thread: bool, work: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if !on_thread && multi_thread {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

/// Streams the runtime's header and the state machine into a new snapshot
/// file, durably.
fn take_snapshot<S: StateMachine>(
    state_machine: &S,
    store: &SnapshotStore,
    meta: SnapshotMeta,
    header: &SnapshotHeader,
) -> Result<SnapshotMeta, SnapshotFailure> {
    let mut writer = store
        .create(meta)
        .map_err(|error| SnapshotFailure::storage(&error))?;
    envelope::write_snapshot_header(&mut writer, header)
        .map_err(|error| SnapshotFailure::writing(&error, false))?;
    state_machine
        .snapshot(&mut writer)
        .map_err(|error| SnapshotFailure::writing(&error, true))?;
    writer
        .finish()
        .map_err(|error| SnapshotFailure::storage(&error))
}

/// Restores the state machine from a snapshot's data: the runtime's header,
/// then the state machine's bytes. Returns the header.
pub(crate) fn restore_from<S: StateMachine>(
    state_machine: &mut S,
    data: &mut dyn std::io::Read,
) -> Result<SnapshotHeader, String> {
    let header = envelope::read_snapshot_header(data).map_err(|error| error.to_string())?;
    state_machine
        .restore(data)
        .map_err(|error| error.to_string())?;
    Ok(header)
}
