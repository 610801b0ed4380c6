//! A fake of the coordination endpoints for client tests: an in-memory
//! multi-version store answering `POST /v1/txn`, `GET /v1/watch` (SSE,
//! replaying history from `start_revision`) and the lease calls, and
//! recording every watch's query, so tests can check which keys a recipe
//! watches. Only what the client and recipes use is faked: compares on one
//! key, reads of a key or prefix with the create-revision sort and bounds,
//! puts and deletes of a key or prefix.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use ordo_kv::api::{
    Compare, CompareOp, CompareTarget, EventKind, KeepAliveRequest, KeepAliveResponse,
    KeepAliveResult, KeyValueJson, LeaseGrantRequest, LeaseResponse, LeaseRevokeResponse, OpResult,
    RangeResult, SortOrder, SortTarget, TxnOp, TxnRange, TxnRequest, TxnResponse, WatchChange,
    WatchEvent, WatchProgress,
};
use ordo_kv::client::Endpoint;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};

/// Serves `router` on a loopback port.
pub(crate) async fn serve(router: Router) -> Endpoint {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Endpoint::parse(&format!("http://{address}")).unwrap()
}

/// An SSE message as the server writes it.
pub(crate) fn sse(event: &str, id: Option<u64>, data: &impl serde::Serialize) -> Bytes {
    let id = id.map(|id| format!("id: {id}\n")).unwrap_or_default();
    let data = serde_json::to_string(data).unwrap();
    Bytes::from(format!("event: {event}\n{id}data: {data}\n\n"))
}

/// A streaming SSE response fed by the returned sender; dropping the
/// sender ends the stream (the connection closes).
pub(crate) fn sse_response() -> (mpsc::Sender<Bytes>, Response) {
    let (sender, receiver) = mpsc::channel::<Bytes>(64);
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|chunk| (Ok::<_, Infallible>(chunk), receiver))
    });
    let response = (
        [("content-type", "text/event-stream")],
        Body::from_stream(stream),
    );
    (sender, response.into_response())
}

#[derive(Default)]
struct State_ {
    revision: u64,
    keys: BTreeMap<String, KeyValueJson>,
    history: Vec<WatchChange>,
    leases: BTreeMap<i64, i64>,
    next_lease: i64,
}

/// The fake store.
pub(crate) struct FakeStore {
    state: Mutex<State_>,
    changes: broadcast::Sender<WatchChange>,
    /// Every watch's query string, in order.
    pub(crate) watches: Mutex<Vec<String>>,
}

impl FakeStore {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State_::default()),
            changes: broadcast::channel(1024).0,
            watches: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/v1/txn", post(txn))
            .route("/v1/watch", get(watch))
            .route("/v1/leases", post(grant))
            .route("/v1/leases/keepalive", post(keepalive))
            .route("/v1/leases/{id}", delete(revoke))
            .with_state(Arc::clone(self))
    }

    pub(crate) fn watched(&self) -> Vec<String> {
        self.watches.lock().unwrap().clone()
    }

    /// Every key, as the store holds it now.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.state.lock().unwrap().keys.keys().cloned().collect()
    }

    /// Forgets lease `id` as if it expired (its keys stay: the test only
    /// needs keepalives to report it gone).
    pub(crate) fn expire_lease(&self, id: i64) {
        self.state.lock().unwrap().leases.remove(&id);
    }

    /// Applies `request`, as the real server would (for what is faked).
    pub(crate) fn apply(&self, request: &TxnRequest) -> TxnResponse {
        let mut state = self.state.lock().unwrap();
        let succeeded = request.compare.iter().all(|compare| holds(&state, compare));
        let ops = if succeeded {
            &request.success
        } else {
            &request.failure
        };
        let revision = state.revision + 1;
        let mut events = Vec::new();
        let results = ops
            .iter()
            .map(|op| run(&mut state, op, revision, &mut events))
            .collect();
        let change = state.commit(revision, events);
        let answer = TxnResponse {
            succeeded,
            revision: state.revision,
            results,
        };
        drop(state);
        if let Some(change) = change {
            let _ = self.changes.send(change);
        }
        answer
    }
}

