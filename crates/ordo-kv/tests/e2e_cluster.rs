//! End-to-end: real `ordo` processes on 127.0.0.1, driven through the CLI
//! binary and over HTTP. Each test starts its own nodes on its own ports,
//! with its own data directories and cluster name, so the tests run in
//! parallel. What the in-process tests (`http_api.rs`) already pin — every
//! bad request, redirect `Location`s, joining — is not repeated here; these
//! tests are about processes: exit codes, what the CLI prints, signals,
//! crashes, restarts on the same data, and flags and files that are wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use e2e_support::dev::Dev;
use e2e_support::writes::{Writers, assert_at_least, latest};
use e2e_support::{
    CliOutput, Cluster, EXIT_PATIENCE, PATIENCE, Process, client, eventually, free_port, http,
    run_ordo, url, wait_healthy,
};
use ordo_kv::client::{Client, Consistency, ListEntry, PutOutcome};

/// Runs `ordo ARGS`, bounded by [`PATIENCE`].
async fn ordo<S: AsRef<str>>(args: &[S]) -> CliOutput {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    run_ordo(&args, PATIENCE).await
}

/// Runs `ordo ARGS` and expects exit code 0 and exactly `stdout`.
async fn ordo_prints<S: AsRef<str> + std::fmt::Debug>(args: &[S], stdout: &str) -> CliOutput {
    let output = ordo(args).await;
    assert_eq!(output.code, Some(0), "ordo {args:?}: {output}");
    assert_eq!(output.stdout, stdout, "ordo {args:?}: {output}");
    output
}

/// `ordo ARGS --endpoints ENDPOINTS`.
fn with(args: &[&str], endpoints: &str) -> Vec<String> {
    args.iter()
        .copied()
        .chain(["--endpoints", endpoints])
        .map(str::to_owned)
        .collect()
}

/// Every key, as `list` sees it through `client`.
async fn everything(client: &Client) -> Vec<ListEntry> {
    let page = client.list("", Some(10_000)).await.unwrap();
    assert!(!page.more);
    page.entries
}

