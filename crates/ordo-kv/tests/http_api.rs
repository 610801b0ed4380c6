//! The HTTP API against nodes running in the test process: every documented
//! answer, every kind of bad request (each gets its status and changes
//! nothing), redirects from followers, joining, and backup and restore.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ordo_kv::api::{ClusterResponse, ErrorBody, ListResponse};
use ordo_kv::server::RunningNode;
use ordo_kv::server::settings::Bootstrap;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::calls::{metrics_page, put, stop_all};
use support::{PATIENCE, eventually, free_port, get_json, http, leader_of, start_cluster};

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_reads_compare_and_set_delete_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(1, dir.path()).await;
    let url = &nodes[0].client_url;
    let client = http();

    assert_eq!(put(url, "app/a", "one").await, 1);
    assert_eq!(put(url, "app/b", "two").await, 2);
    // Keys are path segments, percent-encoded: spaces and slashes survive.
    assert_eq!(put(url, "with%20space%2Fslash", "three").await, 3);

    let got = client
        .get(format!("{url}/v1/kv/app/a"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.headers()["x-ordo-revision"], "1");
    assert_eq!(got.headers()["x-ordo-cluster-revision"], "3");
    assert_eq!(got.text().await.unwrap(), "one");
    for consistency in ["linearizable", "lease", "stale"] {
        let got = client
            .get(format!(
                "{url}/v1/kv/with%20space%2Fslash?consistency={consistency}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), StatusCode::OK, "{consistency}");
        assert_eq!(got.text().await.unwrap(), "three");
    }
    let missing = client
        .get(format!("{url}/v1/kv/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_of(missing).await["error"], "not_found");

    // Compare-and-set: 0 means "must not exist".
    let cas = |key: &str, revision: u64, value: &str| {
        client
            .put(format!("{url}/v1/kv/{key}?if_revision={revision}"))
            .body(value.to_owned())
            .send()
    };
    let created = cas("app/c", 0, "new").await.unwrap();
    assert_eq!(json_of(created).await, json!({"revision": 4}));
    let conflict = cas("app/c", 0, "again").await.unwrap();
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    let body: ErrorBody = conflict.json().await.unwrap();
    assert_eq!(
        (body.error.as_str(), body.revision),
        ("compare_failed", Some(4))
    );
    let swapped = cas("app/c", 4, "swapped").await.unwrap();
    assert_eq!(json_of(swapped).await, json!({"revision": 5}));

    // Delete: revision moves only when something was deleted.
    let deleted = client
        .delete(format!("{url}/v1/kv/app/b"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(deleted).await,
        json!({"deleted": true, "revision": 6})
    );
    let again = client
        .delete(format!("{url}/v1/kv/app/b"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(again).await,
        json!({"deleted": false, "revision": 6})
    );

    // List, with a limit, and a value that is not UTF-8.
    let binary = client
        .put(format!("{url}/v1/kv/app/bin"))
        .body(vec![0xff, 0x00, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(binary.status(), StatusCode::OK);
    let listed: ListResponse = get_json(&format!("{url}/v1/kv?prefix=app/&limit=2")).await;
    let keys: Vec<_> = listed.items.iter().map(|item| item.key.as_str()).collect();
    assert_eq!((keys, listed.more), (vec!["app/a", "app/bin"], true));
    assert_eq!(listed.items[1].encoding.as_deref(), Some("base64"));
    assert_eq!(listed.items[1].value, "/wD+");
    stop_all(nodes).await;
}

/// Each bad request gets its documented status and error code, and the
/// store is the same afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_gets_its_status_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(1, dir.path()).await;
    let url = nodes[0].client_url.clone();
    put(&url, "a", "1").await;
    let client = http();
    let long_key = "k".repeat(4097);
    let big_value = vec![b'v'; (1 << 20) + 1];
    let huge_peer = format!("{}:1", "a".repeat(100 << 10));
    let long_url = format!("http://{}:1", "a".repeat(300));
    type Request = reqwest::RequestBuilder;
    let cases: Vec<(&str, Request, StatusCode, &str)> = vec![
        ("key over 4 KiB", client.put(format!("{url}/v1/kv/{long_key}")).body("x"), StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        ("value over 1 MiB", client.put(format!("{url}/v1/kv/a")).body(big_value), StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        ("if_revision not a number", client.put(format!("{url}/v1/kv/a?if_revision=abc")).body("x"), StatusCode::BAD_REQUEST, "bad_request"),
        ("negative if_revision", client.put(format!("{url}/v1/kv/a?if_revision=-1")).body("x"), StatusCode::BAD_REQUEST, "bad_request"),
        ("unknown query parameter", client.put(format!("{url}/v1/kv/a?ttl=5")).body("x"), StatusCode::BAD_REQUEST, "bad_request"),
        ("key not UTF-8", client.put(format!("{url}/v1/kv/%FF%FE")).body("x"), StatusCode::BAD_REQUEST, "bad_request"),
        ("empty key", client.put(format!("{url}/v1/kv/")).body("x"), StatusCode::NOT_FOUND, "not_found"),
        ("compare failed", client.put(format!("{url}/v1/kv/a?if_revision=7")).body("x"), StatusCode::CONFLICT, "compare_failed"),
        ("create over an existing key", client.put(format!("{url}/v1/kv/a?if_revision=0")).body("x"), StatusCode::CONFLICT, "compare_failed"),
        ("unknown consistency", client.get(format!("{url}/v1/kv/a?consistency=eventual")), StatusCode::BAD_REQUEST, "bad_request"),
        ("delete with a query", client.delete(format!("{url}/v1/kv/a?recursive=true")), StatusCode::BAD_REQUEST, "bad_request"),
        ("list limit 0", client.get(format!("{url}/v1/kv?limit=0")), StatusCode::BAD_REQUEST, "bad_request"),
        ("list limit too high", client.get(format!("{url}/v1/kv?limit=100000")), StatusCode::BAD_REQUEST, "bad_request"),
        ("list limit not a number", client.get(format!("{url}/v1/kv?limit=ten")), StatusCode::BAD_REQUEST, "bad_request"),
        ("member body not JSON", client.post(format!("{url}/v1/cluster/members")).header("content-type", "application/json").body("{nope"), StatusCode::BAD_REQUEST, "bad_request"),
        ("member body not declared JSON", client.post(format!("{url}/v1/cluster/members")).body("{}"), StatusCode::BAD_REQUEST, "bad_request"),
        ("member without fields", client.post(format!("{url}/v1/cluster/members")).json(&json!({"id": 2})), StatusCode::BAD_REQUEST, "bad_request"),
        ("member id 0", client.post(format!("{url}/v1/cluster/members")).json(&json!({"id": 0, "peer_addr": "127.0.0.1:1", "client_addr": "http://127.0.0.1:2"})), StatusCode::BAD_REQUEST, "bad_request"),
        ("member peer address bad", client.post(format!("{url}/v1/cluster/members")).json(&json!({"id": 2, "peer_addr": "nowhere", "client_addr": "http://127.0.0.1:2"})), StatusCode::BAD_REQUEST, "bad_request"),
        ("member client address bad", client.post(format!("{url}/v1/cluster/members")).json(&json!({"id": 2, "peer_addr": "127.0.0.1:1", "client_addr": "ftp://x"})), StatusCode::BAD_REQUEST, "bad_request"),
        ("member unknown field", client.post(format!("{url}/v1/cluster/members")).json(&json!({"id": 2, "peer_addr": "127.0.0.1:1", "client_addr": "http://127.0.0.1:2", "role": "x"})), StatusCode::BAD_REQUEST, "bad_request"),
        ("remove id not a number", client.delete(format!("{url}/v1/cluster/members/two")), StatusCode::BAD_REQUEST, "bad_request"),
        ("remove a stranger", client.delete(format!("{url}/v1/cluster/members/99")), StatusCode::NOT_FOUND, "not_found"),
        ("promote a stranger", client.post(format!("{url}/v1/cluster/members/99/promote")), StatusCode::NOT_FOUND, "not_found"),
        ("transfer to a string", client.post(format!("{url}/v1/cluster/leader")).json(&json!({"to": "x"})), StatusCode::BAD_REQUEST, "bad_request"),
        ("transfer to a stranger", client.post(format!("{url}/v1/cluster/leader")).json(&json!({"to": 99})), StatusCode::BAD_REQUEST, "bad_request"),
        ("address body not JSON", client.put(format!("{url}/v1/cluster/members/1/address")).header("content-type", "application/json").body("[1"), StatusCode::BAD_REQUEST, "bad_request"),
        ("address with a bad peer", client.put(format!("{url}/v1/cluster/members/1/address")).json(&json!({"peer_addr": "a b:1", "client_addr": "http://127.0.0.1:2"})), StatusCode::BAD_REQUEST, "bad_request"),
        ("address with a bad client URL", client.put(format!("{url}/v1/cluster/members/1/address")).json(&json!({"peer_addr": "127.0.0.1:1", "client_addr": "127.0.0.1:2"})), StatusCode::BAD_REQUEST, "bad_request"),
        ("address of a stranger", client.put(format!("{url}/v1/cluster/members/99/address")).json(&json!({"peer_addr": "127.0.0.1:1", "client_addr": "http://127.0.0.1:2"})), StatusCode::BAD_REQUEST, "bad_request"),
        ("address of node 0", client.put(format!("{url}/v1/cluster/members/0/address")).json(&json!({"peer_addr": "127.0.0.1:1", "client_addr": "http://127.0.0.1:2"})), StatusCode::BAD_REQUEST, "bad_request"),
        ("unknown endpoint", client.get(format!("{url}/v2/kv/a")), StatusCode::NOT_FOUND, "not_found"),
        ("wrong method", client.post(format!("{url}/v1/kv/a")).body("x"), StatusCode::METHOD_NOT_ALLOWED, "bad_request"),
        // Addresses a leader would log and dial: at most 256 bytes, HOST:PORT or http(s)://HOST:PORT.
        ("member peer address of 100 KB", client.post(format!("{url}/v1/cluster/members")).json(&json!({"id": 2, "peer_addr": huge_peer, "client_addr": "http://127.0.0.1:2"})), StatusCode::BAD_REQUEST, "bad_request"),
        ("member client URL over 256 bytes", client.post(format!("{url}/v1/cluster/members")).json(&json!({"id": 2, "peer_addr": "127.0.0.1:1", "client_addr": long_url})), StatusCode::BAD_REQUEST, "bad_request"),
        ("member peer address with a slash", client.post(format!("{url}/v1/cluster/members")).json(&json!({"id": 2, "peer_addr": "h/x:1", "client_addr": "http://127.0.0.1:2"})), StatusCode::BAD_REQUEST, "bad_request"),
        ("member peer address with a control byte", client.post(format!("{url}/v1/cluster/members")).json(&json!({"id": 2, "peer_addr": "h\u{1}:1", "client_addr": "http://127.0.0.1:2"})), StatusCode::BAD_REQUEST, "bad_request"),
        ("member peer port out of range", client.post(format!("{url}/v1/cluster/members")).json(&json!({"id": 2, "peer_addr": "h:70000", "client_addr": "http://127.0.0.1:2"})), StatusCode::BAD_REQUEST, "bad_request"),
        ("member client URL without a port", client.post(format!("{url}/v1/cluster/members")).json(&json!({"id": 2, "peer_addr": "127.0.0.1:1", "client_addr": "http://h"})), StatusCode::BAD_REQUEST, "bad_request"),
        ("member client URL with a path", client.post(format!("{url}/v1/cluster/members")).json(&json!({"id": 2, "peer_addr": "127.0.0.1:1", "client_addr": "http://h:1/x"})), StatusCode::BAD_REQUEST, "bad_request"),
        ("address with a 100 KB peer", client.put(format!("{url}/v1/cluster/members/1/address")).json(&json!({"peer_addr": huge_peer, "client_addr": "http://127.0.0.1:2"})), StatusCode::BAD_REQUEST, "bad_request"),
    ];
    for (what, request, status, code) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{what}");
        let body: ErrorBody = response
            .json()
            .await
            .unwrap_or_else(|error| panic!("{what}: the error is not JSON: {error}"));
        assert_eq!(body.error, code, "{what}: {body:?}");
    }
    // Nothing changed: one key, written once.
    let got = client.get(format!("{url}/v1/kv/a")).send().await.unwrap();
    assert_eq!(got.headers()["x-ordo-cluster-revision"], "1");
    assert_eq!(got.text().await.unwrap(), "1");
    let listed: ListResponse = get_json(&format!("{url}/v1/kv")).await;
    assert_eq!(listed.items.len(), 1);
    assert_eq!(nodes[0].node.member_infos().len(), 1, "no member was added");
    stop_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_redirect_writes_and_serve_linearizable_reads() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(3, dir.path()).await;
    let leader = leader_of(&nodes).await;
    let leader_url = nodes[leader].client_url.clone();
    let client = http();
    for (index, follower) in nodes.iter().enumerate().filter(|(i, _)| *i != leader) {
        let key = format!("k{index}");
        let redirected = client
            .put(format!("{}/v1/kv/{key}?if_revision=0", follower.client_url))
            .body("v")
            .send()
            .await
            .unwrap();
        assert_eq!(redirected.status(), StatusCode::TEMPORARY_REDIRECT);
        let location = redirected.headers()["location"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(location, format!("{leader_url}/v1/kv/{key}?if_revision=0"));
        let written = client.put(&location).body("v").send().await.unwrap();
        assert_eq!(written.status(), StatusCode::OK);
        // The follower sees the write acknowledged by the leader just now.
        let read = client
            .get(format!("{}/v1/kv/{key}", follower.client_url))
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), StatusCode::OK);
        assert_eq!(read.text().await.unwrap(), "v");
    }
    // Every node describes the same three members, with their addresses.
    for node in &nodes {
        let cluster: ClusterResponse = get_json(&format!("{}/v1/cluster", node.client_url)).await;
        assert_eq!(cluster.members.len(), 3);
        assert_eq!(cluster.leader, Some(nodes[leader].node.id()));
        let health = client
            .get(format!("{}/health", node.client_url))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), StatusCode::OK);
    }
    let metrics = metrics_page(&leader_url).await;
    for line in [
        "ordo_role{role=\"leader\"} 1",
        "ordo_proposals_total{outcome=\"applied\"} 2",
        "ordo_proposal_duration_seconds_count 2",
        "ordo_replication_lag_entries{peer=",
        "ordo_fsync_duration_seconds_bucket",
        "ordo_keys 2",
        "ordo_proposals_total{outcome=\"outcome_unknown\"} 0",
        "ordo_snapshot_failures_total 0",
        // Present, but not necessarily 0: tests in this binary run in
        // parallel on ports from `free_port`, so a stopped test's survivors
        // may still dial a port this cluster now uses, and are refused.
        "ordo_peer_handshakes_refused_total ",
        "ordo_storage_full 0",
        "ordo_wal_segments 1",
        "ordo_wal_bytes ",
        "ordo_prevotes_total ",
        "ordo_snapshots_installed_total 0",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    // The leader campaigned and won: it counted its election and itself.
    let counter = |name: &str| -> u64 {
        let line = metrics
            .lines()
            .find(|line| line.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from\n{metrics}"));
        line[name.len() + 1..].parse().unwrap()
    };
    assert!(counter("ordo_elections_total") >= 1, "{metrics}");
    assert!(counter("ordo_leader_changes_total") >= 1, "{metrics}");
    // The core's own counters: it became leader, and nothing was forged.
    assert!(
        counter("ordo_consensus_became_leader_total") >= 1,
        "{metrics}"
    );
    assert!(
        counter("ordo_consensus_elections_started_total") >= 1,
        "{metrics}"
    );
    assert_eq!(counter("ordo_consensus_refused_term_messages_total"), 0);
    assert_eq!(counter("ordo_repair_point"), 0, "{metrics}");
    // With two of three nodes gone, the last one ends up knowing no leader.
    // (The stopping leader may hand leadership to it first: it then leads
    // without a quorum until check-quorum makes it step down.)
    let mut nodes = nodes;
    let survivor = nodes.remove((leader + 1) % 3);
    stop_all(nodes).await;
    let what = "the survivor to answer a write 503 no_leader";
    eventually(what, PATIENCE, Duration::from_millis(50), || async {
        // A write to a leader without a quorum waits: ask again.
        let response = client
            .put(format!("{}/v1/kv/late", survivor.client_url))
            .body("x")
            .timeout(Duration::from_millis(500))
            .send()
            .await
            .map_err(|error| error.to_string())?;
        if response.status() != StatusCode::SERVICE_UNAVAILABLE {
            return Err(format!("answered {}", response.status()));
        }
        assert_eq!(response.headers()["retry-after"], "1");
        match json_of(response).await["error"].clone() {
            error if error == json!("no_leader") => Ok(()),
            error => Err(format!("503 {error}")),
        }
    })
    .await;
    let health = client
        .get(format!("{}/health", survivor.client_url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    survivor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joins_through_any_member_and_a_leader_moves_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(1, dir.path()).await;
    let url = nodes[0].client_url.clone();
    put(&url, "before", "join").await;
    let mut joiner = support::settings(2, &[(2, free_port())].into(), dir.path());
    joiner.bootstrap = Bootstrap::Join {
        url: url.clone(),
        voter: true,
    };
    let joined = RunningNode::start(joiner).await.unwrap();
    // It took the cluster's id from the join answer.
    assert_eq!(joined.cluster_id, nodes[0].cluster_id);
    let client = http();
    let cluster: ClusterResponse = get_json(&format!("{url}/v1/cluster")).await;
    let voters: Vec<_> = cluster
        .members
        .iter()
        .filter(|m| m.voter)
        .map(|m| m.id)
        .collect();
    assert_eq!(voters, vec![1, 2]);
    let moved = client
        .post(format!("{}/v1/cluster/leader", joined.client_url))
        .json(&json!({"to": 2}))
        .send()
        .await
        .unwrap();
    // Asked on the follower: redirected to the leader, which hands over.
    assert_eq!(moved.status(), StatusCode::TEMPORARY_REDIRECT);
    let location = moved.headers()["location"].to_str().unwrap().to_owned();
    let moved = client
        .post(location)
        .json(&json!({"to": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::OK);
    assert_eq!(joined.node.leader_id(), Some(2));
    let read = client
        .get(format!("{}/v1/kv/before", joined.client_url))
        .send()
        .await
        .unwrap();
    assert_eq!(read.text().await.unwrap(), "join");
    joined.stop().await;
    stop_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_seeds_a_new_cluster_with_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(3, dir.path().join("old").as_path()).await;
    let leader = leader_of(&nodes).await;
    let url = nodes[leader].client_url.clone();
    for i in 0..50 {
        put(&url, &format!("key-{i:02}"), format!("value-{i}")).await;
    }
    let client = http();
    let follower = &nodes[(leader + 1) % 3];
    let backup = client
        .get(format!("{}/v1/snapshot", follower.client_url))
        .send()
        .await
        .unwrap();
    assert_eq!(backup.status(), StatusCode::OK);
    let backup = backup.bytes().await.unwrap();
    let file = dir.path().join("backup");
    std::fs::write(&file, &backup).unwrap();
    stop_all(nodes).await;
    // A new cluster of three, each node seeded from the same file.
    let new = dir.path().join("new");
    let peers: std::collections::BTreeMap<u64, u16> = (1..=3).map(|id| (id, free_port())).collect();
    for id in 1..=3 {
        let settings = support::settings(id, &peers, &new);
        ordo_kv::server::seed::place_restore_file(&file, &settings.data).unwrap();
    }
    let restored = support::start_first_members(&peers, &new).await;
    let leader = leader_of(&restored).await;
    let url = restored[leader].client_url.clone();
    let listed: ListResponse = get_json(&format!("{url}/v1/kv?prefix=key-")).await;
    assert_eq!(listed.items.len(), 50);
    assert_eq!(listed.items[7].value, "value-7");
    // Revisions carry on from the backup's.
    assert_eq!(put(&url, "after", "restore").await, 51);
    // A damaged backup is refused and places nothing.
    let damaged = dir.path().join("damaged");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&damaged, &bytes).unwrap();
    let target = dir.path().join("never");
    assert!(ordo_kv::server::seed::place_restore_file(&damaged, &target).is_err());
    assert!(!target.join("restore.backup").exists());
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert!(ordo_kv::server::seed::place_restore_file(&empty, &target).is_err());
    // Placing a backup over a node's data is refused.
    let occupied = ordo_kv::server::seed::place_restore_file(&file, &new.join("node-1"));
    assert!(occupied.is_err());
    for node in restored {
        node.stop().await;
    }
}

/// A learner joins, is promoted, and a member is removed, all over HTTP;
/// writes go on throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learners_are_promoted_and_members_removed_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(1, dir.path()).await;
    let url = nodes[0].client_url.clone();
    let mut learner = support::settings(2, &[(2, free_port())].into(), dir.path());
    learner.bootstrap = Bootstrap::Join {
        url: url.clone(),
        voter: false,
    };
    let learner = RunningNode::start(learner).await.unwrap();
    let voters = |cluster: &ClusterResponse| -> Vec<(u64, bool)> {
        cluster.members.iter().map(|m| (m.id, m.voter)).collect()
    };
    let cluster: ClusterResponse = get_json(&format!("{url}/v1/cluster")).await;
    assert_eq!(voters(&cluster), vec![(1, true), (2, false)]);
    put(&url, "during", "changes").await;

    let client = http();
    let promoted = client
        .post(format!("{url}/v1/cluster/members/2/promote"))
        .send()
        .await
        .unwrap();
    let status = promoted.status();
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        promoted.text().await.unwrap_or_default()
    );
    let cluster: ClusterResponse = get_json(&format!("{url}/v1/cluster")).await;
    assert_eq!(voters(&cluster), vec![(1, true), (2, true)]);
    // Both client URLs are known to both nodes.
    assert!(cluster.members.iter().all(|m| m.client_addr.is_some()));

    let removed = client
        .delete(format!("{url}/v1/cluster/members/2"))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::OK);
    let cluster: ClusterResponse = get_json(&format!("{url}/v1/cluster")).await;
    assert_eq!(voters(&cluster), vec![(1, true)]);
    assert_eq!(put(&url, "after", "removal").await, 2);
    // The removed node keeps running, and its health check says why it
    // will never serve again.
    let health = format!("{}/health", learner.client_url);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let answer = client.get(&health).send().await.unwrap();
        let code = answer.status();
        let body: Value = answer.json().await.unwrap();
        let removed = body["reasons"]
            .as_array()
            .is_some_and(|reasons| reasons.contains(&"removed".into()));
        if removed {
            assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reported removed: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    learner.stop().await;
    stop_all(nodes).await;
}

/// A node restarted on its data at new addresses (node and client) rejoins:
/// it reports them through another member, the log carries them, and the
/// leader dials the new node address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_at_new_addresses_rejoins() {
    let dir = tempfile::tempdir().unwrap();
    let peers: std::collections::BTreeMap<u64, u16> = (1..=3).map(|id| (id, free_port())).collect();
    let mut nodes = support::start_first_members(&peers, dir.path()).await;
    let leader = leader_of(&nodes).await;
    let moved = (leader + 1) % 3;
    let moved_id = nodes[moved].node.id();
    nodes.remove(moved).stop().await;
    let mut new_peers = peers.clone();
    let new_port = free_port();
    new_peers.insert(moved_id, new_port);
    // The identity keeps the first bootstrap; only the listen address moves.
    let settings = support::settings(moved_id, &new_peers, dir.path());
    let restarted = RunningNode::start(settings).await.unwrap();
    let url = nodes
        .iter()
        .find(|n| n.node.is_leader())
        .map(|n| n.client_url.clone());
    let url = url.unwrap_or_else(|| nodes[0].client_url.clone());
    let revision = put(&url, "after", "move").await;
    let what = format!("node {moved_id} to rejoin at its new address");
    eventually(&what, PATIENCE, Duration::from_millis(20), || async {
        let cluster: ClusterResponse = get_json(&format!("{url}/v1/cluster")).await;
        let logged = cluster
            .members
            .iter()
            .any(|m| m.id == moved_id && m.peer_addr == Some(format!("127.0.0.1:{new_port}")));
        let applied = restarted.node.status().await.unwrap().applied_index;
        let caught_up = applied >= cluster.node.commit_index;
        let leader = restarted.node.leader_id();
        if logged && caught_up && leader.is_some() {
            Ok(())
        } else {
            Err(format!(
                "address logged: {logged}, applied {applied} of {}, leader {leader:?}",
                cluster.node.commit_index
            ))
        }
    })
    .await;
    let read = http()
        .get(format!(
            "{}/v1/kv/after?consistency=stale",
            restarted.client_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        read.headers()["x-ordo-revision"],
        revision.to_string().as_str()
    );
    restarted.stop().await;
    stop_all(nodes).await;
}

/// A node names its own addresses in `/v1/cluster` before any leader has
/// logged them (here it never can: its peers are not started). A node
/// joining through it records what it answers, and could never dial it
/// otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_names_its_own_addresses_before_the_log_carries_them() {
    let dir = tempfile::tempdir().unwrap();
    let peers: std::collections::BTreeMap<u64, u16> = (1..=3).map(|id| (id, free_port())).collect();
    let node = RunningNode::start(support::settings(1, &peers, dir.path()))
        .await
        .unwrap();
    let cluster: ClusterResponse = get_json(&format!("{}/v1/cluster", node.client_url)).await;
    let own = cluster
        .members
        .iter()
        .find(|member| member.id == 1)
        .unwrap();
    assert_eq!(own.peer_addr, Some(format!("127.0.0.1:{}", peers[&1])));
    assert_eq!(own.client_addr.as_deref(), Some(node.client_url.as_str()));
    node.stop().await;
}

/// `GET /v1/snapshot` holds a copy of the store until sent: a second one
/// while the first is still being sent is 429 `busy` with `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_backup_at_a_time() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(1, dir.path()).await;
    let url = nodes[0].client_url.clone();
    // Bigger than the socket buffers, so an unread backup stays in flight.
    let value = "v".repeat(1 << 20);
    for i in 0..16 {
        put(&url, &format!("big{i}"), value.clone()).await;
    }
    let address = url.trim_start_matches("http://").to_owned();
    let mut unread = tokio::net::TcpStream::connect(&address).await.unwrap();
    unread
        .write_all(b"GET /v1/snapshot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    unread.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");

    let second = http()
        .get(format!("{url}/v1/snapshot"))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(second.headers()["retry-after"], "1");
    let body: ErrorBody = second.json().await.unwrap();
    assert_eq!(body.error, "busy");

    let mut rest = Vec::new();
    unread.read_to_end(&mut rest).await.ok();
    drop(unread);
    let third = http()
        .get(format!("{url}/v1/snapshot"))
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), StatusCode::OK);
    assert!(third.bytes().await.unwrap().len() > 16 << 20);
    stop_all(nodes).await;
}
