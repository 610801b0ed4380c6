//! Model-based test: random appends, truncations, compactions, resets, hard
//! state saves and reopens on WalLogStore read back exactly as on MemLogStore.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use ordo::storage::{Durability, LogStore, MemLogStore, WalConfig, WalLogStore};
use ordo_core::{Entry, HardState, LogRead, Persist};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Append `count` entries starting `back` entries before the end (0 = at
    /// the end; past the compaction point is refused by both).
    Append {
        back: u64,
        count: u64,
        new_term: bool,
        payload_bytes: usize,
    },
    /// Truncate from `back` entries before the end.
    Truncate {
        back: u64,
    },
    /// Compact through the compaction point plus `ahead` (may pass the end).
    Compact {
        ahead: u64,
    },
    Reset {
        ahead: u64,
    },
    /// A hard state as Raft writes them: the term raised by `term_increase`,
    /// or, if that is 0, the same term and its vote (if any) kept.
    HardState {
        term_increase: u64,
        vote: Option<u64>,
    },
    Sync,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..6u64, 1..12u64, any::<bool>(), 0..300usize).prop_map(|(back, count, new_term, payload_bytes)| {
            Op::Append { back, count, new_term, payload_bytes }
        }),
        2 => (0..8u64).prop_map(|back| Op::Truncate { back }),
        1 => (0..40u64).prop_map(|ahead| Op::Compact { ahead }),
        1 => (0..5u64).prop_map(|ahead| Op::Reset { ahead }),
        1 => (0..3u64, proptest::option::of(1..4u64))
            .prop_map(|(term_increase, vote)| Op::HardState { term_increase, vote }),
        1 => Just(Op::Sync),
        2 => Just(Op::Reopen),
    ]
}

fn config() -> WalConfig {
    WalConfig {
        durability: Durability::Never,
        segment_size_bytes: 4096,
        cache_entries_max: 4,
        cache_payload_bytes_max: 512,
        cluster_id: None,
    }
}

fn open(dir: &Path) -> WalLogStore {
    WalLogStore::open(dir, config()).unwrap()
}

struct Pair {
    wal: Option<WalLogStore>,
    mem: MemLogStore,
    term: u64,
    dir: tempfile::TempDir,
}

impl Pair {
    fn wal(&self) -> &WalLogStore {
        self.wal.as_ref().unwrap()
    }

    fn apply(&mut self, op: &Op) {
        let (first, last) = (self.mem.first_index(), self.mem.last_index());
        let compacted = first - 1;
        let (wal, mem) = (self.wal(), &self.mem);
        let outcomes = match *op {
            Op::Append {
                back,
                count,
                new_term,
                payload_bytes,
            } => {
                let term = self.term + u64::from(new_term);
                let start = (last + 1).saturating_sub(back).max(1);
                let batch: Vec<Entry> = (start..start + count)
                    .map(|index| {
                        Entry::command(index, term, vec![(index % 251) as u8; payload_bytes])
                    })
                    .collect();
                let persist = |entries| Persist {
                    id: 0,
                    hard_state: None,
                    entries,
                };
                let outcomes = (
                    wal.write(persist(batch.clone())).is_ok(),
                    mem.write(persist(batch)).is_ok(),
                );
                if outcomes.1 {
                    self.term = term;
                }
                outcomes
            }
            Op::Truncate { back } => {
                let from = (last + 1).saturating_sub(back);
                (wal.truncate(from).is_ok(), mem.truncate(from).is_ok())
            }
            Op::Compact { ahead } => (
                wal.compact(compacted + ahead).is_ok(),
                mem.compact(compacted + ahead).is_ok(),
            ),
            Op::Reset { ahead } => {
                let (index, term) = (last + ahead, self.term + 1);
                let outcomes = (
                    wal.reset(index, term).is_ok(),
                    mem.reset(index, term).is_ok(),
                );
                self.term = term;
                outcomes
            }
            Op::HardState {
                term_increase,
                vote,
            } => {
                let current = mem.hard_state();
                let hard_state = match term_increase {
                    0 => HardState {
                        term: current.term,
                        voted_for: current.voted_for.or(vote),
                    },
                    increase => HardState {
                        term: current.term + increase,
                        voted_for: vote,
                    },
                };
                (
                    wal.save_hard_state(hard_state).is_ok(),
                    mem.save_hard_state(hard_state).is_ok(),
                )
            }
            Op::Sync => (wal.sync().is_ok(), mem.sync().is_ok()),
            Op::Reopen => {
                drop(self.wal.take());
                self.wal = Some(open(self.dir.path()));
                (true, true)
            }
        };
        assert_eq!(
            outcomes.0, outcomes.1,
            "the stores disagree on whether {op:?} is allowed"
        );
    }

    fn assert_same(&self) {
        let (wal, mem) = (self.wal(), &self.mem);
        assert_eq!(
            (wal.first_index(), wal.last_index()),
            (mem.first_index(), mem.last_index())
        );
        assert_eq!(wal.hard_state(), mem.hard_state());
        for index in mem.first_index() - 1..=mem.last_index() {
            assert_eq!(wal.term(index), mem.term(index), "term of {index}");
        }
        let range = (mem.first_index(), mem.last_index() + 1);
        assert_eq!(
            wal.entries(range.0, range.1, u64::MAX),
            mem.entries(range.0, range.1, u64::MAX)
        );
        assert_eq!(
            wal.entries(range.0, range.1, 700),
            mem.entries(range.0, range.1, 700)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn wal_log_store_behaves_like_the_memory_model(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut pair = Pair { wal: Some(open(dir.path())), mem: MemLogStore::new(), term: 1, dir };
        for op in &ops {
            pair.apply(op);
            pair.assert_same();
        }
        drop(pair.wal.take());
        pair.wal = Some(open(pair.dir.path()));
        pair.assert_same();
    }
}