/// Put, get (each consistency), del, cas and list through the CLI — every
/// command given only a follower, so writes follow the redirect — and the
/// same through the HTTP client, each side reading what the other wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_verbs_through_the_cli_and_http() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-verbs", dir.path(), 3);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let follower = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    let at_follower = &cluster.url(follower);
    let all = &cluster.endpoints();

    // put: through a follower and through the whole list.
    ordo_prints(
        &with(&["put", "app/a", "one"], at_follower),
        "OK revision=1\n",
    )
    .await;
    ordo_prints(&with(&["put", "app/b", "two"], all), "OK revision=2\n").await;
    ordo_prints(
        &with(&["put", "app/sp ace", "three\tx"], at_follower),
        "OK revision=3\n",
    )
    .await;

    // get: the value as is on stdout, revisions on stderr when asked.
    // Linearizable first: once the follower answered it, it has applied
    // the write, so its lease and stale reads see it too.
    for consistency in ["linearizable", "lease", "stale"] {
        let args = with(
            &[
                "get",
                "app/sp ace",
                "--show-revision",
                "--consistency",
                consistency,
            ],
            at_follower,
        );
        let output = ordo_prints(&args, "three\tx").await;
        assert!(
            output.stderr.contains("revision=3 cluster_revision=3"),
            "{consistency}: {output}"
        );
    }
    let missing = ordo(&with(&["get", "app/nothing"], at_follower)).await;
    assert_eq!(
        (missing.code, missing.stdout.as_str()),
        (Some(1), ""),
        "{missing}"
    );
    assert!(missing.stderr.contains("not found"), "{missing}");

    // cas: 0 means "must not exist"; a mismatch exits 1 and names the revision.
    let cas = |value: &str, revision: &str| {
        with(
            &["cas", "app/c", value, "--if-revision", revision],
            at_follower,
        )
    };
    ordo_prints(&cas("new", "0"), "OK revision=4\n").await;
    let failed = ordo(&cas("again", "0")).await;
    assert_eq!(
        (failed.code, failed.stdout.as_str()),
        (Some(1), ""),
        "{failed}"
    );
    assert!(
        failed.stderr.contains("compare failed: current revision 4"),
        "{failed}"
    );
    ordo_prints(&cas("swapped", "4"), "OK revision=5\n").await;
    let stale_cas = ordo(&cas("late", "4")).await;
    assert_eq!(stale_cas.code, Some(1), "{stale_cas}");

    // del: the revision moves only when something was deleted.
    ordo_prints(
        &with(&["del", "app/b"], at_follower),
        "deleted=true revision=6\n",
    )
    .await;
    ordo_prints(
        &with(&["del", "app/b"], at_follower),
        "deleted=false revision=6\n",
    )
    .await;

    // list: one escaped `key<TAB>value<TAB>revision` line per key, in order.
    let listed = "app/a\tone\t1\napp/c\tswapped\t5\napp/sp ace\tthree\\tx\t3\n";
    ordo_prints(&with(&["list", "--prefix", "app/"], at_follower), listed).await;
    let first = ordo_prints(
        &with(&["list", "--prefix", "app/", "--limit", "1"], all),
        "app/a\tone\t1\n",
    )
    .await;
    assert!(first.stderr.contains("more keys follow"), "{first}");

    // HTTP: the typed client sees what the CLI wrote, and the reverse.
    let client = cluster.client();
    let page = everything(&client).await;
    let shown: Vec<(&str, &[u8], u64)> = page
        .iter()
        .map(|entry| (entry.key.as_str(), &entry.value[..], entry.revision))
        .collect();
    assert_eq!(
        shown,
        [
            ("app/a", &b"one"[..], 1),
            ("app/c", b"swapped", 5),
            ("app/sp ace", b"three\tx", 3)
        ]
    );
    assert_eq!(
        client.put("http/x", "from http", None).await.unwrap(),
        PutOutcome::Written { revision: 7 }
    );
    assert_eq!(
        client.put("http/x", "again", Some(0)).await.unwrap(),
        PutOutcome::CompareFailed {
            current_revision: 7
        }
    );
    assert_eq!(
        client
            .put("http/bin", vec![0xff, 0x00], Some(0))
            .await
            .unwrap(),
        PutOutcome::Written { revision: 8 }
    );
    for id in cluster.ids() {
        let node = cluster.client_of(id);
        for consistency in [
            Consistency::Linearizable,
            Consistency::Lease,
            Consistency::Stale,
        ] {
            let read = node.get("app/c", consistency).await.unwrap().unwrap();
            assert_eq!(
                (&read.value[..], read.revision),
                (&b"swapped"[..], 5),
                "node {id} {consistency}"
            );
            assert!(read.cluster_revision >= 8, "node {id} {consistency}");
        }
    }
    ordo_prints(&with(&["get", "http/x"], at_follower), "from http").await;
    ordo_prints(
        &with(&["list", "--prefix", "http/"], all),
        "http/bin\tbase64:/wA=\t8\nhttp/x\tfrom http\t7\n",
    )
    .await;
    let deleted = client.delete("app/a").await.unwrap();
    assert!(deleted.deleted && deleted.revision == 9, "{deleted:?}");
    assert_eq!(
        client
            .get("app/a", Consistency::Linearizable)
            .await
            .unwrap(),
        None
    );
    let gone = ordo(&with(&["get", "app/a"], all)).await;
    assert_eq!(gone.code, Some(1), "{gone}");
}

