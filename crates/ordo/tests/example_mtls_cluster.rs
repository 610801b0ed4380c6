//! The `mtls_cluster` example (three nodes over TCP with mutual TLS) keeps
//! running: it is documentation, and documentation that rots misleads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn example_binary() -> PathBuf {
    // target/<profile>/deps/<this test> -> target/<profile>/examples/mtls_cluster
    let test = std::env::current_exe().unwrap();
    let profile_dir = test.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("mtls_cluster{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: run `cargo test -p ordo` (which builds examples) or `cargo build -p ordo --example mtls_cluster`",
        binary.display()
    );
    binary
}

#[test]
fn the_mtls_cluster_example_replicates_over_mutual_tls() {
    let started = Instant::now();
    let output = Command::new(example_binary()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the example failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all nodes agree"), "{stdout}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the example must stay short: {:?}",
        started.elapsed()
    );
}
