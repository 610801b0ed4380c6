//! etcd's own command-line client, `etcdctl` (API v3, Debian's
//! `etcd-client`), against a 3-node `ordo serve` cluster of real processes:
//! a client we did not write, speaking etcd's gRPC API to the client port.
//!
//! Skipped, saying so, when `etcdctl` is not on the PATH, unless
//! `ORDO_REQUIRE_ETCDCTL=1` (what `.ci/run` sets after installing it), in
//! which case its absence fails the test.
//!
//! The commands run against a follower, so every write also proves that a
//! follower forwards to the leader (etcd clients do not follow redirects).
//! Every endpoint is an `http://` URL: on `endpoint status`, `endpoint
//! hashkv`, `move-leader` and `defrag` etcdctl 3.4 sends it as the HTTP/2
//! `:authority` (the client port makes it bare before h2 would refuse it).
//!
//! A second test sets auth up with etcdctl alone and signs in with `--user`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::process::Stdio;
use std::time::Duration;

use e2e_support::Cluster;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

/// Longest one etcdctl command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// The etcdctl on the PATH; `None` (the test skips) when there is none and
/// it is not required.
fn etcdctl() -> Option<String> {
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

/// One etcdctl against one endpoint.
struct Etcdctl {
    program: String,
    endpoint: String,
}

/// What a command printed.
struct Printed {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Etcdctl {
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

    /// Runs `args` with `stdin`, to the end.
    async fn run_with_input(&self, args: &[&str], stdin: &str) -> Printed {
        let mut child = self.command(args).spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("etcdctl {args:?} did not finish"))
            .unwrap();
        Printed {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    async fn run(&self, args: &[&str]) -> Printed {
        self.run_with_input(args, "").await
    }

    /// Runs `args`, which must succeed; answers its output.
    async fn ok(&self, args: &[&str]) -> String {
        let printed = self.run(args).await;
        assert!(
            printed.success,
            "etcdctl {args:?} failed: {}{}",
            printed.stdout, printed.stderr
        );
        printed.stdout
    }

    /// Runs a `watch` until it printed `lines` lines; answers them.
    async fn watch_lines(&self, args: &[&str], lines: usize) -> Vec<String> {
        let mut child = self.command(args).spawn().unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        while seen.len() < lines {
            let line = tokio::time::timeout(COMMAND_TIMEOUT, reader.next_line())
                .await
                .unwrap_or_else(|_| panic!("etcdctl {args:?} printed only {seen:?}"))
                .unwrap();
            match line {
                Some(line) => seen.push(line),
                None => panic!("etcdctl {args:?} ended after {seen:?}"),
            }
        }
        let _ = child.kill().await;
        seen
    }
}

/// The `mod_revision` in `etcdctl get -w json` output.
fn mod_revision(json: &str) -> i64 {
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    value["kvs"][0]["mod_revision"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_works_against_a_follower_of_an_ordo_cluster() {
    let Some(program) = etcdctl() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("etcdctl", dir.path(), 3);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let follower = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    let port = cluster.spec(follower).client_port;
    let etcd = Etcdctl {
        program: program.clone(),
        endpoint: format!("http://127.0.0.1:{port}"),
    };

    // put / get / del with prefix, through the follower.
    assert_eq!(etcd.ok(&["put", "app/a", "1"]).await, "OK\n");
    assert_eq!(etcd.ok(&["put", "app/b", "2"]).await, "OK\n");
    assert_eq!(etcd.ok(&["put", "zzz", "3"]).await, "OK\n");
    assert_eq!(
        etcd.ok(&["get", "app/", "--prefix"]).await,
        "app/a\n1\napp/b\n2\n"
    );
    assert_eq!(
        etcd.ok(&["get", "app/", "--prefix", "--keys-only", "--limit=1"])
            .await,
        "app/a\n\n"
    );
    let counted = etcd
        .ok(&["get", "app/", "--prefix", "--limit=1", "-w", "json"])
        .await;
    let counted: serde_json::Value = serde_json::from_str(&counted).unwrap();
    assert_eq!(
        (&counted["count"], &counted["more"]),
        (&2.into(), &true.into())
    );
    assert_eq!(
        etcd.ok(&["get", "app/", "--from-key", "--print-value-only"])
            .await,
        "1\n2\n3\n"
    );
    assert_eq!(
        etcd.ok(&[
            "get",
            "app/",
            "--prefix",
            "--sort-by=KEY",
            "--order=DESCEND"
        ])
        .await,
        "app/b\n2\napp/a\n1\n"
    );
    let first = mod_revision(&etcd.ok(&["get", "app/a", "-w", "json"]).await);
    assert_eq!(
        etcd.ok(&["del", "app/", "--prefix", "--prev-kv"]).await,
        "2\napp/a\n1\napp/b\n2\n"
    );
    assert_eq!(etcd.ok(&["get", "app/", "--prefix"]).await, "");

    // txn, interactive form through stdin: compares, success, failure.
    let txn = "value(\"zzz\") = \"3\"\n\nput zzz 4\nget zzz\n\nput never 1\n\n";
    let printed = etcd.run_with_input(&["txn"], txn).await;
    assert!(printed.success, "{}", printed.stderr);
    assert_eq!(printed.stdout, "SUCCESS\n\nOK\n\nzzz\n4\n");
    let printed = etcd.run_with_input(&["txn"], txn).await;
    assert_eq!(printed.stdout, "FAILURE\n\nOK\n");

    // watch from a past revision, with the previous values.
    let lines = etcd
        .watch_lines(
            &[
                "watch",
                "app/",
                "--prefix",
                &format!("--rev={first}"),
                "--prev-kv",
            ],
            8,
        )
        .await;
    assert_eq!(
        lines,
        ["PUT", "app/a", "1", "PUT", "app/b", "2", "DELETE", "app/a"]
    );

    // leases: grant, attach, time-to-live with keys, keep-alive, revoke.
    let granted = etcd.ok(&["lease", "grant", "60"]).await;
    let lease = granted.split_whitespace().nth(1).unwrap().to_owned();
    assert_eq!(granted, format!("lease {lease} granted with TTL(60s)\n"));
    assert_eq!(
        etcd.ok(&["put", "leased", "v", &format!("--lease={lease}")])
            .await,
        "OK\n"
    );
    let alive = etcd.ok(&["lease", "timetolive", &lease, "--keys"]).await;
    assert!(
        alive.starts_with(&format!("lease {lease} granted with TTL(60s), remaining(")),
        "{alive}"
    );
    assert!(alive.ends_with("attached keys([leased])\n"), "{alive}");
    assert_eq!(
        etcd.ok(&["lease", "keep-alive", "--once", &lease]).await,
        format!("lease {lease} keepalived with TTL(60)\n")
    );
    assert_eq!(
        etcd.ok(&["lease", "list"]).await,
        format!("found 1 leases\n{lease}\n")
    );
    assert_eq!(
        etcd.ok(&["lease", "revoke", &lease]).await,
        format!("lease {lease} revoked\n")
    );
    assert_eq!(etcd.ok(&["get", "leased"]).await, "");
    assert_eq!(
        etcd.ok(&["lease", "timetolive", &lease]).await,
        format!("lease {lease} already expired\n")
    );

    // compaction, then a watch and a read below it.
    let last = mod_revision(&etcd.ok(&["get", "zzz", "-w", "json"]).await);
    assert_eq!(
        etcd.ok(&["compact", &last.to_string()]).await,
        format!("compacted revision {last}\n")
    );
    let below = etcd
        .run(&["watch", "app/", "--prefix", &format!("--rev={first}")])
        .await;
    assert!(!below.success);
    assert!(
        format!("{}{}", below.stdout, below.stderr).contains(
            "watch was canceled (etcdserver: mvcc: required revision has been compacted)"
        ),
        "{}{}",
        below.stdout,
        below.stderr
    );
    let read = etcd.run(&["get", "zzz", &format!("--rev={first}")]).await;
    assert!(!read.success);
    assert!(
        read.stderr
            .contains("etcdserver: mvcc: required revision has been compacted"),
        "{}",
        read.stderr
    );

    // member list and endpoint status.
    let members = etcd.ok(&["member", "list"]).await;
    assert_eq!(members.lines().count(), 3, "{members}");
    for id in cluster.ids() {
        let client_url = format!("http://127.0.0.1:{}", cluster.spec(id).client_port);
        let line = format!("{id:x}, started, node-{id}, ");
        assert!(
            members.contains(&line) && members.contains(&client_url),
            "{members}"
        );
    }
    let status = etcd.ok(&["endpoint", "status"]).await;
    assert!(
        status.starts_with(&format!("http://127.0.0.1:{port}, {follower:x}, 3.5.0, ")),
        "{status}"
    );
    assert!(status.contains(", false, false, "), "{status}");

    // member add (as a learner; never started), update, promote, remove.
    let added = etcd
        .ok(&[
            "member",
            "add",
            "n4",
            "--peer-urls=http://127.0.0.1:1",
            "--learner",
        ])
        .await;
    assert!(
        added.starts_with(&format!("Member {:>16x} added to cluster ", 4)),
        "{added}"
    );
    assert!(added.contains("ETCD_NAME=\"n4\"\n"), "{added}");
    assert!(added.contains("n4=http://127.0.0.1:1"), "{added}");
    let updated = etcd
        .ok(&["member", "update", "4", "--peer-urls=http://127.0.0.1:2"])
        .await;
    assert!(
        updated.starts_with(&format!("Member {:>16x} updated in cluster ", 4)),
        "{updated}"
    );
    let members = etcd.ok(&["member", "list"]).await;
    assert!(
        members.contains("4, unstarted, , http://127.0.0.1:2, , true\n")
            || members.contains("http://127.0.0.1:2"),
        "{members}"
    );
    let promoted = etcd.run(&["member", "promote", "4"]).await;
    assert!(!promoted.success);
    assert!(
        promoted
            .stderr
            .contains("etcdserver: can only promote a learner member which is in sync with leader"),
        "{}",
        promoted.stderr
    );
    let removed = etcd.ok(&["member", "remove", "4"]).await;
    assert!(
        removed.starts_with(&format!("Member {:>16x} removed from cluster ", 4)),
        "{removed}"
    );
    assert_eq!(etcd.ok(&["member", "list"]).await.lines().count(), 3);

    // snapshot save: a backup `ordo snapshot restore` takes.
    let saved = dir.path().join("etcdctl.snapshot");
    let saved_text = saved.to_string_lossy().into_owned();
    let printed = etcd.ok(&["snapshot", "save", &saved_text]).await;
    assert!(
        printed.contains(&format!("Snapshot saved at {saved_text}")),
        "{printed}"
    );
    let restore_dir = dir.path().join("restored");
    let restored = e2e_support::run_ordo(
        &[
            "snapshot",
            "restore",
            &saved_text,
            "--data",
            restore_dir.to_str().unwrap(),
        ],
        COMMAND_TIMEOUT,
    )
    .await;
    assert_eq!(restored.code, Some(0), "{restored}");
    assert!(restored.stdout.contains(" checked: "), "{restored}");

    // endpoint hashkv: one hash, the same on every member once they caught up.
    let every = Etcdctl {
        program,
        endpoint: cluster
            .ids()
            .into_iter()
            .map(|id| format!("http://127.0.0.1:{}", cluster.spec(id).client_port))
            .collect::<Vec<_>>()
            .join(","),
    };
    let hashes = every
        .ok(&["endpoint", "hashkv", &format!("--rev={last}")])
        .await;
    let hashes: std::collections::BTreeSet<&str> = hashes
        .lines()
        .map(|line| line.rsplit(", ").next().unwrap())
        .collect();
    assert_eq!(hashes.len(), 1, "{hashes:?}");
    let defragmented = every.ok(&["defrag"]).await;
    assert_eq!(
        defragmented
            .matches("Finished defragmenting etcd member[http://")
            .count(),
        3,
        "{defragmented}"
    );

    // lock (etcdctl's own mutex on KV, Watch and Lease) running a command
    // while held; elect: a campaign holds, a listener sees its leader.
    assert_eq!(etcd.ok(&["lock", "job", "echo", "held"]).await, "held\n");
    let campaign = etcd.watch_lines(&["elect", "office", "alice"], 2).await;
    assert!(
        campaign[0].starts_with("office/") && campaign[1] == "alice",
        "{campaign:?}"
    );
    let observed = etcd.watch_lines(&["elect", "--listen", "office"], 2).await;
    assert_eq!(observed, campaign);

    // move-leader: to the follower etcdctl has talked to all along.
    let moved = every.ok(&["move-leader", &format!("{follower:x}")]).await;
    assert!(moved.contains(&format!(" to {follower:x}\n")), "{moved}");
}

/// etcd's auth, as its docs set it up, with etcdctl alone: users and roles
/// made while auth is off, `auth enable`, then `--user NAME:PASSWORD` on
/// every command; a user outside its permission is refused with etcd's
/// message and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_manages_users_and_roles_and_signs_in_with_user() {
    let Some(program) = etcdctl() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("etcdctl-auth", dir.path(), 1);
    cluster.start_all();
    cluster.wait_for_leader().await;
    let etcd = Etcdctl {
        program,
        endpoint: format!("http://127.0.0.1:{}", cluster.spec(1).client_port),
    };

    let set_up: [&[&str]; 7] = [
        &["user", "add", "root", "--new-user-password=rootpw"],
        &["user", "grant-role", "root", "root"],
        &["user", "add", "alice", "--new-user-password=alicepw"],
        &["role", "add", "reader"],
        &[
            "role",
            "grant-permission",
            "reader",
            "read",
            "app/",
            "--prefix",
        ],
        &["user", "grant-role", "alice", "reader"],
        &["put", "app/a", "1"],
    ];
    for args in set_up {
        etcd.ok(args).await;
    }
    assert_eq!(
        etcd.ok(&["auth", "enable"]).await,
        "Authentication Enabled\n"
    );

    let anonymous = etcd.run(&["get", "app/a"]).await;
    assert!(!anonymous.success);
    assert!(
        anonymous.stderr.contains("etcdserver: user name is empty"),
        "{}",
        anonymous.stderr
    );
    let root = ["--user", "root:rootpw"];
    let alice = ["--user", "alice:alicepw"];
    let with = |who: &[&'static str; 2], args: &[&'static str]| -> Vec<&'static str> {
        who.iter().chain(args).copied().collect()
    };
    assert_eq!(
        etcd.ok(&with(&alice, &["get", "app/a"])).await,
        "app/a\n1\n"
    );
    let refused = etcd.run(&with(&alice, &["put", "app/a", "2"])).await;
    assert!(!refused.success);
    assert!(
        refused.stderr.contains("etcdserver: permission denied"),
        "{}",
        refused.stderr
    );
    let wrong = etcd.run(&["--user", "alice:nope", "get", "app/a"]).await;
    assert!(
        wrong
            .stderr
            .contains("authentication failed, invalid user ID or password"),
        "{}",
        wrong.stderr
    );
    assert_eq!(
        etcd.ok(&with(&root, &["get", "app/a", "--print-value-only"]))
            .await,
        "1\n",
        "the refused put changed nothing"
    );
    assert_eq!(
        etcd.ok(&with(&root, &["user", "list"])).await,
        "alice\nroot\n"
    );
    let role = etcd.ok(&with(&root, &["role", "get", "reader"])).await;
    assert!(role.contains("[app/, app0) (prefix app/)"), "{role}");
    let not_root = etcd.run(&with(&alice, &["user", "list"])).await;
    assert!(
        not_root.stderr.contains("etcdserver: permission denied"),
        "{}",
        not_root.stderr
    );
    assert_eq!(
        etcd.ok(&with(&root, &["auth", "disable"])).await,
        "Authentication Disabled\n"
    );
    assert_eq!(
        etcd.ok(&["get", "app/a", "--print-value-only"]).await,
        "1\n"
    );
}