/// kill -9 the leader under a stream of concurrent writes: every write that
/// was acknowledged is still there (on both survivors, read linearizably),
/// no two acknowledged writes share a revision, a new leader takes writes,
/// and the killed node catches up when it comes back on its data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-crash", dir.path(), 3);
    cluster.start_all();
    let old_leader = cluster.wait_for_leader().await;

    let writers = Writers::start(&cluster, 6);
    writers.wait_for(150, &cluster).await;
    cluster.kill(old_leader);
    let acked_at_kill = writers.acked();
    // The writers carry on: a new leader must take writes again.
    writers.wait_for(acked_at_kill + 150, &cluster).await;
    // Stopping them also checks that no two acknowledged writes share a revision.
    let (acks, failures) = writers.stop().await;
    eprintln!(
        "{} writes acknowledged ({acked_at_kill} before the kill), {failures} failed",
        acks.len()
    );
    let new_leader = cluster.wait_for_leader().await;
    assert_ne!(new_leader, old_leader);

    // The CLI tells a dead node from a live one.
    let status = ordo(&["status", "--endpoints", &cluster.endpoints()]).await;
    assert_eq!(status.code, Some(0), "{status}");
    let roles: BTreeMap<u64, String> = status
        .stdout
        .lines()
        .skip(2)
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            (cells[0].parse().unwrap(), cells[2].to_owned())
        })
        .collect();
    assert_eq!(roles[&old_leader], "unreachable", "{status}");
    assert_eq!(roles[&new_leader], "leader", "{status}");
    let dead = ordo(&[
        "get",
        "w0/k1",
        "--timeout",
        "1s",
        "--endpoints",
        &cluster.url(old_leader),
    ])
    .await;
    assert_eq!(dead.code, Some(1), "{dead}");
    assert!(dead.stderr.contains("no endpoint reachable"), "{dead}");
    let latest = latest(acks);
    for id in cluster.running_ids() {
        let node = cluster.client_of(id);
        for ack in latest.values() {
            assert_at_least(&node, id, ack).await;
        }
    }
    let after = cluster
        .client()
        .put("after-the-crash", "yes", None)
        .await
        .unwrap();
    assert!(matches!(after, PutOutcome::Written { .. }), "{after:?}");

    // The killed node restarts on its data and catches up.
    cluster.start(old_leader);
    let truth = everything(&cluster.client_of(new_leader)).await;
    let restarted = cluster.client_of(old_leader);
    eventually("the restarted node catches up", || {
        let restarted = restarted.clone();
        let truth = &truth;
        async move {
            for entry in truth {
                let read = restarted
                    .get(&entry.key, Consistency::Stale)
                    .await
                    .map_err(|error| error.to_string())?;
                let current = read.map(|read| (read.value, read.revision));
                if current.as_ref() != Some(&(entry.value.clone(), entry.revision)) {
                    return Err(format!("{}: {current:?} vs {entry:?}", entry.key));
                }
            }
            Ok(())
        }
    })
    .await;
    assert_eq!(cluster.wait_for_leader().await, new_leader);
}

/// SIGTERM all three nodes: each exits 0 promptly; started again on the
/// same data they hold every key, value and revision, and carry on
/// counting revisions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_cluster_reads_everything_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-restart", dir.path(), 3);
    cluster.start_all();
    cluster.wait_for_leader().await;
    let client = cluster.client();
    for index in 0..30 {
        client
            .put(&format!("key/{index:02}"), format!("value {index}"), None)
            .await
            .unwrap();
    }
    client.put("key/07", "overwritten", None).await.unwrap();
    client.delete("key/13").await.unwrap();
    ordo_prints(
        &["put", "cli", "written", "--endpoints", &cluster.endpoints()],
        "OK revision=33\n",
    )
    .await;
    let before = everything(&client).await;
    assert_eq!(before.len(), 30);

    let exits = cluster.terminate_all().await;
    for (id, (status, after)) in &exits {
        assert!(
            status.success(),
            "node {id} exited {status}\n{}",
            cluster.logs()
        );
        assert!(*after < EXIT_PATIENCE, "node {id} took {after:?}");
    }
    assert!(
        cluster.logs().contains("stopping node"),
        "{}",
        cluster.logs()
    );

    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let client = cluster.client();
    assert_eq!(everything(&client).await, before, "{}", cluster.logs());
    for id in cluster.ids() {
        let node = cluster.client_of(id);
        eventually(&format!("node {id} applies its log again"), || {
            let node = node.clone();
            let before = &before;
            async move {
                let listed = node.list("", None).await.map_err(|e| e.to_string())?;
                if &listed.entries == before {
                    Ok(())
                } else {
                    Err(format!("{} keys", listed.entries.len()))
                }
            }
        })
        .await;
    }
    ordo_prints(
        &["put", "more", "after", "--endpoints", &cluster.url(leader)],
        "OK revision=34\n",
    )
    .await;
}

