//! `Client::watch` against scripted SSE servers: each connection gets the
//! next scripted answer (chunks then close or hold, or an error status),
//! and the query of every connection is recorded, so tests can check where
//! a resumed stream asked to start.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod coordination_fake;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use coordination_fake::{serve, sse, sse_response};
use ordo_kv::api::{
    ErrorBody, EventKind, KeyValueJson, WatchChange, WatchEnd, WatchEvent, WatchProgress,
};
use ordo_kv::client::{Client, ClientConfig, ClientError, Endpoint, WatchItem, WatchOptions};
use tokio::sync::mpsc;
use tokio::time::timeout;

const STEP: Duration = Duration::from_secs(5);

/// What one connection gets.
enum Answer {
    /// These chunks, then the connection closes.
    ThenClose(Vec<Bytes>),
    /// These chunks, then nothing (the connection stays open).
    ThenHold(Vec<Bytes>),
    /// An error status with this code.
    Refuse(StatusCode, &'static str, Option<u64>),
}

#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Answer>>,
    queries: Mutex<Vec<String>>,
    held: Mutex<Vec<mpsc::Sender<Bytes>>>,
}

impl Script {
    fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }
}

async fn scripted(State(script): State<Arc<Script>>, RawQuery(query): RawQuery) -> Response {
    script
        .queries
        .lock()
        .unwrap()
        .push(query.unwrap_or_default());
    let answer = script.answers.lock().unwrap().pop_front();
    let (chunks, hold) = match answer {
        None => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Some(Answer::Refuse(status, code, compact_revision)) => {
            let body = ErrorBody {
                error: code.to_owned(),
                message: "scripted".to_owned(),
                revision: None,
                compact_revision,
            };
            return (status, axum::Json(body)).into_response();
        }
        Some(Answer::ThenClose(chunks)) => (chunks, false),
        Some(Answer::ThenHold(chunks)) => (chunks, true),
    };
    let (sender, response) = sse_response();
    for chunk in chunks {
        sender.send(chunk).await.unwrap();
    }
    if hold {
        script.held.lock().unwrap().push(sender);
    }
    response
}

async fn scripted_endpoint(answers: Vec<Answer>) -> (Endpoint, Arc<Script>) {
    let script = Arc::new(Script {
        answers: Mutex::new(answers.into()),
        ..Script::default()
    });
    let router = Router::new()
        .route("/v1/watch", get(scripted))
        .with_state(Arc::clone(&script));
    (serve(router).await, script)
}

fn client(endpoints: Vec<Endpoint>) -> Client {
    let mut config = ClientConfig::new(endpoints).with_timeout(STEP);
    config.backoff_initial = Duration::from_millis(10);
    Client::new(config).unwrap()
}

fn change(revision: u64, key: &str) -> WatchChange {
    let kv = KeyValueJson {
        key: key.to_owned(),
        value: Some(format!("v{revision}")),
        encoding: Default::default(),
        create_revision: revision,
        mod_revision: revision,
        version: 1,
        lease: 0,
    };
    WatchChange {
        revision,
        events: vec![WatchEvent {
            kind: EventKind::Put,
            kv,
            prev: None,
        }],
    }
}

fn change_message(revision: u64) -> Bytes {
    sse("change", Some(revision), &change(revision, "k/a"))
}

fn progress_message(revision: u64) -> Bytes {
    sse("progress", None, &WatchProgress { revision })
}

/// What the stream yields, as short strings: `p5` progress, `c6` change.
async fn take(stream: &mut ordo_kv::client::WatchStream, count: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..count {
        let item = timeout(STEP, stream.next()).await.expect("an item in time");
        seen.push(
            match item.expect("the stream goes on").expect("not an error") {
                WatchItem::Progress { revision } => format!("p{revision}"),
                WatchItem::Change(change) => format!("c{}", change.revision),
            },
        );
    }
    seen
}

/// A connection dropped mid-stream (mid-message, even) is resumed at the
/// revision after the last change seen; a node replaying an already seen
/// change does not make the stream repeat it.
#[tokio::test]
async fn a_dropped_stream_resumes_after_the_last_change_without_repeats() {
    let seventh = change_message(7);
    let (head, tail) = seventh.split_at(10);
    let (endpoint, script) = scripted_endpoint(vec![
        Answer::ThenClose(vec![
            progress_message(5),
            change_message(6),
            Bytes::copy_from_slice(head),
            Bytes::copy_from_slice(tail),
            // Half a message, then the connection dies: not delivered.
            change_message(8).slice(..12),
        ]),
        Answer::ThenHold(vec![
            progress_message(9),
            change_message(7),
            change_message(8),
        ]),
    ])
    .await;
    let mut stream = client(vec![endpoint]).watch(WatchOptions::prefix("k/"));
    assert_eq!(take(&mut stream, 5).await, ["p5", "c6", "c7", "p9", "c8"]);
    assert_eq!(
        script.queries(),
        ["prefix=k%2F", "prefix=k%2F&start_revision=8"]
    );
}

