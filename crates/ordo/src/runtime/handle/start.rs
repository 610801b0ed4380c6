//! Starting a node: restore the state machine, build the core, spawn the
//! consensus task, the apply stage and the threads.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use ordo_core::{Index, InitialState, NodeId, PartialSnapshot, Raft, StartError, Term};
use tokio::sync::{mpsc, oneshot};

use crate::runtime::addresses::{self, Members, PeerSync};
use crate::runtime::apply::{Applier, StartPoint, restore_from};
use crate::runtime::consensus::{Consensus, LoopState};
use crate::runtime::consensus::{ProposalQueue, QueueTaker};
use crate::runtime::envelope;
use crate::runtime::error::RaftError;
use crate::runtime::handle::{Parts, RaftNode, Running, agreement};
use crate::runtime::state_machine::StateMachine;
use crate::runtime::{persist, snapshot_io};
use crate::storage::{LogStore, SnapshotStore};

impl<S: StateMachine> RaftNode<S> {
    /// Starts the node: restores the state machine from its newest snapshot
    /// (if any), opens the transport, and spawns the consensus task on the
    /// current Tokio runtime along with the apply stage, and the persistence
    /// thread (for stores that block).
    ///
    /// # Errors
    /// [`RaftError::AlreadyStarted`] on a second call; [`RaftError::Storage`]
    /// or [`RaftError::StateMachine`] if the snapshot cannot be restored;
    /// [`RaftError::Transport`] if the transport cannot start.
    pub async fn start(&self) -> Result<(), RaftError> {
        let parts = self
            .inner
            .parts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or(RaftError::AlreadyStarted)?;
        let node_id = self.inner.config.node_id;
        let events = self.event_sender().ok_or(RaftError::ShuttingDown)?;
        let (parts, restored) = tokio::task::spawn_blocking(move || restore(parts))
            .await
            .map_err(|error| RaftError::StateMachine(format!("restore panicked: {error}")))??;
        let Parts {
            state_machine,
            log_store,
            transport,
            snapshot_store,
            inbox_receiver,
        } = parts;
        let config = Arc::clone(&self.inner.config);
        let seed = config.rng_seed.unwrap_or_else(|| clock_seed(node_id));
        let core_config = config.core_config(seed, snapshot_store.is_some())?;
        let departure_grace =
            core_config.election_timeout_max_ticks * addresses::DEPARTURE_GRACE_ELECTIONS;
        // The log's configuration entries, if any, override this (the core
        // recovers them at start).
        let membership = match &restored.snapshot {
            Some(snapshot) => snapshot.membership.clone(),
            None => config.initial_membership(),
        };
        let initial = InitialState {
            hard_state: log_store.hard_state(),
            membership: membership.clone(),
            applied: restored.applied_index,
            snapshot: restored.snapshot.clone(),
            // A transfer interrupted by the restart resumes from the bytes
            // made durable.
            partial_snapshot: restored.partial.clone(),
        };
        let mut raft = Raft::new(core_config, Arc::clone(&log_store), initial).map_err(
            |error| match error {
                StartError::Config(error) => RaftError::Config(error.into()),
                StartError::Storage(error) => RaftError::Fatal(error.to_string()),
            },
        )?;
        if let Some(through) = log_store.repair_point() {
            // Protocol-Aware Recovery: its vote could elect a leader lacking
            // entries this node acknowledged and lost.
            tracing::warn!(
                node_id,
                repair_point = through,
                last_index = log_store.last_index(),
                "the log store may have lost entries it had acknowledged, up to the repair \
                 point: this node neither votes nor campaigns until a leader has copied its log \
                 back past it"
            );
            raft.begin_repair(through);
        }
        // What the group knows of its members: the snapshot's, then what is
        // applied; the log after it is pending (`addresses.rs`).
        self.inner.shared.directory_mut().start(
            restored.snapshot_members.clone(),
            raft.membership().members(),
            restored.hints.clone(),
        );
        let soft_state = raft.soft_state();
        self.inner.shared.soft_state.send_replace(soft_state);
        self.inner
            .shared
            .applied_index
            .store(restored.applied_index, std::sync::atomic::Ordering::Release);

        transport.start(self.inbox_for_transport())?;
        let (apply_sender, apply_receiver) = mpsc::unbounded_channel();
        let (apply_done, apply_done_receiver) = oneshot::channel();
        let mut threads_done = vec![apply_done_receiver];
        let (persist_sender, inline_store) = if log_store.writes_never_block() {
            (None, Some(Arc::clone(&log_store)))
        } else {
            let (persist_sender, persist_receiver) = std::sync::mpsc::channel();
            let (persist_done, persist_done_receiver) = oneshot::channel();
            let spawned = persist::spawn(
                node_id,
                Arc::clone(&log_store),
                persist_receiver,
                Arc::clone(&self.inner.shared),
                persist_done,
            );
            if let Err(error) = spawned {
                transport.stop();
                return Err(thread_error(error));
            }
            threads_done.push(persist_done_receiver);
            (Some(persist_sender), None)
        };
        let snapshot_store = snapshot_store.map(Arc::new);
        let snapshot_jobs = match &snapshot_store {
            Some(store) => {
                let (jobs, job_receiver) = std::sync::mpsc::channel();
                let (snapshot_done, snapshot_done_receiver) = oneshot::channel();
                let spawned = snapshot_io::spawn(
                    node_id,
                    Arc::clone(store),
                    job_receiver,
                    Arc::clone(&self.inner.shared),
                    snapshot_done,
                );
                if let Err(error) = spawned {
                    transport.stop();
                    return Err(thread_error(error));
                }
                threads_done.push(snapshot_done_receiver);
                Some(jobs)
            }
            None => None,
        };
        let applier = Applier::new(
            state_machine,
            node_id,
            apply_receiver,
            Arc::clone(&self.inner.shared),
            events.clone(),
            StartPoint {
                applied: (restored.applied_index, restored.applied_term),
                membership,
                snapshot_store: snapshot_store.clone(),
            },
        );
        if config.dedicated_apply_thread {
            if let Err(error) = applier.spawn_thread(apply_done) {
                transport.stop();
                return Err(thread_error(error));
            }
        } else {
            applier.spawn_task(apply_done);
        }
        let (request_sender, request_receiver) = mpsc::channel(config.max_pending_proposals);
        let (stop_sender, stop_receiver) = oneshot::channel();
        let proposals = Arc::new(ProposalQueue::new());
        let consensus = Consensus {
            state: LoopState::new(&config, soft_state, restored.applied_index),
            peers: PeerSync::new(node_id, departure_grace),
            raft,
            config,
            shared: Arc::clone(&self.inner.shared),
            requests: request_receiver,
            proposals: QueueTaker(Arc::clone(&proposals)),
            inbox: inbox_receiver,
            transport,
            persists: persist_sender,
            inline_store,
            snapshot_jobs,
            latest_snapshot: restored.snapshot.clone(),
            applies: apply_sender.clone(),
            events,
            reads: Default::default(),
            snapshot_waiters: Vec::new(),
            snapshot_backoff: crate::runtime::snapshot_retry::Backoff::default(),
            threads_done,
        };
        tokio::spawn(consensus.run(stop_receiver));
        let running = Running {
            requests: request_sender,
            proposals,
            applies: apply_sender,
            stop: Mutex::new(Some(stop_sender)),
            snapshot_store: snapshot_store.as_ref().map(Arc::downgrade),
        };
        let _ = self.inner.running.set(running);
        tracing::info!(node_id, "node started");
        Ok(())
    }
}

