//! Fault tests against real `ordo serve` processes on 127.0.0.1: damaged
//! logs and snapshots, a data directory of another cluster, forged peer
//! messages, failing snapshot writes, a full disk and power loss. Each test
//! reproduces one bug of issue 11 (named in its doc comment) and states the
//! promised outcome; TESTING.md has the table.
//!
//! After every fault: each acknowledged write reads back exactly (value and
//! revision) on every node that runs, a write after the fault gets a revision
//! above every acknowledged one (none is handed out twice), and the damaged
//! node either rejoins or refuses to start. Refusals are matched on stable
//! strings only: `ordo repair --data` and file or directory names.
//!
//! Timeouts are the defaults (election 150–300 ms); every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::fs;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use e2e_support::forge::forge_heartbeat;
use e2e_support::tiny_fs::TinyFs;
use e2e_support::wal;
use e2e_support::writes::{Ledger, Writers, assert_at_least, grow_log, latest};
use e2e_support::{Cluster, client, http};
use ordo_kv::client::Consistency;
use reqwest::StatusCode;

/// How long a repaired node may take to serve again.
const REJOIN_PATIENCE: Duration = Duration::from_secs(10);
/// How long a cluster with a quorum may take to elect a leader.
const ELECTION_PATIENCE: Duration = Duration::from_secs(10);
/// The stable part of every "cannot start, repair me" message.
const REPAIR_HINT: &str = "ordo repair --data";

/// The first node of `cluster` that is not `leader` (and not in `also_not`).
fn follower(cluster: &Cluster, leader: u64, also_not: &[u64]) -> u64 {
    cluster
        .ids()
        .into_iter()
        .find(|id| *id != leader && !also_not.contains(id))
        .unwrap()
}

/// `PUT /v1/kv/KEY` on node `id` alone, without following redirects: the
/// status and the body.
async fn raw_put(
    cluster: &Cluster,
    id: u64,
    key: &str,
    value: &str,
) -> Option<(StatusCode, String)> {
    let answer = http()
        .put(format!("{}/v1/kv/{key}", cluster.url(id)))
        .body(value.to_owned())
        .send()
        .await
        .ok()?;
    let status = answer.status();
    Some((status, answer.text().await.unwrap_or_default()))
}

