//! The coordination calls of `Client` against a recording fake: each call's
//! method, path, query and body, how its answer is parsed, which error
//! codes become typed `ClientError`s, list pages read at one revision, and
//! the `LeaseKeeper` reporting lost leases.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod coordination_fake;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Query, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use coordination_fake::serve;
use ordo_kv::api::{CompareOp, ErrorBody, KeepAliveRequest, KeepAliveResponse, KeepAliveResult};
use ordo_kv::client::{
    Client, ClientConfig, ClientError, Cmp, Consistency, DeleteOutcome, Endpoint, GetOptions,
    LeaseKeeper, ListOptions, LossReason, Op, PutOptions, PutOutcome, Txn,
};
use serde_json::json;
use tokio::time::timeout;

const STEP: Duration = Duration::from_secs(5);

fn client(endpoint: &Endpoint) -> Client {
    Client::new(ClientConfig::new(vec![endpoint.clone()]).with_timeout(STEP)).unwrap()
}

/// A canned answer: status, headers, body.
type Canned = (StatusCode, Vec<(&'static str, &'static str)>, String);

/// Answers `METHOD /path` from a table and records `METHOD /path?query`
/// with its body.
#[derive(Default)]
struct Recorder {
    answers: HashMap<String, Canned>,
    seen: Mutex<Vec<(String, String)>>,
}

async fn recorded(
    State(recorder): State<Arc<Recorder>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let body = String::from_utf8(body.to_vec()).unwrap();
    recorder
        .seen
        .lock()
        .unwrap()
        .push((format!("{method} {uri}"), body));
    let Some((status, headers, body)) = recorder.answers.get(&format!("{method} {}", uri.path()))
    else {
        return (
            StatusCode::NOT_FOUND,
            format!("no answer for {method} {uri}"),
        )
            .into_response();
    };
    let mut response = (*status, body.clone()).into_response();
    for (name, value) in headers {
        response.headers_mut().insert(*name, value.parse().unwrap());
    }
    response
}

async fn recorder(answers: Vec<(&str, Canned)>) -> (Client, Arc<Recorder>) {
    let recorder = Arc::new(Recorder {
        answers: answers
            .into_iter()
            .map(|(route, answer)| (route.to_owned(), answer))
            .collect(),
        ..Recorder::default()
    });
    let router = Router::new()
        .fallback(any(recorded))
        .with_state(Arc::clone(&recorder));
    (client(&serve(router).await), recorder)
}

fn ok(body: serde_json::Value) -> Canned {
    (StatusCode::OK, Vec::new(), body.to_string())
}

fn refusal(status: StatusCode, code: &str, revision: Option<u64>, compact: Option<u64>) -> Canned {
    let body = ErrorBody {
        error: code.to_owned(),
        message: "fake".to_owned(),
        revision,
        compact_revision: compact,
    };
    (status, Vec::new(), serde_json::to_string(&body).unwrap())
}

#[tokio::test]
async fn key_calls_send_their_documented_requests_and_parse_the_answers() {
    let headers = vec![
        ("x-ordo-revision", "4"),
        ("x-ordo-cluster-revision", "9"),
        ("x-ordo-create-revision", "2"),
        ("x-ordo-version", "3"),
        ("x-ordo-lease", "7"),
    ];
    let (client, recorder) = recorder(vec![
        ("PUT /v1/kv/a%20b", ok(json!({"revision": 11}))),
        ("GET /v1/kv/a%20b", (StatusCode::OK, headers, "value".to_owned())),
        (
            "DELETE /v1/kv/a%20b",
            refusal(StatusCode::CONFLICT, "compare_failed", Some(6), None),
        ),
        ("DELETE /v1/kv", ok(json!({"deleted": 2, "revision": 12}))),
        (
            "POST /v1/txn",
            ok(json!({"succeeded": false, "revision": 12, "results": [
                {"range": {"items": [{"key": "jobs/7", "value": "w1", "create_revision": 5,
                                      "mod_revision": 6, "version": 2}], "more": false, "count": 1}}]})),
        ),
        ("POST /v1/compact", ok(json!({"compact_revision": 5, "revision": 12}))),
    ])
    .await;

    let options = PutOptions {
        if_revision: Some(3),
        lease: Some(7),
    };
    let put = client.put_with("a b", "v", options).await.unwrap();
    assert_eq!(put, PutOutcome::Written { revision: 11 });
    let options = GetOptions {
        revision: Some(5),
        consistency: Consistency::Stale,
    };
    let read = client.get_with("a b", options).await.unwrap().unwrap();
    assert_eq!(read.cluster_revision, 9);
    assert_eq!(
        (
            read.kv.value.as_ref(),
            read.kv.create_revision,
            read.kv.mod_revision
        ),
        (&b"value"[..], 2, 4)
    );
    assert_eq!((read.kv.version, read.kv.lease), (3, 7));
    let deleted = client.delete_if("a b", 4).await.unwrap();
    assert_eq!(
        deleted,
        DeleteOutcome::CompareFailed {
            current_revision: 6
        }
    );
    let range = client.delete_prefix("p/").await.unwrap();
    assert_eq!((range.deleted, range.revision), (2, 12));
    let request = Txn::new()
        .when([Cmp::version("jobs/7", CompareOp::Equal, 0)])
        .then([Op::put_with_lease("jobs/7", "w2", 42)])
        .otherwise([Op::get("jobs/7")])
        .build();
    let answer = client.txn(&request).await.unwrap();
    assert!(!answer.succeeded);
    let compacted = client.compact(5).await.unwrap();
    assert_eq!(compacted.compact_revision, 5);
    assert!(matches!(
        client.delete_prefix("").await,
        Err(ClientError::InvalidInput { .. })
    ));

    let seen = recorder.seen.lock().unwrap().clone();
    let lines: Vec<&str> = seen.iter().map(|(line, _)| line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "PUT /v1/kv/a%20b?if_revision=3&lease=7",
            "GET /v1/kv/a%20b?consistency=stale&revision=5",
            "DELETE /v1/kv/a%20b?if_revision=4",
            "DELETE /v1/kv?prefix=p%2F",
            "POST /v1/txn",
            "POST /v1/compact",
        ]
    );
    assert_eq!(seen[0].1, "v");
    let txn_body: serde_json::Value = serde_json::from_str(&seen[4].1).unwrap();
    assert_eq!(txn_body, serde_json::to_value(&request).unwrap());
    assert_eq!(seen[5].1, r#"{"revision":5}"#);
}

