//! Model-based tests of WalLogStore on the simulated disk (`common::sim_fs`):
//!
//! - random writes, syncs, truncations, compactions, resets, process crashes
//!   and power losses (each file keeping none, all or a torn part of its
//!   unsynced bytes, or only their length, as zeros): after a power loss the log must reopen to a state the
//!   model passed through *at or after* the last point the store reported
//!   durable, with no repair point (only bytes no completed fdatasync covered
//!   were cut); after a process crash, to exactly the current state; and every
//!   `Durable` a sync returns must describe the state at that sync;
//! - the same writes with a reader thread: every read must match one whole
//!   state the log was in while the read ran.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::sim_fs::{Kept, SimFs};
use ordo::storage::{LogStore, WalLogStore};
use ordo_core::{Entry, HardState, Index, LogRead, LogReadError, Persist, Term};
use proptest::prelude::*;

/// What the log holds, as reads show it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    compacted: Index,
    compacted_term: Term,
    entries: Vec<Entry>,
    hard_state: HardState,
}

impl State {
    fn new() -> Self {
        State {
            compacted: 0,
            compacted_term: 0,
            entries: Vec::new(),
            hard_state: HardState::default(),
        }
    }

    fn last_index(&self) -> Index {
        self.compacted + self.entries.len() as Index
    }

    fn term(&self, index: Index) -> Option<Term> {
        if index == self.compacted {
            return Some(self.compacted_term);
        }
        let position = index.checked_sub(self.compacted + 1)?;
        self.entries.get(position as usize).map(|entry| entry.term)
    }

    fn last_term(&self) -> Term {
        self.term(self.last_index()).unwrap_or(self.compacted_term)
    }

    fn range(&self, low: Index, high: Index) -> Option<&[Entry]> {
        if low <= self.compacted || high > self.last_index() + 1 || low > high {
            return None;
        }
        let start = (low - self.compacted - 1) as usize;
        Some(&self.entries[start..start + (high - low) as usize])
    }

    fn truncate(&mut self, from: Index) {
        self.entries.truncate((from - self.compacted - 1) as usize);
    }

    fn compact(&mut self, through: Index) {
        let term = self.term(through).unwrap();
        self.entries.drain(..(through - self.compacted) as usize);
        (self.compacted, self.compacted_term) = (through, term);
    }

    fn reset(&mut self, index: Index, term: Term) {
        self.entries.clear();
        (self.compacted, self.compacted_term) = (index, term);
    }

