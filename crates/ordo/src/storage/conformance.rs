//! The conformance suite every [`LogStore`] must pass.
//!
//! Each check takes a fresh, empty store and panics with a message on the first
//! broken rule of the [`LogStore`] contract. Run them all with [`run_all`]:
//!
//! ```
//! use ordo::storage::{MemLogStore, conformance};
//! conformance::run_all(MemLogStore::new);
//! ```
//!
//! A store that keeps only recent entries in memory should be given a factory
//! with a small cache, so that the reads here reach its disk path.

// A test suite's job is to panic with a message on the first broken rule.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ordo_core::{Entry, HardState, Index, LogReadError, Persist, PersistId, Term};

use crate::storage::{LogStore, StorageError};

/// One named check of the suite.
pub type Check<S> = (&'static str, fn(S));

/// Every check, by name.
pub fn checks<S: LogStore + 'static>() -> Vec<Check<S>> {
    vec![
        ("empty_store", empty_store::<S>),
        ("append_and_read_back", append_and_read_back::<S>),
        (
            "byte_limit_returns_at_least_one",
            byte_limit_returns_at_least_one::<S>,
        ),
        (
            "append_overwrites_conflicting_suffix",
            append_overwrites_conflicting_suffix::<S>,
        ),
        ("gaps_are_refused", gaps_are_refused::<S>),
        ("compact_prefix", compact_prefix::<S>),
        ("reset_to_snapshot", reset_to_snapshot::<S>),
        (
            "indexes_past_the_limit_are_refused",
            indexes_past_the_limit_are_refused::<S>,
        ),
        ("hard_state_round_trip", hard_state_round_trip::<S>),
        (
            "write_and_sync_report_durability",
            write_and_sync_report_durability::<S>,
        ),
        ("many_entries_read_back", many_entries_read_back::<S>),
        (
            "reads_during_writes_are_never_torn",
            reads_during_writes_are_never_torn::<S>,
        ),
    ]
}

/// Runs every check, each on a fresh store from `factory`.
///
/// # Panics
/// On the first broken rule, naming the check.
pub fn run_all<S: LogStore + 'static>(mut factory: impl FnMut() -> S) {
    for (name, check) in checks::<S>() {
        tracing::info!(check = name, "running log store conformance check");
        check(factory());
    }
}

/// `count` command entries starting at `first`, all of term `term`, with
/// payloads that name their index.
pub fn entries(first: Index, count: u64, term: Term) -> Vec<Entry> {
    (first..first + count)
        .map(|index| {
            Entry::command(
                index,
                term,
                format!("entry {index} term {term}").into_bytes(),
            )
        })
        .collect()
}

/// Persist ids for [`append`], increasing across every store of the process,
/// so each store sees them in order as the [`LogStore::write`] contract asks.
static NEXT_PERSIST_ID: AtomicU64 = AtomicU64::new(1);

/// Writes `entries` alone (no hard state) as one persist, as the runtime
/// writes a leader's or a follower's new entries.
///
/// # Errors
/// As [`LogStore::write`].
fn append<S: LogStore>(store: &S, entries: Vec<Entry>) -> Result<(), StorageError> {
    let id: PersistId = NEXT_PERSIST_ID.fetch_add(1, Ordering::Relaxed);
    store.write(Persist {
        id,
        hard_state: None,
        entries,
    })
}

fn all<S: LogStore>(store: &S) -> Vec<Entry> {
    store
        .entries(store.first_index(), store.last_index() + 1, u64::MAX)
        .expect("reading the whole log")
}

/// A new store is empty, with a zero hard state.
pub fn empty_store<S: LogStore>(store: S) {
    assert_eq!(store.first_index(), 1);
    assert_eq!(store.last_index(), 0);
    assert_eq!(store.term(0), Ok(0));
    assert!(matches!(
        store.term(1),
        Err(LogReadError::Unavailable { .. })
    ));
    assert_eq!(store.entries(1, 1, u64::MAX), Ok(vec![]));
    assert!(matches!(
        store.entries(1, 2, u64::MAX),
        Err(LogReadError::Unavailable { .. })
    ));
    assert_eq!(store.hard_state(), HardState::default());
    assert_eq!(store.sync().expect("sync").last_index, 0);
    assert_eq!(store.repair_point(), None, "a new store has lost nothing");
    store
        .clear_repair_point()
        .expect("clearing an absent repair point");
    assert_eq!(store.repair_point(), None);
}

/// Appended entries read back exactly, by range and by term.
pub fn append_and_read_back<S: LogStore>(store: S) {
    append(&store, entries(1, 5, 1)).unwrap();
    append(&store, entries(6, 5, 2)).unwrap();
    assert_eq!((store.first_index(), store.last_index()), (1, 10));
    assert_eq!(store.term(5), Ok(1));
    assert_eq!(store.term(6), Ok(2));
    assert_eq!(
        store.entries(4, 8, u64::MAX).unwrap(),
        [entries(4, 2, 1), entries(6, 2, 2)].concat()
    );
    assert_eq!(store.entries(3, 3, u64::MAX), Ok(vec![]));
    append(&store, vec![]).unwrap();
    assert_eq!(store.last_index(), 10);
}

