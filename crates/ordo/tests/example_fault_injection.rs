//! The `fault_injection` example (an application tested under partition,
//! pause and crash with the test kit) keeps running and its invariants keep
//! holding: it is documentation, and documentation that rots misleads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn example_binary() -> PathBuf {
    // target/<profile>/deps/<this test> -> target/<profile>/examples/fault_injection
    let test = std::env::current_exe().unwrap();
    let profile_dir = test.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("fault_injection{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: run `cargo test -p ordo` (which builds examples) or `cargo build -p ordo --example fault_injection`",
        binary.display()
    );
    binary
}

#[test]
fn the_fault_injection_example_holds_its_invariants() {
    let started = Instant::now();
    let output = Command::new(example_binary()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the example failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all invariants held"), "{stdout}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the example must stay short: {:?}",
        started.elapsed()
    );
}