/// Where the state machine starts: from scratch, or from a snapshot; and
/// a snapshot transfer to resume, if one was interrupted.
struct Restored {
    applied_index: Index,
    applied_term: Term,
    snapshot: Option<ordo_core::SnapshotMeta>,
    partial: Option<PartialSnapshot>,
    /// Member information as of the snapshot (its header).
    snapshot_members: Members,
    /// Member information the log carries after the snapshot (not yet applied).
    hints: BTreeMap<Index, Members>,
}

/// Bytes of log read per step while looking for addresses at start.
const ADDRESS_SCAN_READ_BYTES: u64 = 4 * 1024 * 1024;

/// Restores the state machine from the newest snapshot, if there is one and
/// the log reaches it.
fn restore<S: StateMachine>(parts: Parts<S>) -> Result<(Parts<S>, Restored), RaftError> {
    let (parts, mut restored) = restore_latest(parts)?;
    if let Some(store) = &parts.snapshot_store {
        restored.partial = partial_snapshot(store, restored.applied_index)?;
    }
    restored.hints = hints(parts.log_store.as_ref(), restored.applied_index)?;
    Ok((parts, restored))
}

/// The member information the log carries after `after` (the snapshot's
/// index), by entry index: where to find members until the entries
/// are applied (see `addresses.rs`). Reads the log once, in bounded batches, as
/// the core does to recover configuration entries.
fn hints(log: &dyn LogStore, after: Index) -> Result<BTreeMap<Index, Members>, RaftError> {
    let mut found = BTreeMap::new();
    let mut next = (after + 1).max(log.first_index());
    let end = log.last_index() + 1;
    while next < end {
        let batch = log
            .entries(next, end, ADDRESS_SCAN_READ_BYTES)
            .map_err(|error| RaftError::Fatal(format!("reading the log at start: {error}")))?;
        let Some(last) = batch.last() else { break };
        next = last.index + 1;
        found.extend(envelope::members_in(&batch));
    }
    Ok(found)
}