/// The byte limit stops early but never returns nothing for a non-empty range.
pub fn byte_limit_returns_at_least_one<S: LogStore>(store: S) {
    let batch: Vec<Entry> = (1..=4)
        .map(|index| Entry::command(index, 1, vec![7u8; 10]))
        .collect();
    append(&store, batch).unwrap();
    assert_eq!(store.entries(1, 5, 0).unwrap().len(), 1);
    assert_eq!(store.entries(1, 5, 10).unwrap().len(), 1);
    assert_eq!(store.entries(1, 5, 25).unwrap().len(), 2);
    assert_eq!(store.entries(1, 5, 40).unwrap().len(), 4);
}

/// An append starting inside the log replaces everything from there on.
pub fn append_overwrites_conflicting_suffix<S: LogStore>(store: S) {
    append(&store, entries(1, 10, 1)).unwrap();
    append(&store, entries(4, 2, 3)).unwrap();
    assert_eq!(store.last_index(), 5);
    assert_eq!(all(&store), [entries(1, 3, 1), entries(4, 2, 3)].concat());
    append(&store, vec![Entry::noop(6, 3)]).unwrap();
    assert_eq!(
        store.entries(6, 7, u64::MAX).unwrap(),
        vec![Entry::noop(6, 3)]
    );
}

/// Gaps, non-consecutive batches and writes below compaction change nothing.
pub fn gaps_are_refused<S: LogStore>(store: S) {
    append(&store, entries(1, 3, 1)).unwrap();
    assert!(matches!(
        append(&store, entries(5, 1, 1)),
        Err(StorageError::Gap {
            index: 5,
            expected: 4
        })
    ));
    let broken = vec![Entry::noop(4, 1), Entry::noop(6, 1)];
    assert!(matches!(
        append(&store, broken),
        Err(StorageError::Gap { index: 6, .. })
    ));
    assert_eq!(all(&store), entries(1, 3, 1));
    store.compact(2).unwrap();
    assert!(matches!(
        append(&store, entries(2, 1, 1)),
        Err(StorageError::Compacted { .. })
    ));
    assert_eq!(store.last_index(), 3);
}

/// Compaction drops a prefix but remembers the term of its last entry.
pub fn compact_prefix<S: LogStore>(store: S) {
    append(&store, entries(1, 5, 1)).unwrap();
    append(&store, entries(6, 5, 2)).unwrap();
    store.compact(6).unwrap();
    assert_eq!((store.first_index(), store.last_index()), (7, 10));
    assert_eq!(store.term(6), Ok(2));
    assert!(matches!(store.term(5), Err(LogReadError::Compacted { .. })));
    assert!(matches!(
        store.entries(6, 8, u64::MAX),
        Err(LogReadError::Compacted { .. })
    ));
    assert_eq!(all(&store), entries(7, 4, 2));
    store.compact(3).unwrap();
    assert_eq!(store.first_index(), 7);
    assert!(matches!(
        store.compact(11),
        Err(StorageError::OutOfRange { .. })
    ));
    store.compact(10).unwrap();
    assert_eq!((store.first_index(), store.last_index()), (11, 10));
    assert_eq!(store.term(10), Ok(2));
    append(&store, entries(11, 1, 3)).unwrap();
    assert_eq!(all(&store), entries(11, 1, 3));
}

/// A reset empties the log and continues it after the snapshot point.
pub fn reset_to_snapshot<S: LogStore>(store: S) {
    append(&store, entries(1, 5, 1)).unwrap();
    store.reset(20, 4).unwrap();
    assert_eq!((store.first_index(), store.last_index()), (21, 20));
    assert_eq!(store.term(20), Ok(4));
    append(&store, entries(21, 2, 5)).unwrap();
    assert_eq!(all(&store), entries(21, 2, 5));
    store.reset(21, 5).unwrap();
    assert_eq!((store.first_index(), store.last_index()), (22, 21));
    assert!(matches!(
        store.reset(3, 1),
        Err(StorageError::Compacted { .. })
    ));
    assert_eq!(store.sync().unwrap().last_index, 21);
}

/// No index above 2^62 gets in, so `index + 1` never overflows.
pub fn indexes_past_the_limit_are_refused<S: LogStore>(store: S) {
    let limit: Index = 1 << 62;
    for index in [limit + 1, Index::MAX - 1, Index::MAX] {
        assert!(
            matches!(store.reset(index, 1), Err(StorageError::OutOfRange { .. })),
            "reset to {index}"
        );
    }
    store.reset(limit - 2, 1).unwrap();
    assert!(matches!(
        append(&store, entries(limit - 1, 3, 1)),
        Err(StorageError::OutOfRange { .. })
    ));
    append(&store, entries(limit - 1, 2, 1)).unwrap();
    assert_eq!(store.last_index(), limit);
    assert_eq!(store.term(limit), Ok(1));
}

