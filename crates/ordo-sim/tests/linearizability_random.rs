//! Randomized tests of the linearizability checker: generated histories that are
//! linearizable by construction must pass, the same histories with one planted
//! stale read must fail, and on small random histories the checker must agree
//! with a brute-force search over every order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use ordo_core::SplitMix64;
use ordo_sim::linearizability::generate::{KvWorkload, plant_stale_read, random_kv_history};
use ordo_sim::linearizability::{
    Budget, KvInput, KvModel, KvOperation, KvOutput, Outcome, Verdict, check,
};

fn verdict(history: &[KvOperation]) -> Verdict<KvModel> {
    check(&KvModel, history, &Budget::default()).unwrap()
}

/// Workloads from one client to ten, one key to four, with and without timeouts.
fn workloads() -> Vec<KvWorkload> {
    let mut workloads = Vec::new();
    for clients in [1, 3, 5, 10] {
        for keys in [1, 4] {
            for indeterminate_per_mille in [0, 50] {
                let operations = 150;
                let base = KvWorkload::default();
                workloads.push(KvWorkload {
                    clients,
                    operations,
                    keys,
                    indeterminate_per_mille,
                    ..base
                });
            }
        }
    }
    workloads
}

#[test]
fn generated_histories_are_linearizable() {
    for workload in workloads() {
        for seed in 0..20 {
            let history = random_kv_history(&workload, seed);
            match verdict(&history) {
                Verdict::Linearizable => {}
                other => panic!("seed {seed}, {workload:?}: {other:?}"),
            }
        }
    }
}

#[test]
fn a_planted_stale_read_is_always_caught() {
    let mut planted = 0;
    for workload in workloads() {
        for seed in 0..10 {
            let mut history = random_kv_history(&workload, seed);
            let Some(read) = plant_stale_read(&mut history, seed) else {
                continue;
            };
            planted += 1;
            let Verdict::Illegal(violation) = verdict(&history) else {
                panic!("seed {seed}, {workload:?}: stale read #{read} not caught");
            };
            assert_eq!(violation.key, history[read].input.key(), "seed {seed}");
        }
    }
    // Nearly every history has a read to plant in.
    assert!(
        planted >= 150,
        "only {planted} of 160 histories had a read to plant in"
    );
}

#[test]
fn the_same_history_gets_the_same_explanation() {
    let workload = KvWorkload {
        clients: 8,
        operations: 300,
        keys: 2,
        ..KvWorkload::default()
    };
    let mut history = random_kv_history(&workload, 7);
    plant_stale_read(&mut history, 7).unwrap();
    let first = verdict(&history).violation().unwrap().to_string();
    let second = verdict(&history).violation().unwrap().to_string();
    assert_eq!(first, second);
}

#[test]
fn generation_is_deterministic() {
    let workload = KvWorkload::default();
    assert_eq!(
        random_kv_history(&workload, 3),
        random_kv_history(&workload, 3)
    );
    assert_ne!(
        random_kv_history(&workload, 3),
        random_kv_history(&workload, 4)
    );
}

/// The checker must be roughly linear on realistic histories. Counting steps
/// instead of time keeps this deterministic: a budget of so many steps per
/// operation fails the test if the memoization stops working.
#[track_caller]
fn assert_few_steps_per_operation(clients: usize, max_steps_per_operation: u64) {
    let operations = 2_000;
    let workload = KvWorkload {
        clients,
        operations,
        keys: 1,
        indeterminate_per_mille: 20,
        ..KvWorkload::default()
    };
    let history = random_kv_history(&workload, 1);
    let max_steps_per_partition = max_steps_per_operation * operations as u64;
    let budget = Budget {
        max_steps_per_partition,
        time_limit: None,
    };
    let verdict = check(&KvModel, &history, &budget).unwrap();
    assert!(verdict.is_linearizable(), "{clients} clients: {verdict:?}");
}

#[test]
fn a_long_history_on_one_key_needs_few_steps_per_operation() {
    // Measured at 10,000 operations: about 15 steps per operation with five
    // clients, 300 with ten (all ten always in flight on one key).
    assert_few_steps_per_operation(5, 50);
    assert_few_steps_per_operation(10, 1_000);
}

// ---- agreement with brute force ----

/// The core's SplitMix64, with the draws the test data needs.
struct Rng(SplitMix64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(SplitMix64::new(seed))
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0.in_range(0, bound)
    }

    fn value(&mut self) -> Option<u64> {
        match self.below(4) {
            0 => None,
            value => Some(value),
        }
    }
}

