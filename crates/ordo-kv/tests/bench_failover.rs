//! `ordo bench failover` run as a user would: a short kill-mode run
//! reports its percentiles; a missing etcd is a clear exit 2; Ctrl-C
//! leaves no member process and no scratch directory behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod wait_support;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use wait_support::{Patience, wait_for_blocking};

/// Longest any run here may take; a debug build on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);

fn bench(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ordo"));
    command
        .args(["bench", "failover"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits for `child` to exit within `PATIENCE` (killing it otherwise).
fn finished(mut child: Child) -> Output {
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("ordo bench failover ran longer than {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// The scratch directories a bench run with process id `pid` made.
fn scratch_dirs_of(pid: u32) -> Vec<PathBuf> {
    let prefix = format!("ordo-bench-failover-ordo-{pid}-");
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .map(|entry| entry.path())
        .collect()
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(cmdline);
        }
    }
    found
}

#[test]
fn a_short_kill_run_reports_every_percentile() {
    let child = bench(&["--trials", "2", "--mode", "kill", "--json"])
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = finished(child);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let reports: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let report = &reports[0];
    assert_eq!(report["system"], "ordo");
    assert_eq!(report["mode"], "kill");
    assert_eq!(report["trials"], 2);
    assert_eq!(report["timed_out"], 0, "{stderr}");
    for time in ["first_write", "leader_known"] {
        let percentiles = &report[time];
        assert_eq!(percentiles["count"], 2, "{time}: {stderr}");
        let p50 = percentiles["p50_us"].as_u64().unwrap();
        let max = percentiles["max_us"].as_u64().unwrap();
        assert!(p50 > 0 && p50 <= max, "{time}: {percentiles}");
    }
    assert_eq!(stderr.matches("ordo kill trial").count(), 2, "{stderr}");
    assert!(
        scratch_dirs_of(pid).is_empty(),
        "the scratch directory stayed"
    );
}

#[test]
fn a_missing_etcd_is_named_and_exits_2() {
    let output = finished(
        bench(&["--etcd-bin", "/nonexistent/etcd", "--trials", "1"])
            .spawn()
            .unwrap(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("etcd not found"), "{stderr}");
    assert!(stderr.contains("/nonexistent/etcd"), "{stderr}");
}

#[test]
fn ctrl_c_stops_every_member_and_removes_the_data() {
    let child = bench(&["--trials", "1000", "--mode", "pause"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Until the cluster runs (its members mention the scratch directory).
    let patience = Patience {
        within: PATIENCE,
        every: Duration::from_millis(50),
    };
    let cluster_runs = || {
        let dir = scratch_dirs_of(pid)
            .first()
            .map(|dir| dir.display().to_string())
            .ok_or("no scratch directory")?;
        match processes_mentioning(&dir).len() {
            3 => Ok(dir),
            members => Err(format!("{members} members run")),
        }
    };
    let scratch = wait_for_blocking(
        "the bench's cluster to run",
        patience,
        cluster_runs,
        String::new,
    );
    // Into the trials: a member may be paused right now.
    std::thread::sleep(Duration::from_secs(2));
    kill_process(Pid::from_raw(pid as i32).unwrap(), Signal::INT).unwrap();
    let output = finished(child);
    assert!(!output.status.success());
    assert_eq!(processes_mentioning(&scratch), Vec::<String>::new());
    assert!(scratch_dirs_of(pid).is_empty(), "{scratch} stayed");
}
