//! Running etcd's `etcdctl` (API v3) from tests, and the transcripts that
//! compare what it prints against ordo with what it printed against a real
//! etcd 3.4, recorded by `tools/record-etcdctl-expectations.sh`:
//! `scenarios.rs` (the command lists), `members.rs` (the members by role,
//! learned with etcdctl), `transcript.rs` (recording and comparing),
//! `normalize.rs` (what is taken out before comparing).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

pub mod members;
pub mod normalize;
pub mod scenarios;
pub mod transcript;

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

/// Longest one etcdctl command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// The etcdctl on the PATH; `None` (the test skips) when there is none and
/// `ORDO_REQUIRE_ETCDCTL=1` is not set.
pub fn etcdctl() -> Option<String> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("etcdctl"))
            .find(|path| path.is_file())
    });
    match found {
        Some(path) => Some(path.to_string_lossy().into_owned()),
        None if std::env::var("ORDO_REQUIRE_ETCDCTL").as_deref() == Ok("1") => {
            panic!("ORDO_REQUIRE_ETCDCTL=1 but etcdctl is not on the PATH")
        }
        None => {
            eprintln!(
                "SKIPPED: etcdctl is not on the PATH (apt-get install etcd-client); \
                 set ORDO_REQUIRE_ETCDCTL=1 to make this a failure"
            );
            None
        }
    }
}

/// One etcdctl against one endpoint list.
#[derive(Clone)]
pub struct Etcdctl {
    /// The etcdctl binary.
    pub program: String,
    /// `--endpoints`.
    pub endpoint: String,
}

/// What a command printed.
pub struct Printed {
    /// Exit status; `None` when the test stopped it (a stream).
    pub code: Option<i32>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Printed {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl Etcdctl {
    /// The same etcdctl against `endpoint`.
    pub fn at(&self, endpoint: impl Into<String>) -> Etcdctl {
        Etcdctl {
            program: self.program.clone(),
            endpoint: endpoint.into(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        command
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint))
            .arg("--command-timeout=5s")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs `args` with `stdin`, to the end, within `within`.
    pub async fn run_within(&self, args: &[&str], stdin: &str, within: Duration) -> Printed {
        let mut child = self.command(args).spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        let output = tokio::time::timeout(within, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("etcdctl {args:?} did not finish"))
            .unwrap();
        Printed {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs `args` with `stdin`, to the end.
    pub async fn run_with_input(&self, args: &[&str], stdin: &str) -> Printed {
        self.run_within(args, stdin, COMMAND_TIMEOUT).await
    }

    /// Runs `args`, to the end.
    pub async fn run(&self, args: &[&str]) -> Printed {
        self.run_with_input(args, "").await
    }

    /// Runs `args`, which must succeed; answers its output.
    pub async fn ok(&self, args: &[&str]) -> String {
        let printed = self.run(args).await;
        assert!(
            printed.success(),
            "etcdctl {args:?} failed: {}{}",
            printed.stdout,
            printed.stderr
        );
        printed.stdout
    }

    /// Runs a command that does not end by itself (`watch`, `elect`,
    /// `lease keep-alive`) with `stdin` left open, until it printed `lines`
    /// lines; stops it and answers them.
    pub async fn first_lines(&self, args: &[&str], stdin: &str, lines: usize) -> Printed {
        let mut child = self.command(args).spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        while seen.len() < lines {
            let line = tokio::time::timeout(COMMAND_TIMEOUT, reader.next_line())
                .await
                .unwrap_or_else(|_| panic!("etcdctl {args:?} printed only {seen:?}"))
                .unwrap();
            match line {
                Some(line) => seen.push(line),
                None => break,
            }
        }
        // Killed with its stdin still open: closing it first would race the
        // kill with etcdctl reading EOF (and printing that it did).
        let _ = child.kill().await;
        drop(input);
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            use tokio::io::AsyncReadExt;
            let _ = tokio::time::timeout(COMMAND_TIMEOUT, pipe.read_to_string(&mut stderr)).await;
        }
        Printed {
            code: None,
            stdout: seen.iter().map(|line| format!("{line}\n")).collect(),
            stderr,
        }
    }
}

/// The JSON etcdctl printed for `-w json`.
pub fn json(printed: &str) -> serde_json::Value {
    serde_json::from_str(printed).unwrap_or_else(|error| panic!("{error}: {printed}"))
}
