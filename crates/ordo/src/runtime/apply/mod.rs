//! The apply stage: owns the state machine, applies committed entries,
//! answers proposals and reads, takes snapshots.
//!
//! It runs as a Tokio task of its own by default, or on a dedicated thread
//! ([`RaftConfig::dedicated_apply_thread`](crate::RaftConfig::dedicated_apply_thread))
//! for state machines that block. A task is woken by the consensus task
//! without a thread switch, which is what keeps a proposal's latency low; a
//! thread keeps a blocking state machine off the async workers.
//!
//! Everything arrives through one in-order channel from the consensus task
//! (stale reads come straight from the handle), so the stage needs no locks
//! and sees events in the order consensus decided them:
//!
//! - `Register` names the replies for proposals appended at `first_index..`
//!   in `term`. It always arrives before the entries it describes.
//! - `Entries` are applied as one batch. A proposal is answered with its
//!   response when its index is applied *with its term*; an index applied
//!   with another term (or as a no-op) means a new leader replaced it, and the
//!   proposal is answered [`RaftError::ProposalDropped`]. Nothing else answers
//!   it (not its entry leaving this node's log): see `waiters.rs`.
//! - `Tick` (from the consensus task's tick, while proposals are pending)
//!   answers [`RaftError::Timeout`] to proposals past their deadline
//!   ([`RaftConfig::propose_timeout`](crate::RaftConfig::propose_timeout)
//!   after they were appended). Callers keep no timer of their own, so a
//!   state machine stuck in one call delays timeouts too.
//! - `Read` waits until the applied index reaches its read index, then runs
//!   the query (a barrier answers the read index instead); `StaleRead` runs
//!   at once.
//!
//! Entries are matched by payload: the application's commands go to the
//! state machine, no-ops are skipped, configuration entries and the
//! runtime's own entries (member information, see `envelope.rs`) go to the
//! member directory (`runtime/addresses.rs`), which snapshots record in
//! the runtime's header before the state machine's bytes. New kinds of entry
//! get their own arm in `Applier::decode` (`entries.rs`).
//!
//! Here: [`ApplyInput`], the stage's input (defined by its consumer), and
//! the loop that handles it. `entries.rs`: decoding and applying committed
//! entries, answering their proposals; `waiters.rs`: proposals and
//! membership changes waiting for their entry; `reads.rs`: reads waiting to
//! be served; `snapshots.rs`: building and restoring snapshots.
//!
//! A panic in the state machine is caught where it is called: the state is
//! unknown from then on, so the stage stops calling it, tells the consensus
//! task (which stops the node), and answers everyone with the error.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use ordo_core::{Index, Membership, Term};
use tokio::sync::{mpsc, oneshot};

use crate::runtime::error::RaftError;
use crate::runtime::event::{Event, EventSender};
use crate::runtime::shared::{Reply, Shared};
use crate::runtime::snapshot_retry::Reports;
use crate::runtime::state_machine::StateMachine;
use crate::storage::SnapshotStore;
use waiters::Waiters;

mod entries;
mod reads;
pub(crate) use reads::ReadWork;
mod snapshots;
mod waiters;

pub(crate) use snapshots::restore_from;

/// Most inputs handled before progress is published.
const INPUTS_PER_ROUND_MAX: usize = 256;

/// Work for the apply stage, in the order the consensus task decided it.
pub(crate) enum ApplyInput<S: StateMachine> {
    /// Proposals appended at `first_index ..` in `term`, one reply each, in
    /// order; each is answered [`RaftError::Timeout`] if not applied by
    /// `deadline`.
    Register {
        first_index: Index,
        term: Term,
        deadline: std::time::Instant,
        replies: Vec<Reply<S::Response>>,
    },
    /// Time passed (the consensus task's tick): answer the proposals whose
    /// deadline passed.
    Tick,
    /// Committed entries to apply, in order.
    Entries(Vec<ordo_core::Entry>),
    /// A confirmed read: served once applied up to `read_index`.
    Read {
        read_index: Index,
        work: ReadWork<S>,
    },
    /// A read of whatever is applied now.
    StaleRead {
        query: S::Query,
        reply: Reply<S::Answer>,
    },
    /// The core asked for a snapshot at (at least) the applied index.
    BuildSnapshot,
    /// This node stopped leading with `committed` known committed: answer
    /// proposals past it "outcome unknown" now.
    LeadershipLost { committed: Index },
    /// Replace the state with the received snapshot `meta`.
    Install(ordo_core::SnapshotMeta),
    /// A membership change appended at `index` in `term`: answer once applied.
    RegisterChange {
        index: Index,
        term: Term,
        reply: Reply<()>,
    },
    /// Answer everything still waiting with `error`, then exit.
    Stop { error: RaftError },
}