/// A node asked to stop while a write waits for a quorum that is gone
/// answers the write (503) and exits promptly, rather than holding the
/// stop until the write times out (its stepping down may answer it first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_a_stuck_write_and_exits_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-stuck", dir.path(), 3);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let leader_url = cluster.url(leader);
    for id in cluster.ids() {
        if id != leader {
            cluster.kill(id);
        }
    }
    let stuck = tokio::spawn(
        reqwest::Client::new()
            .put(format!("{leader_url}/v1/kv/stuck"))
            .body("never committed")
            .timeout(PATIENCE)
            .send(),
    );
    // The leader may answer the write 503 before the stop: once it steps
    // down (check-quorum), it answers its uncommitted writes "outcome
    // unknown" at once. Either way the answer is 503 and the stop prompt.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    let status = cluster.terminate(leader).await;
    let took = signalled.elapsed();
    assert!(status.success(), "{status}\n{}", cluster.logs());
    assert!(
        took < Duration::from_secs(5),
        "took {took:?} to stop\n{}",
        cluster.logs()
    );
    let answer = stuck.await.unwrap().expect("answered, not dropped");
    assert_eq!(answer.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
}

/// `ordo snapshot save` from a live cluster, `ordo snapshot restore` into
/// three new directories, and a new cluster on them: the same keys,
/// values and revisions, listed by the CLI on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_snapshot_restores_into_a_new_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let mut old = Cluster::new("e2e-backup", dir.path(), 3);
    old.start_all();
    old.wait_for_leader().await;
    let client = old.client();
    for index in 0..20 {
        client
            .put(&format!("k{index:02}"), format!("v{index}"), None)
            .await
            .unwrap();
    }
    client.put("k03", "newer", None).await.unwrap();
    client
        .put("binary", vec![0xfe, 0x00, 0xff], None)
        .await
        .unwrap();
    client.delete("k11").await.unwrap();
    let cluster_revision = 23;

    let backup = dir.path().join("backup.ordo");
    let backup_arg = backup.to_str().unwrap();
    let saved = ordo(&[
        "snapshot",
        "save",
        backup_arg,
        "--endpoints",
        &old.endpoints(),
    ])
    .await;
    assert_eq!(saved.code, Some(0), "{saved}");
    let size = std::fs::metadata(&backup).unwrap().len();
    assert_eq!(
        saved.stdout,
        format!("saved {size} bytes to {backup_arg}\n")
    );

    let mut data = BTreeMap::new();
    for id in 1..=3 {
        let node_dir = dir.path().join("restored").join(format!("node-{id}"));
        let restored = ordo(&[
            "snapshot",
            "restore",
            backup_arg,
            "--data",
            node_dir.to_str().unwrap(),
        ])
        .await;
        assert_eq!(restored.code, Some(0), "{restored}");
        assert!(
            restored.stdout.contains(&format!(
                "20 keys, 116 bytes, cluster revision {cluster_revision}"
            )),
            "{restored}"
        );
        data.insert(id, node_dir);
    }
    let mut new = Cluster::on("e2e-restored", dir.path(), data);
    new.start_all();
    new.wait_for_leader().await;

    let listed_old = ordo(&["list", "--endpoints", &old.endpoints()]).await;
    assert_eq!(listed_old.code, Some(0), "{listed_old}");
    assert_eq!(listed_old.stdout.lines().count(), 20, "{listed_old}");
    ordo_prints(
        &["list", "--endpoints", &new.endpoints()],
        &listed_old.stdout,
    )
    .await;
    assert_eq!(
        everything(&new.client()).await,
        everything(&client).await,
        "{}",
        new.logs()
    );
    // Revisions carry on from the backup's.
    ordo_prints(
        &["put", "next", "one", "--endpoints", &new.endpoints()],
        &format!("OK revision={}\n", cluster_revision + 1),
    )
    .await;
}