impl State_ {
    /// Records `events` at `revision` (one revision for all of them).
    fn commit(&mut self, revision: u64, events: Vec<WatchEvent>) -> Option<WatchChange> {
        if events.is_empty() {
            return None;
        }
        self.revision = revision;
        let change = WatchChange { revision, events };
        self.history.push(change.clone());
        Some(change)
    }

    fn delete_keys(&mut self, keys: &[String], revision: u64, events: &mut Vec<WatchEvent>) -> u64 {
        for key in keys {
            self.keys.remove(key);
            events.push(WatchEvent {
                kind: EventKind::Delete,
                kv: kv(key, None, 0, revision, 0, 0),
                prev: None,
            });
        }
        keys.len() as u64
    }
}

fn kv(
    key: &str,
    value: Option<String>,
    create: u64,
    modified: u64,
    version: u64,
    lease: i64,
) -> KeyValueJson {
    KeyValueJson {
        key: key.to_owned(),
        value,
        encoding: Default::default(),
        create_revision: create,
        mod_revision: modified,
        version,
        lease,
    }
}

fn selected(state: &State_, keys: &ordo_kv::api::KeySelector) -> Vec<KeyValueJson> {
    state
        .keys
        .values()
        .filter(|found| match (&keys.key, &keys.prefix) {
            (Some(key), None) => found.key == *key,
            (None, Some(prefix)) => found.key.starts_with(prefix.as_str()),
            _ => panic!("the fake selects one key or a prefix: {keys:?}"),
        })
        .cloned()
        .collect()
}

fn holds(state: &State_, compare: &Compare) -> bool {
    let found = selected(state, &compare.keys).into_iter().next();
    let actual: i128 = match (compare.target, &found) {
        (CompareTarget::Value, None) => return false,
        (CompareTarget::Value, Some(found)) => {
            let equal = found.value.as_deref() == compare.value.as_str();
            return match compare.op {
                CompareOp::Equal => equal,
                CompareOp::NotEqual => !equal,
                _ => panic!("the fake compares values for equality only"),
            };
        }
        (_, None) => 0,
        (CompareTarget::Version, Some(found)) => found.version.into(),
        (CompareTarget::CreateRevision, Some(found)) => found.create_revision.into(),
        (CompareTarget::ModRevision, Some(found)) => found.mod_revision.into(),
        (CompareTarget::Lease, Some(found)) => found.lease.into(),
    };
    let expected = i128::from(compare.value.as_i64().expect("a numeric operand"));
    match compare.op {
        CompareOp::Equal => actual == expected,
        CompareOp::NotEqual => actual != expected,
        CompareOp::Less => actual < expected,
        CompareOp::Greater => actual > expected,
    }
}

fn run(state: &mut State_, op: &TxnOp, revision: u64, events: &mut Vec<WatchEvent>) -> OpResult {
    match op {
        TxnOp::Put(put) => {
            let previous = state.keys.get(&put.key).cloned();
            let (create, version) = previous.as_ref().map_or((revision, 1), |found| {
                (found.create_revision, found.version + 1)
            });
            let written = kv(
                &put.key,
                Some(put.value.clone()),
                create,
                revision,
                version,
                put.lease,
            );
            state.keys.insert(put.key.clone(), written.clone());
            events.push(WatchEvent {
                kind: EventKind::Put,
                kv: written,
                prev: None,
            });
            OpResult::Put { prev: None }
        }
        TxnOp::Get(range) | TxnOp::Range(range) => OpResult::Range(read(state, range)),
        TxnOp::Delete(delete) => {
            let keys: Vec<String> = selected(state, &delete.keys)
                .into_iter()
                .map(|found| found.key)
                .collect();
            let deleted = state.delete_keys(&keys, revision, events);
            OpResult::Delete {
                deleted,
                prev: Vec::new(),
            }
        }
        TxnOp::Txn(_) => panic!("the fake runs no nested transactions"),
    }
}