/// Where the apply stage starts.
pub(crate) struct StartPoint {
    /// The index and term the state machine has applied (restored from a
    /// snapshot, or (0, 0)).
    pub(crate) applied: (Index, Term),
    /// The configuration in force there.
    pub(crate) membership: Membership,
    /// Where snapshots go, if anywhere.
    pub(crate) snapshot_store: Option<Arc<SnapshotStore>>,
}

pub(crate) struct Applier<S: StateMachine> {
    state_machine: S,
    node_id: u64,
    inputs: mpsc::UnboundedReceiver<ApplyInput<S>>,
    shared: Arc<Shared>,
    events: EventSender,
    waiters: Waiters<S::Response>,
    /// Membership changes proposed here, waiting for their entry.
    changes: Waiters<()>,
    /// Keyed by (read index, arrival number): served in index order.
    reads: BTreeMap<(Index, u64), ReadWork<S>>,
    reads_arrived: u64,
    applied_index: Index,
    applied_term: Term,
    /// The applied index last published to the consensus task and events.
    published_index: Index,
    /// The configuration in force at `applied_index` (for snapshots).
    membership: Membership,
    snapshot_store: Option<Arc<SnapshotStore>>,
    /// When each kind of snapshot failure was last reported.
    snapshot_reports: Reports,
    /// Set once the state machine panicked: it is never called again.
    broken: Option<RaftError>,
    /// True on a dedicated thread (blocking is fine there).
    on_thread: bool,
}

impl<S: StateMachine> Applier<S> {
    pub(crate) fn new(
        state_machine: S,
        node_id: u64,
        inputs: mpsc::UnboundedReceiver<ApplyInput<S>>,
        shared: Arc<Shared>,
        events: EventSender,
        start: StartPoint,
    ) -> Self {
        let StartPoint {
            applied,
            membership,
            snapshot_store,
        } = start;
        Applier {
            state_machine,
            node_id,
            inputs,
            shared,
            events,
            waiters: Waiters::new(),
            changes: Waiters::new(),
            reads: BTreeMap::new(),
            reads_arrived: 0,
            applied_index: applied.0,
            applied_term: applied.1,
            published_index: applied.0,
            membership,
            snapshot_store,
            snapshot_reports: Reports::default(),
            broken: None,
            on_thread: false,
        }
    }

    /// Starts the stage on a thread of its own. `done` resolves (by being
    /// dropped) when it has exited and released the state machine and the
    /// snapshot store (so a restart can reopen it).
    pub(crate) fn spawn_thread(mut self, done: oneshot::Sender<()>) -> std::io::Result<()> {
        self.on_thread = true;
        std::thread::Builder::new()
            .name(format!("ordo-apply-{}", self.node_id))
            .spawn(move || {
                self.run_blocking();
                drop(self);
                drop(done);
            })
            .map(|_| ())
    }

    fn run_blocking(&mut self) {
        while let Some(first) = self.inputs.blocking_recv() {
            if self.round(first) {
                return;
            }
        }
        self.abandoned();
    }

    /// Starts the stage as a task on the current Tokio runtime. `done` as
    /// for [`spawn_thread`](Self::spawn_thread).
    pub(crate) fn spawn_task(mut self, done: oneshot::Sender<()>) {
        tokio::spawn(async move {
            self.run().await;
            drop(self);
            drop(done);
        });
    }

