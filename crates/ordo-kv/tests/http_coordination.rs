//! The coordination endpoints against nodes running in the test process:
//! every bad input of `/v1/txn`, `/v1/compact` and the multi-version
//! `/v1/kv` with its documented status (each leaving the store unchanged),
//! transactions, list pages at one revision while writes go on, the
//! storage quota's alarm, auto-compaction, and a txn sent to a follower.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ordo_kv::api::{ErrorBody, ListResponse, StatusResponse, TxnResponse};
use ordo_kv::server::settings::AutoCompaction;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::calls::{metrics_page, put, stop_all};
use support::{PATIENCE, eventually, get_json, http, leader_of, start_cluster, start_one};

/// Sends `body` (raw text) and answers the status and the JSON body (Null
/// when it is not JSON).
async fn send(method: Method, url: &str, body: Option<String>) -> (StatusCode, Value) {
    let mut request = http().request(method, url);
    if let Some(body) = body {
        request = request.body(body);
    }
    support::calls::send(request).await
}

async fn txn(url: &str, body: Value) -> (StatusCode, Value) {
    send(
        Method::POST,
        &format!("{url}/v1/txn"),
        Some(body.to_string()),
    )
    .await
}

async fn status(url: &str) -> StatusResponse {
    get_json(&format!("{url}/v1/status")).await
}

async fn value_of(url: &str, key: &str) -> Option<String> {
    let response = http()
        .get(format!("{url}/v1/kv/{key}"))
        .send()
        .await
        .unwrap();
    match response.status() {
        StatusCode::OK => Some(response.text().await.unwrap()),
        StatusCode::NOT_FOUND => None,
        other => panic!("GET {key}: {other}"),
    }
}

/// A txn of `depth` nested levels, the innermost putting the sentinel.
fn nested(depth: usize) -> Value {
    let mut body = json!({"success": [{"put": {"key": "sentinel", "value": "changed"}}]});
    for _ in 1..depth {
        body = json!({"success": [{"txn": body}]});
    }
    body
}

/// A bad request: its name, method, URL, body, and the status and code it gets.
type Case = (
    String,
    Method,
    String,
    Option<String>,
    StatusCode,
    &'static str,
);
/// A bad key-value request: as [`Case`], with the path instead of the URL.
type KvCase = (
    &'static str,
    Method,
    &'static str,
    Option<&'static str>,
    StatusCode,
    &'static str,
);

