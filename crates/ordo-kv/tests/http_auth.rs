//! Auth over HTTP against a node running in the test process: with auth
//! enabled, every endpoint class answers 401 without a valid token and 403
//! outside the caller's permissions, leaving the store unchanged; a user
//! sees only what it may read; tokens die with a password change; the
//! open routes stay open.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{http, start_one};

/// Sends a request with an optional token and body; answers the status and
/// the JSON body (Null when it is not JSON).
async fn send(
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = http().request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    support::calls::send(request).await
}

/// Sends a request that must answer `expected`; its JSON body.
async fn answers(
    expected: StatusCode,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Value {
    let (status, answer) = send(method.clone(), url, token, body).await;
    assert_eq!(status, expected, "{method} {url}: {answer}");
    answer
}

async fn ok(method: Method, url: &str, token: Option<&str>, body: Option<Value>) -> Value {
    answers(StatusCode::OK, method, url, token, body).await
}

async fn token(url: &str, name: &str, password: &str) -> String {
    let answer = ok(
        Method::POST,
        &format!("{url}/v1/auth/authenticate"),
        None,
        Some(json!({"name": name, "password": password})),
    )
    .await;
    answer["token"].as_str().unwrap().to_owned()
}

/// Root (password `rootpw`) and alice (`alicepw`, role `reader`: read on
/// `app/`, readwrite on the key `app/w`, write on `drop/`), keys `app/a`
/// and `other`, auth on.
async fn set_up(url: &str) {
    let auth = |path: &str| format!("{url}/v1/auth/{path}");
    let steps = [
        (
            Method::POST,
            "users",
            json!({"name": "root", "password": "rootpw"}),
        ),
        (Method::PUT, "users/root/roles/root", Value::Null),
        (
            Method::POST,
            "users",
            json!({"name": "alice", "password": "alicepw"}),
        ),
        (Method::POST, "roles", json!({"name": "reader"})),
        (
            Method::POST,
            "roles/reader/permissions",
            json!({"kind": "read", "prefix": "app/"}),
        ),
        (
            Method::POST,
            "roles/reader/permissions",
            json!({"kind": "readwrite", "key": "app/w"}),
        ),
        (
            Method::POST,
            "roles/reader/permissions",
            json!({"kind": "write", "prefix": "drop/"}),
        ),
        (Method::PUT, "users/alice/roles/reader", Value::Null),
    ];
    for (method, path, body) in steps {
        let body = (!body.is_null()).then_some(body);
        ok(method, &auth(path), None, body).await;
    }
    for (key, value) in [("app/a", "1"), ("other", "2")] {
        assert_eq!(put_text(url, key, None, value).await.0, StatusCode::OK);
    }
    ok(Method::POST, &auth("enable"), None, None).await;
}

/// A node set up by [`set_up`], and root's and alice's tokens.
struct Signed {
    node: ordo_kv::server::RunningNode,
    url: String,
    root: String,
    alice: String,
    /// The node's data, kept until the test ends.
    _dir: tempfile::TempDir,
}

async fn signed_in() -> Signed {
    let dir = tempfile::tempdir().unwrap();
    let node = start_one(dir.path(), |_| {}).await;
    let url = node.client_url.clone();
    set_up(&url).await;
    let root = token(&url, "root", "rootpw").await;
    let alice = token(&url, "alice", "alicepw").await;
    Signed {
        node,
        url,
        root,
        alice,
        _dir: dir,
    }
}

async fn send_text(
    method: Method,
    url: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, String) {
    let mut request = http().request(method, url).body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// PUTs `value` under `key` (which may carry a query, `k?lease=7`) as
/// `token`'s holder; the status and body.
async fn put_text(url: &str, key: &str, token: Option<&str>, value: &str) -> (StatusCode, String) {
    send_text(Method::PUT, &format!("{url}/v1/kv/{key}"), token, value).await
}

/// Every route but the open ones, with a body it would accept.
fn guarded_routes() -> Vec<(Method, &'static str, Option<Value>)> {
    let txn = json!({"success": [{"put": {"key": "app/a", "value": "x"}}]});
    let member = json!({"id": 9, "peer_addr": "127.0.0.1:1", "client_addr": "http://127.0.0.1:2"});
    vec![
        (Method::GET, "/v1/kv/app/a", None),
        (Method::PUT, "/v1/kv/app/a", None),
        (Method::DELETE, "/v1/kv/app/a", None),
        (Method::GET, "/v1/kv?prefix=app/", None),
        (Method::DELETE, "/v1/kv?prefix=app/", None),
        (Method::POST, "/v1/txn", Some(txn)),
        (Method::GET, "/v1/watch?prefix=app/", None),
        (Method::POST, "/v1/compact", Some(json!({"revision": 1}))),
        (Method::POST, "/v1/leases", Some(json!({"ttl": 10}))),
        (Method::GET, "/v1/leases", None),
        (Method::DELETE, "/v1/leases/1", None),
        (Method::GET, "/v1/status", None),
        (Method::GET, "/v1/ui/stream", None),
        (Method::GET, "/v1/snapshot", None),
        (Method::POST, "/v1/cluster/members", Some(member)),
        (Method::DELETE, "/v1/cluster/members/9", None),
        (Method::POST, "/v1/cluster/leader", Some(json!({"to": 1}))),
        (Method::GET, "/v1/auth/users", None),
        (
            Method::POST,
            "/v1/auth/users",
            Some(json!({"name": "mallory"})),
        ),
        (Method::POST, "/v1/auth/disable", None),
        (Method::PUT, "/v1/auth/users/alice/roles/root", None),
    ]
}

/// What root reads of the store: the two keys and the cluster revision.
async fn store_seen_by_root(url: &str, root: &str) -> (Value, u64) {
    let list = ok(
        Method::GET,
        &format!("{url}/v1/kv?prefix="),
        Some(root),
        None,
    )
    .await;
    let keys = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| json!([item["key"], item["value"]]))
        .collect();
    (keys, list["revision"].as_u64().unwrap())
}

#[tokio::test]
async fn without_a_valid_token_every_guarded_route_is_401_and_the_open_ones_answer() {
    let signed = signed_in().await;
    let (url, root) = (&signed.url, &signed.root);
    let before = store_seen_by_root(url, root).await;

    let garbled = [
        None,
        Some("v1.e30.AAAA"),
        Some("not-a-token"),
        Some(&*"x".repeat(4000)),
    ];
    for (method, path, body) in guarded_routes() {
        for token in garbled {
            let path_url = format!("{url}{path}");
            let unauthorized = StatusCode::UNAUTHORIZED;
            let answer =
                answers(unauthorized, method.clone(), &path_url, token, body.clone()).await;
            assert_eq!(answer["error"], "unauthenticated", "{method} {path}");
        }
    }
    let basic = http()
        .get(format!("{url}/v1/kv/app/a"))
        .basic_auth("root", Some("rootpw"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);

    for path in ["/health", "/metrics", "/v1/cluster"] {
        let (status, _) = send(Method::GET, &format!("{url}{path}"), None, None).await;
        assert_eq!(status, StatusCode::OK, "{path} stays open");
    }
    let wrong_password = json!({"name": "root", "password": "wrong"});
    let authenticate = format!("{url}/v1/auth/authenticate");
    let answer = answers(
        StatusCode::UNAUTHORIZED,
        Method::POST,
        &authenticate,
        None,
        Some(wrong_password),
    )
    .await;
    assert_eq!(answer["error"], "unauthenticated");
    assert_eq!(
        store_seen_by_root(url, root).await,
        before,
        "nothing changed"
    );
    signed.node.stop().await;
}

#[tokio::test]
async fn a_user_outside_its_permissions_gets_403_and_the_store_is_unchanged() {
    let signed = signed_in().await;
    let (url, root, alice) = (&signed.url, &signed.root, &signed.alice);
    let before = store_seen_by_root(url, root).await;

    let nested_read_of_other = json!({"success": [{"txn": {
        "compare": [{"key": "app/a", "target": "version", "op": "=", "value": 1}],
        "success": [{"get": {"key": "other"}}]
    }}]});
    let mut refused = guarded_routes();
    // The routes alice may use are taken out; the ones she may not, added.
    refused.retain(|(method, path, _)| {
        !matches!(
            (method.as_str(), *path),
            (
                "GET",
                "/v1/kv/app/a"
                    | "/v1/kv?prefix=app/"
                    | "/v1/watch?prefix=app/"
                    | "/v1/leases"
                    | "/v1/status"
                    | "/v1/ui/stream"
            ) | ("POST", "/v1/leases")
                | ("DELETE", "/v1/leases/1")
        )
    });
    refused.extend([
        (Method::GET, "/v1/kv/other", None),
        (Method::GET, "/v1/kv?prefix=", None),
        (Method::GET, "/v1/kv?prefix=ap", None),
        (Method::GET, "/v1/watch?prefix=", None),
        (Method::POST, "/v1/txn", Some(nested_read_of_other)),
        (Method::PUT, "/v1/kv/drop/x?prev_kv=true", None),
        (Method::GET, "/v1/kv/drop/x", None),
    ]);
    for (method, path, body) in refused {
        let path_url = format!("{url}{path}");
        let forbidden = StatusCode::FORBIDDEN;
        let answer = answers(forbidden, method.clone(), &path_url, Some(alice), body).await;
        assert_eq!(answer["error"], "permission_denied", "{method} {path}");
    }
    assert_eq!(
        store_seen_by_root(url, root).await,
        before,
        "nothing changed"
    );

    let page = ok(
        Method::GET,
        &format!("{url}/v1/kv?prefix=app/"),
        Some(alice),
        None,
    )
    .await;
    let keys: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["app/a"]);
    let allowed_puts = [
        ("app/w", alice, "write on the granted key"),
        ("drop/x", alice, "write-only: a put that reads nothing"),
        ("other", root, "root may write anywhere"),
    ];
    for (key, token, why) in allowed_puts {
        let (status, body) = put_text(url, key, Some(token), "written").await;
        assert_eq!(status, StatusCode::OK, "{why}: {body}");
    }
    signed.node.stop().await;
}

#[tokio::test]
async fn a_password_change_or_role_revocation_invalidates_older_tokens() {
    let signed = signed_in().await;
    let (url, root, alice) = (&signed.url, &signed.root, &signed.alice);
    let read = format!("{url}/v1/kv/app/a");
    let unauthorized = StatusCode::UNAUTHORIZED;
    ok(Method::GET, &read, Some(alice), None).await;
    let password = format!("{url}/v1/auth/users/alice/password");
    let new_password = Some(json!({"password": "new"}));
    ok(Method::PUT, &password, Some(root), new_password).await;
    answers(unauthorized, Method::GET, &read, Some(alice), None).await;
    let old_password = json!({"name": "alice", "password": "alicepw"});
    let authenticate = format!("{url}/v1/auth/authenticate");
    // The old password is gone.
    answers(
        unauthorized,
        Method::POST,
        &authenticate,
        None,
        Some(old_password),
    )
    .await;
    let alice = token(url, "alice", "new").await;
    ok(Method::GET, &read, Some(&alice), None).await;
    let role = format!("{url}/v1/auth/users/alice/roles/reader");
    ok(Method::DELETE, &role, Some(root), None).await;
    answers(unauthorized, Method::GET, &read, Some(&alice), None).await;

    ok(
        Method::POST,
        &format!("{url}/v1/auth/disable"),
        Some(root),
        None,
    )
    .await;
    ok(Method::GET, &read, None, None).await;
    signed.node.stop().await;
}

/// Revoking a lease deletes its keys, so it needs write on each of them;
/// granting needs only a user (etcd's rules).
#[tokio::test]
async fn revoking_a_lease_needs_write_on_its_keys() {
    let signed = signed_in().await;
    let (url, root, alice) = (&signed.url, &signed.root, &signed.alice);
    let ttl = Some(json!({"ttl": 60}));
    let granted = ok(Method::POST, &format!("{url}/v1/leases"), Some(alice), ttl).await;
    let id = granted["id"].as_i64().unwrap();
    let (status, _) = put_text(url, &format!("other?lease={id}"), Some(root), "leased").await;
    assert_eq!(status, StatusCode::OK);
    let revoke = format!("{url}/v1/leases/{id}");
    answers(
        StatusCode::FORBIDDEN,
        Method::DELETE,
        &revoke,
        Some(alice),
        None,
    )
    .await;
    // The leased key is still there.
    ok(Method::GET, &format!("{url}/v1/kv/other"), Some(root), None).await;
    ok(Method::DELETE, &revoke, Some(root), None).await;
    signed.node.stop().await;
}

/// The dashboard's files stay open (they hold no data) and its session
/// answer tells a page to sign in, and whether its user may act; the etcd
/// API refuses a call without a token while auth is on, as etcd does.
#[tokio::test]
async fn the_dashboard_asks_for_a_sign_in_and_the_etcd_api_wants_a_token_while_auth_is_on() {
    use ordo_kv::server::etcd::pb::etcdserverpb::{RangeRequest, kv_client::KvClient};

    let dir = tempfile::tempdir().unwrap();
    let node = start_one(dir.path(), |_| {}).await;
    let url = node.client_url.clone();
    let channel = tonic::transport::Channel::from_shared(url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut kv = KvClient::new(channel);
    let range = || RangeRequest {
        key: bytes::Bytes::from_static(b"app/a"),
        ..RangeRequest::default()
    };
    kv.range(range()).await.expect("served while auth is off");
    let session = ok(Method::GET, &format!("{url}/v1/ui/session"), None, None).await;
    assert_eq!(
        session,
        json!({"auth_enabled": false, "user": null, "may_administer": true})
    );

    set_up(&url).await;
    let refused = kv.range(range()).await.expect_err("auth is on");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert_eq!(refused.message(), "etcdserver: user name is empty");
    for path in ["/ui", "/ui/app.js", "/ui/style.css"] {
        let (status, _) = send_text(Method::GET, &format!("{url}{path}"), None, "").await;
        assert_eq!(status, StatusCode::OK, "{path} stays open");
    }
    let session_of = |token: Option<String>| {
        let url = url.clone();
        async move {
            ok(
                Method::GET,
                &format!("{url}/v1/ui/session"),
                token.as_deref(),
                None,
            )
            .await
        }
    };
    assert_eq!(
        session_of(None).await,
        json!({"auth_enabled": true, "user": null, "may_administer": false})
    );
    let alice = token(&url, "alice", "alicepw").await;
    assert_eq!(
        session_of(Some(alice)).await,
        json!({"auth_enabled": true, "user": "alice", "may_administer": false})
    );
    let root = token(&url, "root", "rootpw").await;
    assert_eq!(
        session_of(Some(root)).await,
        json!({"auth_enabled": true, "user": "root", "may_administer": true})
    );
    node.stop().await;
}
