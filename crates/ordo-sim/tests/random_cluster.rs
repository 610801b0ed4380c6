//! Randomized 3- and 5-node clusters under loss, duplication, reordering,
//! partitions, crashes and slow disks, with every safety invariant checked
//! after every step and liveness checked once the faults stop.
//!
//! A failure prints the seed; `ORDO_SEEDS=A..B` runs a chosen range.

use ordo_sim::coordination::CoordinationSummary;
use ordo_sim::random::{RunConfig, run};

fn seeds(default: std::ops::Range<u64>) -> std::ops::Range<u64> {
    let Some(text) = std::env::var("ORDO_SEEDS").ok() else {
        return default;
    };
    let parsed = text
        .split_once("..")
        .and_then(|(a, b)| Some(a.parse().ok()?..b.parse().ok()?));
    parsed.unwrap_or_else(|| panic!("ORDO_SEEDS must look like 0..100, got {text:?}"))
}

fn run_seeds(config: &RunConfig, range: std::ops::Range<u64>) {
    let (mut committed, mut changes, mut transfers, mut installs) = (0, 0, 0, 0);
    let (mut operations, mut undecided) = (0, 0);
    let mut coordination = CoordinationSummary::default();
    for seed in range.clone() {
        match run(seed, config) {
            Ok(summary) => {
                committed += summary.committed;
                changes += summary.membership_changes;
                transfers += summary.transfers;
                installs += summary.snapshots_installed;
                operations += summary.operations;
                undecided += usize::from(summary.linearizability_undecided);
                coordination.watch_events += summary.coordination.watch_events;
                coordination.watch_resumes += summary.coordination.watch_resumes;
                coordination.leases_kept_alive += summary.coordination.leases_kept_alive;
                coordination.lease_expiries += summary.coordination.lease_expiries;
            }
            Err(failure) => panic!(
                "{failure}\nreplay: ORDO_SEEDS={seed}..{} cargo test -p ordo-sim --test random_cluster",
                seed + 1
            ),
        }
    }
    let runs = range.count();
    println!(
        "{runs} runs: {committed} entries committed, {changes} membership changes, \
         {transfers} transfers, {installs} snapshots installed, {operations} client operations \
         checked for linearizability ({undecided} undecided); {coordination:?}"
    );
    assert!(
        coordination.watch_events >= runs / 2 && coordination.watch_resumes >= runs,
        "too few watch events or resumes to judge watches: {coordination:?}"
    );
    assert!(
        coordination.leases_kept_alive >= runs / 20 && coordination.lease_expiries >= runs / 20,
        "too few keepalives or expiries to judge leases: {coordination:?}"
    );
    assert!(
        operations >= runs * 5,
        "too few client operations ({operations}) to judge"
    );
    assert_eq!(
        undecided, 0,
        "the linearizability checker ran out of budget"
    );
    assert!(
        installs >= runs / 10,
        "too few snapshot installs ({installs}) to exercise them"
    );
    assert!(
        committed > runs,
        "runs committed almost nothing: the workload is not exercising replication"
    );
    if config.reconfigure {
        assert!(
            changes >= runs / 4,
            "too few membership changes ({changes}) to exercise them"
        );
        assert!(
            transfers >= runs / 10,
            "too few leadership transfers ({transfers}) to exercise them"
        );
    }
}

#[test]
fn three_nodes_with_pre_vote_and_check_quorum() {
    run_seeds(&RunConfig::default(), seeds(0..300));
}

#[test]
fn five_nodes_with_pre_vote_and_check_quorum() {
    run_seeds(
        &RunConfig {
            nodes: 5,
            ..RunConfig::default()
        },
        seeds(0..150),
    );
}

#[test]
fn three_nodes_without_pre_vote_or_check_quorum() {
    let config = RunConfig {
        pre_vote: false,
        check_quorum: false,
        ..RunConfig::default()
    };
    run_seeds(&config, seeds(0..200));
}

#[test]
fn three_nodes_with_lease_reads() {
    let config = RunConfig {
        lease_reads: true,
        ..RunConfig::default()
    };
    run_seeds(&config, seeds(0..100));
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let config = RunConfig::default();
    for seed in [3, 41, 977] {
        let first = run(seed, &config).map_err(|f| f.to_string());
        let second = run(seed, &config).map_err(|f| f.to_string());
        assert_eq!(first, second, "seed {seed} is not deterministic");
    }
}