/// Hard state reads back and becomes durable with a sync.
pub fn hard_state_round_trip<S: LogStore>(store: S) {
    let hard_state = HardState {
        term: 3,
        voted_for: Some(2),
    };
    store.save_hard_state(hard_state).unwrap();
    assert_eq!(store.hard_state(), hard_state);
    assert_eq!(store.sync().unwrap().hard_state, hard_state);
    let next = HardState {
        term: 4,
        voted_for: None,
    };
    store.save_hard_state(next).unwrap();
    assert_eq!(store.hard_state(), next);
    assert_eq!(store.sync().unwrap().hard_state, next);
}

/// `write` applies a persist (hard state, entries, a conflicting suffix
/// overwritten); `sync` names the last persist covered.
pub fn write_and_sync_report_durability<S: LogStore>(store: S) {
    let hard_state = HardState {
        term: 2,
        voted_for: Some(1),
    };
    store
        .write(Persist {
            id: 1,
            hard_state: Some(hard_state),
            entries: entries(1, 3, 2),
        })
        .unwrap();
    store
        .write(Persist {
            id: 2,
            hard_state: None,
            entries: entries(3, 2, 2),
        })
        .unwrap();
    let durable = store.sync().unwrap();
    assert_eq!(durable.persist_id, 2);
    assert_eq!((durable.last_index, durable.last_term), (4, 2));
    assert_eq!(durable.hard_state, hard_state);
    assert_eq!(store.sync().unwrap(), durable);
    store
        .write(Persist {
            id: 3,
            hard_state: None,
            entries: vec![],
        })
        .unwrap();
    assert_eq!(store.sync().unwrap().persist_id, 3);
    let gap = Persist {
        id: 4,
        hard_state: None,
        entries: entries(9, 1, 2),
    };
    assert!(matches!(store.write(gap), Err(StorageError::Gap { .. })));
    assert_eq!(store.last_index(), 4, "a refused write changes nothing");
}

/// Thousands of entries (more than a small cache holds) read back exactly.
pub fn many_entries_read_back<S: LogStore>(store: S) {
    for batch in 0..40 {
        append(&store, entries(batch * 50 + 1, 50, 1 + batch / 10)).unwrap();
    }
    store.sync().unwrap();
    let read = all(&store);
    assert_eq!(read.len(), 2000);
    for (position, entry) in read.iter().enumerate() {
        let index = position as Index + 1;
        let term = 1 + (index - 1) / 500;
        assert_eq!(*entry, entries(index, 1, term)[0]);
        assert_eq!(store.term(index), Ok(term));
    }
    append(&store, entries(1500, 10, 9)).unwrap();
    assert_eq!(store.entries(1490, 1510, u64::MAX).unwrap().len(), 20);
    assert_eq!(store.term(1499), Ok(3));
    assert_eq!(store.term(1500), Ok(9));
}

/// A reader on another thread sees every write whole: a consecutive run of
/// entries whose terms agree with `term`.
pub fn reads_during_writes_are_never_torn<S: LogStore + 'static>(store: S) {
    let store = Arc::new(store);
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !done.load(Ordering::Relaxed) || reads == 0 {
                let (first, last) = (store.first_index(), store.last_index());
                let low = last.saturating_sub(20).max(first);
                // A write may move the end between the two calls (a range
                // error); a storage error is a broken read, never tolerated.
                match store.entries(low, last + 1, u64::MAX) {
                    Ok(read) => {
                        for pair in read.windows(2) {
                            assert_eq!(pair[1].index, pair[0].index + 1, "a read saw a torn range");
                            assert!(
                                pair[1].term >= pair[0].term,
                                "a read mixed old and new suffixes"
                            );
                        }
                        for entry in &read {
                            assert_eq!(
                                *entry,
                                entries(entry.index, 1, entry.term)[0],
                                "a read returned bytes no write wrote"
                            );
                        }
                    }
                    Err(LogReadError::Storage { message }) => {
                        panic!("a read during writes failed: {message}")
                    }
                    Err(LogReadError::Compacted { .. } | LogReadError::Unavailable { .. }) => {}
                }
                reads += 1;
            }
        })
    };
    for round in 0..200u64 {
        let last = store.last_index();
        let start = if round % 7 == 6 {
            last.saturating_sub(5).max(1)
        } else {
            last + 1
        };
        append(store.as_ref(), entries(start, 5, round + 1)).unwrap();
        if round % 10 == 0 {
            store.sync().unwrap();
        }
    }
    done.store(true, Ordering::Relaxed);
    reader.join().expect("the reader thread panicked");
}
