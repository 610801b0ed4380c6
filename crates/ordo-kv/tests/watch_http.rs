//! `GET /v1/watch` over real nodes in the test process: what a stream
//! sends (order, prev_kv, values, a txn as one change), resuming without
//! gaps or repeats, every bad request's status, compacted starts, a slow
//! reader that must not cost memory or delay others, and a follower's
//! stream across a leader stop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
mod watch_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use ordo_kv::server::RunningNode;
use ordo_kv::store::{KvCommand, PutRequest, RequestOp, TxnRequest};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::calls::{delete, metric, put, stop_all};
use support::{PATIENCE, eventually, http, leader_of, start_cluster};
use watch_support::{SseMessage, SseReader};

async fn propose(node: &RunningNode, command: KvCommand) {
    node.node.propose(command).await.unwrap();
}

fn txn_putting(keys: &[&str]) -> KvCommand {
    let success = keys
        .iter()
        .map(|key| {
            RequestOp::Put(PutRequest {
                key: Bytes::from(key.to_string()),
                value: Bytes::from_static(b"t"),
                ..PutRequest::default()
            })
        })
        .collect();
    KvCommand::Txn(TxnRequest {
        compare: Vec::new(),
        success,
        failure: Vec::new(),
    })
}

/// Reads `count` changes, skipping progress; answers them.
async fn changes(reader: &mut SseReader, count: usize) -> Vec<SseMessage> {
    let mut found = Vec::new();
    while found.len() < count {
        let message = reader.next_not_progress().await.expect("the stream ended");
        assert_eq!(message.event, "change", "{message:?}");
        assert_eq!(message.id, message.data["revision"].as_u64(), "{message:?}");
        found.push(message);
    }
    found
}