/// Every bad input answers its documented status and code, and changes
/// nothing: the cluster revision and a sentinel key stay as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_refused_with_its_status_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_one(dir.path(), |_| {}).await;
    let url = node.client_url.clone();
    put(&url, "sentinel", "keep").await;
    for value in ["1", "2", "3"] {
        put(&url, "a", value).await;
    }
    let (code, body) = send(
        Method::POST,
        &format!("{url}/v1/compact"),
        Some(r#"{"revision": 3}"#.into()),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let revision = status(&url).await.revision.unwrap();
    assert_eq!(revision, 4);

    let too_many: Vec<Value> = (0..129)
        .map(|index| json!({"put": {"key": format!("many/{index}"), "value": "x"}}))
        .collect();
    let long_key = "k".repeat(5000);
    let writes_sentinel = json!({"put": {"key": "sentinel", "value": "changed"}});
    let txn_cases: Vec<(&str, String, StatusCode, &str)> = vec![
        ("bad JSON", "{\"compare\": [".into(), StatusCode::BAD_REQUEST, "bad_request"),
        (
            "unknown compare target",
            json!({"compare": [{"key": "a", "target": "size", "op": "=", "value": 0}],
                   "success": [writes_sentinel]})
            .to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "unknown op",
            json!({"success": [{"upsert": {"key": "sentinel", "value": "x"}}]}).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "string operand on version",
            json!({"compare": [{"key": "a", "target": "version", "op": "=", "value": "one"}],
                   "failure": [writes_sentinel]})
            .to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "negative operand on mod_revision",
            json!({"compare": [{"key": "a", "target": "mod_revision", "op": ">", "value": -1}],
                   "failure": [writes_sentinel]})
            .to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "number operand on value",
            json!({"compare": [{"key": "a", "target": "value", "op": "=", "value": 3}],
                   "failure": [writes_sentinel]})
            .to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "too many ops",
            json!({"success": too_many}).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "nested too deep",
            nested(9).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "duplicate key",
            json!({"success": [writes_sentinel, {"put": {"key": "sentinel", "value": "again"}}]})
                .to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "lease that does not exist",
            json!({"success": [{"put": {"key": "sentinel", "value": "x", "lease": 999}}]})
                .to_string(),
            StatusCode::NOT_FOUND,
            "lease_not_found",
        ),
        (
            "read in the future",
            json!({"success": [writes_sentinel, {"range": {"prefix": "a", "revision": 1000}}]})
                .to_string(),
            StatusCode::BAD_REQUEST,
            "future_revision",
        ),
        (
            "read below the compacted revision",
            json!({"success": [writes_sentinel, {"get": {"key": "a", "revision": 2}}]})
                .to_string(),
            StatusCode::GONE,
            "compacted",
        ),
        (
            "get of a prefix",
            json!({"success": [writes_sentinel, {"get": {"prefix": "a"}}]}).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "no key named",
            json!({"success": [writes_sentinel, {"delete": {}}]}).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "key and prefix",
            json!({"success": [writes_sentinel, {"delete": {"key": "a", "prefix": "a"}}]})
                .to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "bad base64",
            json!({"success": [{"put": {"key": "sentinel", "value": "%%%", "encoding": "base64"}}]})
                .to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "key over the limit",
            json!({"success": [writes_sentinel, {"put": {"key": long_key, "value": "x"}}]})
                .to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            "limit over the cap",
            json!({"success": [writes_sentinel, {"range": {"prefix": "a", "limit": 10001}}]})
                .to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    let mut cases: Vec<Case> = txn_cases
        .into_iter()
        .map(|(name, body, status, code)| {
            (
                name.to_owned(),
                Method::POST,
                format!("{url}/v1/txn"),
                Some(body),
                status,
                code,
            )
        })
        .collect();
    let kv_cases: [KvCase; 15] = [
        (
            "get in the future",
            Method::GET,
            "/v1/kv/a?revision=1000",
            None,
            StatusCode::BAD_REQUEST,
            "future_revision",
        ),
        (
            "get compacted",
            Method::GET,
            "/v1/kv/a?revision=2",
            None,
            StatusCode::GONE,
            "compacted",
        ),
        (
            "list compacted",
            Method::GET,
            "/v1/kv?prefix=a&revision=1",
            None,
            StatusCode::GONE,
            "compacted",
        ),
        (
            "list in the future",
            Method::GET,
            "/v1/kv?revision=99",
            None,
            StatusCode::BAD_REQUEST,
            "future_revision",
        ),
        (
            "list with a bad revision",
            Method::GET,
            "/v1/kv?revision=abc",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "start_after outside the prefix",
            Method::GET,
            "/v1/kv?prefix=a&start_after=b",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "prefix delete without a prefix",
            Method::DELETE,
            "/v1/kv",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "prefix delete of an empty prefix",
            Method::DELETE,
            "/v1/kv?prefix=",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "conditional delete, wrong revision",
            Method::DELETE,
            "/v1/kv/sentinel?if_revision=3",
            None,
            StatusCode::CONFLICT,
            "compare_failed",
        ),
        (
            "put with an unknown lease",
            Method::PUT,
            "/v1/kv/sentinel?lease=999",
            Some("x"),
            StatusCode::NOT_FOUND,
            "lease_not_found",
        ),
        (
            "put with a negative lease",
            Method::PUT,
            "/v1/kv/sentinel?lease=-1",
            Some("x"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "compact what is compacted",
            Method::POST,
            "/v1/compact",
            Some(r#"{"revision": 2}"#),
            StatusCode::GONE,
            "compacted",
        ),
        (
            "compact the future",
            Method::POST,
            "/v1/compact",
            Some(r#"{"revision": 99}"#),
            StatusCode::BAD_REQUEST,
            "future_revision",
        ),
        (
            "compact, misspelt",
            Method::POST,
            "/v1/compact",
            Some(r#"{"rev": 4}"#),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "compact, not JSON",
            Method::POST,
            "/v1/compact",
            Some("4"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (name, method, path, body, status, code) in kv_cases {
        cases.push((
            name.to_owned(),
            method,
            format!("{url}{path}"),
            body.map(str::to_owned),
            status,
            code,
        ));
    }
    for (name, method, target, body, expected_status, expected_code) in cases {
        let (status_code, answer) = send(method, &target, body).await;
        assert_eq!(status_code, expected_status, "{name}: {answer}");
        let error: ErrorBody = serde_json::from_value(answer.clone())
            .unwrap_or_else(|error| panic!("{name}: not an error body ({error}): {answer}"));
        assert_eq!(error.error, expected_code, "{name}: {answer}");
        if expected_code == "compacted" {
            assert_eq!(error.compact_revision, Some(3), "{name}: {answer}");
        }
        assert_eq!(
            status(&url).await.revision,
            Some(revision),
            "{name} changed the revision"
        );
        assert_eq!(
            value_of(&url, "sentinel").await.as_deref(),
            Some("keep"),
            "{name}"
        );
    }
    node.stop().await;
}

/// A txn: the branch its compares pick, every write at one revision, reads
/// inside seeing the writes before them, and `prev` values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_pick_a_branch_and_write_at_one_revision() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_one(dir.path(), |_| {}).await;
    let url = node.client_url.clone();

    // Claim a job if nobody has: version 0 means absent.
    let claim = |worker: &str| {
        json!({
            "compare": [{"key": "jobs/7", "target": "version", "op": "=", "value": 0}],
            "success": [
                {"put": {"key": "jobs/7", "value": worker}},
                {"put": {"key": "workers/busy", "value": "AP8=", "encoding": "base64"}},
                {"get": {"key": "jobs/7"}},
                {"range": {"prefix": "", "count_only": true}}
            ],
            "failure": [{"get": {"key": "jobs/7"}}]
        })
    };
    let (code, body) = txn(&url, claim("worker-1")).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let won: TxnResponse = serde_json::from_value(body.clone()).unwrap();
    assert!(won.succeeded);
    assert_eq!(won.revision, 1, "two puts, one revision: {body}");
    assert_eq!(
        body["results"][2]["range"]["items"][0]["value"], "worker-1",
        "{body}"
    );
    assert_eq!(
        body["results"][2]["range"]["items"][0]["mod_revision"], 1,
        "{body}"
    );
    assert_eq!(body["results"][3]["range"]["count"], 2, "{body}");
    assert_eq!(status(&url).await.revision, Some(1));

    let (code, body) = txn(&url, claim("worker-2")).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["succeeded"], false, "{body}");
    assert_eq!(
        body["revision"], 1,
        "a failed txn takes no revision: {body}"
    );
    assert_eq!(body["results"][0]["range"]["items"][0]["value"], "worker-1");
    assert_eq!(value_of(&url, "jobs/7").await.as_deref(), Some("worker-1"));

    // Deletes by prefix with their previous values; base64 round trip.
    let (code, body) = txn(
        &url,
        json!({"success": [
            {"delete": {"prefix": "workers/", "prev_kv": true}},
            {"put": {"key": "bin", "value": "AP8=", "encoding": "base64", "prev_kv": true}}
        ]}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["revision"], 2, "{body}");
    assert_eq!(body["results"][0]["delete"]["deleted"], 1, "{body}");
    assert_eq!(
        body["results"][0]["delete"]["prev"][0]["encoding"], "base64",
        "{body}"
    );
    assert_eq!(
        body["results"][0]["delete"]["prev"][0]["value"], "AP8=",
        "{body}"
    );

    // The multi-version GET and PUT answers.
    let got = http()
        .get(format!("{url}/v1/kv/jobs/7"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.headers()["x-ordo-create-revision"], "1");
    assert_eq!(got.headers()["x-ordo-version"], "1");
    assert_eq!(got.headers()["x-ordo-cluster-revision"], "2");
    assert!(got.headers().get("x-ordo-lease").is_none());
    let (code, body) = send(
        Method::PUT,
        &format!("{url}/v1/kv/jobs/7?prev_kv=true"),
        Some("done".into()),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["revision"], 3);
    assert_eq!(body["prev"]["value"], "worker-1", "{body}");
    let old = http()
        .get(format!("{url}/v1/kv/jobs/7?revision=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(old.headers()["x-ordo-cluster-revision"], "2");
    assert_eq!(old.text().await.unwrap(), "worker-1");

    // A value at the limit fits a txn even spelled in base64; one byte more is 413.
    for (len, expected) in [
        (1 << 20, StatusCode::OK),
        ((1 << 20) + 1, StatusCode::PAYLOAD_TOO_LARGE),
    ] {
        use base64::Engine as _;
        let value = base64::engine::general_purpose::STANDARD.encode(vec![0xffu8; len]);
        let put = json!({"put": {"key": "big", "value": value, "encoding": "base64"}});
        let (code, body) = txn(&url, json!({"success": [put]})).await;
        assert_eq!(code, expected, "{len} bytes: {body}");
    }
    let revision = status(&url).await.revision.unwrap();

    // Conditional delete, prefix delete.
    let (code, body) = send(
        Method::DELETE,
        &format!("{url}/v1/kv/jobs/7?if_revision={}", revision - 1),
        None,
    )
    .await;
    assert_eq!(
        (code, &body),
        (
            StatusCode::OK,
            &json!({"deleted": true, "revision": revision + 1})
        )
    );
    put(&url, "tmp/a", "1").await;
    put(&url, "tmp/b", "2").await;
    let (code, body) = send(Method::DELETE, &format!("{url}/v1/kv?prefix=tmp/"), None).await;
    assert_eq!(
        (code, &body),
        (
            StatusCode::OK,
            &json!({"deleted": 2, "revision": revision + 4})
        )
    );
    node.stop().await;
}

/// 2,500 keys read page by page at the first page's revision while writes
/// to the same prefix go on: every key of that revision exactly once, none
/// written after it. The byte cap cuts pages too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_is_listed_whole_at_one_revision_while_writes_continue() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_one(dir.path(), |settings| {
        settings.limits.max_list_bytes = 16 << 10
    })
    .await;
    let url = node.client_url.clone();
    let mut batch = Vec::new();
    for index in 0..2500 {
        batch.push(json!({"put": {"key": format!("p/{index:05}"), "value": "v".repeat(20)}}));
        if batch.len() == 100 {
            let (code, body) = txn(&url, json!({"success": batch})).await;
            assert_eq!(code, StatusCode::OK, "{body}");
            batch = Vec::new();
        }
    }
    // The writer starts once the first page is read: its writes then land
    // between pages, after the revision the pages are read at.
    let (first_page_read, start_writing) = tokio::sync::oneshot::channel::<()>();
    let mut first_page_read = Some(first_page_read);
    let writer_url = url.clone();
    let writer = tokio::spawn(async move {
        start_writing.await.unwrap();
        for index in 0..200 {
            put(&writer_url, &format!("p/{index:05}x"), "late").await;
        }
    });
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut at: Option<u64> = None;
    let mut start_after: Option<String> = None;
    loop {
        let mut query = vec!["prefix=p/".to_owned(), "limit=1000".to_owned()];
        if let Some(after) = &start_after {
            query.push(format!("start_after={after}"));
        }
        if let Some(revision) = at {
            query.push(format!("revision={revision}"));
        }
        let page: ListResponse = get_json(&format!("{url}/v1/kv?{}", query.join("&"))).await;
        pages += 1;
        let revision = page.revision.unwrap();
        assert_eq!(*at.get_or_insert(revision), revision);
        seen.extend(page.items.iter().map(|item| item.key.clone()));
        start_after = page.items.last().map(|item| item.key.clone());
        if let Some(signal) = first_page_read.take() {
            signal.send(()).unwrap();
        }
        if !page.more {
            break;
        }
        assert!(pages < 100, "paging does not end");
    }
    writer.await.unwrap();
    let expected: Vec<String> = (0..2500).map(|index| format!("p/{index:05}")).collect();
    assert_eq!(seen, expected);
    // 16 KiB of ~27-byte keys and values: the byte cap, not the limit, cut.
    assert!(pages > 3, "{pages} pages");
    let counted: ListResponse = get_json(&format!(
        "{url}/v1/kv?prefix=p/&count_only=true&revision=25"
    ))
    .await;
    assert_eq!((counted.count, counted.items.len()), (Some(2500), 0));
    node.stop().await;
}

/// Past the quota, puts and txns that put get 507 and the alarm shows;
/// deletes and compaction still work, and the alarm clears by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quota_alarm_raises_and_clears() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_one(dir.path(), |settings| settings.limits.quota_bytes = 2_000).await;
    let url = node.client_url.clone();
    let value = "v".repeat(500);
    let mut written = 0;
    let over = loop {
        let (code, body) = send(
            Method::PUT,
            &format!("{url}/v1/kv/big/{written}"),
            Some(value.clone()),
        )
        .await;
        if code == StatusCode::INSUFFICIENT_STORAGE {
            break body;
        }
        assert_eq!(code, StatusCode::OK, "{body}");
        written += 1;
        assert!(written < 10, "the quota never stopped a put");
    };
    assert_eq!(
        written, 4,
        "2,000 bytes hold four 500-byte values, the fifth passes"
    );
    assert_eq!(over["error"], "quota_exceeded", "{over}");
    assert_eq!(status(&url).await.alarms, ["quota_exceeded"]);
    let page = metrics_page(&url).await;
    assert!(page.contains("ordo_quota_alarm 1"), "{page}");
    assert!(page.contains("ordo_store_quota_bytes 2000"), "{page}");
    let (code, body) = txn(
        &url,
        json!({"success": [{"put": {"key": "t", "value": "x"}}]}),
    )
    .await;
    assert_eq!(
        (code, body["error"].as_str()),
        (StatusCode::INSUFFICIENT_STORAGE, Some("quota_exceeded"))
    );
    // Reads and deletes still work; the history keeps the bytes until compacted.
    let (code, body) = send(Method::DELETE, &format!("{url}/v1/kv?prefix=big/"), None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(status(&url).await.alarms, ["quota_exceeded"]);
    let current = status(&url).await.revision.unwrap();
    let (code, body) = send(
        Method::POST,
        &format!("{url}/v1/compact"),
        Some(json!({"revision": current}).to_string()),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(status(&url).await.alarms.is_empty());
    let page = metrics_page(&url).await;
    assert!(page.contains("ordo_quota_alarm 0"), "{page}");
    put(&url, "small", "fits").await;
    node.stop().await;
}

/// With `--auto-compaction-retention 5`, the leader keeps the last five
/// revisions by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_compacts_by_itself_keeping_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_one(dir.path(), |settings| {
        settings.auto_compaction = AutoCompaction::Revisions(5);
    })
    .await;
    let url = node.client_url.clone();
    for index in 0..20 {
        put(&url, "counter", index.to_string()).await;
    }
    let compacted = eventually(
        "auto-compaction",
        PATIENCE,
        Duration::from_millis(100),
        || async {
            let status = status(&url).await;
            match status.compact_revision {
                Some(15) => Ok(15),
                other => Err(format!("compact revision {other:?}")),
            }
        },
    )
    .await;
    let (code, body) = send(
        Method::GET,
        &format!("{url}/v1/kv/counter?revision=14"),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::GONE, "{body}");
    assert_eq!(body["compact_revision"], compacted);
    let old = http()
        .get(format!("{url}/v1/kv/counter?revision=15"))
        .send()
        .await
        .unwrap();
    assert_eq!(old.text().await.unwrap(), "14");
    node.stop().await;
}

/// With a period (`--auto-compaction-retention 1s`), the leader compacts to
/// the revision it noted one period ago.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_mode_compacts_what_is_a_period_old() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_one(dir.path(), |settings| {
        settings.auto_compaction = AutoCompaction::Periodic(Duration::from_secs(1));
    })
    .await;
    let url = node.client_url.clone();
    for index in 0..3 {
        put(&url, "periodic", index.to_string()).await;
    }
    let noted = tokio::time::Instant::now();
    eventually(
        "periodic compaction",
        PATIENCE,
        Duration::from_millis(50),
        || async {
            match status(&url).await.compact_revision {
                Some(3) => Ok(()),
                other => Err(format!("compact revision {other:?}")),
            }
        },
    )
    .await;
    assert!(
        noted.elapsed() >= Duration::from_millis(800),
        "compacted before the period passed: {:?}",
        noted.elapsed()
    );
    let (code, body) = send(
        Method::GET,
        &format!("{url}/v1/kv/periodic?revision=2"),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::GONE, "{body}");
    node.stop().await;
}

/// A txn sent to a follower is redirected to the leader, and applied once
/// when the client follows the redirect with its body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_txn_sent_to_a_follower_is_redirected_and_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(3, dir.path()).await;
    let leader = leader_of(&nodes).await;
    let follower = &nodes[(leader + 1) % 3].client_url;
    let body = json!({"success": [{"put": {"key": "once", "value": "1"}}]});
    let (code, _) = txn(follower, body.clone()).await;
    assert_eq!(code, StatusCode::TEMPORARY_REDIRECT);
    let response = http()
        .post(format!("{follower}/v1/txn"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("{}/v1/txn", nodes[leader].client_url));
    let (code, answer) = send(Method::POST, &location, Some(body.to_string())).await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    assert_eq!(answer["revision"], 1, "{answer}");
    // Every node applies it, once.
    for node in &nodes {
        let url = &node.client_url;
        eventually(
            "the txn to reach every node",
            PATIENCE,
            Duration::from_millis(20),
            || async {
                match status(url).await.revision {
                    Some(1) => Ok(()),
                    other => Err(format!("{url}: revision {other:?}")),
                }
            },
        )
        .await;
    }
    stop_all(nodes).await;
}