/// The flags of a good one-node cluster on `data`.
fn single_node_args(
    id: u64,
    peer_port: u16,
    client_port: u16,
    data: &Path,
    cluster: &str,
) -> Vec<String> {
    [
        "serve",
        "--id",
        &id.to_string(),
        "--peer-listen",
        &format!("127.0.0.1:{peer_port}"),
        "--client-listen",
        &format!("127.0.0.1:{client_port}"),
        "--data",
        data.to_str().unwrap(),
        "--initial-cluster",
        &format!("{id}=127.0.0.1:{peer_port}"),
        "--cluster",
        cluster,
    ]
    .iter()
    .map(|arg| (*arg).to_owned())
    .collect()
}

/// `args` without `flag` and its value.
fn without(args: &[String], flag: &str) -> Vec<String> {
    let mut kept = Vec::new();
    let mut skip_value = false;
    for arg in args {
        if skip_value {
            skip_value = false;
        } else if arg == flag {
            skip_value = true;
        } else {
            kept.push(arg.clone());
        }
    }
    kept
}

/// `args` with `flag`'s value replaced by `value`.
fn replaced(args: &[String], flag: &str, value: &str) -> Vec<String> {
    let mut args = without(args, flag);
    args.extend([flag.to_owned(), value.to_owned()]);
    args
}

/// Runs `ordo ARGS`, expecting it to exit with `code` within
/// [`EXIT_PATIENCE`] and name the problem with every one of `words` on stderr.
async fn refused(args: &[String], code: i32, words: &[&str]) -> CliOutput {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run_ordo(&args, EXIT_PATIENCE + Duration::from_secs(5)).await;
    assert_eq!(output.code, Some(code), "ordo {args:?}: {output}");
    assert!(
        output.elapsed < EXIT_PATIENCE,
        "ordo {args:?} took {:?}",
        output.elapsed
    );
    for word in words {
        assert!(
            output.stderr.contains(word),
            "ordo {args:?}: stderr lacks {word:?}: {output}"
        );
    }
    output
}