#[tokio::test]
async fn lease_calls_send_their_documented_requests_and_parse_the_answers() {
    let (client, recorder) = recorder(vec![
        ("POST /v1/leases", ok(json!({"id": 7, "ttl": 10}))),
        (
            "POST /v1/leases/7/keepalive",
            ok(json!({"id": 7, "ttl": 10})),
        ),
        (
            "POST /v1/leases/keepalive",
            ok(json!({"leases": [{"id": 7, "ttl": 10}, {"id": 8, "ttl": 0}]})),
        ),
        ("DELETE /v1/leases/7", ok(json!({"revision": 13}))),
        (
            "GET /v1/leases/7",
            ok(json!({"id": 7, "ttl": 10, "remaining": 4, "keys": ["a"]})),
        ),
        (
            "GET /v1/leases",
            ok(json!({"leases": [{"id": 7, "ttl": 10}]})),
        ),
    ])
    .await;
    assert_eq!(client.grant(10).await.unwrap().id, 7);
    assert_eq!(client.keepalive(7).await.unwrap().ttl, 10);
    let renewed = client.keepalive_many(&[7, 8]).await.unwrap();
    assert_eq!(renewed.leases[1].ttl, 0);
    assert_eq!(client.revoke(7).await.unwrap().revision, 13);
    let info = client.lease_info(7).await.unwrap();
    assert_eq!(
        (info.remaining, info.keys.as_slice()),
        (4, &["a".to_owned()][..])
    );
    assert_eq!(client.leases().await.unwrap().leases.len(), 1);

    let seen = recorder.seen.lock().unwrap().clone();
    let expected = [
        ("POST /v1/leases", r#"{"ttl":10,"id":0}"#),
        ("POST /v1/leases/7/keepalive", ""),
        ("POST /v1/leases/keepalive", r#"{"ids":[7,8]}"#),
        ("DELETE /v1/leases/7", ""),
        ("GET /v1/leases/7", ""),
        ("GET /v1/leases", ""),
    ];
    let seen: Vec<(&str, &str)> = seen.iter().map(|(l, b)| (l.as_str(), b.as_str())).collect();
    assert_eq!(seen, expected);
}

/// `410 compacted`, `404 lease_not_found` and `507 quota_exceeded` become
/// their own `ClientError`s.
#[tokio::test]
async fn coordination_error_codes_are_typed() {
    let (client, _) = recorder(vec![
        (
            "GET /v1/kv/old",
            refusal(StatusCode::GONE, "compacted", None, Some(8)),
        ),
        (
            "POST /v1/leases/9/keepalive",
            refusal(StatusCode::NOT_FOUND, "lease_not_found", None, None),
        ),
        (
            "PUT /v1/kv/big",
            refusal(
                StatusCode::INSUFFICIENT_STORAGE,
                "quota_exceeded",
                None,
                None,
            ),
        ),
    ])
    .await;
    let options = GetOptions {
        revision: Some(2),
        ..GetOptions::default()
    };
    let error = client.get_with("old", options).await.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Compacted {
                compact_revision: 8,
                ..
            }
        ),
        "{error}"
    );
    let error = client.keepalive(9).await.unwrap_err();
    assert!(
        matches!(error, ClientError::LeaseNotFound { .. }),
        "{error}"
    );
    let error = client
        .put_with("big", "v", PutOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::QuotaExceeded { .. }),
        "{error}"
    );
}

