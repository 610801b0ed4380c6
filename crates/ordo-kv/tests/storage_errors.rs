//! Storage failures as clients see them (issue 11, bug 7): a write whose
//! fate is unknown is answered 503 `unavailable` ("outcome unknown"), never
//! 500; once the node knows its disk is full, a write is refused before it
//! is proposed with 507 `insufficient_storage`. And `/health`, which says
//! 200 only when the node can serve, and why not otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ordo::storage::{
    Durable, LogEntry, LogRead, LogReadError, LogStore, MemLogStore, Persist, StorageError,
};
use ordo::transport::ClusterId;
use ordo::transport::NetworkConfig;
use ordo::transport::tcp::TcpTransport;
use ordo::{HardState, Index, RaftConfig, RaftNode, Term};
use ordo_kv::api::{ErrorBody, code};
use ordo_kv::server::http::{self, AppState};
use ordo_kv::server::leases::{LeaseRules, NodeLeases};
use ordo_kv::server::metrics::Metrics;
use ordo_kv::server::settings::Limits;
use ordo_kv::server::timed_store::TimedLogStore;
use ordo_kv::server::watch::{WatchHub, WatchLimits};
use ordo_kv::store::KvStore;
use reqwest::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// An in-memory log whose writes fail with ENOSPC once `full` is set, and
/// which reports `repair_point` when it is above 0.
struct FillableLog {
    inner: MemLogStore,
    full: Arc<AtomicBool>,
    repair_point: Arc<AtomicU64>,
}

impl FillableLog {
    fn check(&self) -> Result<(), StorageError> {
        if self.full.load(Ordering::Relaxed) {
            return Err(StorageError::Io {
                action: "write to",
                path: "wal/00000000000000000001.wal".into(),
                source: io::Error::from_raw_os_error(28),
            });
        }
        Ok(())
    }
}

impl LogRead for FillableLog {
    fn first_index(&self) -> Index {
        self.inner.first_index()
    }
    fn last_index(&self) -> Index {
        self.inner.last_index()
    }
    fn term(&self, index: Index) -> Result<Term, LogReadError> {
        self.inner.term(index)
    }
    fn entries(
        &self,
        low: Index,
        high: Index,
        max_bytes: u64,
    ) -> Result<Vec<LogEntry>, LogReadError> {
        self.inner.entries(low, high, max_bytes)
    }
}

impl LogStore for FillableLog {
    fn compact(&self, through: Index) -> Result<(), StorageError> {
        self.inner.compact(through)
    }
    fn reset(&self, index: Index, term: Term) -> Result<(), StorageError> {
        self.inner.reset(index, term)
    }
    fn save_hard_state(&self, hard_state: HardState) -> Result<(), StorageError> {
        self.check()?;
        self.inner.save_hard_state(hard_state)
    }
    fn hard_state(&self) -> HardState {
        self.inner.hard_state()
    }
    fn write(&self, persist: Persist) -> Result<(), StorageError> {
        self.check()?;
        self.inner.write(persist)
    }
    fn sync(&self) -> Result<Durable, StorageError> {
        self.check()?;
        self.inner.sync()
    }
    fn writes_never_block(&self) -> bool {
        self.inner.writes_never_block()
    }
    fn repair_point(&self) -> Option<Index> {
        Some(self.repair_point.load(Ordering::Relaxed)).filter(|&point| point > 0)
    }
}

/// A one-node server over a [`FillableLog`].
struct Fixture {
    url: String,
    node: RaftNode<KvStore>,
    metrics: Arc<Metrics>,
    full: Arc<AtomicBool>,
    _shutdown: watch::Sender<bool>,
}

