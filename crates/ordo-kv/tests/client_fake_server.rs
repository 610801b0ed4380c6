//! `Client` against fake nodes: a follower that redirects everything to a
//! fake leader, a leader that answers `no_leader` or `busy` a few times
//! first, endpoints that refuse connections, and a node that answers
//! garbage. Checks that redirects are followed with their bodies, that
//! retries happen only where they are safe, and that every bad answer
//! becomes a clean `ClientError`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use ordo_kv::api::{
    AddMemberRequest, ClusterResponse, ErrorBody, ListItem, ListResponse, MemberInfo,
    NodeStatusInfo, ReplicationInfo,
};
use ordo_kv::client::{
    BenchConfig, Client, ClientConfig, ClientError, Consistency, Endpoint, PutOutcome,
    gather_status, render_status, run_bench,
};
use tokio::net::TcpListener;

// ---------------------------------------------------------------- helpers

async fn serve(router: Router) -> Endpoint {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Endpoint::parse(&format!("http://{address}")).unwrap()
}

/// An address nothing listens on: connections to it are refused.
async fn dead_endpoint() -> Endpoint {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    Endpoint::parse(&format!("http://{address}")).unwrap()
}

fn client(endpoints: &[&Endpoint], timeout: Duration) -> Client {
    let endpoints = endpoints
        .iter()
        .map(|endpoint| (*endpoint).clone())
        .collect();
    Client::new(ClientConfig::new(endpoints).with_timeout(timeout)).unwrap()
}

fn error(status: StatusCode, code: &str, revision: Option<u64>) -> Response {
    let body = ErrorBody {
        error: code.to_owned(),
        message: format!("fake {code}"),
        revision,
        compact_revision: None,
    };
    (status, axum::Json(body)).into_response()
}

fn node_status(id: u64, role: &str) -> NodeStatusInfo {
    NodeStatusInfo {
        id,
        role: role.to_owned(),
        term: 2,
        leader: Some(1),
        commit_index: 10,
        applied_index: 9,
        durable_index: 10,
    }
}

// ---------------------------------------------------------------- fake leader

#[derive(Default)]
struct Leader {
    values: Mutex<BTreeMap<String, (Bytes, u64)>>,
    revision: Mutex<u64>,
    /// Requests seen, as `METHOD PATH?QUERY`.
    requests: Mutex<Vec<String>>,
    /// Answer this many writes with 503 no_leader first.
    no_leader_first: AtomicU32,
    /// Answer this many writes with 429 busy first.
    busy_first: AtomicU32,
    members_added: Mutex<Vec<AddMemberRequest>>,
    transfers: Mutex<Vec<serde_json::Value>>,
    members: Mutex<Vec<MemberInfo>>,
}

impl Leader {
    fn saw(&self, method: &Method, uri: &axum::http::Uri) {
        self.requests
            .lock()
            .unwrap()
            .push(format!("{method} {uri}"));
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// A refusal to answer before doing anything, if one is due.
    fn refusal_due(&self) -> Option<Response> {
        let take = |counter: &AtomicU32| {
            counter
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                    left.checked_sub(1)
                })
                .is_ok()
        };
        if take(&self.no_leader_first) {
            let mut response = error(StatusCode::SERVICE_UNAVAILABLE, "no_leader", None);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, "1".parse().unwrap());
            return Some(response);
        }
        if take(&self.busy_first) {
            return Some(error(StatusCode::TOO_MANY_REQUESTS, "busy", None));
        }
        None
    }
}

type Shared = State<Arc<Leader>>;