/// Without any change seen, the first progress message is the start: the
/// reconnect asks for the revision after it.
#[tokio::test]
async fn the_first_progress_is_the_start_of_a_watch_from_now() {
    let (endpoint, script) = scripted_endpoint(vec![
        Answer::ThenClose(vec![progress_message(41)]),
        Answer::ThenHold(vec![progress_message(45), change_message(42)]),
    ])
    .await;
    let mut stream = client(vec![endpoint]).watch(WatchOptions::key("k/a"));
    assert_eq!(take(&mut stream, 3).await, ["p41", "p45", "c42"]);
    assert_eq!(
        script.queries(),
        ["key=k%2Fa", "key=k%2Fa&start_revision=42"]
    );
}

/// A node that fails is left for the next endpoint, which is asked for
/// the revision after the last one seen; a start revision and `prev_kv`
/// are sent as asked.
#[tokio::test]
async fn a_failed_node_is_left_for_the_next_endpoint() {
    let (first, first_script) = scripted_endpoint(vec![Answer::ThenClose(vec![
        progress_message(3),
        change_message(3),
    ])])
    .await;
    let (second, second_script) =
        scripted_endpoint(vec![Answer::ThenHold(vec![change_message(4)])]).await;
    let options = WatchOptions::prefix("k/").from_revision(3).with_prev_kv();
    let mut stream = client(vec![first, second]).watch(options);
    assert_eq!(take(&mut stream, 3).await, ["p3", "c3", "c4"]);
    assert_eq!(
        first_script.queries(),
        ["prefix=k%2F&start_revision=3&prev_kv=true"]
    );
    assert_eq!(
        second_script.queries(),
        ["prefix=k%2F&start_revision=4&prev_kv=true"]
    );
}

/// `compacted`, as an event mid-stream or as the answer to the request,
/// ends the stream with a typed error carrying the compacted revision.
#[tokio::test]
async fn compaction_ends_the_stream_with_a_typed_error() {
    let end = WatchEnd {
        reason: "compacted".to_owned(),
        compact_revision: Some(10),
    };
    let (endpoint, _) = scripted_endpoint(vec![Answer::ThenHold(vec![
        progress_message(20),
        sse("compacted", None, &end),
    ])])
    .await;
    let mut stream = client(vec![endpoint]).watch(WatchOptions::key("k").from_revision(2));
    assert_eq!(take(&mut stream, 1).await, ["p20"]);
    let error = stream.next().await.unwrap().unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Compacted {
                compact_revision: 10,
                ..
            }
        ),
        "{error}"
    );
    assert!(stream.next().await.is_none());

    let (endpoint, _) = scripted_endpoint(vec![Answer::Refuse(
        StatusCode::GONE,
        "compacted",
        Some(12),
    )])
    .await;
    let mut stream = client(vec![endpoint]).watch(WatchOptions::key("k").from_revision(2));
    let error = timeout(STEP, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Compacted {
                compact_revision: 12,
                ..
            }
        ),
        "{error}"
    );
}

/// A busy node is retried; a malformed watch (400) is not.
#[tokio::test]
async fn busy_is_retried_and_bad_requests_end_the_stream() {
    let (endpoint, script) = scripted_endpoint(vec![
        Answer::Refuse(StatusCode::TOO_MANY_REQUESTS, "busy", None),
        Answer::ThenHold(vec![progress_message(1)]),
    ])
    .await;
    let mut stream = client(vec![endpoint]).watch(WatchOptions::key("k"));
    assert_eq!(take(&mut stream, 1).await, ["p1"]);
    assert_eq!(script.queries().len(), 2);

    let (endpoint, _) = scripted_endpoint(vec![Answer::Refuse(
        StatusCode::BAD_REQUEST,
        "bad_request",
        None,
    )])
    .await;
    let mut stream = client(vec![endpoint]).watch(WatchOptions::key("k"));
    let error = timeout(STEP, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(error.server_code(), Some("bad_request"));
    assert!(stream.next().await.is_none());
}