/// After a follower's log was damaged and it was restarted: a write through
/// the leader, then the follower serves that write linearizably and answers
/// `/health` 200 within [`REJOIN_PATIENCE`], and every acknowledged write
/// reads back on every node.
async fn assert_rejoins(
    cluster: &Cluster,
    ledger: &mut Ledger,
    leader: u64,
    damaged: u64,
    key: &str,
) {
    ledger
        .write(&cluster.client_of(leader), key, "written after the damage")
        .await;
    let node = client(&cluster.url(damaged), Duration::from_secs(2));
    let node = &node;
    cluster
        .eventually(
            &format!("node {damaged} serves a linearizable read after its repair"),
            REJOIN_PATIENCE,
            || async move {
                match node.get(key, Consistency::Linearizable).await {
                    Ok(Some(_)) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await;
    let health = format!("{}/health", cluster.url(damaged));
    let health = &health;
    cluster
        .eventually(
            &format!("node {damaged} answers /health 200"),
            REJOIN_PATIENCE,
            || async move {
                match http().get(health).send().await {
                    Ok(answer) if answer.status() == StatusCode::OK => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await;
    ledger.assert_everywhere(cluster, REJOIN_PATIENCE).await;
}

/// Bug 1: one flipped bit in the last, acknowledged record of a follower's
/// WAL. Leader L and follower A acknowledge writes while follower B is
/// down; L and A crash; A's final entry record gets a bit flipped; A and B
/// restart. A must come back with a repair point (it may have lost an
/// acknowledged entry), so A and B elect no leader (writes answer 503
/// `no_leader`) until L returns; then every acknowledged write is on all
/// three and the next write gets a new revision.
/// Today A cuts the record as a torn write and A+B elect a leader that lacks
/// the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug1_a_flipped_bit_in_an_acknowledged_record_withholds_the_vote() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("faults-flip", dir.path(), 3);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let acker = follower(&cluster, leader, &[]);
    let absent = follower(&cluster, leader, &[acker]);
    cluster.kill(absent);
    let mut ledger = Ledger::new();
    ledger
        .write_many(&cluster.client_of(leader), "acked", 10)
        .await;
    cluster.kill(leader);
    cluster.kill(acker);
    let flipped = wal::flip_bit_in_last_entry(cluster.data(acker));
    eprintln!("flipped a bit in entry {flipped} of node {acker}'s log");

    cluster.start(acker);
    cluster.start(absent);
    for id in [acker, absent] {
        cluster.wait_answers(id, REJOIN_PATIENCE).await;
    }
    // Ten election timeouts and more: without the leader, nobody leads.
    let watch_until = Instant::now() + Duration::from_secs(3);
    let mut probe = 0;
    while Instant::now() < watch_until {
        for id in [acker, absent] {
            let leader_seen = cluster.view(id).await.and_then(|view| view.leader);
            assert_eq!(
                leader_seen,
                None,
                "node {id} follows a leader elected without node {leader}, which alone holds entry {flipped}\n{}",
                cluster.logs()
            );
            probe += 1;
            if let Some((status, body)) =
                raw_put(&cluster, id, &format!("probe/{probe}"), "x").await
            {
                assert_eq!(
                    status,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "node {id} answered a write without node {leader}: {body}\n{}",
                    cluster.logs()
                );
                assert!(body.contains("no_leader"), "node {id}: {body}");
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    cluster.start(leader);
    cluster.wait_for_leader_within(ELECTION_PATIENCE).await;
    ledger.assert_everywhere(&cluster, REJOIN_PATIENCE).await;
    ledger
        .write(&cluster.client(), "after/repair", "a new revision")
        .await;
    ledger.assert_everywhere(&cluster, REJOIN_PATIENCE).await;
}

/// A three-node cluster with 20 acknowledged writes and one follower
/// stopped and damaged.
struct DamagedFollower {
    cluster: Cluster,
    ledger: Ledger,
    leader: u64,
    damaged: u64,
}

impl DamagedFollower {
    /// Writes to a new three-node cluster, kills a follower once the leader
    /// knows it holds every write (so the leader's `matched` for it covers
    /// what `damage` takes away), and applies `damage` to its data directory.
    async fn new(name: &str, root: &Path, damage: impl FnOnce(&Path)) -> DamagedFollower {
        let mut cluster = Cluster::new(name, root, 3);
        cluster.start_all();
        let leader = cluster.wait_for_leader().await;
        let damaged = follower(&cluster, leader, &[]);
        let mut ledger = Ledger::new();
        ledger
            .write_many(&cluster.client_of(leader), "before", 20)
            .await;
        cluster.wait_caught_up(leader, damaged).await;
        cluster.kill(damaged);
        damage(cluster.data(damaged));
        DamagedFollower {
            cluster,
            ledger,
            leader,
            damaged,
        }
    }

    /// Restarts the damaged follower and checks it rejoins.
    async fn assert_rejoins(mut self, key: &str) {
        self.cluster.start(self.damaged);
        assert_rejoins(
            &self.cluster,
            &mut self.ledger,
            self.leader,
            self.damaged,
            key,
        )
        .await;
    }
}

/// Bug 2a: a follower whose final (acknowledged) WAL record was cut off
/// rejoins: the leader sees its log went backwards and repairs it, so its
/// linearizable reads succeed and `/health` turns 200 within seconds.
/// Today the leader and the follower loop on probe/reject forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug2_a_follower_that_lost_its_final_record_rejoins() {
    let dir = tempfile::tempdir().unwrap();
    DamagedFollower::new("faults-cut", dir.path(), |data| {
        wal::cut_last_entry(data, 0);
    })
    .await
    .assert_rejoins("after/cut")
    .await;
}

/// Bug 2b: as 2a, with one bit flipped in the final record (the node may
/// cut it; it must then be repaired, not stuck).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug2_a_follower_with_a_flipped_final_record_rejoins() {
    let dir = tempfile::tempdir().unwrap();
    DamagedFollower::new("faults-flipped", dir.path(), |data| {
        wal::flip_bit_in_last_entry(data);
    })
    .await
    .assert_rejoins("after/flip")
    .await;
}

/// Bug 2c: as 2a, with the header of the follower's only segment torn
/// (12 of its 32 bytes left): the whole log is gone but the identity stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug2_a_follower_with_a_torn_segment_header_rejoins() {
    let dir = tempfile::tempdir().unwrap();
    DamagedFollower::new("faults-torn-header", dir.path(), |data| {
        wal::tear_only_segment_header(data, 12);
    })
    .await
    .assert_rejoins("after/tear")
    .await;
}

/// Bug 2d: every `wal/*.wal` of a follower deleted, the `wal/` directory
/// kept: the node refuses to start (an identity without a log is damage,
/// like a missing `wal/`), pointing at `ordo repair --data`; the others keep
/// every acknowledged write. Today it starts under its old id with an empty
/// log and a forgotten vote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug2_a_node_whose_segments_were_deleted_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let DamagedFollower {
        mut cluster,
        ledger,
        damaged,
        ..
    } = DamagedFollower::new("faults-no-segments", dir.path(), |data| {
        assert!(wal::delete_segments(data) > 0);
    })
    .await;
    let (status, stderr) = cluster.start_refused(damaged, "no-segments").await;
    assert!(
        status.is_some_and(|status| !status.success()),
        "node {damaged} started without its log segments ({status:?})\n{stderr}"
    );
    assert!(stderr.contains(REPAIR_HINT), "{stderr}");
    ledger.assert_everywhere(&cluster, REJOIN_PATIENCE).await;
}

/// Torn tails at several offsets of a follower's last (acknowledged) entry
/// record — inside the record header, right after it, inside the body, one
/// byte short — each followed by a restart: every time the follower rejoins
/// and nothing acknowledged is lost. Today it is stuck after the first
/// (bug 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tails_at_several_offsets_rejoin() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("faults-torn-tails", dir.path(), 3);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let damaged = follower(&cluster, leader, &[]);
    let mut ledger = Ledger::new();
    for (round, offset) in [1_usize, 4, 9, 20, usize::MAX].into_iter().enumerate() {
        let writer = cluster.client_of(leader);
        ledger
            .write_many(&writer, &format!("round{round}"), 5)
            .await;
        cluster.wait_caught_up(leader, damaged).await;
        cluster.kill(damaged);
        let (_, _, last) = wal::last_entry(cluster.data(damaged));
        let cut_at = offset.min(last.total_bytes - 1);
        let index = wal::cut_last_entry(cluster.data(damaged), cut_at);
        eprintln!("round {round}: entry {index} cut {cut_at} bytes in");
        cluster.start(damaged);
        assert_rejoins(
            &cluster,
            &mut ledger,
            leader,
            damaged,
            &format!("after/round{round}"),
        )
        .await;
    }
}

/// Bug 3: a follower's snapshot deleted after its log was compacted (past
/// the 1024 entries the log keeps behind a snapshot): the node refuses to
/// start, naming the `snapshots` directory and `ordo repair --data`. Today
/// it starts on an empty store and serves linearizable reads that miss
/// acknowledged keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug3_a_deleted_snapshot_under_a_compacted_log_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster =
        Cluster::new("faults-snapshot", dir.path(), 3).with_flags(&["--snapshot-threshold", "200"]);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let damaged = follower(&cluster, leader, &[]);
    let mut ledger = Ledger::new();
    ledger
        .write_many(&cluster.client_of(leader), "snap", 10)
        .await;
    grow_log(&cluster.client_of(leader), 1500, 16).await;
    let data = cluster.data(damaged).to_owned();
    let snapshots = data.join("snapshots");
    let (data_ref, snapshots_ref) = (&data, &snapshots);
    cluster
        .eventually(
            &format!("node {damaged} snapshots and compacts its log"),
            Duration::from_secs(15),
            || async move {
                let snapshot_files = snapshot_files(snapshots_ref);
                if !snapshot_files.is_empty() && wal::has_compacted(data_ref) {
                    Ok(())
                } else {
                    Err(format!("snapshots {snapshot_files:?}"))
                }
            },
        )
        .await;
    cluster.kill(damaged);
    for file in snapshot_files(&snapshots) {
        fs::remove_file(file).unwrap();
    }

    let (status, stderr) = cluster.start_refused(damaged, "no-snapshot").await;
    assert!(
        status.is_some_and(|status| !status.success()),
        "node {damaged} started on a compacted log without its snapshot ({status:?})\n{stderr}"
    );
    assert!(stderr.contains(REPAIR_HINT), "{stderr}");
    assert!(stderr.contains("snapshots"), "{stderr}");
    ledger.assert_everywhere(&cluster, REJOIN_PATIENCE).await;
}

/// The snapshot files (`snap-*.snap`) in `dir`.
fn snapshot_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "snap"))
        .collect()
}

