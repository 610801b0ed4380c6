//! Snapshot builds that keep failing (issue 11, bug 6): a full disk or no
//! file descriptors left made the node retry on every applied batch and log
//! a warning each time (~400,000 lines in 7 s), each saying "the node
//! stopped" while it kept running. Now: retried with back-off, reported
//! once per kind of failure, and the node keeps serving on its log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod runtime_support;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ordo::storage::{MemLogStore, SnapshotStore};
use ordo::transport::InProcessNetwork;
use ordo::{Entry, Event, RaftConfig, RaftError, RaftNode, StateMachine};
use runtime_support::{Answer, Command, Kv, Query, add, config, get};

/// The test's key-value machine, whose snapshots fail as on a full disk.
#[derive(Default)]
struct FullDisk {
    kv: Kv,
    snapshot_attempts: Arc<AtomicU64>,
}

impl StateMachine for FullDisk {
    type Command = Command;
    type Response = Option<u64>;
    type Query = Query;
    type Answer = Answer;

    fn apply(&mut self, entries: Vec<Entry<Command>>) -> Vec<Option<u64>> {
        self.kv.apply(entries)
    }

    fn query(&self, query: Query) -> Answer {
        self.kv.query(query)
    }

    fn snapshot(&self, _: &mut dyn Write) -> std::io::Result<()> {
        self.snapshot_attempts.fetch_add(1, Ordering::Relaxed);
        Err(std::io::ErrorKind::StorageFull.into())
    }

    fn restore(&mut self, input: &mut dyn Read) -> std::io::Result<()> {
        self.kv.restore(input)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_snapshots_are_retried_with_back_off_and_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let attempts = Arc::new(AtomicU64::new(0));
    let machine = FullDisk {
        kv: Kv::default(),
        snapshot_attempts: Arc::clone(&attempts),
    };
    let config = RaftConfig {
        // A snapshot is due after every write: before the fix, every
        // applied batch asked for one.
        snapshot_threshold_entries: 1,
        event_capacity: 1 << 16,
        ..config(1, &[1])
    };
    let network = InProcessNetwork::new();
    let node = RaftNode::builder(
        config,
        machine,
        Arc::new(MemLogStore::new()),
        network.transport(1),
    )
    .snapshot_store(SnapshotStore::open(dir.path().join("snapshots")).unwrap())
    .build()
    .unwrap();
    let mut events = node.events();
    let errors = tokio::spawn(async move {
        let mut errors = Vec::new();
        loop {
            match events.recv().await {
                Ok(Event::Error { error }) => errors.push(error),
                Ok(_) => {}
                Err(ordo::EventStreamError::Lagged(_)) => panic!("events skipped"),
                Err(ordo::EventStreamError::Closed) => return errors,
            }
        }
    });
    node.start().await.unwrap();
    node.wait_for_leader(Duration::from_secs(10)).await.unwrap();

    // Writes for 3.5 s: the node keeps serving them on its log.
    let started = Instant::now();
    let mut written = 0;
    while started.elapsed() < Duration::from_millis(3500) {
        node.propose(add("n", 1)).await.unwrap();
        written += 1;
    }
    assert_eq!(
        node.read_index(get("n")).await.unwrap(),
        Answer::Value(Some(written))
    );

    // Attempts at about 0, 1 and 3 s (the delay doubles from 1 s).
    let attempted = attempts.load(Ordering::Relaxed);
    assert!(
        (2..=4).contains(&attempted),
        "{attempted} attempts in 3.5 s ({written} writes)"
    );
    let status = node.status().await.unwrap();
    assert_eq!(status.snapshot_failures, attempted);
    assert!(!node.is_stopped());

    // Asked for explicitly, a snapshot is tried at once, whatever the delay.
    let before = attempts.load(Ordering::Relaxed);
    assert!(node.snapshot().await.is_err());
    assert_eq!(attempts.load(Ordering::Relaxed), before + 1);
    node.stop().await;

    // One report for the one kind of failure, which does not claim the
    // node stopped.
    let reports = errors.await.unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let RaftError::Snapshot(message) = &reports[0] else {
        panic!("{:?}", reports[0]);
    };
    assert!(message.contains("no space left"), "{message}");
    assert!(!message.contains("stopped"), "{message}");
}