/// Every bad start exits non-zero quickly, says what is wrong, and leaves
/// nothing behind that would stop the next good start on the same data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_serve_inputs_are_refused_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let (peer_port, client_port) = (free_port(), free_port());
    let good = single_node_args(1, peer_port, client_port, &data, "e2e-bad");

    // The cause is named once, not repeated by each layer of context.
    let in_use_once = |output: &CliOutput| {
        assert_eq!(
            output.stderr.matches("Address already in use").count(),
            1,
            "{output}"
        );
    };
    {
        let _busy = std::net::TcpListener::bind(("127.0.0.1", client_port)).unwrap();
        let output = refused(
            &good,
            1,
            &[
                "cannot listen for clients",
                &format!("127.0.0.1:{client_port}"),
            ],
        )
        .await;
        in_use_once(&output);
    }
    {
        let _busy = std::net::TcpListener::bind(("127.0.0.1", peer_port)).unwrap();
        let output = refused(
            &good,
            1,
            &["cannot listen for nodes", &format!("127.0.0.1:{peer_port}")],
        )
        .await;
        in_use_once(&output);
    }
    assert!(
        !data.exists(),
        "a busy port must fail before the data is touched"
    );

    refused(&without(&good, "--id"), 1, &["--id is required"]).await;
    refused(&without(&good, "--data"), 1, &["--data is required"]).await;
    refused(
        &without(&good, "--peer-listen"),
        1,
        &["--peer-listen is required"],
    )
    .await;
    refused(
        &without(&good, "--initial-cluster"),
        1,
        &["--initial-cluster", "--join"],
    )
    .await;
    refused(
        &replaced(&good, "--id", "one"),
        2,
        &["invalid value", "--id"],
    )
    .await;
    for (list, words) in [
        (
            "1:127.0.0.1:5",
            &["--initial-cluster", "is not ID=HOST:PORT"][..],
        ),
        ("1=127.0.0.1", &["--initial-cluster", "is not HOST:PORT"]),
        ("x=127.0.0.1:5", &["--initial-cluster", "is not a node id"]),
        ("1=127.0.0.1:5,1=127.0.0.1:6", &["lists node 1 twice"]),
        ("2=127.0.0.1:5", &["must list this node (1)"]),
        ("", &["--initial-cluster is empty"]),
        ("1=127.0.0.1:5@ftp://x", &["node 1's client URL", "http://"]),
    ] {
        refused(&replaced(&good, "--initial-cluster", list), 1, words).await;
    }
    // Timing and the cluster id are checked before anything is opened.
    for (flag, value, words) in [
        ("--heartbeat-interval-ms", "100", &["at most half"][..]),
        ("--election-timeout-max-ms", "100", &["must be above"]),
        ("--election-timeout-min-ms", "5", &["below the 10 ms tick"]),
        ("--cluster-id", "ordo", &["--cluster-id", "hex digits"]),
    ] {
        let mut args = good.clone();
        args.extend([flag.to_owned(), value.to_owned()]);
        refused(&args, 1, words).await;
    }

    // Config files: missing, unreadable, not TOML, misspelt, mistyped.
    let config = |name: &str, text: Option<&str>| {
        let path = dir.path().join(name);
        if let Some(text) = text {
            std::fs::write(&path, text).unwrap();
        }
        path.to_str().unwrap().to_owned()
    };
    let missing = config("missing.toml", None);
    refused(
        &["serve".into(), "--config".into(), missing.clone()],
        1,
        &["cannot read the config file", &missing],
    )
    .await;
    let directory = dir.path().to_str().unwrap().to_owned();
    refused(
        &["serve".into(), "--config".into(), directory],
        1,
        &["cannot read the config file"],
    )
    .await;
    for (name, text, words) in [
        (
            "syntax.toml",
            "id = \"1\n",
            &["invalid config file", "syntax.toml", "line 1"][..],
        ),
        (
            "misspelt.toml",
            "id = 1\npeer_lsten = \"127.0.0.1:1\"\n",
            &["invalid config file", "unknown field `peer_lsten`"],
        ),
        (
            "mistyped.toml",
            "id = \"one\"\n",
            &["invalid config file", "invalid type"],
        ),
    ] {
        let path = config(name, Some(text));
        refused(&["serve".into(), "--config".into(), path], 1, words).await;
    }

    // Joining a cluster nobody runs: refused after the client's deadline,
    // before anything is recorded.
    let nobody = url(free_port());
    let joiner = replaced(&without(&good, "--initial-cluster"), "--join", &nobody);
    let args: Vec<&str> = joiner.iter().map(String::as_str).collect();
    let output = run_ordo(&args, PATIENCE).await;
    assert_eq!(output.code, Some(1), "{output}");
    assert!(
        output.stderr.contains("cannot learn the cluster's members"),
        "{output}"
    );
    assert!(!data.join("ordo-node.json").exists(), "{output}");

    // After all that, the good flags start a node on the same directory.
    let mut node = Process::spawn("good", &good, &dir.path().join("logs"));
    wait_healthy(&url(client_port), &mut node).await;
    let node_client = client(&url(client_port), PATIENCE);
    node_client.put("kept", "yes", None).await.unwrap();
    assert!(node.terminate().await.success(), "{}", node.logs());

    // The directory is node 1's of cluster e2e-bad: not another node's,
    // not another cluster's.
    let (other_peer, other_client) = (free_port(), free_port());
    let node_2 = single_node_args(2, other_peer, other_client, &data, "e2e-bad");
    refused(
        &node_2,
        1,
        &[
            "belongs to node 1",
            "not node 2",
            "give this node its own --data",
        ],
    )
    .await;
    let other_cluster = single_node_args(1, other_peer, other_client, &data, "e2e-other");
    refused(
        &other_cluster,
        1,
        &["belongs to node 1 of cluster \"e2e-bad\""],
    )
    .await;

    // And node 1 still starts on it, with its data.
    let mut node = Process::spawn("good-again", &good, &dir.path().join("logs"));
    wait_healthy(&url(client_port), &mut node).await;
    let read = node_client
        .get("kept", Consistency::Linearizable)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&read.value[..], b"yes");
    assert!(node.terminate().await.success(), "{}", node.logs());
}

