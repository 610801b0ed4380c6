//! The command lists run against ordo and recorded from etcd 3.4: one
//! function per scenario, the same code for both (the members are learned
//! with etcdctl, `members.rs`). Every endpoint is an `http://` URL, as
//! users write them: on `endpoint status`, `endpoint hashkv`, `move-leader`
//! and `defrag` etcdctl 3.4 sends it as the HTTP/2 `:authority`, which the
//! client port makes bare before h2 would refuse it.

use std::path::Path;
use std::time::Duration;

use super::members::Members;
use super::normalize::Rule;
use super::transcript::{Step, Transcript};
use super::{Etcdctl, Printed, json};

/// `HOST:PORT,...` as `http://HOST:PORT,...`.
fn with_scheme(endpoints: &str) -> String {
    endpoints
        .split(',')
        .map(|endpoint| format!("http://{endpoint}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The `mod_revision` in `etcdctl get -w json` output.
fn mod_revision(printed: &Printed) -> i64 {
    json(&printed.stdout)["kvs"][0]["mod_revision"]
        .as_i64()
        .unwrap()
}

/// The first hex word after `prefix` in `text`, as a number.
fn hex_after(text: &str, prefix: &str) -> u64 {
    let rest = text
        .split_once(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} in {text:?}"))
        .1
        .trim_start();
    let word: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    u64::from_str_radix(&word, 16).unwrap_or_else(|_| panic!("no hex after {prefix:?} in {text:?}"))
}

/// `member list` after `member update` of the learner, as ordo prints it
/// (normalized, rows sorted).
const UPDATED_LEARNER_LISTED: &str = "\
exit: 0
--- stdout
<member:added>, unstarted, , http://127.0.0.1:<port>, , true
<member:follower>, started, <name:follower>, http://127.0.0.1:<port>, http://127.0.0.1:<port>, false
<member:leader>, started, <name:leader>, http://127.0.0.1:<port>, http://127.0.0.1:<port>, false
<member:other>, started, <name:other>, http://127.0.0.1:<port>, http://127.0.0.1:<port>, false
--- stderr
";

/// put/get/del, txn, watch, leases, compaction, membership, maintenance,
/// lock and elect, as the issue lists them (`etcdctl get --count-only` is
/// not in etcdctl 3.4: `-w fields` shows the count).
pub async fn commands(etcdctl: &Etcdctl, endpoints: &[String], scratch: &Path) -> Transcript {
    let mut t = Transcript::new("commands");
    let members = Members::learn(etcdctl, endpoints, &mut t).await;
    let etcd = etcdctl.at(format!("http://{}", members.asked));
    let every = etcdctl.at(with_scheme(&members.every));
    let scratch_text = scratch.to_string_lossy().into_owned();
    t.context.add("<dir>", &scratch_text);

    t.run(&etcd, Step::new("put", &["put", "app/a", "1"])).await;
    t.run(&etcd, Step::new("put", &["put", "app/b", "2"])).await;
    t.run(&etcd, Step::new("put", &["put", "zzz", "3"])).await;
    t.run(&etcd, Step::new("get-prefix", &["get", "app/", "--prefix"]))
        .await;
    let keys_only = ["get", "app/", "--prefix", "--keys-only", "--limit=1"];
    t.run(&etcd, Step::new("get-keys-only-limit", &keys_only))
        .await;
    let limit_json = ["get", "app/", "--prefix", "--limit=1", "-w", "json"];
    t.run(&etcd, Step::new("get-limit-json", &limit_json)).await;
    t.run(
        &etcd,
        Step::new("get-fields", &["get", "app/", "--prefix", "-w", "fields"]),
    )
    .await;
    let from_key = ["get", "app/", "--from-key", "--print-value-only"];
    t.run(&etcd, Step::new("get-from-key-values", &from_key))
        .await;
    let sorted = [
        "get",
        "app/",
        "--prefix",
        "--sort-by=KEY",
        "--order=DESCEND",
    ];
    t.run(&etcd, Step::new("get-sorted", &sorted)).await;
    let first = mod_revision(
        &t.run(
            &etcd,
            Step::new("get-json", &["get", "app/a", "-w", "json"]),
        )
        .await,
    );
    let rev_first = format!("--rev={first}");
    t.run(
        &etcd,
        Step::new("put-prev-kv", &["put", "app/a", "11", "--prev-kv"]),
    )
    .await;
    t.run(&etcd, Step::new("get-rev", &["get", "app/a", &rev_first]))
        .await;
    t.run(
        &etcd,
        Step::new(
            "del-prefix-prev-kv",
            &["del", "app/", "--prefix", "--prev-kv"],
        ),
    )
    .await;
    t.run(
        &etcd,
        Step::new("get-prefix-empty", &["get", "app/", "--prefix"]),
    )
    .await;

    let txn = "value(\"zzz\") = \"3\"\n\nput zzz 4\nget zzz\n\nput never 1\n\n";
    t.run(&etcd, Step::new("txn-success", &["txn"]).stdin(txn))
        .await;
    t.run(&etcd, Step::new("txn-failure", &["txn"]).stdin(txn))
        .await;
    let interactive = "mod(\"zzz\") > \"0\"\n\nget zzz\n\ndel zzz\n\n";
    t.run(
        &etcd,
        Step::new("txn-interactive", &["txn", "--interactive"]).stdin(interactive),
    )
    .await;

    let watch = ["watch", "app/", "--prefix", &rev_first, "--prev-kv"];
    t.run(
        &etcd,
        Step::new("watch-rev-prev-kv", &watch).first_lines(21),
    )
    .await;
    let command = format!("watch app/ --prefix {rev_first}\n");
    let interactive = Step::new("watch-interactive", &["watch", "--interactive"]).stdin(&command);
    t.run(&etcd, interactive.first_lines(15)).await;

    let granted = t
        .run(&etcd, Step::new("lease-grant", &["lease", "grant", "60"]))
        .await;
    let lease_id = hex_after(&granted.stdout, "lease ");
    t.context.lease("grant", lease_id);
    let lease = format!("{lease_id:016x}");
    let leased = ["put", "leased", "v", &format!("--lease={lease}")];
    t.run(&etcd, Step::new("put-lease", &leased)).await;
    t.run(
        &etcd,
        Step::new(
            "lease-timetolive-keys",
            &["lease", "timetolive", &lease, "--keys"],
        ),
    )
    .await;
    t.run(
        &etcd,
        Step::new(
            "lease-keep-alive-once",
            &["lease", "keep-alive", "--once", &lease],
        ),
    )
    .await;
    let keep_alive = Step::new("lease-keep-alive", &["lease", "keep-alive", &lease]);
    t.run(&etcd, keep_alive.first_lines(1)).await;
    t.run(&etcd, Step::new("lease-list", &["lease", "list"]))
        .await;
    t.run(
        &etcd,
        Step::new("lease-revoke", &["lease", "revoke", &lease]),
    )
    .await;
    t.run(&etcd, Step::new("get-revoked", &["get", "leased"]))
        .await;
    t.run(
        &etcd,
        Step::new("lease-timetolive-expired", &["lease", "timetolive", &lease]),
    )
    .await;

    t.run(&etcd, Step::new("put", &["put", "zzz", "5"])).await;
    let last = mod_revision(
        &t.run(&etcd, Step::new("get-json", &["get", "zzz", "-w", "json"]))
            .await,
    );
    t.run(&etcd, Step::new("compact", &["compact", &last.to_string()]))
        .await;
    let compacted_watch = ["watch", "app/", "--prefix", &rev_first];
    t.run(&etcd, Step::new("watch-compacted", &compacted_watch))
        .await;
    t.run(
        &etcd,
        Step::new("get-compacted", &["get", "zzz", &rev_first]),
    )
    .await;

    let sorted_rows = Rule::SortedLines;
    t.run(
        &etcd,
        Step::new("member-list", &["member", "list"]).rule(sorted_rows),
    )
    .await;
    let table = Step::new("member-list-table", &["member", "list", "-w", "table"]);
    t.run(&etcd, table.rule(sorted_rows)).await;
    let status = Step::new("endpoint-status", &["endpoint", "status"]).rule(Rule::Numbers);
    t.run(&etcd, status).await;
    let status_table = Step::new(
        "endpoint-status-table",
        &["endpoint", "status", "-w", "table"],
    );
    t.run(&etcd, status_table.rule(Rule::Numbers)).await;
    t.run(&etcd, Step::new("endpoint-health", &["endpoint", "health"]))
        .await;

    let add = [
        "member",
        "add",
        "n4",
        "--peer-urls=http://127.0.0.1:1",
        "--learner",
    ];
    let added = t
        .run(
            &etcd,
            Step::new("member-add-learner", &add).rule(Rule::SortedInitialCluster),
        )
        .await;
    let added_id = hex_after(&added.stdout, "Member");
    t.context.member("added", added_id, "");
    let added_hex = format!("{added_id:x}");
    let listed = Step::new("member-list-learner", &["member", "list"]).rule(sorted_rows);
    t.run(&etcd, listed).await;
    let update = [
        "member",
        "update",
        &added_hex,
        "--peer-urls=http://127.0.0.1:2",
    ];
    t.run(&etcd, Step::new("member-update", &update)).await;
    let updated = Step::new("member-list-updated", &["member", "list"]).rule(sorted_rows);
    let updated = updated.differs(
        "etcd 3.4's MemberUpdate drops a learner's flag (it lists `false`, then \
         refuses to promote it as not in sync); ordo keeps it",
        UPDATED_LEARNER_LISTED,
    );
    t.run(&etcd, updated).await;
    t.run(
        &etcd,
        Step::new("member-promote-unready", &["member", "promote", &added_hex]),
    )
    .await;
    t.run(
        &etcd,
        Step::new("member-remove", &["member", "remove", &added_hex]),
    )
    .await;

    let saved = format!("{scratch_text}/etcdctl.snapshot");
    t.run(
        &etcd,
        Step::new("snapshot-save", &["snapshot", "save", &saved]),
    )
    .await;
    let hashkv = Step::new("endpoint-hashkv", &["endpoint", "hashkv"]).rule(Rule::Numbers);
    t.run(&every, hashkv).await;
    let compacted = ["endpoint", "hashkv", &format!("--rev={last}")];
    let compacted = Step::new("endpoint-hashkv-compacted", &compacted).rule(Rule::Numbers);
    t.run(&every, compacted).await;
    t.run(&etcd, Step::new("defrag", &["defrag"])).await;

    t.run(&etcd, Step::new("lock", &["lock", "job", "echo", "held"]))
        .await;
    let campaign = Step::new("elect-campaign", &["elect", "office", "alice"]).first_lines(2);
    let campaign = t.run(&etcd, campaign).await;
    t.context
        .lease("campaign", hex_after(&campaign.stdout, "office/"));
    let listen = Step::new("elect-listen", &["elect", "--listen", "office"]).first_lines(2);
    t.run(&etcd, listen).await;

    t.run(&etcd, Step::new("alarm-list-none", &["alarm", "list"]))
        .await;
    t.run(&etcd, Step::new("alarm-disarm-none", &["alarm", "disarm"]))
        .await;
    let target = format!("{:x}", members.asked_id);
    t.run(&every, Step::new("move-leader", &["move-leader", &target]))
        .await;
    t
}

/// Value bytes of each put that fills the store past its quota.
const FILL_VALUE_BYTES: usize = 64 << 10;

/// etcd's NOSPACE alarm on a one-member cluster with a 256 KiB quota
/// (etcd: `--quota-backend-bytes`, ordo: `--quota-bytes`): writes refused
/// and the alarm listed once the store is full, disarm, deletes and
/// compaction, and writes again.
pub async fn alarm(etcdctl: &Etcdctl, endpoints: &[String]) -> Transcript {
    let mut t = Transcript::new("alarm");
    let members = Members::learn(etcdctl, endpoints, &mut t).await;
    let etcd = etcdctl.at(format!("http://{}", members.asked));

    // Not recorded: how many puts fill the store (etcd counts its file's
    // pages, ordo the bytes it keeps).
    let value = "x".repeat(FILL_VALUE_BYTES);
    let mut filled = false;
    for index in 0..64 {
        if !etcd
            .run(&["put", &format!("fill/{index:02}"), &value])
            .await
            .success()
        {
            filled = true;
            break;
        }
    }
    assert!(
        filled,
        "64 puts of {FILL_VALUE_BYTES} bytes never filled the store"
    );

    t.run(&etcd, Step::new("put-refused", &["put", "small", "v"]))
        .await;
    t.run(&etcd, Step::new("alarm-list", &["alarm", "list"]))
        .await;
    let status = Step::new("endpoint-status", &["endpoint", "status"]).rule(Rule::Numbers);
    t.run(&etcd, status).await;
    t.run(
        &etcd,
        Step::new("get-still-served", &["get", "fill/00", "--keys-only"]),
    )
    .await;
    t.run(
        &etcd,
        Step::new("alarm-disarm-over-quota", &["alarm", "disarm"]),
    )
    .await;
    // As large as the put that was refused: etcd's file only grows, so it
    // is refused again however many bytes the file took (a small one may
    // fit etcd's file after a disarm, depending on its page layout).
    let again = ["put", "fill/again", value.as_str()];
    t.run(&etcd, Step::new("put-refused-over-quota", &again))
        .await;
    t.run(&etcd, Step::new("alarm-list-again", &["alarm", "list"]))
        .await;

    let deleted = Step::new("del-fill", &["del", "fill/", "--prefix"]).rule(Rule::Numbers);
    t.run(&etcd, deleted).await;
    let status = json(&etcd.ok(&["endpoint", "status", "-w", "json"]).await);
    let revision = status[0]["Status"]["header"]["revision"].as_i64().unwrap();
    t.run(
        &etcd,
        Step::new("compact", &["compact", &revision.to_string()]),
    )
    .await;
    t.run(&etcd, Step::new("defrag", &["defrag"])).await;
    let listed = Step::new("alarm-list-under-quota", &["alarm", "list"]).differs(
        "ordo's alarm follows the store's retained bytes, replicated state every member \
         computes alike: it clears as the store is back under its quota (etcd keeps it \
         until disarmed)",
        "exit: 0\n--- stdout\n--- stderr\n",
    );
    t.run(&etcd, listed).await;
    let disarmed = Step::new("alarm-disarm", &["alarm", "disarm"]).differs(
        "the alarm cleared by itself under the quota (see alarm-list-under-quota): \
         there is none to disarm",
        "exit: 0\n--- stdout\n--- stderr\n",
    );
    t.run(&etcd, disarmed).await;
    t.run(&etcd, Step::new("alarm-list-disarmed", &["alarm", "list"]))
        .await;
    t.run(&etcd, Step::new("put-after-disarm", &["put", "small", "v"]))
        .await;
    t
}

/// How long `etcdctl check perf --load s` may run: 60 s of load, then
/// its cleanup.
pub const CHECK_PERF_TIMEOUT: Duration = Duration::from_secs(120);

/// `etcdctl check perf --load s` (50 clients writing 150 puts/s for 60 s).
pub async fn check_perf(etcdctl: &Etcdctl, endpoints: &[String]) -> (Transcript, Printed) {
    let mut t = Transcript::new("check-perf");
    let members = Members::learn(etcdctl, endpoints, &mut t).await;
    let etcd = etcdctl.at(format!("http://{}", members.asked));
    let step = Step::new("check-perf", &["check", "perf", "--load", "s"])
        .within(CHECK_PERF_TIMEOUT)
        .rule(Rule::ProgressBar)
        .rule(Rule::Verdicts)
        .rule(Rule::Numbers);
    let printed = t.run(&etcd, step).await;
    (t, printed)
}
