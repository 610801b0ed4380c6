//! Shared by the end-to-end tests: real `ordo` processes on 127.0.0.1.
//!
//! - [`Process`]: one child process, its stdout and stderr in files, killed
//!   and reaped when dropped (also when a test panics).
//! - [`run_ordo`]: one CLI command, bounded by a deadline.
//! - [`Cluster`]: `ordo serve` nodes with their ports and data directories,
//!   started, stopped, killed and restarted by id.
//! - [`dev::Dev`]: `ordo dev` on free port bases, interrupted and restarted.
//! - [`eventually`], [`wait_healthy`], [`Cluster::eventually`]: bounded
//!   polling, all through [`wait::wait_for`] (shared with the in-process
//!   tests' `support`).
//! - [`writes`]: concurrent writers and a ledger of acknowledged writes.
//! - [`wal`]: reading and damaging a node's write-ahead log on disk.
//! - [`forge`]: speaking the peer protocol as a hostile node.
//! - [`relay`]: network partitions between nodes, through relays in front
//!   of their peer listeners.
//! - [`tiny_fs`]: a tiny filesystem (tmpfs) for a data directory.
//!
//! Ports are picked at random below the kernel's ephemeral range (where
//! outgoing connections take their local ports, and where other tests bind
//! port 0), checked free, and never handed out twice in one test binary.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ordo_kv::api::ClusterResponse;
use ordo_kv::client::{Client, ClientConfig, parse_endpoints};

pub mod certs;
pub mod dev;
pub mod forge;
pub mod pki;
pub mod relay;
pub mod tiny_fs;
#[path = "../wait_support/mod.rs"]
pub mod wait;
pub mod wal;
pub mod writes;

use wait::{Patience, wait_for};

/// The bound on every wait: the machine is shared, so generous.
pub const PATIENCE: Duration = Duration::from_secs(30);
/// How long a process may take to exit after SIGTERM or a refused start.
pub const EXIT_PATIENCE: Duration = Duration::from_secs(10);
/// How often a wait on real processes polls them.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Waiting up to `within`, polling every [`POLL_INTERVAL`].
pub fn patience(within: Duration) -> Patience {
    Patience {
        within,
        every: POLL_INTERVAL,
    }
}

/// Ports picked below the ephemeral range (32768 and up on Linux).
const PORT_RANGE: std::ops::Range<u16> = 20_000..32_000;

static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

fn bindable(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A port nobody listens on now and no other test of this binary was given.
pub fn free_port() -> u16 {
    free_port_run(1)
}

/// `base` such that `base + 1 ..= base + count` are all free (for `ordo dev`).
pub fn free_port_base(count: u16) -> u16 {
    free_port_run(count) - 1
}

fn free_port_run(count: u16) -> u16 {
    let mut handed_out = HANDED_OUT.lock().unwrap();
    for _ in 0..10_000 {
        let first = fastrand::u16(PORT_RANGE.start..PORT_RANGE.end - count);
        let ports: Vec<u16> = (first..first + count).collect();
        if ports
            .iter()
            .all(|port| !handed_out.contains(port) && bindable(*port))
        {
            handed_out.extend(ports);
            return first;
        }
    }
    panic!("no run of {count} free ports in {PORT_RANGE:?}");
}

/// `http://127.0.0.1:PORT`.
pub fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// A client for a comma-separated endpoint list, with `timeout` per call.
pub fn client(endpoints: &str, timeout: Duration) -> Client {
    Client::new(ClientConfig::new(parse_endpoints(endpoints).unwrap()).with_timeout(timeout))
        .unwrap()
}

/// A plain HTTP client that does not follow redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// `text` without ANSI colour sequences.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(character) = chars.next() {
        if character == '\u{1b}' && chars.peek() == Some(&'[') {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(character);
        }
    }
    out
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Polls `check` every 100 ms until it returns `Ok`, and returns its value;
/// panics with its last complaint after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    eventually_within(what, PATIENCE, check).await
}