/// Five keys, two a page: `list_all` passes the first page's revision and
/// the last key back until `more` is false.
#[tokio::test]
async fn list_all_reads_every_page_at_the_first_pages_revision() {
    let queries = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&queries);
    let router = Router::new().route(
        "/v1/kv",
        get(move |OriginalUri(uri): OriginalUri, Query(query): Query<HashMap<String, String>>| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock().unwrap().push(uri.query().unwrap_or_default().to_owned());
                let keys = ["p/a", "p/b", "p/c", "p/d", "p/e"];
                let after = query.get("start_after").cloned().unwrap_or_default();
                let rest: Vec<&str> = keys.into_iter().filter(|key| *key > after.as_str()).collect();
                let items: Vec<serde_json::Value> = rest
                    .iter()
                    .take(2)
                    .map(|key| json!({"key": key, "value": "v", "revision": 3, "create_revision": 2}))
                    .collect();
                axum::Json(json!({"items": items, "more": rest.len() > 2, "revision": 9}))
            }
        }),
    );
    let client = client(&serve(router).await);
    let options = ListOptions {
        prefix: "p/".to_owned(),
        limit: Some(2),
        ..ListOptions::default()
    };
    let all = client.list_all(&options).await.unwrap();
    let keys: Vec<&str> = all.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["p/a", "p/b", "p/c", "p/d", "p/e"]);
    assert_eq!(
        (
            all.revision,
            all.items[0].create_revision,
            all.items[0].mod_revision
        ),
        (Some(9), 2, 3)
    );
    assert_eq!(
        *queries.lock().unwrap(),
        [
            "prefix=p%2F&consistency=linearizable&limit=2",
            "prefix=p%2F&consistency=linearizable&limit=2&start_after=p%2Fb&revision=9",
            "prefix=p%2F&consistency=linearizable&limit=2&start_after=p%2Fd&revision=9",
        ]
    );
}

/// A fake leader's `POST /v1/leases/keepalive`: the TTL it answers for
/// each successive call (the last repeats), counting calls.
fn keepalive_leader(ttls: Vec<i64>, calls: Arc<AtomicU32>) -> Router {
    Router::new().route(
        "/v1/leases/keepalive",
        post(move |axum::Json(request): axum::Json<KeepAliveRequest>| {
            let call = calls.fetch_add(1, Ordering::SeqCst) as usize;
            let ttl = ttls[call.min(ttls.len() - 1)];
            async move {
                let leases = request
                    .ids
                    .iter()
                    .map(|&id| KeepAliveResult { id, ttl })
                    .collect();
                axum::Json(KeepAliveResponse { leases })
            }
        }),
    )
}

/// The keeper renews through a follower's redirect to the leader, and
/// reports the lease gone as soon as the leader answers TTL 0.
#[tokio::test]
async fn the_keeper_follows_redirects_and_reports_a_lease_gone() {
    let calls = Arc::new(AtomicU32::new(0));
    let leader = serve(keepalive_leader(vec![1, 1, 0], Arc::clone(&calls))).await;
    let location = format!("{leader}/v1/leases/keepalive");
    let follower = serve(Router::new().fallback(move || {
        let location = location.clone();
        async move {
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location)],
            )
        }
    }))
    .await;
    let mut keeper = LeaseKeeper::start(client(&follower), &[(7, 1)]);
    let loss = timeout(STEP, keeper.lost()).await.unwrap();
    assert_eq!((loss.id, loss.reason), (7, LossReason::Gone));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

/// A keeper whose keepalives all fail gives the lease up once a whole TTL
/// passed without a confirmed renewal, not before.
#[tokio::test]
async fn the_keeper_gives_up_a_lease_unconfirmed_for_a_ttl() {
    let router = Router::new().fallback(|| async {
        let (status, _, body) = refusal(StatusCode::SERVICE_UNAVAILABLE, "unavailable", None, None);
        (status, body).into_response()
    });
    let endpoint = serve(router).await;
    let mut config = ClientConfig::new(vec![endpoint]).with_timeout(Duration::from_millis(200));
    config.backoff_initial = Duration::from_millis(10);
    let started = tokio::time::Instant::now();
    let mut keeper = LeaseKeeper::start(Client::new(config).unwrap(), &[(7, 1)]);
    let loss = timeout(STEP, keeper.lost()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&loss.reason, LossReason::Unconfirmed { last_error } if last_error.contains("unavailable")),
        "{loss:?}"
    );
    assert_eq!(keeper.losses().len(), 1);
}