async fn leader_put(
    State(leader): Shared,
    method: Method,
    OriginalUri(uri): OriginalUri,
    Path(key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    leader.saw(&method, &uri);
    if let Some(refusal) = leader.refusal_due() {
        return refusal;
    }
    let mut values = leader.values.lock().unwrap();
    let current = values.get(&key).map_or(0, |(_, revision)| *revision);
    if let Some(expected) = query.get("if_revision")
        && expected.parse::<u64>().ok() != Some(current)
    {
        return error(StatusCode::CONFLICT, "compare_failed", Some(current));
    }
    let mut revision = leader.revision.lock().unwrap();
    *revision += 1;
    values.insert(key, (body, *revision));
    axum::Json(serde_json::json!({ "revision": *revision })).into_response()
}

async fn leader_get(
    State(leader): Shared,
    method: Method,
    OriginalUri(uri): OriginalUri,
    Path(key): Path<String>,
) -> Response {
    leader.saw(&method, &uri);
    let values = leader.values.lock().unwrap();
    let Some((value, revision)) = values.get(&key) else {
        return error(StatusCode::NOT_FOUND, "not_found", None);
    };
    let cluster_revision = *leader.revision.lock().unwrap();
    let headers = [
        ("x-ordo-revision", revision.to_string()),
        ("x-ordo-cluster-revision", cluster_revision.to_string()),
    ];
    (headers, value.clone()).into_response()
}

async fn leader_delete(
    State(leader): Shared,
    method: Method,
    OriginalUri(uri): OriginalUri,
    Path(key): Path<String>,
) -> Response {
    leader.saw(&method, &uri);
    let deleted = leader.values.lock().unwrap().remove(&key).is_some();
    let mut revision = leader.revision.lock().unwrap();
    if deleted {
        *revision += 1;
    }
    axum::Json(serde_json::json!({ "deleted": deleted, "revision": *revision })).into_response()
}

async fn leader_list(
    State(leader): Shared,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let prefix = query.get("prefix").cloned().unwrap_or_default();
    let limit: usize = query
        .get("limit")
        .and_then(|limit| limit.parse().ok())
        .unwrap_or(100);
    let values = leader.values.lock().unwrap();
    let matching: Vec<_> = values
        .iter()
        .filter(|(key, _)| key.starts_with(&prefix))
        .collect();
    let items = matching
        .iter()
        .take(limit)
        .map(
            |(key, (value, revision))| match std::str::from_utf8(value) {
                Ok(text) => ListItem {
                    key: (*key).clone(),
                    value: text.to_owned(),
                    revision: *revision,
                    encoding: None,
                    // An older server: no multi-version fields.
                    create_revision: None,
                    mod_revision: None,
                    version: None,
                    lease: None,
                },
                Err(_) => {
                    use base64::Engine as _;
                    ListItem {
                        key: (*key).clone(),
                        value: base64::engine::general_purpose::STANDARD.encode(value),
                        revision: *revision,
                        encoding: Some("base64".to_owned()),
                        create_revision: None,
                        mod_revision: None,
                        version: None,
                        lease: None,
                    }
                }
            },
        )
        .collect();
    let more = matching.len() > limit;
    axum::Json(ListResponse {
        items,
        more,
        revision: None,
        count: None,
    })
    .into_response()
}

async fn leader_cluster(State(leader): Shared) -> Response {
    axum::Json(ClusterResponse {
        cluster: "ordo".into(),
        cluster_id: None,
        node: node_status(1, "leader"),
        leader: Some(1),
        term: 2,
        members: leader.members.lock().unwrap().clone(),
        replication: vec![
            ReplicationInfo {
                id: 1,
                matched: 10,
                lag: 0,
            },
            ReplicationInfo {
                id: 2,
                matched: 8,
                lag: 2,
            },
            ReplicationInfo {
                id: 3,
                matched: 1,
                lag: 9,
            },
        ],
    })
    .into_response()
}

async fn leader_add_member(
    State(leader): Shared,
    method: Method,
    OriginalUri(uri): OriginalUri,
    axum::Json(request): axum::Json<AddMemberRequest>,
) -> Response {
    leader.saw(&method, &uri);
    leader.members_added.lock().unwrap().push(request);
    axum::Json(serde_json::json!({})).into_response()
}

async fn leader_transfer(State(leader): Shared, body: axum::Json<serde_json::Value>) -> Response {
    leader.transfers.lock().unwrap().push(body.0);
    StatusCode::OK.into_response()
}

/// A snapshot of 300 KiB in 3 chunks.
fn snapshot_bytes() -> Vec<u8> {
    (0..300 * 1024).map(|index| (index % 251) as u8).collect()
}

async fn leader_snapshot() -> Response {
    let chunks = snapshot_bytes()
        .chunks(100 * 1024)
        .map(Bytes::copy_from_slice)
        .collect();
    let body = Body::new(Chunks(chunks));
    ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response()
}

/// A body sent as separate chunks, so the client reads several frames.
struct Chunks(std::collections::VecDeque<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(
            self.0
                .pop_front()
                .map(|chunk| Ok(hyper::body::Frame::data(chunk))),
        )
    }
}

