//! `ordo bench fill` against a fake node: every key is written exactly
//! once, and failed writes are retried rather than skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use ordo_kv::api::{ErrorBody, PutResponse};
use ordo_kv::client::{Client, ClientConfig, Endpoint, FillConfig, fill};
use tokio::net::TcpListener;

#[derive(Default)]
struct Node {
    /// Puts per key.
    writes: Mutex<BTreeMap<String, u32>>,
    /// Every third put fails with 503 `unavailable` before it is counted.
    calls: AtomicU32,
}

async fn put_key(
    State(node): State<Arc<Node>>,
    Path(key): Path<String>,
    _value: Bytes,
) -> Response {
    if node.calls.fetch_add(1, Ordering::SeqCst) % 3 == 2 {
        let body = ErrorBody {
            error: "unavailable".to_owned(),
            message: "fake".to_owned(),
            revision: None,
            compact_revision: None,
        };
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    }
    let mut writes = node.writes.lock().unwrap();
    *writes.entry(key).or_default() += 1;
    let revision = writes.values().map(|&count| u64::from(count)).sum();
    axum::Json(PutResponse { revision }).into_response()
}

#[tokio::test]
async fn every_key_is_written_once_and_failures_are_retried() {
    let node = Arc::new(Node::default());
    let router = Router::new()
        .route("/v1/kv/{*key}", put(put_key))
        .with_state(Arc::clone(&node));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let endpoint = Endpoint::parse(&format!("http://{address}")).unwrap();
    let client = Client::new(ClientConfig::new(vec![endpoint])).unwrap();

    let config = FillConfig {
        keys: 250,
        value_size: 10,
        clients: 8,
        key_prefix: "fill-".to_owned(),
        deadline: Duration::from_secs(20),
    };
    let summary = fill(&client, &config).await.unwrap();

    let writes = node.writes.lock().unwrap();
    assert_eq!(writes.len(), 250, "every key written");
    assert!(
        writes.values().all(|&count| count == 1),
        "each once: {writes:?}"
    );
    assert_eq!(writes.keys().next().map(String::as_str), Some("fill-000"));
    assert_eq!(writes.keys().last().map(String::as_str), Some("fill-249"));
    assert_eq!(summary.written, 250);
    assert!(summary.retried > 0, "the failures were retried");
}
