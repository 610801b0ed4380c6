//! The client's recipes against real `ordo serve` processes (issue 13):
//!
//! - a [`Mutex`] contended for by 20 sessions, four of them `ordo lock`
//!   processes, one of which is kill -9'ed while it holds the lock: never
//!   two holders, the dead holder's lock freed within its TTL plus an
//!   election timeout, every other contender served, no increment lost;
//! - an [`Election`] whose leader keeps leading across two kill -9's of the
//!   Raft leader node, then hands over in campaign order on resign and on a
//!   closed session, one elected campaigner at a time;
//! - a [`WatchStream`](ordo_kv::client::WatchStream) whose node is
//!   killed while writes go on: it resumes elsewhere and yields exactly the
//!   committed history of its prefix.
//!
//! The clusters run with election timeouts of 500–1000 ms (the minimum
//! lease TTL is then 2 s).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use e2e_support::{Cluster, PATIENCE, Process, eventually};
use ordo_kv::api::CompareOp;
use ordo_kv::client::recipes::{Election, LeaderValue, Mutex, Session};
use ordo_kv::client::{Client, Cmp, GetOptions, ListOptions, Op, Txn, WatchItem, WatchOptions};

const TIMING: [&str; 4] = [
    "--election-timeout-min-ms",
    "500",
    "--election-timeout-max-ms",
    "1000",
];
const ELECTION_TIMEOUT_MAX: Duration = Duration::from_millis(1000);
/// The killed `ordo lock`'s session TTL: the shortest the timing allows.
const SHORT_TTL_SECONDS: i64 = 2;
/// The other sessions' TTL: long enough for keepalives on a loaded machine.
const SESSION_TTL_SECONDS: i64 = 5;
/// Time for the next holder to notice the expiry and take the lock (a
/// watch event, two reads), on a shared machine.
const HANDOVER_SLACK: Duration = Duration::from_millis(1500);

const LIBRARY_CONTENDERS: usize = 16;
const PROCESS_CONTENDERS: usize = 4;
const COUNTER: &str = "counter";

/// What the lock test's contenders share.
struct Ledger {
    /// Holders inside a critical section now (never more than one).
    holders: AtomicUsize,
    /// Critical sections completed (each one increment).
    completed: AtomicUsize,
    /// Whether one process holder was killed yet.
    killed_one: AtomicBool,
    /// When each section began, and whether it was the killed one.
    entries: std::sync::Mutex<Vec<(Instant, bool)>>,
}

impl Ledger {
    fn enter(&self, killed: bool) {
        let before = self.holders.fetch_add(1, Ordering::SeqCst);
        assert_eq!(before, 0, "two holders at once");
        self.entries.lock().unwrap().push((Instant::now(), killed));
    }

