//! How long the linearizability checker takes on generated key-value histories
//! of 10,000 operations per key: linearizable ones, ones with a planted stale
//! read, and one it cannot decide within a small budget.
//!
//! Run with `cargo bench -p ordo-sim --bench linearizability`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ordo_sim::linearizability::generate::{KvWorkload, plant_stale_read, random_kv_history};
use ordo_sim::linearizability::{Budget, KvModel, KvOperation, Verdict, check};

const OPERATIONS_PER_KEY: usize = 10_000;

fn history(clients: usize, keys: u64, indeterminate_per_mille: u32) -> Vec<KvOperation> {
    let workload = KvWorkload {
        clients,
        operations: OPERATIONS_PER_KEY * keys as usize,
        keys,
        indeterminate_per_mille,
        ..KvWorkload::default()
    };
    random_kv_history(&workload, 1)
}

fn with_stale_read(mut history: Vec<KvOperation>) -> Vec<KvOperation> {
    plant_stale_read(&mut history, 1).expect("a read to plant in");
    history
}

/// What the checker says, for the benchmark's name.
fn kind(verdict: &Verdict<KvModel>) -> &'static str {
    match verdict {
        Verdict::Linearizable => "linearizable",
        Verdict::Illegal(_) => "illegal",
        Verdict::Unknown(_) => "unknown",
    }
}

fn bench(c: &mut Criterion, name: &str, history: &[KvOperation], budget: Budget) {
    let expected = kind(&check(&KvModel, history, &budget).unwrap());
    let name = format!("{name} -> {expected}");
    c.bench_function(&name, |b| {
        b.iter(|| {
            let verdict = check(&KvModel, black_box(history), &budget).unwrap();
            assert_eq!(kind(&verdict), expected);
        });
    });
}

fn linearizability(c: &mut Criterion) {
    let default = Budget::default();
    bench(
        c,
        "1 key, 5 clients, 2% indeterminate",
        &history(5, 1, 20),
        default,
    );
    bench(
        c,
        "1 key, 10 clients, 2% indeterminate",
        &history(10, 1, 20),
        default,
    );
    bench(
        c,
        "4 keys, 10 clients, 2% indeterminate",
        &history(10, 4, 20),
        default,
    );
    bench(
        c,
        "1 key, 5 clients, stale read",
        &with_stale_read(history(5, 1, 0)),
        default,
    );
    bench(
        c,
        "1 key, 10 clients, stale read",
        &with_stale_read(history(10, 1, 0)),
        default,
    );
    let small = Budget {
        max_steps_per_partition: 5_000_000,
        time_limit: None,
    };
    let undecidable = with_stale_read(history(5, 1, 10));
    bench(
        c,
        "1 key, 5 clients, 1% indeterminate, stale read, 5M steps",
        &undecidable,
        small,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(10));
    targets = linearizability
}
criterion_main!(benches);
