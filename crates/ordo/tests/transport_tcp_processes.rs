//! Three `tcp_cluster` example processes on 127.0.0.1: wait for a leader,
//! propose, get redirected by a follower, kill the leader's process, and
//! check that the other two elect a new leader and keep counting.
//!
//! The example binary is built by `cargo test` along with the tests (or by
//! `cargo build -p ordo --example tcp_cluster`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(30);

fn example_binary() -> PathBuf {
    // target/<profile>/deps/<this test> -> target/<profile>/examples/tcp_cluster
    let test = std::env::current_exe().unwrap();
    let profile_dir = test.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("tcp_cluster{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: run `cargo test -p ordo` (which builds examples) or `cargo build -p ordo --example tcp_cluster`",
        binary.display()
    );
    binary
}

/// Ports free right now (the example binds them a moment later).
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// One node process; killed when dropped.
struct Process {
    id: u64,
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Process {
    fn spawn(binary: &PathBuf, id: u64, ports: &[u16]) -> Process {
        let mut command = Command::new(binary);
        command
            .args(["--id", &id.to_string()])
            .args(["--listen", &format!("127.0.0.1:{}", ports[id as usize - 1])])
            .args(["--cluster", "process-test"]);
        for (i, port) in ports.iter().enumerate() {
            let peer = i as u64 + 1;
            if peer != id {
                command.args(["--peer", &format!("{peer}=127.0.0.1:{port}")]);
            }
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut process = Process {
            id,
            child,
            stdin,
            lines,
        };
        let ready = process.line();
        assert!(ready.starts_with(&format!("ready {id} ")), "{ready}");
        process
    }

    fn line(&mut self) -> String {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!("node {} said nothing for {PATIENCE:?}", self.id)
            }
            Err(RecvTimeoutError::Disconnected) => panic!("node {} exited", self.id),
        }
    }

    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        self.line()
    }

    /// (role, leader, applied, total) from `status`.
    fn status(&mut self) -> (String, Option<u64>, u64, u64) {
        let answer = self.ask("status");
        let words: Vec<&str> = answer.split_whitespace().collect();
        assert_eq!(words.len(), 6, "{answer}");
        (
            words[1].to_owned(),
            words[3].parse().ok(),
            words[4].parse().unwrap(),
            words[5].parse().unwrap(),
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The leader all `processes` agree on.
fn leader(processes: &mut [Process]) -> u64 {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let statuses: Vec<_> = processes.iter_mut().map(|p| (p.id, p.status())).collect();
        let leaders: Vec<_> = statuses
            .iter()
            .filter(|(_, (role, ..))| role == "Leader")
            .map(|(id, _)| *id)
            .collect();
        if let [leader] = leaders[..]
            && statuses
                .iter()
                .all(|(_, (_, known, ..))| *known == Some(leader))
        {
            return leader;
        }
        assert!(Instant::now() < deadline, "no agreed leader: {statuses:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until every process has applied `applied` commands totalling `total`.
fn converged(processes: &mut [Process], applied: u64, total: u64) {
    let deadline = Instant::now() + PATIENCE;
    for process in processes.iter_mut() {
        loop {
            let (_, _, got_applied, got_total) = process.status();
            if (got_applied, got_total) == (applied, total) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {} at ({got_applied}, {got_total}), expected ({applied}, {total})",
                process.id
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn three_processes_elect_replicate_and_survive_killing_the_leader() {
    let binary = example_binary();
    let ports = free_ports(3);
    let mut processes: Vec<Process> = (1..=3)
        .map(|id| Process::spawn(&binary, id, &ports))
        .collect();

    let first = leader(&mut processes);
    let index = |id: u64, processes: &[Process]| processes.iter().position(|p| p.id == id).unwrap();
    let at = index(first, &processes);
    assert_eq!(processes[at].ask("propose 5"), "ok 5");
    assert_eq!(processes[at].ask("propose 2"), "ok 7");

    // A follower points at the leader.
    let follower = (at + 1) % processes.len();
    let redirect = processes[follower].ask("propose 1");
    assert_eq!(
        redirect,
        format!("not-leader {first} 127.0.0.1:{}", ports[first as usize - 1])
    );
    converged(&mut processes, 2, 7);

    // Kill the leader's process outright.
    drop(processes.remove(at));
    let second = leader(&mut processes);
    assert_ne!(second, first);
    let at = index(second, &processes);
    assert_eq!(processes[at].ask("propose 10"), "ok 17");
    converged(&mut processes, 3, 17);

    for mut process in processes {
        let _ = writeln!(process.stdin, "quit");
    }
}