/// Bug 4: a data directory from another cluster with the same name (`ordo`,
/// the default), the same ids and the same addresses, with a longer log and
/// a higher term, put in place of a follower's: it is refused (at start or
/// at the peer handshake), never leads, and every acknowledged write of the
/// running cluster stays while none of the other cluster's keys appears.
/// Today it joins, becomes leader and replicates its log over the cluster's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug4_a_data_directory_of_another_cluster_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut running = Cluster::new("ordo", &dir.path().join("running"), 3);
    let mut other = running.twin(&dir.path().join("other"));

    // The other cluster: more writes and a higher term (two handovers).
    other.start_all();
    let mut other_leader = other.wait_for_leader().await;
    let mut other_ledger = Ledger::new();
    other_ledger
        .write_many(&other.client_of(other_leader), "other", 30)
        .await;
    for _ in 0..2 {
        let to = follower(&other, other_leader, &[]);
        let answer = http()
            .post(format!("{}/v1/cluster/leader", other.url(other_leader)))
            .json(&serde_json::json!({ "to": to }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{}", other.logs());
        other_leader = to;
    }
    other.wait_for_leader().await;
    other.terminate_all().await;

    running.start_all();
    let leader = running.wait_for_leader().await;
    let mut ledger = Ledger::new();
    ledger
        .write_many(&running.client_of(leader), "mine", 10)
        .await;
    let replaced = follower(&running, leader, &[]);
    running.kill(replaced);
    fs::remove_dir_all(running.data(replaced)).unwrap();
    fs::rename(other.data(replaced), running.data(replaced)).unwrap();

    running.start(replaced);
    let watch_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < watch_until {
        for id in running.running_ids() {
            if let Some(view) = running.view(id).await {
                assert_ne!(
                    view.leader,
                    Some(replaced),
                    "node {id} sees the other cluster's node {replaced} as leader\n{}",
                    running.logs()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(status) = running.process(replaced).try_exit() {
        assert!(!status.success(), "node {replaced} exited {status}");
    }
    let survivors: Vec<u64> = running
        .ids()
        .into_iter()
        .filter(|id| *id != replaced)
        .collect();
    for id in survivors {
        let node = client(&running.url(id), Duration::from_secs(3));
        ledger
            .check(&node)
            .await
            .unwrap_or_else(|complaint| panic!("node {id}: {complaint}\n{}", running.logs()));
        let foreign = node
            .get("other/000", Consistency::Linearizable)
            .await
            .unwrap();
        assert_eq!(foreign, None, "node {id} serves the other cluster's key");
    }
    // The next write gets a revision above every acknowledged one.
    ledger
        .write(&running.client_of(leader), "after/foreign", "still ours")
        .await;
}

/// Forges, into every node of a running cluster, a heartbeat at `term`
/// from another member; then the cluster must still elect a leader after
/// each of `kills` leader crashes, and take writes.
async fn forged_term_keeps_elections(name: &str, term: u64, kills: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new(name, dir.path(), 3);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let mut ledger = Ledger::new();
    ledger
        .write_many(&cluster.client_of(leader), "before", 5)
        .await;

    // The forger knows the cluster's id (`/v1/cluster` shows it: the id
    // keeps clusters apart, it is no secret; keeping strangers out is
    // mutual TLS's job). The forged path reaches the nodes: a term 100
    // ahead (far below any sane bound) is taken.
    let view = cluster.view(leader).await.unwrap();
    let cluster_id = view.cluster_id.expect("a cluster id in /v1/cluster");
    let near = view.term + 100;
    let target = follower(&cluster, leader, &[]);
    forge_heartbeat(
        &cluster.peer_addr(target),
        &cluster_id,
        leader,
        target,
        near,
    )
    .await;
    let target_term = cluster.view(target).await.map(|view| view.term);
    assert!(
        target_term.is_some_and(|seen| seen >= near),
        "a forged heartbeat at term {near} did not reach node {target} (term {target_term:?})"
    );
    cluster.wait_for_leader().await;

    for id in cluster.ids() {
        let from = follower(&cluster, id, &[]);
        forge_heartbeat(&cluster.peer_addr(id), &cluster_id, from, id, term).await;
    }
    for round in 0..=kills {
        let leader = cluster.wait_for_leader_within(ELECTION_PATIENCE).await;
        ledger
            .write(&cluster.client(), &format!("after/{round}"), "written")
            .await;
        if round == kills {
            break;
        }
        cluster.kill(leader);
        let survivor = cluster.running_ids()[0];
        let cluster_ref = &cluster;
        cluster_ref
            .eventually(
                &format!("a new leader after killing node {leader} (round {round})"),
                ELECTION_PATIENCE,
                || async move {
                    let view = cluster_ref.view(survivor).await;
                    match view.as_ref().and_then(|view| view.leader) {
                        Some(new) if new != leader => Ok(()),
                        _ => Err(format!("node {survivor}: {view:?}")),
                    }
                },
            )
            .await;
        cluster.start(leader);
    }
    ledger.assert_everywhere(&cluster, REJOIN_PATIENCE).await;
}

/// Bug 5: a forged Heartbeat with term exactly 2^62 (`MAX_TERM`) is refused
/// (far above the node's term), so the cluster keeps electing leaders after
/// the leader is killed twice. Today every node takes the term and the next
/// election, at 2^62 + 1, is dropped everywhere: no leader ever again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug5_a_forged_term_at_the_cap_does_not_wedge_elections() {
    forged_term_keeps_elections("faults-term-cap", 1 << 62, 2).await;
}

/// Bug 5: as above with term 2^62 − 3: refused too; the cluster survives
/// three leader crashes. Today it wedges after at most three elections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug5_a_forged_term_just_below_the_cap_does_not_wedge_elections() {
    forged_term_keeps_elections("faults-term-near-cap", (1 << 62) - 3, 3).await;
}

/// Counts the lines of `path` after byte `from` that contain `needle`.
fn count_lines(path: &Path, from: u64, needle: &str) -> usize {
    let mut file = fs::File::open(path).unwrap();
    file.seek(SeekFrom::Start(from)).unwrap();
    BufReader::new(file)
        .split(b'\n')
        .filter(|line| {
            line.as_ref()
                .is_ok_and(|line| String::from_utf8_lossy(line).contains(needle))
        })
        .count()
}

/// Bug 6: snapshot writes fail (the `snapshots` directory replaced by a file
/// while the node runs): the node keeps serving, and logs a bounded number
/// of warnings — at most 20 `WARN` lines in 5 s — none with `node stopped`.
/// Today the failing snapshot is retried in a hot loop (hundreds of
/// thousands of lines, each saying "the node stopped").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug6_failing_snapshot_writes_are_retried_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster =
        Cluster::new("faults-snap-fail", dir.path(), 1).with_flags(&["--snapshot-threshold", "5"]);
    cluster.start_all();
    let node = cluster.wait_for_leader().await;
    let mut ledger = Ledger::new();
    let writer = cluster.client_of(node);
    ledger.write_many(&writer, "before", 3).await;
    let snapshots = cluster.data(node).join("snapshots");
    fs::remove_dir_all(&snapshots).unwrap();
    fs::write(&snapshots, b"not a directory").unwrap();
    let stderr_path = cluster.stderr_path(node);
    let damaged_at = fs::metadata(&stderr_path).unwrap().len();

    // Past the snapshot threshold several times, for five seconds.
    let window = Instant::now() + Duration::from_secs(5);
    let mut round = 0;
    while Instant::now() < window {
        ledger
            .write(&writer, &format!("during/{round:03}"), "written")
            .await;
        round += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let warnings = count_lines(&stderr_path, damaged_at, "WARN");
    let stopped = count_lines(&stderr_path, damaged_at, "node stopped");
    assert!(
        cluster.process(node).try_exit().is_none(),
        "the node exited\n{}",
        cluster.logs()
    );
    assert!(
        warnings <= 20,
        "{warnings} WARN lines in 5 s of failing snapshots\n{}",
        cluster.logs()
    );
    assert_eq!(
        stopped,
        0,
        "a running node says it stopped\n{}",
        cluster.logs()
    );
    ledger.assert_everywhere(&cluster, REJOIN_PATIENCE).await;
}

/// Bug 7 and a full disk: a single node's data directory on a 16 MiB tmpfs,
/// filled until writes fail. Every write is answered with a documented
/// status — 200, or 503/507 with a JSON `error` — never 500; the node
/// restarts on the full disk; once space is freed it takes writes again;
/// every acknowledged write reads back. Needs root (tmpfs); skipped with a
/// printed reason otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug7_a_full_disk_answers_documented_statuses_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = match TinyFs::mount(&dir.path().join("tiny"), 16 << 20) {
        Ok(tiny) => tiny,
        Err(reason) => {
            eprintln!("skipped: {reason}");
            return;
        }
    };
    let data = [(1, tiny.path().join("node-1"))].into_iter().collect();
    let mut cluster = Cluster::on("faults-full", dir.path(), data);
    cluster.start_all();
    let node = cluster.wait_for_leader().await;
    let mut ledger = Ledger::new();
    ledger
        .write_many(&cluster.client_of(node), "before", 10)
        .await;

    tiny.fill("filler", 256 << 10);
    let value = "v".repeat(16 << 10);
    let mut refused_in_a_row = 0;
    let mut answers = Vec::new();
    for attempt in 0..200 {
        let key = format!("full/{attempt:03}");
        let answer = http()
            .put(format!("{}/v1/kv/{key}", cluster.url(node)))
            .timeout(Duration::from_secs(10))
            .body(value.clone())
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) => {
                // The node may stop (a failed write poisons the store) and
                // must then restart below; a write left hanging may not.
                assert!(!error.is_timeout(), "a write hung on a full disk: {error}");
                answers.push("no answer".to_owned());
                break;
            }
        };
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        answers.push(status.as_u16().to_string());
        match status {
            StatusCode::OK => {
                let revision =
                    serde_json::from_str::<serde_json::Value>(&body).unwrap()["revision"]
                        .as_u64()
                        .unwrap();
                ledger.record(&key, &value, revision);
                refused_in_a_row = 0;
            }
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::INSUFFICIENT_STORAGE => {
                let error = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|json| json["error"].as_str().map(str::to_owned));
                assert!(error.is_some(), "{status} without a JSON error: {body}");
                refused_in_a_row += 1;
                if refused_in_a_row == 3 {
                    break;
                }
            }
            other => panic!(
                "a write on a full disk answered {other}: {body}\nanswers so far {answers:?}\n{}",
                cluster.logs()
            ),
        }
    }
    eprintln!("answers on the full disk: {answers:?}");
    assert!(
        answers.iter().any(|answer| answer != "200"),
        "the disk never filled: {answers:?}"
    );

    // Restarted on the full disk, the node comes up and answers (it may not
    // lead until it can write its vote).
    cluster.kill(node);
    cluster.start(node);
    cluster.wait_answers(node, REJOIN_PATIENCE).await;
    assert!(
        cluster.process(node).try_exit().is_none(),
        "the node exited on the full disk\n{}",
        cluster.logs()
    );
    tiny.free("filler");
    cluster.wait_for_leader_within(ELECTION_PATIENCE).await;
    let writer = cluster.client_of(node);
    let writer = &writer;
    cluster
        .eventually(
            "writes succeed once space is freed",
            REJOIN_PATIENCE,
            || async move {
                writer
                    .put("after/freed", "yes", None)
                    .await
                    .map(|_| ())
                    .map_err(|error| error.to_string())
            },
        )
        .await;
    ledger.assert_everywhere(&cluster, REJOIN_PATIENCE).await;
    cluster.kill(node);
}

/// Power loss of the whole cluster during writes: kill -9 every node under
/// a stream of concurrent writes, restart all: every acknowledged write is
/// there on every node, and no two acknowledged writes share a revision.
/// (kill -9 keeps the page cache, so this checks the WAL's recovery and
/// ordering, not the disk's flushes.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_loss_of_the_whole_cluster_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("faults-power", dir.path(), 3);
    cluster.start_all();
    cluster.wait_for_leader().await;
    let writers = Writers::start(&cluster, 4);
    writers.wait_for(100, &cluster).await;
    for id in cluster.ids() {
        cluster.kill(id);
    }
    let (acks, _unknown) = writers.stop().await;

    cluster.start_all();
    cluster.wait_for_leader().await;
    let latest = latest(acks);
    for id in cluster.ids() {
        let node = cluster.client_of(id);
        for ack in latest.values() {
            assert_at_least(&node, id, ack).await;
        }
    }
}