/// A small history over two keys and three values, so that values repeat (ABA)
/// and orders collide. Outputs come from a random sequential execution, and half
/// the time one of them is then replaced by a random answer.
fn small_history(rng: &mut Rng) -> Vec<KvOperation> {
    let length = 1 + rng.below(7) as usize;
    let mut planned: Vec<(KvInput, u64, u64, bool)> = (0..length)
        .map(|client| {
            let key = rng.below(2);
            let input = match rng.below(4) {
                0 => KvInput::Get { key },
                1 => KvInput::Put {
                    key,
                    value: 1 + rng.below(3),
                },
                2 => KvInput::Delete { key },
                _ => KvInput::CompareAndSet {
                    key,
                    expected: rng.value(),
                    new: 1 + rng.below(3),
                },
            };
            let call_ns = rng.below(20);
            let effect_ns = call_ns + rng.below(10);
            let indeterminate = rng.below(4) == 0;
            let _ = client;
            (input, call_ns, effect_ns, indeterminate)
        })
        .collect();
    planned.sort_by_key(|&(_, _, effect_ns, _)| effect_ns);
    let mut store: BTreeMap<u64, u64> = BTreeMap::new();
    let mut history: Vec<KvOperation> = Vec::new();
    for (client, &(input, call_ns, effect_ns, indeterminate)) in planned.iter().enumerate() {
        let (after, output) = input.apply(store.get(&input.key()).copied());
        match after {
            Some(value) => store.insert(input.key(), value),
            None => store.remove(&input.key()),
        };
        let client = client as u64;
        history.push(if indeterminate {
            KvOperation::indeterminate(client, input, call_ns)
        } else {
            let return_ns = effect_ns + rng.below(10);
            KvOperation::returned(client, input, call_ns, return_ns, output)
        });
    }
    if rng.below(2) == 0 {
        let victim = rng.below(history.len() as u64) as usize;
        if let Outcome::Returned { output, .. } = &mut history[victim].outcome {
            *output = match *output {
                KvOutput::Put => KvOutput::Put,
                KvOutput::Get { .. } => KvOutput::Get { value: rng.value() },
                KvOutput::Delete { existed } => KvOutput::Delete { existed: !existed },
                KvOutput::CompareAndSet { swapped } => {
                    KvOutput::CompareAndSet { swapped: !swapped }
                }
            };
        }
    }
    history
}

/// Tries every order of the whole history (all keys at once) that respects real
/// time. Indeterminate operations are placed too, with any output; "never took
/// effect" is the order that places them last.
fn brute_force_linearizable(history: &[KvOperation]) -> bool {
    let mut placed = vec![false; history.len()];
    let mut store = BTreeMap::new();
    place_rest(history, &mut placed, &mut store, history.len())
}

fn place_rest(
    history: &[KvOperation],
    placed: &mut [bool],
    store: &mut BTreeMap<u64, u64>,
    left: usize,
) -> bool {
    if left == 0 {
        return true;
    }
    for next in 0..history.len() {
        let must_wait = (0..history.len()).any(|other| {
            !placed[other] && other != next && history[other].precedes(&history[next])
        });
        if placed[next] || must_wait {
            continue;
        }
        let operation = &history[next];
        let key = operation.input.key();
        let before = store.get(&key).copied();
        let (after, output) = operation.input.apply(before);
        if operation.output().is_some_and(|seen| *seen != output) {
            continue;
        }
        set(store, key, after);
        placed[next] = true;
        if place_rest(history, placed, store, left - 1) {
            return true;
        }
        placed[next] = false;
        set(store, key, before);
    }
    false
}

fn set(store: &mut BTreeMap<u64, u64>, key: u64, value: Option<u64>) {
    match value {
        Some(value) => store.insert(key, value),
        None => store.remove(&key),
    };
}

#[test]
fn the_checker_agrees_with_brute_force_on_small_histories() {
    let mut rng = Rng::new(2026);
    let (mut linearizable, mut illegal) = (0, 0);
    for case in 0..10_000 {
        let history = small_history(&mut rng);
        let expected = brute_force_linearizable(&history);
        let verdict = verdict(&history);
        assert!(
            !matches!(verdict, Verdict::Unknown(_)),
            "case {case}: a tiny history exhausted the budget"
        );
        assert_eq!(
            verdict.is_linearizable(),
            expected,
            "case {case}: {history:#?}\n{verdict:?}"
        );
        if expected {
            linearizable += 1;
        } else {
            illegal += 1;
        }
    }
    // Both answers must be common, or the comparison proves little.
    let counts = format!("{linearizable} linearizable, {illegal} illegal");
    assert!(linearizable > 3_000 && illegal > 2_000, "{counts}");
}