/// `ordo serve --config node.toml` with every setting in the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_starts_from_a_toml_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let (peer_port, client_port) = (free_port(), free_port());
    let data = dir.path().join("data");
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "id = 7\n\
             peer_listen = \"127.0.0.1:{peer_port}\"\n\
             client_listen = \"127.0.0.1:{client_port}\"\n\
             data = {data:?}\n\
             initial_cluster = \"7=127.0.0.1:{peer_port}\"\n\
             cluster = \"e2e-toml\"\n\
             max_value_bytes = 16\n",
        ),
    )
    .unwrap();
    let args = [
        "serve".to_owned(),
        "--config".to_owned(),
        config.to_str().unwrap().to_owned(),
    ];
    let mut node = Process::spawn("toml", &args, &dir.path().join("logs"));
    let endpoint = url(client_port);
    wait_healthy(&endpoint, &mut node).await;
    ordo_prints(
        &["put", "from", "toml", "--endpoints", &endpoint],
        "OK revision=1\n",
    )
    .await;
    ordo_prints(&["get", "from", "--endpoints", &endpoint], "toml").await;
    // The file's limit holds.
    let too_large = ordo(&["put", "big", "seventeen bytes!!", "--endpoints", &endpoint]).await;
    assert_eq!(too_large.code, Some(1), "{too_large}");
    assert!(too_large.stderr.contains("too_large"), "{too_large}");
    let view = http()
        .get(format!("{endpoint}/v1/cluster"))
        .send()
        .await
        .unwrap()
        .json::<ordo_kv::api::ClusterResponse>()
        .await
        .unwrap();
    assert_eq!(view.node.id, 7);
    assert!(data.join("ordo-node.json").exists());
    assert!(node.terminate().await.success(), "{}", node.logs());
    // Logs written to a file are plain text, without terminal colours.
    let log = node.stderr_raw();
    assert!(log.contains("INFO"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file:\n{log}"
    );
}