/// As [`eventually`], panicking after `within`.
pub async fn eventually_within<T, F, Fut>(what: &str, within: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    wait_for(what, patience(within), check, String::new).await
}

/// Waits until `GET /health` on `base_url` answers 200; panics at once if
/// `process` exits first.
pub async fn wait_healthy(base_url: &str, process: &mut Process) {
    let process = std::cell::RefCell::new(process);
    let check = || {
        let exited = process.borrow_mut().try_exit();
        if let Some(status) = exited {
            panic!(
                "exited with {status} before healthy\n{}",
                process.borrow().logs()
            );
        }
        let answer = http().get(format!("{base_url}/health")).send();
        async move {
            match answer.await {
                Ok(answer) if answer.status().is_success() => Ok(()),
                Ok(answer) => Err(format!("/health answered {}", answer.status())),
                Err(error) => Err(error.to_string()),
            }
        }
    };
    let what = format!("{base_url} to be healthy");
    wait_for(&what, patience(PATIENCE), check, || process.borrow().logs()).await;
}

/// A running `ordo` child process. Dropping it kills it (SIGKILL) and
/// reaps it.
pub struct Process {
    name: String,
    child: Option<Child>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    exit: Option<ExitStatus>,
}

impl Process {
    /// Starts `ordo ARGS`, appending its stdout and stderr to
    /// `log_dir/NAME.stdout` and `log_dir/NAME.stderr`.
    pub fn spawn(name: &str, args: &[String], log_dir: &Path) -> Process {
        Process::spawn_limited(name, args, log_dir, None)
    }

    /// [`Process::spawn`] under a file descriptor limit (soft and hard),
    /// set by `sh`'s `ulimit -n` before it becomes `ordo`.
    pub fn spawn_limited(
        name: &str,
        args: &[String],
        log_dir: &Path,
        descriptor_limit: Option<u64>,
    ) -> Process {
        fs::create_dir_all(log_dir).unwrap();
        let stdout_path = log_dir.join(format!("{name}.stdout"));
        let stderr_path = log_dir.join(format!("{name}.stderr"));
        let append = |path: &Path| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap()
        };
        let mut command = match descriptor_limit {
            None => Command::new(env!("CARGO_BIN_EXE_ordo")),
            Some(limit) => {
                let mut shell = Command::new("sh");
                shell.args([
                    "-c",
                    &format!("ulimit -n {limit} && exec \"$0\" \"$@\""),
                    env!("CARGO_BIN_EXE_ordo"),
                ]);
                shell
            }
        };
        let child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(append(&stdout_path))
            .stderr(append(&stderr_path))
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start ordo {args:?}: {error}"));
        Process {
            name: name.to_owned(),
            child: Some(child),
            stdout_path,
            stderr_path,
            exit: None,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("not reaped yet").id()
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`) with `kill(1)`.
    pub fn signal(&self, signal: &str) {
        let Some(child) = &self.child else { return };
        let status = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {} failed", self.name);
    }

    /// Its exit status, once it has exited; `None` if it still runs after `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Its exit status if it has exited (reaping it).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.exit {
            return Some(status);
        }
        let child = self.child.as_mut()?;
        let status = child.try_wait().unwrap()?;
        self.exit = Some(status);
        self.child = None;
        Some(status)
    }