/// The snapshot transfer interrupted by the restart, if it is still of use
/// (newer than what the state machine holds) and received anything.
fn partial_snapshot(
    store: &SnapshotStore,
    applied_index: Index,
) -> Result<Option<PartialSnapshot>, RaftError> {
    let Some(incoming) = store.open_incoming()? else {
        return Ok(None);
    };
    let meta = incoming.meta().clone();
    let content = incoming.content();
    let received_bytes = incoming.received_bytes();
    if meta.index <= applied_index || received_bytes == 0 {
        incoming.discard()?;
        return Ok(None);
    }
    if received_bytes > content.data_bytes {
        // More than the snapshot it announces: damage that passed the
        // progress record's checksums. Resuming could never finish.
        tracing::warn!(
            snapshot_index = meta.index,
            received_bytes,
            announced_bytes = content.data_bytes,
            "a partly received snapshot holds more bytes than it announces; starting the \
             transfer over"
        );
        incoming.discard()?;
        return Ok(None);
    }
    tracing::info!(
        snapshot_index = meta.index,
        received_bytes,
        "resuming a snapshot transfer"
    );
    Ok(Some(PartialSnapshot {
        meta,
        content,
        received_bytes,
    }))
}

/// Restores the state machine from the newest snapshot, if there is one,
/// once the snapshot and the log agree (see `agreement.rs`).
fn restore_latest<S: StateMachine>(mut parts: Parts<S>) -> Result<(Parts<S>, Restored), RaftError> {
    let fresh = Restored {
        applied_index: 0,
        applied_term: 0,
        snapshot: None,
        partial: None,
        snapshot_members: Members::new(),
        hints: BTreeMap::new(),
    };
    let Some(store) = &parts.snapshot_store else {
        agreement::reconcile(parts.log_store.as_ref(), None, None)?;
        return Ok((parts, fresh));
    };
    let Some(mut reader) = store.open_newest_verified()? else {
        agreement::reconcile(parts.log_store.as_ref(), Some(store.dir()), None)?;
        return Ok((parts, fresh));
    };
    let meta = reader.meta().clone();
    agreement::reconcile(parts.log_store.as_ref(), Some(store.dir()), Some(&meta))?;
    let header = restore_from(&mut parts.state_machine, &mut reader)
        .map_err(|error| RaftError::StateMachine(format!("restore failed: {error}")))?;
    tracing::info!(
        last_index = meta.index,
        "state machine restored from snapshot"
    );
    let restored = Restored {
        applied_index: meta.index,
        applied_term: meta.term,
        snapshot: Some(meta),
        partial: None,
        snapshot_members: header.into_members(),
        hints: BTreeMap::new(),
    };
    Ok((parts, restored))
}

fn thread_error(error: std::io::Error) -> RaftError {
    RaftError::Fatal(format!("cannot spawn a node thread: {error}"))
}

fn clock_seed(node_id: NodeId) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ node_id.rotate_left(32)
}