    async fn run(&mut self) {
        while let Some(first) = self.inputs.recv().await {
            if self.round(first) {
                return;
            }
        }
        self.abandoned();
    }

    /// The consensus task is gone without a stop: nobody will ever answer.
    fn abandoned(&mut self) {
        let _ = self.stop(RaftError::ShuttingDown);
    }

    /// Handles `first` and whatever else is queued (bounded), then publishes
    /// progress. True when the stage must exit.
    fn round(&mut self, first: ApplyInput<S>) -> bool {
        if self.handle(first) {
            return true;
        }
        for _ in 1..INPUTS_PER_ROUND_MAX {
            let Ok(input) = self.inputs.try_recv() else {
                break;
            };
            if self.handle(input) {
                return true;
            }
        }
        self.publish_progress();
        false
    }

    /// Handles one input; true when the stage must exit.
    fn handle(&mut self, input: ApplyInput<S>) -> bool {
        if let Some(error) = self.broken.clone() {
            return refuse(input, &error);
        }
        match input {
            ApplyInput::Register {
                first_index,
                term,
                deadline,
                replies,
            } => self.register(first_index, term, deadline, replies),
            ApplyInput::Tick => {
                self.waiters.expire(Instant::now());
            }
            ApplyInput::Entries(entries) => self.apply(entries),
            ApplyInput::Read { read_index, work } => self.read(read_index, work),
            ApplyInput::StaleRead { query, reply } => self.answer_query(query, reply),
            ApplyInput::BuildSnapshot => self.build_snapshot(),
            ApplyInput::LeadershipLost { committed } => {
                self.waiters.leadership_lost(committed);
                self.changes.leadership_lost(committed);
            }
            ApplyInput::Install(meta) => self.install(meta),
            ApplyInput::RegisterChange { index, term, reply } => {
                // The caller times the change out itself.
                self.changes.insert(index, term, None, reply);
            }
            ApplyInput::Stop { error } => {
                self.publish_progress();
                let _ = self.stop(error);
                return true;
            }
        }
        false
    }

    /// Calls the state machine, containing a panic: the state machine is
    /// then marked broken, the node told to stop, and everyone waiting told.
    fn call<T>(&mut self, call: impl FnOnce(&mut S) -> T) -> Option<T> {
        let state_machine = &mut self.state_machine;
        match catch_unwind(AssertUnwindSafe(|| call(state_machine))) {
            Ok(value) => Some(value),
            Err(_) => {
                tracing::error!(
                    node_id = self.node_id,
                    "the state machine panicked; the node stops"
                );
                let error = RaftError::StateMachine("the state machine panicked".into());
                self.shared.fail(error.clone());
                self.fail_waiting(&error);
                self.broken = Some(error);
                None
            }
        }
    }

    fn register(
        &mut self,
        first_index: Index,
        term: Term,
        deadline: Instant,
        replies: Vec<Reply<S::Response>>,
    ) {
        for (reply, index) in replies.into_iter().zip(first_index..) {
            self.waiters.insert(index, term, Some(deadline), reply);
        }
    }

    fn publish_progress(&mut self) {
        if self.applied_index <= self.published_index {
            return;
        }
        self.published_index = self.applied_index;
        self.shared.applied(self.applied_index);
        let applied_index = self.applied_index;
        self.events
            .send_with(|| Event::EntriesApplied { applied_index });
    }

    /// Answers every proposal and read waiting here with `error`.
    fn fail_waiting(&mut self, error: &RaftError) {
        self.waiters.fail_all(error);
        self.changes.fail_all(error);
        for (_, read) in std::mem::take(&mut self.reads) {
            read.fail(error.clone());
        }
    }

    /// Answers everyone waiting, and everything queued, with `error`. True
    /// if the consensus task's stop was among what was queued.
    fn stop(&mut self, error: RaftError) -> bool {
        self.fail_waiting(&error);
        // Answer stale reads and anything else queued behind the stop.
        let mut stopped = false;
        while let Ok(input) = self.inputs.try_recv() {
            stopped |= refuse(input, &error);
        }
        stopped
    }
}