/// `ordo status`, `ordo member list` and `ordo leader transfer` against
/// three processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_members_and_leader_transfer_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-admin", dir.path(), 3);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let endpoints = cluster.endpoints();

    let status = ordo(&["status", "--endpoints", &endpoints]).await;
    assert_eq!(status.code, Some(0), "{status}");
    let mut lines = status.stdout.lines();
    let summary = lines.next().unwrap();
    assert!(
        summary.starts_with(&format!("leader: {leader}  term: ")),
        "{status}"
    );
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["id", "address", "role", "term", "commit", "applied", "lag"]
    );
    let rows: Vec<Vec<&str>> = lines
        .map(|line| line.split_whitespace().collect())
        .collect();
    let ids: Vec<&str> = rows.iter().map(|row| row[0]).collect();
    assert_eq!(ids, ["1", "2", "3"], "{status}");
    let leaders: Vec<&str> = rows
        .iter()
        .filter(|row| row[2] == "leader")
        .map(|row| row[0])
        .collect();
    assert_eq!(leaders, [leader.to_string()], "{status}");
    for row in &rows {
        let id: u64 = row[0].parse().unwrap();
        assert_eq!(row[1], cluster.url(id), "{status}");
        assert!(["leader", "follower"].contains(&row[2]), "{status}");
        assert_eq!(row.len(), 7, "{status}");
    }

    let follower = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    let members = ordo(&["member", "list", "--endpoints", &cluster.url(follower)]).await;
    assert_eq!(members.code, Some(0), "{members}");
    let member_rows: Vec<Vec<&str>> = members
        .stdout
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(member_rows.len(), 3, "{members}");
    for row in &member_rows {
        let id: u64 = row[0].parse().unwrap();
        let spec = cluster.spec(id);
        let mut expected = vec![
            row[0].to_owned(),
            "voter".to_owned(),
            format!("127.0.0.1:{}", spec.peer_port),
            cluster.url(id),
        ];
        if id == leader {
            expected.push("yes".to_owned());
        }
        assert_eq!(row, &expected, "{members}");
    }

    // Asked through another follower; the new leader is who was named.
    let target = follower;
    let other = cluster
        .ids()
        .into_iter()
        .find(|id| *id != leader && *id != target)
        .unwrap();
    let target_arg = target.to_string();
    ordo_prints(
        &[
            "leader",
            "transfer",
            &target_arg,
            "--endpoints",
            &cluster.url(other),
        ],
        &format!("OK leadership transfer to {target} requested\n"),
    )
    .await;
    let cluster_ref = &cluster;
    eventually("leadership moves", || async move {
        match cluster_ref.wait_for_leader().await {
            moved if moved == target => Ok(()),
            still => Err(format!("leader is {still}")),
        }
    })
    .await;
    ordo_prints(
        &["put", "after", "transfer", "--endpoints", &endpoints],
        "OK revision=1\n",
    )
    .await;
    let status = ordo(&["status", "--endpoints", &cluster.url(leader)]).await;
    assert!(
        status.stdout.starts_with(&format!("leader: {target}  ")),
        "{status}"
    );
}

/// `ordo dev`: prints its endpoints, serves, stops on SIGINT with exit 0,
/// and resumes from the same data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_serves_stops_on_sigint_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Dev::spawn(dir.path(), &[]).await;
    let endpoints: Vec<String> = (1..=3).map(|id| url(dev.client_port(id))).collect();
    let endpoints = endpoints.join(",");
    let welcome = dev.welcome();
    assert!(welcome.contains("ordo dev: 3 nodes"), "{welcome}");
    for id in 1..=3 {
        let line = format!(
            "node {id}  clients {}  nodes 127.0.0.1:{}",
            url(dev.client_port(id)),
            dev.peer_port(id)
        );
        assert!(welcome.contains(&line), "{line:?} missing:\n{welcome}");
    }
    assert_eq!(welcome.matches("(leader)").count(), 1, "{welcome}");
    let dashboard = format!("Dashboard: {}/ui", url(dev.client_port(1)));
    assert!(
        welcome.contains(&dashboard),
        "{dashboard:?} missing:\n{welcome}"
    );
    ordo_prints(
        &["put", "greeting", "hello", "--endpoints", &endpoints],
        "OK revision=1\n",
    )
    .await;
    ordo_prints(&["get", "greeting", "--endpoints", &endpoints], "hello").await;
    dev.interrupt().await;
    assert!(
        dev.process().stderr().contains("ordo dev: stopping"),
        "{}",
        dev.process().logs()
    );

    dev.restart().await;
    ordo_prints(&["get", "greeting", "--endpoints", &endpoints], "hello").await;
    dev.interrupt().await;
}