fn leader_router(leader: Arc<Leader>) -> Router {
    Router::new()
        .route(
            "/v1/kv/{key}",
            put(leader_put).get(leader_get).delete(leader_delete),
        )
        .route("/v1/kv", get(leader_list))
        .route("/v1/cluster", get(leader_cluster))
        .route("/v1/cluster/members", post(leader_add_member))
        .route("/v1/cluster/leader", post(leader_transfer))
        .route(
            "/v1/status",
            get(|| async { axum::Json(node_status(1, "leader")) }),
        )
        .route("/v1/snapshot", get(leader_snapshot))
        .with_state(leader)
}

// ---------------------------------------------------------------- fake follower

/// Answers its own status; redirects everything else to `leader`.
fn follower_router(leader: Endpoint) -> Router {
    let redirect = move |OriginalUri(uri): OriginalUri| {
        let path = uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        let location = format!("{leader}{path}");
        async move {
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response()
        }
    };
    Router::new()
        .route(
            "/v1/status",
            get(|| async { axum::Json(node_status(2, "follower")) }),
        )
        .fallback(redirect)
}

struct Fixture {
    leader: Arc<Leader>,
    leader_endpoint: Endpoint,
    follower_endpoint: Endpoint,
}

async fn fixture() -> Fixture {
    let leader = Arc::new(Leader::default());
    let leader_endpoint = serve(leader_router(Arc::clone(&leader))).await;
    let follower_endpoint = serve(follower_router(leader_endpoint.clone())).await;
    Fixture {
        leader,
        leader_endpoint,
        follower_endpoint,
    }
}

const TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- routing

#[tokio::test]
async fn a_write_to_a_follower_is_redirected_with_its_body() {
    let fixture = fixture().await;
    let client = client(&[&fixture.follower_endpoint], TIMEOUT);
    let key = "a/b c?ü#%";
    let outcome = client.put(key, "hello", None).await.unwrap();
    assert_eq!(outcome, PutOutcome::Written { revision: 1 });
    let stored = fixture.leader.values.lock().unwrap().get(key).cloned();
    assert_eq!(
        stored,
        Some((Bytes::from("hello"), 1)),
        "the leader got the body and the decoded key"
    );
    assert_eq!(client.leader_hint(), Some(fixture.leader_endpoint.clone()));
    // Later writes go to the remembered leader directly.
    client.put("second", "x", None).await.unwrap();
    let requests = fixture.leader.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0], "PUT /v1/kv/a%2Fb%20c%3F%C3%BC%23%25");
}

