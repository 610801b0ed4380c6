//! The lease endpoints against nodes running in the test process: grant
//! (with the minimum ttl), keepalive (one and many), time-to-live, list,
//! revoke deleting the attached keys at one revision, redirects from
//! followers, and every bad request answered with its status and changing
//! nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ordo_kv::api::{ErrorBody, KeepAliveResponse, LeaseInfo, LeaseList, LeaseResponse};
use ordo_kv::server::RunningNode;
use ordo_kv::server::settings::Timing;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::calls::{metrics_page, put, stop_all};
use support::{http, leader_of, start_cluster, start_one};

/// Sends `method path` with an optional JSON body; the status and the body.
async fn call(url: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = http().request(method, format!("{url}{path}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

async fn ok<T: serde::de::DeserializeOwned>(
    url: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> T {
    let (status, value) = call(url, method.clone(), path, body).await;
    assert_eq!(status, StatusCode::OK, "{method} {path}: {value}");
    serde_json::from_value(value).unwrap()
}

/// Everything a bad request could have changed: the leases, the keys and
/// the cluster revision.
async fn observable_state(url: &str) -> (Value, Value, String) {
    let leases = ok(url, Method::GET, "/v1/leases", None).await;
    let keys = ok(url, Method::GET, "/v1/kv", None).await;
    let probe = http()
        .get(format!("{url}/v1/kv/no-such-key"))
        .send()
        .await
        .unwrap();
    let revision = probe.headers()["x-ordo-cluster-revision"]
        .to_str()
        .unwrap()
        .to_owned();
    (leases, keys, revision)
}

/// One node whose election timeouts reach 2 s: the minimum ttl is 3 s.
async fn slow_election_node(data: &std::path::Path) -> RunningNode {
    start_one(data, |settings| {
        settings.timing = Timing {
            election_timeout_min: Duration::from_millis(1000),
            election_timeout_max: Duration::from_millis(2000),
            ..Timing::default()
        };
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_keepalive_time_to_live_list_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let node = slow_election_node(dir.path()).await;
    let url = &node.client_url;

    // Below the minimum (1.5 × 2 s election timeout): raised to 3 s.
    let short: LeaseResponse = ok(url, Method::POST, "/v1/leases", Some(json!({"ttl": 1}))).await;
    assert_eq!(short.ttl, 3);
    assert!(short.id > 0);
    let granted: LeaseResponse = ok(
        url,
        Method::POST,
        "/v1/leases",
        Some(json!({"ttl": 60, "id": 42})),
    )
    .await;
    assert_eq!(granted, LeaseResponse { id: 42, ttl: 60 });
    let listed: LeaseList = ok(url, Method::GET, "/v1/leases", None).await;
    assert_eq!(listed.leases, vec![short.clone(), granted.clone()]);
    let revoked_short: Value = ok(
        url,
        Method::DELETE,
        &format!("/v1/leases/{}", short.id),
        None,
    )
    .await;
    assert_eq!(
        revoked_short,
        json!({"revision": 0}),
        "no keys: no revision"
    );

    let renewed: LeaseResponse = ok(url, Method::POST, "/v1/leases/42/keepalive", None).await;
    assert_eq!(renewed, granted);
    let many: KeepAliveResponse = ok(
        url,
        Method::POST,
        "/v1/leases/keepalive",
        Some(json!({"ids": [42, 7777]})),
    )
    .await;
    let answered: Vec<(i64, i64)> = many.leases.iter().map(|l| (l.id, l.ttl)).collect();
    assert_eq!(answered, vec![(42, 60), (7777, 0)]);

    assert_eq!(put(url, "held/a?lease=42", "v").await, 1);
    assert_eq!(put(url, "held/b?lease=42", "v").await, 2);
    assert_eq!(put(url, "free", "v").await, 3);
    let info: LeaseInfo = ok(url, Method::GET, "/v1/leases/42", None).await;
    assert_eq!((info.id, info.ttl), (42, 60));
    assert!((58..=60).contains(&info.remaining), "{info:?}");
    assert_eq!(info.keys, vec!["held/a", "held/b"]);

    // Revoking deletes both keys at one revision.
    let revoked: Value = ok(url, Method::DELETE, "/v1/leases/42", None).await;
    assert_eq!(revoked, json!({"revision": 4}));
    for key in ["held/a", "held/b"] {
        let gone = http()
            .get(format!("{url}/v1/kv/{key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status(), StatusCode::NOT_FOUND, "{key}");
        assert_eq!(gone.headers()["x-ordo-cluster-revision"], "4");
    }
    let kept = http()
        .get(format!("{url}/v1/kv/free"))
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status(), StatusCode::OK);

    for (method, path) in [
        (Method::POST, "/v1/leases/42/keepalive"),
        (Method::GET, "/v1/leases/42"),
        (Method::DELETE, "/v1/leases/42"),
    ] {
        let (status, body) = call(url, method.clone(), path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(body["error"], "lease_not_found", "{method} {path}");
    }
    let page = metrics_page(url).await;
    for line in [
        "ordo_leases 0\n",
        "ordo_lease_keepalives_total 2\n",
        "ordo_lease_expired_total 0\n",
    ] {
        assert!(page.contains(line), "{line:?} in the metrics");
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lease_requests_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = slow_election_node(dir.path()).await;
    let url = &node.client_url;
    let _: LeaseResponse = ok(
        url,
        Method::POST,
        "/v1/leases",
        Some(json!({"ttl": 600, "id": 42})),
    )
    .await;
    assert_eq!(put(url, "held?lease=42", "v").await, 1);
    let before = observable_state(url).await;

    let bad = StatusCode::BAD_REQUEST;
    let missing = StatusCode::NOT_FOUND;
    let cases: Vec<(Method, &str, Option<Value>, StatusCode, &str)> = vec![
        // Grants: ttl, id, JSON.
        (
            Method::POST,
            "/v1/leases",
            Some(json!({"ttl": -5})),
            bad,
            "bad_request",
        ),
        (
            Method::POST,
            "/v1/leases",
            Some(json!({"ttl": 0})),
            bad,
            "bad_request",
        ),
        (
            Method::POST,
            "/v1/leases",
            Some(json!({"ttl": 9_000_000_001_i64})),
            bad,
            "bad_request",
        ),
        (
            Method::POST,
            "/v1/leases",
            Some(json!({"ttl": 10, "id": -1})),
            bad,
            "bad_request",
        ),
        (
            Method::POST,
            "/v1/leases",
            Some(json!({"ttl": 10, "id": 42})),
            bad,
            "bad_request",
        ),
        (
            Method::POST,
            "/v1/leases",
            Some(json!({"ttl": "ten"})),
            bad,
            "bad_request",
        ),
        (
            Method::POST,
            "/v1/leases",
            Some(json!({"ttl": 10, "tll": 5})),
            bad,
            "bad_request",
        ),
        (
            Method::POST,
            "/v1/leases",
            Some(json!({})),
            bad,
            "bad_request",
        ),
        (Method::POST, "/v1/leases", None, bad, "bad_request"),
        (
            Method::POST,
            "/v1/leases?ttl=10",
            Some(json!({"ttl": 10})),
            bad,
            "bad_request",
        ),
        // Ids in the path: decimal i64 > 0.
        (
            Method::POST,
            "/v1/leases/abc/keepalive",
            None,
            bad,
            "bad_request",
        ),
        (
            Method::POST,
            "/v1/leases/0/keepalive",
            None,
            bad,
            "bad_request",
        ),
        (
            Method::POST,
            "/v1/leases/-42/keepalive",
            None,
            bad,
            "bad_request",
        ),
        (
            Method::POST,
            "/v1/leases/0x2a/keepalive",
            None,
            bad,
            "bad_request",
        ),
        (
            Method::POST,
            "/v1/leases/99999999999999999999/keepalive",
            None,
            bad,
            "bad_request",
        ),
        (Method::GET, "/v1/leases/4.2", None, bad, "bad_request"),
        (Method::DELETE, "/v1/leases/x", None, bad, "bad_request"),
        // Unknown leases.
        (
            Method::POST,
            "/v1/leases/777/keepalive",
            None,
            missing,
            "lease_not_found",
        ),
        (
            Method::GET,
            "/v1/leases/777",
            None,
            missing,
            "lease_not_found",
        ),
        (
            Method::DELETE,
            "/v1/leases/777",
            None,
            missing,
            "lease_not_found",
        ),
        // Many keepalives: every id checked before any is renewed.
        (
            Method::POST,
            "/v1/leases/keepalive",
            Some(json!({"ids": [42, 0]})),
            bad,
            "bad_request",
        ),
        (
            Method::POST,
            "/v1/leases/keepalive",
            Some(json!({"ids": "42"})),
            bad,
            "bad_request",
        ),
        (
            Method::POST,
            "/v1/leases/keepalive",
            Some(json!({})),
            bad,
            "bad_request",
        ),
        (
            Method::POST,
            "/v1/leases/keepalive",
            None,
            bad,
            "bad_request",
        ),
        (Method::GET, "/v1/leases?all=1", None, bad, "bad_request"),
    ];
    for (method, path, body, status, code) in cases {
        let shown = format!("{method} {path} {body:?}");
        let (answered, value) = call(url, method, path, body).await;
        assert_eq!(answered, status, "{shown}: {value}");
        let error: ErrorBody = serde_json::from_value(value).unwrap();
        assert_eq!(error.error, code, "{shown}");
    }
    // A put naming a lease that does not exist.
    let orphan = http()
        .put(format!("{url}/v1/kv/orphan?lease=777"))
        .body("v")
        .send()
        .await
        .unwrap();
    assert_eq!(orphan.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        orphan.json::<ErrorBody>().await.unwrap().error,
        "lease_not_found"
    );

    assert_eq!(observable_state(url).await, before);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_redirect_lease_writes_and_keepalives_and_answer_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(3, dir.path()).await;
    let leader = leader_of(&nodes).await;
    let leader_url = &nodes[leader].client_url;
    let follower_url = &nodes[(leader + 1) % nodes.len()].client_url;
    let granted: LeaseResponse = ok(
        leader_url,
        Method::POST,
        "/v1/leases",
        Some(json!({"ttl": 60, "id": 5})),
    )
    .await;

    for (method, path, body) in [
        (Method::POST, "/v1/leases", Some(json!({"ttl": 60}))),
        (Method::POST, "/v1/leases/5/keepalive", None),
        (
            Method::POST,
            "/v1/leases/keepalive",
            Some(json!({"ids": [5]})),
        ),
        (Method::GET, "/v1/leases/5", None),
        (Method::DELETE, "/v1/leases/5", None),
    ] {
        let mut request = http().request(method.clone(), format!("{follower_url}{path}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::TEMPORARY_REDIRECT,
            "{method} {path}"
        );
        assert_eq!(
            response.headers()["location"],
            format!("{leader_url}{path}").as_str()
        );
    }
    let listed: LeaseList = ok(follower_url, Method::GET, "/v1/leases", None).await;
    assert_eq!(listed.leases, vec![granted]);
    stop_all(nodes).await;
}