async fn put(url: &str, key: &str) -> (StatusCode, String) {
    let response = support::http()
        .put(format!("{url}/v1/kv/{key}"))
        .body("v")
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn start() -> Fixture {
    start_with_repair_point(0).await
}

/// A one-node group whose log reports `repair` as its repair point at start
/// (0: none). Under repair it cannot campaign, so only then no leader is
/// awaited.
async fn start_with_repair_point(repair: Index) -> Fixture {
    let full = Arc::new(AtomicBool::new(false));
    let repair_point = Arc::new(AtomicU64::new(repair));
    let metrics = Arc::new(Metrics::default());
    let log = FillableLog {
        inner: MemLogStore::new(),
        full: Arc::clone(&full),
        repair_point: Arc::clone(&repair_point),
    };
    let log = Arc::new(TimedLogStore::new(log, Arc::clone(&metrics)));
    let log_handle: Arc<dyn LogStore> = log.clone();
    let cluster = ClusterId::new("0123456789abcdef0123456789abcdef").unwrap();
    let transport = TcpTransport::bind(NetworkConfig::new(
        cluster,
        1,
        "127.0.0.1:0".parse().unwrap(),
    ))
    .unwrap();
    let config = RaftConfig {
        node_id: 1,
        ..RaftConfig::default()
    };
    let node = RaftNode::builder(config, KvStore::default(), log, transport.clone())
        .build()
        .unwrap();
    node.start().await.unwrap();
    if repair == 0 {
        node.wait_for_leader(Duration::from_secs(10)).await.unwrap();
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(AppState {
        node: node.clone(),
        transport,
        metrics: Arc::clone(&metrics),
        limits: Limits::default(),
        own: ordo::MemberInfo::new(url.clone()).with_peer_address("127.0.0.1:1"),
        cluster: "test".into(),
        cluster_id: "0123456789abcdef0123456789abcdef".into(),
        log: log_handle,
        backups: http::BackupSlot::default(),
        store: Arc::new(ordo_kv::server::store_gauge::StoreGauge::new(0)),
        leases: Arc::new(NodeLeases::new(node.clone(), LeaseRules::default())),
        watch_hub: Arc::new(WatchHub::new(WatchLimits::default())),
        auth: Default::default(),
        cluster_ca: None,
        client_port_tls: None,
    });
    let (shutdown, signal) = watch::channel(false);
    tokio::spawn(http::serve(listener, state, signal));
    Fixture {
        url,
        node,
        metrics,
        full,
        _shutdown: shutdown,
    }
}

async fn health(url: &str) -> (StatusCode, serde_json::Value) {
    let response = support::http()
        .get(format!("{url}/health"))
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_outcome_unknown_for_writes_in_flight_and_507_before_proposing() {
    let Fixture {
        url,
        node,
        metrics,
        full,
        _shutdown: _serving,
        ..
    } = start().await;
    assert_eq!(put(&url, "before").await.0, StatusCode::OK);
    // The disk fills: the write being made durable fails, the node stops.
    // Its fate is unknown to the node (on a larger group it may be
    // committed by the others): "outcome unknown", never 500.
    full.store(true, Ordering::Relaxed);
    let (status, body) = put(&url, "in-flight").await;
    let body: ErrorBody = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status, body.error.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, code::UNAVAILABLE),
        "{body:?}"
    );
    assert!(body.message.contains("outcome is unknown"), "{body:?}");
    // From then on the node knows its disk is full: refused before proposing.
    let (status, body) = put(&url, "after").await;
    let body: ErrorBody = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status, body.error.as_str()),
        (StatusCode::INSUFFICIENT_STORAGE, code::INSUFFICIENT_STORAGE),
        "{body:?}"
    );
    assert_eq!(
        metrics.proposals(ordo_kv::server::metrics::ProposalOutcome::OutcomeUnknown),
        1
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_200_only_when_the_node_can_serve_and_says_why_not() {
    let fixture = start().await;
    let url = &fixture.url;
    assert_eq!(put(url, "k").await.0, StatusCode::OK);
    let (status, body) = health(url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["healthy"], true);
    // The disk fills: the node stops, and says so.
    fixture.full.store(true, Ordering::Relaxed);
    let _ = put(url, "lost").await;
    let (status, body) = health(url).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let reasons = body["reasons"].as_array().unwrap();
    assert!(reasons.contains(&"stopped".into()), "{body}");
    assert!(reasons.contains(&"disk_full".into()), "{body}");
    fixture.node.stop().await;

    // A node whose log may have lost acknowledged entries is not serving
    // until a leader has repaired it (here it never is: alone, it cannot
    // elect itself, so it knows no leader either).
    let fixture = start_with_repair_point(1_000).await;
    let (status, body) = health(&fixture.url).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let reasons = body["reasons"].as_array().unwrap();
    assert!(reasons.contains(&"repairing".into()), "{body}");
    assert_eq!(body["repair_point"], 1_000);
    fixture.node.stop().await;
}