    /// What `store` holds.
    fn observe(store: &WalLogStore) -> State {
        let (first, last) = (store.first_index(), store.last_index());
        State {
            compacted: first - 1,
            compacted_term: store.term(first - 1).unwrap(),
            entries: store.entries(first, last + 1, u64::MAX).unwrap(),
            hard_state: store.hard_state(),
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// A persist: an optional hard state (the term's increase and a vote; see
    /// [`next_hard_state`]), then `count` entries starting `back` before the
    /// end (a conflicting suffix when `back > 0`).
    Write {
        back: u64,
        count: u64,
        hard_state: Option<(Term, Option<u64>)>,
        new_term: bool,
        payload_bytes: usize,
    },
    Sync,
    Truncate {
        back: u64,
    },
    /// Compact through this many thousandths of the live entries.
    Compact {
        permille: u64,
    },
    Reset {
        ahead: u64,
    },
    ProcessCrash,
    PowerLoss {
        directory_kept: bool,
        kept: Vec<Kept>,
    },
}

fn kept() -> impl Strategy<Value = Kept> {
    prop_oneof![
        Just(Kept::Nothing),
        Just(Kept::Everything),
        Just(Kept::SizeOnly),
        (0..=1000u16).prop_map(Kept::Permille),
    ]
}

fn write_op() -> impl Strategy<Value = Op> {
    (
        0..5u64,
        0..10u64,
        proptest::option::of((0..3u64, proptest::option::of(1..4u64))),
        any::<bool>(),
        0..400usize,
    )
        .prop_map(
            |(back, count, hard_state, new_term, payload_bytes)| Op::Write {
                back,
                count,
                hard_state,
                new_term,
                payload_bytes,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => write_op(),
        3 => Just(Op::Sync),
        1 => (1..6u64).prop_map(|back| Op::Truncate { back }),
        1 => (0..=1000u64).prop_map(|permille| Op::Compact { permille }),
        1 => (0..4u64).prop_map(|ahead| Op::Reset { ahead }),
        1 => Just(Op::ProcessCrash),
        2 => (any::<bool>(), proptest::collection::vec(kept(), 1..4))
            .prop_map(|(directory_kept, kept)| Op::PowerLoss { directory_kept, kept }),
    ]
}

/// The hard state after `current` as Raft writes them: the term never goes
/// back, and a vote once cast stays for its term. The store relies on that
/// (recovery takes the newer of the log's hard state and the `VOTE` file's).
fn next_hard_state(current: HardState, term_increase: Term, vote: Option<u64>) -> HardState {
    match term_increase {
        0 => HardState {
            term: current.term,
            voted_for: current.voted_for.or(vote),
        },
        increase => HardState {
            term: current.term + increase,
            voted_for: vote,
        },
    }
}

/// Payloads that name the entry, with a serial number so that rewriting an
/// index with the same term still gives different bytes.
fn entry(index: Index, term: Term, serial: u64, payload_bytes: usize) -> Entry {
    let mut payload = format!("{index}/{term}/{serial}/").into_bytes();
    payload.resize(payload.len().max(payload_bytes), b'.');
    Entry::command(index, term, payload)
}

/// One concrete store operation, planned from an [`Op`].
#[derive(Debug)]
enum Step {
    Write(Persist),
    Sync,
    Truncate(Index),
    Compact(Index),
    Reset(Index, Term),
    ProcessCrash,
    PowerLoss {
        directory_kept: bool,
        kept: Vec<Kept>,
    },
}

/// The model: the log's current state and the counters new writes use.
struct Model {
    state: State,
    term: Term,
    serial: u64,
    persist_id: u64,
}

impl Model {
    fn new() -> Self {
        Model {
            state: State::new(),
            term: 1,
            serial: 0,
            persist_id: 0,
        }
    }

    /// Turns `op` into a step valid for the current state and moves the model
    /// past it. Also returns the states after each record the step writes (the
    /// last is the state after the whole step; none if it changes nothing).
    fn plan(&mut self, op: &Op) -> Option<(Step, Vec<State>)> {
        let state = &mut self.state;
        let step = match op {
            Op::Write {
                back,
                count,
                hard_state,
                new_term,
                payload_bytes,
            } => {
                let start = (state.last_index() + 1).saturating_sub(*back);
                if start <= state.compacted || (*count == 0 && hard_state.is_none()) {
                    return None;
                }
                self.term += u64::from(*new_term);
                let mut states = Vec::new();
                let hard_state = hard_state.map(|(term_increase, voted_for)| {
                    next_hard_state(state.hard_state, term_increase, voted_for)
                });
                if let Some(hard_state) = hard_state {
                    state.hard_state = hard_state;
                    states.push(state.clone());
                }
                if *count > 0 && start <= state.last_index() {
                    state.truncate(start);
                    states.push(state.clone());
                }
                let mut entries = Vec::new();
                for index in start..start + count {
                    self.serial += 1;
                    let new = entry(index, self.term, self.serial, *payload_bytes);
                    state.entries.push(new.clone());
                    entries.push(new);
                    states.push(state.clone());
                }
                self.persist_id += 1;
                let persist = Persist {
                    id: self.persist_id,
                    hard_state,
                    entries,
                };
                return Some((Step::Write(persist), states));
            }
            Op::Sync => return Some((Step::Sync, Vec::new())),
            Op::ProcessCrash => return Some((Step::ProcessCrash, Vec::new())),
            Op::PowerLoss {
                directory_kept,
                kept,
            } => {
                let step = Step::PowerLoss {
                    directory_kept: *directory_kept,
                    kept: kept.clone(),
                };
                return Some((step, Vec::new()));
            }
            Op::Truncate { back } => {
                let from = (state.last_index() + 1).saturating_sub(*back);
                if from <= state.compacted {
                    return None;
                }
                state.truncate(from);
                Step::Truncate(from)
            }
            Op::Compact { permille } => {
                let through = state.compacted + state.entries.len() as u64 * permille / 1000;
                if through > state.compacted {
                    state.compact(through);
                }
                Step::Compact(through)
            }
            Op::Reset { ahead } => {
                self.term += 1;
                let index = state.last_index() + ahead;
                state.reset(index, self.term);
                Step::Reset(index, self.term)
            }
        };
        Some((step, vec![self.state.clone()]))
    }
}

/// Carries out a step that only touches the store (not a crash).
fn perform(store: &WalLogStore, step: &Step) {
    match step {
        Step::Write(persist) => store.write(persist.clone()).unwrap(),
        Step::Sync => {
            store.sync().unwrap();
        }
        Step::Truncate(from) => store.truncate(*from).unwrap(),
        Step::Compact(through) => store.compact(*through).unwrap(),
        Step::Reset(index, term) => store.reset(*index, *term).unwrap(),
        Step::ProcessCrash | Step::PowerLoss { .. } => unreachable!("not a store operation"),
    }
}

struct Harness {
    dir: tempfile::TempDir,
    fs: SimFs,
    store: Option<WalLogStore>,
    model: Model,
    /// Every state since the last power loss, including those inside a write
    /// (after each of its records), which a torn write can leave behind.
    states: Vec<State>,
    /// Index in `states` of the last state the store reported durable.
    durable_from: usize,
    /// The last persist id written to this store handle (`0` after a reopen).
    written_id: u64,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let fs = SimFs::new();
        let store = Self::open(&fs, dir.path());
        Harness {
            dir,
            fs,
            store: Some(store),
            model: Model::new(),
            states: vec![State::new()],
            durable_from: 0,
            written_id: 0,
        }
    }

    fn open(fs: &SimFs, dir: &Path) -> WalLogStore {
        WalLogStore::open_with_fs(dir, common::small_config(), Arc::new(fs.clone()))
            .unwrap_or_else(|error| panic!("the log must reopen: {error}"))
    }

    fn store(&self) -> &WalLogStore {
        self.store.as_ref().unwrap()
    }

    fn mark_durable(&mut self) {
        self.durable_from = self.states.len() - 1;
    }

    fn apply(&mut self, op: &Op) {
        let Some((step, states)) = self.model.plan(op) else {
            return;
        };
        match &step {
            Step::ProcessCrash => self.process_crash(),
            Step::PowerLoss {
                directory_kept,
                kept,
            } => self.power_loss(*directory_kept, kept),
            Step::Sync => {
                let durable = self.store().sync().unwrap();
                let state = &self.model.state;
                assert_eq!(durable.persist_id, self.written_id);
                assert_eq!(
                    (durable.last_index, durable.last_term, durable.hard_state),
                    (state.last_index(), state.last_term(), state.hard_state),
                    "sync reported a durable point that is not the log's state"
                );
                self.mark_durable();
            }
            other => {
                perform(self.store(), other);
                if let Step::Write(persist) = other {
                    self.written_id = persist.id;
                }
                self.states.extend(states);
                // A compaction that moves nothing is a no-op: no sync.
                let moved = self.states.len() >= 2
                    && self.states[self.states.len() - 2] != self.states[self.states.len() - 1];
                if matches!(other, Step::Reset(..)) || (matches!(other, Step::Compact(_)) && moved)
                {
                    self.mark_durable();
                }
            }
        }
    }

    fn process_crash(&mut self) {
        drop(self.store.take());
        self.written_id = 0;
        self.store = Some(Self::open(&self.fs, self.dir.path()));
        assert_eq!(
            State::observe(self.store()),
            self.model.state,
            "a process crash loses nothing"
        );
        self.mark_durable();
    }

    fn power_loss(&mut self, directory_kept: bool, kept: &[Kept]) {
        let mut file = 0;
        let after = self.fs.power_loss(directory_kept, |_| {
            file += 1;
            kept[file % kept.len()]
        });
        drop(self.store.take());
        self.written_id = 0;
        self.fs = after;
        self.store = Some(Self::open(&self.fs, self.dir.path()));
        let recovered = State::observe(self.store());
        let allowed = &self.states[self.durable_from..];
        assert!(
            allowed.contains(&recovered),
            "a power loss recovered a state the log was never in at or after its last \
             durable point\nrecovered: {recovered:?}\nlast durable: {:?}\ncurrent: {:?}",
            allowed.first(),
            allowed.last()
        );
        // A torn tail is what every node of a cluster that loses power during
        // writes has: were it a repair point, no node could vote.
        assert_eq!(
            self.store().repair_point(),
            None,
            "a power loss alone left a repair point"
        );
        let durable = self.store().durable();
        assert_eq!(
            (durable.last_index, durable.hard_state),
            (recovered.last_index(), recovered.hard_state)
        );
        self.model.term = self.model.term.max(recovered.last_term());
        self.model.state = recovered.clone();
        self.states = vec![recovered];
        self.durable_from = 0;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn power_losses_recover_a_state_at_or_after_the_durable_point(
        ops in proptest::collection::vec(op(), 1..60)
    ) {
        let mut harness = Harness::new();
        for op in &ops {
            harness.apply(op);
        }
        harness.apply(&Op::PowerLoss { directory_kept: false, kept: vec![Kept::Nothing] });
    }
}

/// The whole states the log went through, shared with a reader. Each is pushed
/// *before* the operation that produces it starts.
#[derive(Default)]
struct History {
    states: Mutex<Vec<State>>,
}

impl History {
    fn len(&self) -> usize {
        self.states.lock().unwrap().len()
    }

    fn push(&self, state: State) {
        self.states.lock().unwrap().push(state);
    }

    fn latest(&self) -> State {
        self.states.lock().unwrap().last().unwrap().clone()
    }

    /// The states the store can have been in during a read that began when the
    /// history held `before` states and ended when it held `after`: the last
    /// one pushed before may not have been reached yet.
    fn window(&self, before: usize, after: usize) -> Vec<State> {
        self.states.lock().unwrap()[before.saturating_sub(2)..after].to_vec()
    }
}

/// One read of entries and one of a term near the end of the log, each checked
/// against the states the log went through while it ran.
fn check_read(store: &WalLogStore, history: &History, round: u64) {
    let before = history.len();
    let state = history.latest();
    let last = state.last_index();
    let low = last.saturating_sub(round % 12).max(state.compacted);
    let high = last + 1 + round % 2;
    let index = last.saturating_sub(round % 5);
    let read = store.entries(low, high, u64::MAX);
    let term = store.term(index);
    let window = history.window(before, history.len());
    let read_ok = window.iter().any(|state| match &read {
        Ok(entries) => state.range(low, high) == Some(entries.as_slice()),
        Err(LogReadError::Compacted { .. }) => low <= state.compacted,
        Err(LogReadError::Unavailable { .. }) => high > state.last_index() + 1,
        Err(LogReadError::Storage { .. }) => false,
    });
    assert!(
        read_ok,
        "entries({low}, {high}) = {read:?} matches no state the log was in"
    );
    let term_ok = window.iter().any(|state| match &term {
        Ok(term) => state.term(index) == Some(*term),
        Err(LogReadError::Compacted { .. }) => index < state.compacted,
        Err(LogReadError::Unavailable { .. }) => index > state.last_index(),
        Err(LogReadError::Storage { .. }) => false,
    });
    assert!(
        term_ok,
        "term({index}) = {term:?} matches no state the log was in"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_readers_see_only_whole_states(
        ops in proptest::collection::vec(op(), 1..80)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Harness::open(&SimFs::new(), dir.path()));
        let mut model = Model::new();
        let history = Arc::new(History::default());
        history.push(State::new());
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (store, history, done) = (Arc::clone(&store), Arc::clone(&history), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut round = 0u64;
                while !done.load(Ordering::Relaxed) || round < 50 {
                    check_read(&store, &history, round);
                    round += 1;
                }
            })
        };
        for op in &ops {
            // The reader shares the store, so no crashes here.
            if matches!(op, Op::ProcessCrash | Op::PowerLoss { .. }) {
                continue;
            }
            let Some((step, _)) = model.plan(op) else { continue };
            history.push(model.state.clone());
            perform(&store, &step);
        }
        done.store(true, Ordering::Relaxed);
        reader.join().unwrap();
        prop_assert_eq!(State::observe(&store), model.state);
    }
}