#[tokio::test]
async fn a_read_through_a_follower_returns_the_value_and_revisions() {
    let fixture = fixture().await;
    let client = client(&[&fixture.follower_endpoint], TIMEOUT);
    client.put("k", vec![0_u8, 255, 10], None).await.unwrap();
    client.put("other", "o", None).await.unwrap();
    let read = client.get("k", Consistency::Lease).await.unwrap().unwrap();
    assert_eq!(read.value, Bytes::from(vec![0_u8, 255, 10]));
    assert_eq!((read.revision, read.cluster_revision), (1, 2));
    assert!(
        fixture
            .leader
            .requests()
            .contains(&"GET /v1/kv/k?consistency=lease".to_owned())
    );
    assert_eq!(
        client.get("missing", Consistency::Stale).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn no_leader_and_busy_are_retried_until_the_leader_answers() {
    let fixture = fixture().await;
    fixture.leader.no_leader_first.store(2, Ordering::SeqCst);
    fixture.leader.busy_first.store(1, Ordering::SeqCst);
    let client = client(&[&fixture.leader_endpoint], TIMEOUT);
    let outcome = client.put("k", "v", None).await.unwrap();
    assert_eq!(outcome, PutOutcome::Written { revision: 1 });
    assert_eq!(
        fixture.leader.requests().len(),
        4,
        "two no_leader, one busy, one success"
    );
}

#[tokio::test]
async fn a_refused_connection_moves_on_to_the_next_endpoint() {
    let fixture = fixture().await;
    let dead = dead_endpoint().await;
    let client = client(&[&dead, &fixture.follower_endpoint], TIMEOUT);
    assert_eq!(
        client.put("k", "v", None).await.unwrap(),
        PutOutcome::Written { revision: 1 }
    );
    assert_eq!(client.cluster().await.unwrap().node.id, 1);
}

#[tokio::test]
async fn no_reachable_endpoint_is_unreachable_at_the_deadline() {
    let (first, second) = (dead_endpoint().await, dead_endpoint().await);
    let client = client(&[&first, &second], Duration::from_millis(400));
    let error = client.put("k", "v", None).await.unwrap_err();
    let ClientError::Unreachable { attempts, last } = &error else {
        panic!("{error:?}")
    };
    assert!(*attempts >= 2, "both endpoints tried: {error}");
    assert!(last.contains("127.0.0.1"), "{error}");
}

#[tokio::test]
async fn a_single_endpoint_call_neither_redirects_nor_retries() {
    let fixture = fixture().await;
    let client = client(&[&fixture.leader_endpoint], TIMEOUT);
    let status = client.status_of(&fixture.follower_endpoint).await.unwrap();
    assert_eq!((status.id, status.role.as_str()), (2, "follower"));
    let error = client
        .cluster_at(&fixture.follower_endpoint)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::BadResponse { .. }),
        "{error:?}"
    );
    let dead = dead_endpoint().await;
    let error = client.status_of(&dead).await.unwrap_err();
    assert!(
        matches!(error, ClientError::Unreachable { attempts: 1, .. }),
        "{error:?}"
    );
}

// ---------------------------------------------------------------- typed calls

#[tokio::test]
async fn a_compare_failure_is_an_outcome_not_an_error() {
    let fixture = fixture().await;
    let client = client(&[&fixture.follower_endpoint], TIMEOUT);
    assert_eq!(
        client.put("k", "1", Some(0)).await.unwrap(),
        PutOutcome::Written { revision: 1 }
    );
    assert_eq!(
        client.put("k", "2", Some(0)).await.unwrap(),
        PutOutcome::CompareFailed {
            current_revision: 1
        }
    );
    assert_eq!(
        client.put("k", "2", Some(1)).await.unwrap(),
        PutOutcome::Written { revision: 2 }
    );
    assert!(
        fixture
            .leader
            .requests()
            .contains(&"PUT /v1/kv/k?if_revision=1".to_owned())
    );
}

#[tokio::test]
async fn deletes_and_lists_go_through() {
    let fixture = fixture().await;
    let client = client(&[&fixture.follower_endpoint], TIMEOUT);
    for (key, value) in [
        ("app/a", &b"1"[..]),
        ("app/b", &[0xff, 0xfe][..]),
        ("app/c", b"3"),
        ("other", b"4"),
    ] {
        client
            .put(key, Bytes::copy_from_slice(value), None)
            .await
            .unwrap();
    }
    let page = client.list("app/", Some(2)).await.unwrap();
    let keys: Vec<&str> = page
        .entries
        .iter()
        .map(|entry| entry.key.as_str())
        .collect();
    assert_eq!(keys, ["app/a", "app/b"]);
    assert_eq!(
        page.entries[1].value,
        Bytes::from_static(&[0xff, 0xfe]),
        "base64 decoded"
    );
    assert!(page.more);
    assert!(
        fixture
            .leader
            .requests()
            .iter()
            .all(|request| !request.contains("GET /v1/kv?"))
    );
    let deleted = client.delete("app/a").await.unwrap();
    assert!(deleted.deleted);
    assert_eq!(deleted.revision, 5);
    assert!(!client.delete("app/a").await.unwrap().deleted);
}