fn read(state: &State_, range: &TxnRange) -> RangeResult {
    let mut items: Vec<KeyValueJson> = selected(state, &range.keys)
        .into_iter()
        .filter(|found| {
            (range.max_create_revision == 0 || found.create_revision <= range.max_create_revision)
                && found.create_revision >= range.min_create_revision
        })
        .collect();
    match range.sort_target {
        None | Some(SortTarget::Key) => {}
        Some(SortTarget::CreateRevision) => items.sort_by_key(|found| found.create_revision),
        Some(other) => panic!("the fake does not sort by {other:?}"),
    }
    if range.sort_order == Some(SortOrder::Descend) {
        items.reverse();
    }
    let count = items.len() as u64;
    let more = range.limit > 0 && count > range.limit;
    if range.limit > 0 {
        items.truncate(range.limit as usize);
    }
    RangeResult { items, more, count }
}

type Store = State<Arc<FakeStore>>;

async fn txn(State(store): Store, axum::Json(request): axum::Json<TxnRequest>) -> Response {
    axum::Json(store.apply(&request)).into_response()
}

async fn watch(
    State(store): Store,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut live = store.changes.subscribe();
    let (current, replay) = {
        let state = store.state.lock().unwrap();
        let start = query
            .get("start_revision")
            .map(|start| start.parse::<u64>().unwrap());
        let replay: Vec<WatchChange> = match start {
            Some(start) => state
                .history
                .iter()
                .filter(|change| change.revision >= start)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        // Recorded once the watch's start is fixed: a test that waits for
        // the watch and then writes must see its write in the stream.
        store.watches.lock().unwrap().push(raw.unwrap_or_default());
        (state.revision, replay)
    };
    let wanted = move |key: &str| match (query.get("key"), query.get("prefix")) {
        (Some(watched), None) => key == watched,
        (None, Some(prefix)) => key.starts_with(prefix.as_str()),
        _ => panic!("the fake watches one key or a prefix"),
    };
    let only_wanted = move |change: WatchChange| {
        let events: Vec<WatchEvent> = change
            .events
            .into_iter()
            .filter(|event| wanted(&event.kv.key))
            .collect();
        (!events.is_empty()).then_some(WatchChange {
            revision: change.revision,
            events,
        })
    };
    let (sender, response) = sse_response();
    tokio::spawn(async move {
        let progress = WatchProgress { revision: current };
        if sender.send(sse("progress", None, &progress)).await.is_err() {
            return;
        }
        for change in replay.into_iter().filter_map(&only_wanted) {
            if sender
                .send(sse("change", Some(change.revision), &change))
                .await
                .is_err()
            {
                return;
            }
        }
        while let Ok(change) = live.recv().await {
            if change.revision <= current {
                continue;
            }
            let Some(change) = only_wanted(change) else {
                continue;
            };
            if sender
                .send(sse("change", Some(change.revision), &change))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    response
}

async fn grant(
    State(store): Store,
    axum::Json(request): axum::Json<LeaseGrantRequest>,
) -> Response {
    let mut state = store.state.lock().unwrap();
    state.next_lease += 1;
    let id = state.next_lease;
    state.leases.insert(id, request.ttl);
    axum::Json(LeaseResponse {
        id,
        ttl: request.ttl,
    })
    .into_response()
}

async fn keepalive(
    State(store): Store,
    axum::Json(request): axum::Json<KeepAliveRequest>,
) -> Response {
    let state = store.state.lock().unwrap();
    let leases = request
        .ids
        .iter()
        .map(|&id| KeepAliveResult {
            id,
            ttl: state.leases.get(&id).copied().unwrap_or(0),
        })
        .collect();
    axum::Json(KeepAliveResponse { leases }).into_response()
}

async fn revoke(State(store): Store, Path(id): Path<i64>) -> Response {
    let mut state = store.state.lock().unwrap();
    state.leases.remove(&id);
    let keys: Vec<String> = state
        .keys
        .values()
        .filter(|found| found.lease == id)
        .map(|found| found.key.clone())
        .collect();
    let revision = state.revision + 1;
    let mut events = Vec::new();
    state.delete_keys(&keys, revision, &mut events);
    let change = state.commit(revision, events);
    let revision = state.revision;
    drop(state);
    if let Some(change) = change {
        let _ = store.changes.send(change);
    }
    axum::Json(LeaseRevokeResponse { revision }).into_response()
}
