//! `ordo-taskqueue demo`, the README's first command, as a user runs it: a
//! real process that starts 3 nodes, kills the leader half-way and checks
//! the queue's contract on what its workers saw.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn the_demo_kills_the_leader_and_every_task_is_still_acked_once() {
    let output = Command::new(env!("CARGO_BIN_EXE_ordo-taskqueue"))
        .args(["demo", "--tasks", "12", "--workers", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "demo failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("killed the leader"), "{stdout}");
    // Task 5's first claim is abandoned: it expires and the task comes back.
    let task_5_done = stdout
        .lines()
        .find(|line| line.contains("task 5 \"photo-5\" done"));
    let task_5_done = task_5_done.unwrap_or_else(|| panic!("task 5 never done:\n{stdout}"));
    assert!(!task_5_done.ends_with("(attempt 1)"), "{task_5_done}");
    assert!(stdout.contains("every task acked exactly once"), "{stdout}");
}