    /// SIGTERM, then the exit status within [`EXIT_PATIENCE`] (panics otherwise).
    pub async fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        let started = Instant::now();
        match self.wait_exit(EXIT_PATIENCE).await {
            Some(status) => status,
            None => panic!(
                "{} still runs {:?} after SIGTERM\n{}",
                self.name,
                started.elapsed(),
                self.logs()
            ),
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            self.exit = child.wait().ok();
        }
    }

    /// Everything it wrote to stdout so far.
    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Everything it wrote to stderr so far, as written.
    pub fn stderr_raw(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Everything it wrote to stderr so far, colours stripped.
    pub fn stderr(&self) -> String {
        strip_ansi(&fs::read_to_string(&self.stderr_path).unwrap_or_default())
    }

    /// Its name and the end of its output, for assertion messages.
    pub fn logs(&self) -> String {
        format!(
            "--- {} stdout ---\n{}\n--- {} stderr (last lines) ---\n{}\n",
            self.name,
            tail(&self.stdout(), 20),
            self.name,
            tail(&self.stderr(), 40)
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What one `ordo` command did.
#[derive(Debug)]
pub struct CliOutput {
    /// The exit code (`None`: killed by a signal, or by the deadline).
    pub code: Option<i32>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr, colours stripped.
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

impl fmt::Display for CliOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit code {:?} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Runs `ordo ARGS` to completion, killed at `within`.
pub async fn run_ordo(args: &[&str], within: Duration) -> CliOutput {
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    tokio::task::spawn_blocking(move || run_blocking(&args, within))
        .await
        .unwrap()
}

fn run_blocking(args: &[String], within: Duration) -> CliOutput {
    let mut stdout = tempfile::tempfile().unwrap();
    let mut stderr = tempfile::tempfile().unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout.try_clone().unwrap())
        .stderr(stderr.try_clone().unwrap())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() >= within {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read = |file: &mut File| {
        let mut text = String::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_string(&mut text).unwrap();
        text
    };
    CliOutput {
        code: status.and_then(|status| status.code()),
        stdout: read(&mut stdout),
        stderr: strip_ansi(&read(&mut stderr)),
        elapsed: started.elapsed(),
    }
}

/// One node's fixed facts: its id, ports and data directory.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// Node id.
    pub id: u64,
    /// Where nodes reach it.
    pub peer_port: u16,
    /// Where clients reach it.
    pub client_port: u16,
    /// Its data directory.
    pub data: PathBuf,
}

/// A cluster of `ordo serve` processes on 127.0.0.1. Dropping it kills
/// every node still running.
pub struct Cluster {
    /// The `--cluster` name.
    pub name: String,
    log_dir: PathBuf,
    nodes: BTreeMap<u64, NodeSpec>,
    running: BTreeMap<u64, Process>,
    /// Flags every node gets besides its own (`--snapshot-threshold 10`).
    extra_flags: Vec<String>,
    /// The file descriptor limit every node starts under, if lowered.
    descriptor_limit: Option<u64>,
    /// Where the nodes reach each other, when not at the peer listeners
    /// themselves: the ports of relays in front of them.
    relay_ports: BTreeMap<u64, u16>,
}

impl Cluster {
    /// A cluster of `size` nodes with new ports, keeping node `i`'s data in
    /// `root/NAME/node-i` and its logs in `root/NAME/logs`. Nothing starts yet.
    pub fn new(name: &str, root: &Path, size: u64) -> Cluster {
        let data = (1..=size)
            .map(|id| (id, root.join(name).join(format!("node-{id}"))))
            .collect();
        Cluster::on(name, root, data)
    }

    /// A cluster with new ports over the given data directories.
    pub fn on(name: &str, root: &Path, data: BTreeMap<u64, PathBuf>) -> Cluster {
        let nodes = data
            .into_iter()
            .map(|(id, data)| {
                let spec = NodeSpec {
                    id,
                    peer_port: free_port(),
                    client_port: free_port(),
                    data,
                };
                (id, spec)
            })
            .collect();
        Cluster {
            name: name.to_owned(),
            log_dir: root.join(name).join("logs"),
            nodes,
            running: BTreeMap::new(),
            extra_flags: Vec::new(),
            descriptor_limit: None,
            relay_ports: BTreeMap::new(),
        }
    }

    /// The same cluster with `flags` given to every node.
    pub fn with_flags(mut self, flags: &[&str]) -> Cluster {
        self.extra_flags
            .extend(flags.iter().map(|flag| (*flag).to_owned()));
        self
    }

    /// The same cluster with every node started under `limit` descriptors.
    pub fn with_descriptor_limit(mut self, limit: u64) -> Cluster {
        self.descriptor_limit = Some(limit);
        self
    }

    /// The same cluster with its nodes reaching each other through
    /// `relays` (which the test can then partition): each node advertises
    /// its relay as its peer address, and `--initial-cluster` names the
    /// relays. Must come before any node starts.
    pub fn with_peer_relays(mut self, relays: &relay::PeerRelays) -> Cluster {
        assert!(
            self.running.is_empty(),
            "relays come before the nodes start"
        );
        self.relay_ports = self
            .ids()
            .into_iter()
            .map(|id| (id, relays.port(id)))
            .collect();
        self
    }

    /// Another cluster with this one's name, ids, ports and flags but its
    /// own data directories (`root/NAME/node-i`) and logs: what an operator
    /// gets who bootstraps a second cluster with the same command line.
    pub fn twin(&self, root: &Path) -> Cluster {
        Cluster::on_ports_of(self, &self.name, root)
    }

    /// A second cluster at `other`'s ports and with its flags (to run once
    /// `other` stopped, or to try against it), keeping its data in
    /// `root/NAME/node-i`.
    pub fn on_ports_of(other: &Cluster, name: &str, root: &Path) -> Cluster {
        let nodes = other
            .nodes
            .values()
            .map(|spec| {
                let data = root.join(name).join(format!("node-{}", spec.id));
                (
                    spec.id,
                    NodeSpec {
                        data,
                        ..spec.clone()
                    },
                )
            })
            .collect();
        Cluster {
            name: name.to_owned(),
            log_dir: root.join(name).join("logs"),
            nodes,
            running: BTreeMap::new(),
            extra_flags: other.extra_flags.clone(),
            descriptor_limit: other.descriptor_limit,
            relay_ports: BTreeMap::new(),
        }
    }

    /// Every node's id.
    pub fn ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    /// Node `id`'s facts.
    pub fn spec(&self, id: u64) -> &NodeSpec {
        &self.nodes[&id]
    }

    /// `--initial-cluster`'s value: every node address, and the lowest
    /// member's client URL, from which the others learn the cluster's id.
    pub fn initial_cluster(&self) -> String {
        let lowest = self.nodes.keys().next().copied();
        self.nodes
            .values()
            .map(|node| {
                let address = format!("{}={}", node.id, self.advertised_peer_addr(node.id));
                if Some(node.id) == lowest {
                    format!("{address}@{}", url(node.client_port))
                } else {
                    address
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Where the other nodes reach node `id`: its relay, if it has one,
    /// else its peer listener.
    fn advertised_peer_addr(&self, id: u64) -> String {
        match self.relay_ports.get(&id) {
            Some(port) => format!("127.0.0.1:{port}"),
            None => self.peer_addr(id),
        }
    }

    /// `ordo serve` flags for node `id`.
    pub fn serve_args(&self, id: u64) -> Vec<String> {
        let node = &self.nodes[&id];
        let advertise_peer = self
            .relay_ports
            .contains_key(&id)
            .then(|| ["--advertise-peer".to_owned(), self.advertised_peer_addr(id)]);
        [
            "serve",
            "--id",
            &id.to_string(),
            "--peer-listen",
            &format!("127.0.0.1:{}", node.peer_port),
            "--client-listen",
            &format!("127.0.0.1:{}", node.client_port),
            "--data",
            node.data.to_str().unwrap(),
            "--initial-cluster",
            &self.initial_cluster(),
            "--cluster",
            &self.name,
        ]
        .iter()
        .map(|arg| (*arg).to_owned())
        .chain(advertise_peer.into_iter().flatten())
        .chain(self.extra_flags.iter().cloned())
        .collect()
    }

    /// Starts node `id` (which must not be running).
    pub fn start(&mut self, id: u64) {
        assert!(!self.is_running(id), "node {id} already runs");
        let process = Process::spawn_limited(
            &format!("node-{id}"),
            &self.serve_args(id),
            &self.log_dir,
            self.descriptor_limit,
        );
        self.running.insert(id, process);
    }

    /// Starts node `id` with `flags` of its own besides the cluster's (its
    /// certificate, say).
    pub fn start_with_flags(&mut self, id: u64, flags: &[String]) {
        assert!(!self.is_running(id), "node {id} already runs");
        let mut args = self.serve_args(id);
        args.extend(flags.iter().cloned());
        let process = Process::spawn(&format!("node-{id}"), &args, &self.log_dir);
        self.running.insert(id, process);
    }

    /// Starts node `id` expecting it to refuse: its exit status within
    /// [`EXIT_PATIENCE`] (`None` if it still runs then; it is then left
    /// running) and its stderr. The attempt logs to `node-ID-LABEL.*`.
    pub async fn start_refused(&mut self, id: u64, label: &str) -> (Option<ExitStatus>, String) {
        assert!(!self.is_running(id), "node {id} already runs");
        let mut process = Process::spawn(
            &format!("node-{id}-{label}"),
            &self.serve_args(id),
            &self.log_dir,
        );
        let status = process.wait_exit(EXIT_PATIENCE).await;
        let stderr = process.stderr();
        if status.is_none() {
            self.running.insert(id, process);
        }
        (status, stderr)
    }

    /// Gives node `id` (which must not be running) a new client port, as an
    /// operator moving it would: it listens there from its next start on.
    pub fn move_client_port(&mut self, id: u64) -> u16 {
        assert!(!self.is_running(id), "node {id} runs");
        let port = free_port();
        self.nodes
            .get_mut(&id)
            .unwrap_or_else(|| panic!("no node {id}"))
            .client_port = port;
        port
    }

    /// Node `id`'s data directory.
    pub fn data(&self, id: u64) -> &Path {
        &self.nodes[&id].data
    }

    /// Node `id`'s peer address, `127.0.0.1:PORT`.
    pub fn peer_addr(&self, id: u64) -> String {
        format!("127.0.0.1:{}", self.nodes[&id].peer_port)
    }

    /// Node `id`'s process (which must run).
    pub fn process(&mut self, id: u64) -> &mut Process {
        self.running.get_mut(&id).expect("node runs")
    }

    /// Polls `check` every 100 ms until it returns `Ok`, and returns its
    /// value; panics after `within` with its last complaint and every node's
    /// recent log.
    pub async fn eventually<T, F, Fut>(&self, what: &str, within: Duration, check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        wait_for(what, patience(within), check, || self.logs()).await
    }

    /// Waits until node `id` answers `GET /v1/cluster`; panics after `within`.
    pub async fn wait_answers(&self, id: u64, within: Duration) {
        self.eventually(&format!("node {id} answers"), within, || async move {
            self.view(id)
                .await
                .map(|_| ())
                .ok_or_else(|| "no answer".to_owned())
        })
        .await;
    }

    /// Waits until `leader` reports `follower` holding its whole log (lag 0).
    pub async fn wait_caught_up(&self, leader: u64, follower: u64) {
        let what = format!("node {follower} to catch up with leader {leader}");
        self.eventually(&what, PATIENCE, || async move {
            let lag = self.view(leader).await.and_then(|view| {
                view.replication
                    .iter()
                    .find(|progress| progress.id == follower)
                    .map(|progress| progress.lag)
            });
            match lag {
                Some(0) => Ok(()),
                lag => Err(format!("lag {lag:?}")),
            }
        })
        .await;
    }

    /// Starts every node.
    pub fn start_all(&mut self) {
        for id in self.ids() {
            self.start(id);
        }
    }

    /// Whether node `id` was started and not stopped or killed.
    pub fn is_running(&self, id: u64) -> bool {
        self.running.contains_key(&id)
    }

    /// Ids of the running nodes.
    pub fn running_ids(&self) -> Vec<u64> {
        self.running.keys().copied().collect()
    }

    /// Node `id`'s client URL.
    pub fn url(&self, id: u64) -> String {
        url(self.nodes[&id].client_port)
    }

    /// Every node's client URL, comma-separated.
    pub fn endpoints(&self) -> String {
        self.ids()
            .into_iter()
            .map(|id| self.url(id))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A client for every node.
    pub fn client(&self) -> Client {
        client(&self.endpoints(), Duration::from_secs(20))
    }

    /// A client for node `id` alone.
    pub fn client_of(&self, id: u64) -> Client {
        client(&self.url(id), Duration::from_secs(20))
    }

    /// SIGKILL node `id`.
    pub fn kill(&mut self, id: u64) {
        let mut process = self.running.remove(&id).expect("node runs");
        process.kill();
    }

    /// SIGTERM node `id`; its exit status (panics if it does not exit in time).
    pub async fn terminate(&mut self, id: u64) -> ExitStatus {
        let mut process = self.running.remove(&id).expect("node runs");
        process.terminate().await
    }

    /// SIGTERM every running node at once; then each one's exit status and
    /// how long after the signal it came (panics if one is late).
    pub async fn terminate_all(&mut self) -> BTreeMap<u64, (ExitStatus, Duration)> {
        let mut processes = std::mem::take(&mut self.running);
        let signalled = Instant::now();
        for process in processes.values() {
            process.signal("TERM");
        }
        let mut exits = BTreeMap::new();
        for (id, process) in &mut processes {
            let remaining = EXIT_PATIENCE.saturating_sub(signalled.elapsed());
            match process.wait_exit(remaining).await {
                Some(status) => {
                    exits.insert(*id, (status, signalled.elapsed()));
                }
                None => panic!(
                    "node {id} still runs {EXIT_PATIENCE:?} after SIGTERM\n{}",
                    process.logs()
                ),
            }
        }
        exits
    }

    /// `GET /v1/cluster` on node `id`.
    pub async fn view(&self, id: u64) -> Option<ClusterResponse> {
        let response = http()
            .get(format!("{}/v1/cluster", self.url(id)))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }

    /// The leader every running node agrees on, once every member's client
    /// URL is known to all of them; panics after [`PATIENCE`].
    pub async fn wait_for_leader(&self) -> u64 {
        self.wait_for_leader_within(PATIENCE).await
    }

    /// [`Cluster::wait_for_leader`], panicking after `within`.
    pub async fn wait_for_leader_within(&self, within: Duration) -> u64 {
        let what = format!("cluster {} to agree on a leader", self.name);
        self.eventually(&what, within, || self.agreed_leader())
            .await
    }

    async fn agreed_leader(&self) -> Result<u64, String> {
        let running = self.running_ids();
        let mut leaders = BTreeSet::new();
        for &id in &running {
            let view = self
                .view(id)
                .await
                .ok_or_else(|| format!("node {id} does not answer"))?;
            let leader = view
                .leader
                .ok_or_else(|| format!("node {id} knows no leader"))?;
            if let Some(member) = view.members.iter().find(|m| m.client_addr.is_none()) {
                return Err(format!("node {id} lacks node {}'s client URL", member.id));
            }
            leaders.insert(leader);
        }
        match leaders.into_iter().collect::<Vec<_>>()[..] {
            [leader] if running.contains(&leader) => Ok(leader),
            ref seen => Err(format!("leaders seen: {seen:?}")),
        }
    }

    /// The file node `id`'s stderr goes to (every start of it appends).
    pub fn stderr_path(&self, id: u64) -> PathBuf {
        self.log_dir.join(format!("node-{id}.stderr"))
    }

    /// Every node's recent stderr (running or not), for assertion messages.
    pub fn logs(&self) -> String {
        self.ids()
            .into_iter()
            .map(|id| {
                let path = self.stderr_path(id);
                let text = strip_ansi(&fs::read_to_string(path).unwrap_or_default());
                format!(
                    "--- node {id} stderr (last lines) ---\n{}\n",
                    tail(&text, 30)
                )
            })
            .collect()
    }
}