/// Answers whoever `input` carries with `error`; true for a stop.
fn refuse<S: StateMachine>(input: ApplyInput<S>, error: &RaftError) -> bool {
    match input {
        ApplyInput::Register { replies, .. } => {
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
        }
        ApplyInput::Read { work, .. } => work.fail(error.clone()),
        ApplyInput::StaleRead { reply, .. } => {
            let _ = reply.send(Err(error.clone()));
        }
        ApplyInput::RegisterChange { reply, .. } => {
            let _ = reply.send(Err(error.clone()));
        }
        ApplyInput::Entries(_)
        | ApplyInput::LeadershipLost { .. }
        | ApplyInput::BuildSnapshot
        | ApplyInput::Install(_)
        | ApplyInput::Tick => {}
        ApplyInput::Stop { .. } => return true,
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Instant;

    use bytes::Bytes;
    use ordo_core::{Role, SoftState};
    use tokio::sync::oneshot;

    use super::*;
    use crate::runtime::envelope;
    use crate::runtime::test_stubs::Echo;

    fn applier(max_responses: usize) -> Applier<Echo<u64>> {
        let (_inputs, receiver) = mpsc::unbounded_channel();
        let soft_state = SoftState {
            role: Role::Follower,
            term: 1,
            leader: None,
        };
        Applier::new(
            Echo::answering_at_most(max_responses),
            1,
            receiver,
            Arc::new(Shared::new(soft_state, Default::default())),
            EventSender::new(16),
            StartPoint {
                applied: (0, 0),
                membership: Membership::default(),
                snapshot_store: None,
            },
        )
    }

    fn command(index: Index, value: u64) -> ordo_core::Entry {
        let mut bytes = vec![envelope::COMMAND_TAG];
        bytes.extend(postcard::to_allocvec(&value).unwrap());
        ordo_core::Entry::command(index, 1, bytes)
    }

    type Answer = oneshot::Receiver<Result<u64, RaftError>>;

    fn register(applier: &mut Applier<Echo<u64>>, count: usize) -> Vec<Answer> {
        let (replies, answers): (Vec<_>, Vec<_>) = (0..count).map(|_| oneshot::channel()).unzip();
        applier.handle(ApplyInput::Register {
            first_index: 1,
            term: 1,
            deadline: Instant::now() + std::time::Duration::from_secs(60),
            replies,
        });
        answers
    }

    fn answers(answers: Vec<Answer>) -> Vec<Result<u64, String>> {
        answers
            .into_iter()
            .map(|mut answer| answer.try_recv().unwrap().map_err(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn each_proposal_of_a_batch_gets_its_own_answer_in_order() {
        let mut applier = applier(usize::MAX);
        let waiting = register(&mut applier, 4);
        let garbage = ordo_core::Entry::command(2, 1, Bytes::from_static(&[0, 0xff, 0xff]));
        let batch = vec![
            command(1, 10),
            garbage,
            ordo_core::Entry::noop(3, 1),
            command(4, 40),
        ];
        applier.handle(ApplyInput::Entries(batch));
        let answered = answers(waiting);
        assert_eq!(answered[0], Ok(10));
        assert!(
            answered[1].as_ref().unwrap_err().contains("entry 2"),
            "{answered:?}"
        );
        // Index 3 was applied as a no-op: another leader's entry.
        assert_eq!(
            answered[2],
            Err(RaftError::ProposalDropped.to_string()),
            "{answered:?}"
        );
        assert_eq!(answered[3], Ok(40));
    }

    #[test]
    fn commands_the_state_machine_did_not_answer_get_an_error() {
        let mut applier = applier(1);
        let waiting = register(&mut applier, 2);
        applier.handle(ApplyInput::Entries(vec![command(1, 10), command(2, 20)]));
        let answered = answers(waiting);
        assert_eq!(answered[0], Ok(10));
        assert!(answered[1].as_ref().unwrap_err().contains("no response"));
    }
}
