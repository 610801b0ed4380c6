//! Proof that the simulator catches each rule the core could break.
//!
//! Built with one `planted-bug-*` feature, the core breaks one rule (or, for
//! the coordination workload's bugs, the simulator's own store, watch or lease
//! code does); this test requires the randomized runs to find a violation
//! within a bounded number of seeds. `.ci/run` runs it once per planted bug:
//!
//! ```sh
//! cargo test -p ordo-sim --features planted-bug-double-vote --test planted_bugs
//! ```
//!
//! Built without any, it checks only that no bug is planted by accident.

use ordo_sim::random::{RunConfig, run};

/// Seeds within which every planted bug must be caught. Each is caught far
/// sooner in practice; the bound keeps a regression in the checker visible.
const SEED_BUDGET: u64 = 2000;

#[test]
fn every_planted_bug_is_caught_within_the_seed_budget() {
    let mut planted = ordo_core::planted_bugs();
    planted.extend(ordo_sim::coordination::planted_bugs());
    if planted.is_empty() {
        return; // the ordinary build: the randomized tests cover correctness
    }
    let configs = [
        RunConfig::default(),
        RunConfig {
            pre_vote: false,
            check_quorum: false,
            ..RunConfig::default()
        },
    ];
    for seed in 0..SEED_BUDGET {
        for config in &configs {
            if let Err(failure) = run(seed, config) {
                println!(
                    "planted bug {planted:?} caught by seed {seed}: {}",
                    failure.violation
                );
                return;
            }
        }
    }
    panic!("planted bug {planted:?} was not caught within {SEED_BUDGET} seeds");
}

#[test]
fn an_ordinary_build_plants_no_bug() {
    if cfg!(any(
        feature = "planted-bug-commit-old-term",
        feature = "planted-bug-double-vote",
        feature = "planted-bug-ack-before-durable",
        feature = "planted-bug-apply-before-commit",
        feature = "planted-bug-stale-read",
        feature = "planted-bug-vote-after-cut",
        feature = "planted-bug-splice-snapshot",
        feature = "planted-bug-removed-not-told",
        feature = "planted-bug-watch-skip-on-resume",
        feature = "planted-bug-txn-non-atomic",
        feature = "planted-bug-lease-renewed-by-follower"
    )) {
        return;
    }
    assert!(ordo_core::planted_bugs().is_empty());
    assert!(ordo_sim::coordination::planted_bugs().is_empty());
}