#[tokio::test]
async fn cluster_changes_reach_the_leader_with_their_json() {
    let fixture = fixture().await;
    let client = client(&[&fixture.follower_endpoint], TIMEOUT);
    let request = AddMemberRequest {
        id: 4,
        peer_addr: "127.0.0.1:9004".to_owned(),
        client_addr: "http://127.0.0.1:8004".to_owned(),
        voter: false,
    };
    client.add_member(&request).await.unwrap();
    assert_eq!(*fixture.leader.members_added.lock().unwrap(), [request]);
    client.transfer_leader(3).await.unwrap();
    assert_eq!(
        *fixture.leader.transfers.lock().unwrap(),
        [serde_json::json!({ "to": 3 })]
    );
    // No such route on the fake leader: a clean server error.
    let error = client.promote(4).await.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Server {
                status: 404 | 405,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_snapshot_is_streamed_to_its_file_and_renamed_into_place() {
    let fixture = fixture().await;
    let client = client(&[&fixture.follower_endpoint], TIMEOUT);
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("backup.ordo");
    let written_bytes = client.snapshot_save(&path).await.unwrap();
    assert_eq!(written_bytes, snapshot_bytes().len() as u64);
    assert_eq!(std::fs::read(&path).unwrap(), snapshot_bytes());
    assert!(!directory.path().join("backup.ordo.tmp").exists());
}

#[tokio::test]
async fn a_failed_snapshot_leaves_no_file_behind() {
    let dead = dead_endpoint().await;
    let client = client(&[&dead], Duration::from_millis(200));
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("backup.ordo");
    assert!(client.snapshot_save(&path).await.is_err());
    assert_eq!(std::fs::read_dir(directory.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn status_shows_every_member_including_unreachable_ones() {
    let fixture = fixture().await;
    let dead = dead_endpoint().await;
    let member = |id, endpoint: &Endpoint| MemberInfo {
        id,
        voter: true,
        peer_addr: Some(format!("127.0.0.1:900{id}")),
        client_addr: Some(endpoint.to_string()),
    };
    *fixture.leader.members.lock().unwrap() = vec![
        member(3, &dead),
        member(1, &fixture.leader_endpoint),
        member(2, &fixture.follower_endpoint),
    ];
    let client = client(&[&fixture.follower_endpoint], TIMEOUT);
    let status = gather_status(&client).await.unwrap();
    let summary: Vec<(u64, Option<&str>, Option<u64>)> = status
        .rows
        .iter()
        .map(|row| {
            (
                row.id,
                row.status.as_ref().ok().map(|node| node.role.as_str()),
                row.lag,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, Some("leader"), Some(0)),
            (2, Some("follower"), Some(2)),
            (3, None, Some(9))
        ]
    );
    let table = render_status(&status);
    assert!(
        table
            .lines()
            .any(|line| line.starts_with('3') && line.contains("unreachable")),
        "{table}"
    );
}

#[tokio::test]
async fn a_short_bench_measures_reads_and_writes() {
    let fixture = fixture().await;
    let client = client(
        &[&fixture.follower_endpoint, &fixture.leader_endpoint],
        TIMEOUT,
    );
    let config = BenchConfig {
        clients: 4,
        duration: Duration::from_millis(300),
        warmup: Duration::from_millis(100),
        keys: 20,
        value_size: 16,
        read_ratio: 0.5,
        consistency: Consistency::Linearizable,
        key_prefix: "bench-".to_owned(),
        show_progress: false,
    };
    let summary = run_bench(&client, &config).await.unwrap();
    assert!(
        summary.writes.count > 0 && summary.reads.count > 0,
        "{summary:?}"
    );
    assert_eq!(
        summary.total_ops,
        summary.writes.count + summary.reads.count
    );
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert_eq!(summary.leader, Some(fixture.leader_endpoint.to_string()));
    assert!(summary.writes.p50_us <= summary.writes.max_us);
}

// ---------------------------------------------------------------- garbage

/// Counts requests per path, for checking what was retried.
#[derive(Default)]
struct Hits(Mutex<HashMap<String, u32>>);

impl Hits {
    fn hit(&self, uri: &axum::http::Uri) -> u32 {
        let mut hits = self.0.lock().unwrap();
        let count = hits.entry(uri.path().to_owned()).or_default();
        *count += 1;
        *count
    }

    fn of(&self, path: &str) -> u32 {
        self.0.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

const LIMIT_BYTES: usize = 1024;

async fn garbage_get(
    State(hits): State<Arc<Hits>>,
    OriginalUri(uri): OriginalUri,
    Path(key): Path<String>,
) -> Response {
    let count = hits.hit(&uri);
    let revisions = [("x-ordo-revision", "1"), ("x-ordo-cluster-revision", "1")];
    match key.as_str() {
        "big" => (revisions, vec![b'x'; 2 * LIMIT_BYTES]).into_response(),
        "no-header" => "value".into_response(),
        "bad-revision" => (
            [("x-ordo-revision", "abc"), ("x-ordo-cluster-revision", "1")],
            "v",
        )
            .into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late".into_response()
        }
        "flaky" if count == 1 => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
        "flaky" => (revisions, "steady").into_response(),
        _ => error(StatusCode::NOT_FOUND, "not_found", None),
    }
}

async fn garbage_put(
    State(hits): State<Arc<Hits>>,
    OriginalUri(uri): OriginalUri,
    Path(key): Path<String>,
) -> Response {
    hits.hit(&uri);
    match key.as_str() {
        "html" => (StatusCode::INTERNAL_SERVER_ERROR, "<html>oops</html>").into_response(),
        "huge-error" => (StatusCode::INTERNAL_SERVER_ERROR, vec![b'e'; 100 * 1024]).into_response(),
        "cas" => (StatusCode::CONFLICT, r#"{"error":"compare_failed"}"#).into_response(),
        "unavailable" => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
        "too-large" => error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", None),
        "no-location" => StatusCode::TEMPORARY_REDIRECT.into_response(),
        "bad-location" => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, "ftp://elsewhere/v1/kv/x")],
        )
            .into_response(),
        _ => "not json".into_response(),
    }
}

fn garbage_router(hits: Arc<Hits>) -> Router {
    let self_redirect = |OriginalUri(uri): OriginalUri| async move {
        (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, uri.to_string())],
        )
            .into_response()
    };
    Router::new()
        .route("/v1/cluster", get(|| async { "not json" }))
        .route("/v1/status", get(|| async { axum::Json(serde_json::json!({ "id": "one" })) }))
        .route("/v1/kv/{key}", get(garbage_get).put(garbage_put))
        .route(
            "/v1/kv",
            get(|| async {
                let item = serde_json::json!({ "key": "k", "value": "x", "revision": 1, "encoding": "rot13" });
                axum::Json(serde_json::json!({ "items": [item], "more": false }))
            }),
        )
        .route("/v1/cluster/leader", post(self_redirect))
        .with_state(hits)
}

async fn garbage() -> (Client, Arc<Hits>) {
    let hits = Arc::new(Hits::default());
    let endpoint = serve(garbage_router(Arc::clone(&hits))).await;
    let mut config = ClientConfig::new(vec![endpoint]).with_timeout(Duration::from_millis(600));
    config.max_response_bytes = LIMIT_BYTES;
    (Client::new(config).unwrap(), hits)
}

fn assert_bad_response(error: ClientError, mentions: &str) {
    match &error {
        ClientError::BadResponse { reason, .. } if reason.contains(mentions) => {}
        other => panic!("expected a bad response mentioning {mentions:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn unparsable_json_is_a_bad_response() {
    let (client, _) = garbage().await;
    assert_bad_response(client.cluster().await.unwrap_err(), "ClusterResponse");
    let endpoint = client.endpoints()[0].clone();
    assert_bad_response(
        client.status_of(&endpoint).await.unwrap_err(),
        "NodeStatusInfo",
    );
    assert_bad_response(
        client.put("any", "v", None).await.unwrap_err(),
        "PutResponse",
    );
    assert_bad_response(client.list("", None).await.unwrap_err(), "rot13");
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let (client, _) = garbage().await;
    assert_bad_response(
        client
            .get("big", Consistency::Linearizable)
            .await
            .unwrap_err(),
        "over 1024 bytes",
    );
    assert_bad_response(
        client.put("huge-error", "v", None).await.unwrap_err(),
        "over 65536 bytes",
    );
}

#[tokio::test]
async fn missing_or_malformed_headers_are_bad_responses() {
    let (client, _) = garbage().await;
    assert_bad_response(
        client
            .get("no-header", Consistency::Linearizable)
            .await
            .unwrap_err(),
        "x-ordo-revision",
    );
    assert_bad_response(
        client
            .get("bad-revision", Consistency::Linearizable)
            .await
            .unwrap_err(),
        "not a number",
    );
    assert_bad_response(
        client.put("cas", "v", Some(3)).await.unwrap_err(),
        "without the current revision",
    );
    assert_bad_response(
        client.put("no-location", "v", None).await.unwrap_err(),
        "Location",
    );
    assert_bad_response(
        client.put("bad-location", "v", None).await.unwrap_err(),
        "not an http:// or https:// URL",
    );
}

#[tokio::test]
async fn error_statuses_keep_their_code_and_text() {
    let (client, hits) = garbage().await;
    let error = client.put("html", "v", None).await.unwrap_err();
    let ClientError::Server {
        status: 500, body, ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(
        (body.error.as_str(), body.message.as_str()),
        ("http_500", "<html>oops</html>")
    );
    let error = client.put("too-large", "v", None).await.unwrap_err();
    assert_eq!(error.server_code(), Some("too_large"));
    assert_eq!(error.kind(), "server:too_large");
    // A write answered `unavailable` may have been applied: not retried.
    let error = client.put("unavailable", "v", None).await.unwrap_err();
    assert_eq!(error.server_code(), Some("unavailable"));
    assert_eq!(hits.of("/v1/kv/unavailable"), 1);
}

#[tokio::test]
async fn reads_answered_unavailable_are_retried() {
    let (client, hits) = garbage().await;
    let read = client
        .get("flaky", Consistency::Linearizable)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.value, Bytes::from("steady"));
    assert_eq!(hits.of("/v1/kv/flaky"), 2);
}

#[tokio::test]
async fn a_redirect_loop_ends_at_the_deadline() {
    let (client, _) = garbage().await;
    let error = client.transfer_leader(2).await.unwrap_err();
    let ClientError::Timeout { last, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(last.contains("redirects in a row"), "{error}");
}

#[tokio::test]
async fn a_slow_node_times_out_naming_it() {
    let (client, _) = garbage().await;
    let started = std::time::Instant::now();
    let error = client
        .get("slow", Consistency::Linearizable)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the deadline held"
    );
    let ClientError::Timeout { after, last } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(*after, Duration::from_millis(600));
    assert!(last.starts_with("waiting for http://127.0.0.1:"), "{error}");
}

#[tokio::test]
async fn bad_input_is_refused_before_sending() {
    let (client, hits) = garbage().await;
    let error = client.put("", "v", None).await.unwrap_err();
    assert!(
        matches!(error, ClientError::InvalidInput { .. }),
        "{error:?}"
    );
    assert!(hits.0.lock().unwrap().is_empty());
    assert!(Client::from_endpoints(" , ").is_err());
    assert!(Client::from_endpoints("https://secure:1").is_err());
}