fn ids(messages: &[SseMessage]) -> Vec<u64> {
    messages.iter().map(|message| message.id.unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_arrive_in_order_with_prev_kv_and_a_txn_as_one_change() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(1, dir.path()).await;
    let url = &nodes[0].client_url;
    put(url, "a/1", "one").await;
    let mut reader = SseReader::open(
        &format!("{url}/v1/watch?prefix=a/&prev_kv=true&progress_interval=0"),
        &[],
    )
    .await;
    let first = reader.next().await.unwrap();
    assert_eq!(
        (first.event.as_str(), first.data.clone()),
        ("progress", json!({"revision": 1}))
    );

    put(url, "a/1", "two").await;
    put(url, "b/x", "not watched").await;
    delete(url, "a/1").await;
    put(url, "a/bin", vec![0xffu8, 0x00, 0x01]).await;
    propose(&nodes[0], txn_putting(&["a/t2", "b/y", "a/t1", "a/t3"])).await;

    let got = changes(&mut reader, 4).await;
    assert_eq!(ids(&got), [2, 4, 5, 6]);
    let event = &got[0].data["events"][0];
    assert_eq!(event["type"], "put");
    assert_eq!(event["kv"]["value"], "two");
    assert_eq!(event["kv"]["version"], 2);
    assert_eq!(event["kv"]["create_revision"], 1);
    assert_eq!(event["prev"]["value"], "one");
    let deleted = &got[1].data["events"][0];
    assert_eq!(deleted["type"], "delete");
    assert_eq!(deleted["kv"]["mod_revision"], 4);
    assert_eq!(deleted["prev"]["value"], "two");
    let binary = &got[2].data["events"][0];
    assert_eq!(binary["kv"]["encoding"], "base64");
    assert_eq!(binary["kv"]["value"], "/wAB");
    let txn_keys: Vec<&str> = got[3].data["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["kv"]["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        txn_keys,
        ["a/t2", "a/t1", "a/t3"],
        "one change, in the order of the txn's operations (as etcd)"
    );
    stop_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_after_the_last_id_misses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(1, dir.path()).await;
    let url = &nodes[0].client_url;
    let mut reader = SseReader::open(&format!("{url}/v1/watch?prefix=r/"), &[]).await;
    assert_eq!(reader.next().await.unwrap().event, "progress");
    let mut written = Vec::new();
    for i in 0..5 {
        written.push(put(url, &format!("r/{i}"), "v").await);
        put(url, "elsewhere", "v").await;
    }
    let seen = ids(&changes(&mut reader, 3).await);
    drop(reader); // A forced disconnect, two changes unread.
    for i in 5..8 {
        written.push(put(url, &format!("r/{i}"), "v").await);
    }
    // Writing to the closed connection drops its watcher.
    eventually(
        "the dropped watcher to go",
        PATIENCE,
        Duration::from_millis(50),
        || async {
            match metric(url, "ordo_watchers").await {
                0 => Ok(()),
                watchers => Err(format!("{watchers} watchers")),
            }
        },
    )
    .await;
    let last = *seen.last().unwrap();
    let resume_url = format!("{url}/v1/watch?prefix=r/&start_revision={}", last + 1);
    let mut resumed = SseReader::open(&resume_url, &[]).await;
    let first = resumed.next().await.unwrap();
    assert_eq!(
        first.data["revision"],
        json!(last),
        "progress up to the last seen"
    );
    let rest = ids(&changes(&mut resumed, 5).await);
    let mut all = seen.clone();
    all.extend(&rest);
    assert_eq!(all, written);

    // Last-Event-ID (what a browser sends) wins over the URL's start.
    let header = last.to_string();
    let stale_url = format!("{url}/v1/watch?prefix=r/&start_revision=1");
    let mut browser = SseReader::open(&stale_url, &[("Last-Event-ID", &header)]).await;
    assert_eq!(ids(&changes(&mut browser, 5).await), rest);
    stop_all(nodes).await;
}

/// A bad watch request: its query string, its headers, and the status it gets.
type BadWatch = (String, Vec<(&'static str, &'static str)>, StatusCode);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_their_status_and_a_compacted_start_gets_410() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(1, dir.path()).await;
    let url = &nodes[0].client_url;
    let long_key = "k".repeat(5000);
    let cases: Vec<BadWatch> = vec![
        ("key=a&prefix=b".into(), vec![], StatusCode::BAD_REQUEST),
        ("".into(), vec![], StatusCode::BAD_REQUEST),
        ("range_end=b".into(), vec![], StatusCode::BAD_REQUEST),
        (
            "prefix=a&range_end=b".into(),
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        ("key=".into(), vec![], StatusCode::BAD_REQUEST),
        ("key=b&range_end=a".into(), vec![], StatusCode::BAD_REQUEST),
        (
            "key=a&start_revision=x".into(),
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            "key=a&start_revision=-1".into(),
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        ("key=a&prev_kv=yes".into(), vec![], StatusCode::BAD_REQUEST),
        (
            "key=a&progress_interval=soon".into(),
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            "key=a&progress_interval=-1s".into(),
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            "key=a&progress_interval=1ms".into(),
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            "key=a&progress_interval=48h".into(),
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        ("key=a&colour=red".into(), vec![], StatusCode::BAD_REQUEST),
        (
            "key=a".into(),
            vec![("Last-Event-ID", "ten")],
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("key={long_key}"),
            vec![],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            format!("prefix={long_key}"),
            vec![],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (query, headers, status) in cases {
        let mut request = http().get(format!("{url}/v1/watch?{query}"));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{query}");
        let body: Value = response.json().await.unwrap();
        let expected = if status == StatusCode::BAD_REQUEST {
            "bad_request"
        } else {
            "too_large"
        };
        assert_eq!(body["error"], expected, "{query}: {body}");
    }

    for i in 0..5 {
        put(url, &format!("c/{i}"), "v").await;
    }
    propose(&nodes[0], KvCommand::Compact { revision: 3 }).await;
    let response = http()
        .get(format!("{url}/v1/watch?prefix=c/&start_revision=3"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "compacted");
    assert_eq!(body["compact_revision"], 3);
    let mut reader =
        SseReader::open(&format!("{url}/v1/watch?prefix=c/&start_revision=4"), &[]).await;
    assert_eq!(ids(&changes(&mut reader, 2).await), [4, 5]);
    assert_eq!(metric(url, "ordo_watchers").await, 1);
    stop_all(nodes).await;
}

/// A client that stops reading: its queue stays within its limit (it falls
/// behind and holds nothing), another watcher still gets every write at
/// once, and once it reads again it catches up from history, complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_watcher_stays_bounded_and_does_not_delay_others() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(1, dir.path()).await;
    let url = &nodes[0].client_url;
    let mut slow = SseReader::open(&format!("{url}/v1/watch?prefix=s/"), &[]).await;
    assert_eq!(slow.next().await.unwrap().event, "progress");
    let mut fast = SseReader::open(&format!("{url}/v1/watch?prefix=s/"), &[]).await;
    assert_eq!(fast.next().await.unwrap().event, "progress");
    // 100 writes of 256 KiB: far more than the socket buffers and the
    // slow watcher's queue (1 MiB) hold.
    let value = "x".repeat(256 << 10);
    let mut written = Vec::new();
    let mut slowest = Duration::ZERO;
    for i in 0..100 {
        let revision = put(url, &format!("s/{i}"), value.clone()).await;
        let acknowledged = Instant::now();
        let got = fast.next_within(Duration::from_secs(5)).await.unwrap();
        slowest = slowest.max(acknowledged.elapsed());
        assert_eq!(got.id, Some(revision));
        written.push(revision);
    }
    assert!(
        slowest < Duration::from_secs(2),
        "a delivery took {slowest:?}"
    );
    assert!(metric(url, "ordo_watch_fell_behind_total").await >= 1);
    assert!(metric(url, "ordo_watch_queued_bytes").await <= 1 << 20);
    let caught_up = ids(&changes(&mut slow, written.len()).await);
    assert_eq!(caught_up, written);
    put(url, "s/after", "v").await;
    assert_eq!(
        changes(&mut slow, 1).await[0].id,
        Some(written.last().unwrap() + 1)
    );
    assert!(metric(url, "ordo_watch_resyncs_total").await >= 1);
    stop_all(nodes).await;
}

/// A follower streams exactly what the leader commits, from its own applied
/// state, and goes on when the leader stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followers_watch_sees_the_leaders_writes_across_a_leader_stop() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = start_cluster(3, dir.path()).await;
    let leader = leader_of(&nodes).await;
    let follower = (leader + 1) % 3;
    let follower_url = nodes[follower].client_url.clone();
    let mut reader = SseReader::open(&format!("{follower_url}/v1/watch?prefix=f/"), &[]).await;
    assert_eq!(reader.next().await.unwrap().event, "progress");
    let mut written = Vec::new();
    let leader_url = nodes[leader].client_url.clone();
    for i in 0..5 {
        written.push(put(&leader_url, &format!("f/{i}"), "v").await);
    }
    assert_eq!(ids(&changes(&mut reader, 5).await), written);

    nodes.remove(leader).stop().await;
    let new_leader = eventually("a new leader", PATIENCE, Duration::from_millis(50), || {
        let leader = nodes
            .iter()
            .position(|node| node.node.is_leader())
            .ok_or_else(|| "no leader yet".to_owned());
        std::future::ready(leader)
    })
    .await;
    let new_leader_url = nodes[new_leader].client_url.clone();
    let mut after = Vec::new();
    for i in 5..10 {
        after.push(put(&new_leader_url, &format!("f/{i}"), "v").await);
    }
    assert_eq!(ids(&changes(&mut reader, 5).await), after);
    stop_all(nodes).await;
}