    fn leave(&self) {
        self.holders.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The critical section: reads the counter and writes it plus one, only
/// if the holder's key is still its own (`create_revision`) and nobody
/// wrote the counter since the read.
async fn increment(client: &Client, own_key: &str, own_revision: u64) {
    let read = client
        .get_with(COUNTER, GetOptions::default())
        .await
        .unwrap()
        .unwrap();
    let count: u64 = std::str::from_utf8(&read.kv.value)
        .unwrap()
        .parse()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let answer = client
        .txn(
            &Txn::new()
                .when([
                    Cmp::create_revision(own_key, CompareOp::Equal, own_revision),
                    Cmp::mod_revision(COUNTER, CompareOp::Equal, read.kv.mod_revision),
                ])
                .then([Op::put(COUNTER, (count + 1).to_string())])
                .build(),
        )
        .await
        .unwrap();
    assert!(
        answer.succeeded,
        "{own_key}: lost the lock or the counter moved under it ({count} read)"
    );
}

async fn library_contender(client: Client, ledger: Arc<Ledger>) {
    let session = Session::new(&client, SESSION_TTL_SECONDS).await.unwrap();
    let mutex = Mutex::new(&session, "lk");
    let guard = tokio::time::timeout(PATIENCE, mutex.lock())
        .await
        .expect("never got the lock")
        .unwrap();
    ledger.enter(false);
    increment(&client, guard.key(), guard.revision()).await;
    ledger.completed.fetch_add(1, Ordering::SeqCst);
    ledger.leave();
    guard.unlock().await.unwrap();
    session.close().await.unwrap();
}

/// `locked KEY (fencing revision R)`, as `ordo lock` prints it.
fn lock_line(stderr: &str) -> Option<(String, u64)> {
    let line = stderr.lines().find(|line| line.starts_with("locked "))?;
    let mut words = line.split_whitespace();
    let key = words.nth(1)?.to_owned();
    let revision = words.last()?.trim_end_matches(')').parse().ok()?;
    Some((key, revision))
}

/// An `ordo lock` process whose command waits, holding the lock, until the
/// test (its critical section's agent) creates the release file.
async fn process_contender(
    mut process: Process,
    index: usize,
    signals: PathBuf,
    client: Client,
    ledger: Arc<Ledger>,
) -> Option<Instant> {
    let entered = signals.join(format!("{index}.enter"));
    eventually(&format!("ordo lock {index} to hold the lock"), || {
        let entered = entered.clone();
        async move {
            if entered.exists() {
                Ok(())
            } else {
                Err("not yet".to_owned())
            }
        }
    })
    .await;
    let (key, revision) = lock_line(&process.stderr()).expect("the lock line");
    let release = || std::fs::write(signals.join(format!("{index}.release")), "").unwrap();
    if !ledger.killed_one.swap(true, Ordering::SeqCst) {
        ledger.enter(true);
        process.kill();
        let killed_at = Instant::now();
        ledger.leave();
        // Its `sh` lives on as an orphan: let it finish.
        release();
        return Some(killed_at);
    }
    ledger.enter(false);
    increment(&client, &key, revision).await;
    ledger.completed.fetch_add(1, Ordering::SeqCst);
    ledger.leave();
    release();
    let status = process.wait_exit(PATIENCE).await.expect("ordo lock exits");
    assert!(status.success(), "{}", process.logs());
    None
}

fn spawn_lock_process(cluster: &Cluster, index: usize, signals: &Path, logs: &Path) -> Process {
    let script = format!(
        "touch {dir}/{index}.enter; while [ ! -e {dir}/{index}.release ]; do sleep 0.02; done",
        dir = signals.display()
    );
    let args: Vec<String> = [
        "lock",
        "lk",
        "--ttl",
        &SHORT_TTL_SECONDS.to_string(),
        "--timeout",
        "20s",
        "--endpoints",
        &cluster.endpoints(),
        "--",
        "sh",
        "-c",
        &script,
    ]
    .iter()
    .map(|arg| (*arg).to_owned())
    .collect();
    Process::spawn(&format!("lock-{index}"), &args, logs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_contenders_and_a_killed_holder_share_a_lock() {
    let dir = tempfile::tempdir().unwrap();
    let signals = dir.path().join("signals");
    std::fs::create_dir_all(&signals).unwrap();
    let mut cluster = Cluster::new("e2e-lock", dir.path(), 3).with_flags(&TIMING);
    cluster.start_all();
    cluster.wait_for_leader().await;
    let client = cluster.client();
    client.put(COUNTER, "0", None).await.unwrap();

    let ledger = Arc::new(Ledger {
        holders: AtomicUsize::new(0),
        completed: AtomicUsize::new(0),
        killed_one: AtomicBool::new(false),
        entries: std::sync::Mutex::new(Vec::new()),
    });
    let mut processes = Vec::new();
    for index in 0..PROCESS_CONTENDERS {
        let process = spawn_lock_process(&cluster, index, &signals, &dir.path().join("logs"));
        processes.push(tokio::spawn(process_contender(
            process,
            index,
            signals.clone(),
            cluster.client(),
            ledger.clone(),
        )));
    }
    let mut libraries = Vec::new();
    for _ in 0..LIBRARY_CONTENDERS {
        libraries.push(tokio::spawn(library_contender(
            cluster.client(),
            ledger.clone(),
        )));
    }
    let mut killed_at = None;
    for process in processes {
        if let Some(at) = process.await.unwrap() {
            killed_at = Some(at);
        }
    }
    for library in libraries {
        library.await.unwrap();
    }

    let contenders = LIBRARY_CONTENDERS + PROCESS_CONTENDERS;
    let completed = ledger.completed.load(Ordering::SeqCst);
    assert_eq!(completed, contenders - 1, "every survivor got the lock");
    let read = client
        .get_with(COUNTER, GetOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&read.kv.value[..], completed.to_string().as_bytes());

    let killed_at = killed_at.expect("a holder was killed");
    let next = ledger
        .entries
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, killed)| !killed && *at > killed_at)
        .map(|(at, _)| *at)
        .min();
    let freed_after = next.expect("someone held after the kill") - killed_at;
    let bound =
        Duration::from_secs(SHORT_TTL_SECONDS as u64) + ELECTION_TIMEOUT_MAX + HANDOVER_SLACK;
    assert!(
        freed_after <= bound,
        "the killed holder's lock was taken {freed_after:?} after the kill (bound {bound:?})"
    );
    let line = client
        .list_all(&ListOptions {
            prefix: "lk/".to_owned(),
            ..ListOptions::default()
        })
        .await
        .unwrap();
    assert!(
        line.items.is_empty(),
        "nobody left in line: {:?}",
        line.items
    );
}

/// Campaigns as `name` and reports when elected.
async fn campaign(election: Arc<Election>, name: &str, elected: Arc<AtomicUsize>) {
    tokio::time::timeout(PATIENCE, election.campaign(name))
        .await
        .unwrap_or_else(|_| panic!("{name} never elected"))
        .unwrap();
    let before = elected.fetch_add(1, Ordering::SeqCst);
    assert_eq!(before, 0, "{name} elected while another leads");
}

async fn leader_is(election: &Election, name: &str) -> Result<LeaderValue, String> {
    match election.leader().await {
        Ok(Some(leader)) if leader.value == name.as_bytes() => Ok(leader),
        other => Err(format!("leader {other:?}, not {name}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_elected_campaigner_outlives_raft_leader_kills_and_hands_over_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-election", dir.path(), 3).with_flags(&TIMING);
    cluster.start_all();
    cluster.wait_for_leader().await;
    let elected = Arc::new(AtomicUsize::new(0));
    let mut sessions = Vec::new();
    let mut elections = Vec::new();
    for _ in 0..3 {
        let session = Session::new(&cluster.client(), SESSION_TTL_SECONDS)
            .await
            .unwrap();
        elections.push(Arc::new(Election::new(&session, "el")));
        sessions.push(session);
    }
    let names = ["c0", "c1", "c2"];
    campaign(elections[0].clone(), names[0], elected.clone()).await;
    let first = leader_is(&elections[0], "c0").await.unwrap();
    let observer_client = cluster.client();
    let mut observed = Election::observe(&observer_client, "el");
    assert_eq!(observed.next().await.unwrap().unwrap(), Some(first.clone()));

    // c1 then c2 line up behind c0 (in that order).
    let mut waiting = Vec::new();
    for index in 1..3 {
        let task = tokio::spawn({
            let (election, elected) = (elections[index].clone(), elected.clone());
            async move { campaign(election, names[index], elected).await }
        });
        waiting.push(task);
        let client = cluster.client();
        eventually(&format!("{} in line", names[index]), || {
            let client = client.clone();
            async move {
                let line = client
                    .list_all(&ListOptions {
                        prefix: "el/".to_owned(),
                        ..ListOptions::default()
                    })
                    .await
                    .map_err(|error| error.to_string())?;
                if line.items.len() == index + 1 {
                    Ok(())
                } else {
                    Err(format!("{} in line", line.items.len()))
                }
            }
        })
        .await;
    }

    // Two kill -9's of the Raft leader: c0 leads throughout.
    for _ in 0..2 {
        let leader = cluster.wait_for_leader().await;
        cluster.kill(leader);
        cluster.wait_for_leader().await;
        cluster.start(leader);
        cluster.wait_for_leader().await;
        tokio::time::sleep(Duration::from_secs(SESSION_TTL_SECONDS as u64)).await;
        assert_eq!(leader_is(&elections[0], "c0").await.unwrap(), first);
        assert_eq!(elected.load(Ordering::SeqCst), 1);
    }

    // c0 resigns: c1 is elected; c1's session closes: c2 is.
    elected.fetch_sub(1, Ordering::SeqCst);
    elections[0].resign().await.unwrap();
    waiting.remove(0).await.unwrap();
    leader_is(&elections[1], "c1").await.unwrap();
    elected.fetch_sub(1, Ordering::SeqCst);
    sessions[1].clone().close().await.unwrap();
    waiting.remove(0).await.unwrap();
    leader_is(&elections[2], "c2").await.unwrap();

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let leader = tokio::time::timeout(PATIENCE, observed.next())
            .await
            .expect("the observer saw every leader")
            .unwrap()
            .unwrap();
        seen.push(leader.map(|leader| String::from_utf8(leader.value.to_vec()).unwrap()));
    }
    assert_eq!(seen, [Some("c1".to_owned()), Some("c2".to_owned())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_stream_resumes_on_another_node_and_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-watch-resume", dir.path(), 3).with_flags(&TIMING);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    // The watcher reads from the leader first: killing it also moves the
    // writes to a new leader.
    let others: Vec<String> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != leader)
        .map(|id| cluster.url(id))
        .collect();
    let watcher = e2e_support::client(
        &format!("{},{}", cluster.url(leader), others.join(",")),
        Duration::from_secs(20),
    );
    let mut options = WatchOptions::prefix("r/");
    options.progress_interval = Some(Duration::from_millis(500));
    let mut stream = watcher.watch(options);
    match stream.next().await {
        Some(Ok(WatchItem::Progress { .. })) => {}
        other => panic!("the watch's first item: {other:?}"),
    }

    let writer = cluster.client();
    let writes = tokio::spawn(async move {
        for index in 0..60 {
            // A write whose outcome is unknown (the leader died) is left as
            // it is: the history read at the end says what was committed.
            // Mostly back to back (a skipped revision would be a watched
            // one), some outside the prefix.
            let _ = writer.put(&format!("r/{index:02}"), "v", None).await;
            if index % 5 == 0 {
                let _ = writer.put(&format!("other/{index:02}"), "v", None).await;
            }
        }
    });
    let client = cluster.client();
    eventually("twenty writes before the kill", || {
        let client = client.clone();
        async move {
            match client.get_with("r/20", GetOptions::default()).await {
                Ok(Some(_)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    let metrics = e2e_support::http()
        .get(format!("{}/metrics", cluster.url(leader)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|line| line == "ordo_watchers 1"),
        "the watcher reads from the node killed next"
    );
    cluster.kill(leader);
    writes.await.unwrap();

    let committed: Vec<u64> = client
        .list_all(&ListOptions {
            prefix: "r/".to_owned(),
            ..ListOptions::default()
        })
        .await
        .unwrap()
        .items
        .iter()
        .map(|kv| kv.mod_revision)
        .collect();
    let mut committed = committed;
    committed.sort_unstable();
    let last = *committed.last().unwrap();
    let streamed = changes_through(&mut stream, last).await;
    assert_eq!(
        streamed, committed,
        "the resumed stream is the committed history"
    );
    let mut replay = client.watch(WatchOptions::prefix("r/").from_revision(1));
    assert_eq!(changes_through(&mut replay, last).await, committed);
}

/// The revisions of the changes a stream yields, through `last`.
async fn changes_through(stream: &mut ordo_kv::client::WatchStream, last: u64) -> Vec<u64> {
    let started = Instant::now();
    let mut revisions = Vec::new();
    while revisions.last().is_none_or(|revision| *revision < last) {
        let remaining = PATIENCE.saturating_sub(started.elapsed());
        match tokio::time::timeout(remaining, stream.next()).await {
            Ok(Some(Ok(WatchItem::Change(change)))) => revisions.push(change.revision),
            Ok(Some(Ok(WatchItem::Progress { .. }))) => {}
            other => panic!("after {revisions:?}: {other:?}"),
        }
    }
    revisions
}
