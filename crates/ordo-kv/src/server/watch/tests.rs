//! The hub and the stream over a real [`KvStore`] with the hub as its
//! observer: routing, falling behind and rejoining without a gap or a
//! duplicate, restores, compaction overtaking a watcher, closing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ordo::StateMachine;

use super::history::{History, HistoryError, refused};
use super::hub::{WatchHub, WatchLimits};
use super::index::WatchRange;
use super::stream::{Message, OpenError, Start, WatchOptions, WatchStream};
use crate::store::{Changes, KeyRange, KvAnswer, KvCommand, KvQuery, KvStore};

/// The store behind a mutex, as the apply thread would hold it. Commands
/// in `during_read` are applied, two at a time, just before a history read
/// answers: writes that land while a stream is catching up. Those in
/// `after_last_read` are applied just after a read that reached the present:
/// writes that land between the last history read and going live.
#[derive(Clone, Debug)]
struct StoreHistory {
    store: Arc<Mutex<KvStore>>,
    during_read: Arc<Mutex<Vec<KvCommand>>>,
    after_last_read: Arc<Mutex<Vec<KvCommand>>>,
}

impl History for StoreHistory {
    async fn changes(
        &self,
        range: KeyRange,
        from_revision: u64,
        max_events: usize,
    ) -> Result<Changes, HistoryError> {
        let mut store = self.store.lock().unwrap();
        let mut during_read = self.during_read.lock().unwrap();
        // Fewer than a queue holds, so that they are queued *and* read.
        let landing = during_read.len().min(2);
        for command in during_read.drain(..landing) {
            store.apply_command(command);
        }
        let query = KvQuery::Changes {
            range,
            from_revision,
            max_events,
        };
        let changes = match store.query(query) {
            KvAnswer::Changes(changes) => changes,
            KvAnswer::Refused(error) => return Err(refused(error)),
            other => panic!("a changes query answered {other:?}"),
        };
        if changes.next_revision > changes.current_revision {
            for command in self.after_last_read.lock().unwrap().drain(..) {
                store.apply_command(command);
            }
        }
        Ok(changes)
    }

    async fn current_revision(&self) -> Result<u64, HistoryError> {
        Ok(self.store.lock().unwrap().cluster_revision())
    }
}

struct Fixture {
    hub: Arc<WatchHub>,
    history: StoreHistory,
}

impl Fixture {
    fn new(limits: WatchLimits) -> Self {
        let hub = Arc::new(WatchHub::new(limits));
        let store = KvStore::new().with_observer(hub.clone());
        Fixture {
            hub,
            history: StoreHistory {
                store: Arc::new(Mutex::new(store)),
                during_read: Arc::default(),
                after_last_read: Arc::default(),
            },
        }
    }

    fn apply(&self, command: KvCommand) {
        self.history.store.lock().unwrap().apply_command(command);
    }

    fn put(&self, key: &str, value: &str) {
        self.apply(put(key, value));
    }

    async fn open(&self, range: WatchRange, start: Start) -> WatchStream<StoreHistory> {
        self.try_open(range, start).await.unwrap()
    }

    async fn try_open(
        &self,
        range: WatchRange,
        start: Start,
    ) -> Result<WatchStream<StoreHistory>, OpenError> {
        let options = WatchOptions {
            range,
            start,
            prev_kv: true,
            progress_interval: None,
        };
        WatchStream::open(&self.hub, self.history.clone(), options).await
    }
}

fn put(key: &str, value: &str) -> KvCommand {
    KvCommand::Put {
        key: Bytes::from(key.to_owned()),
        value: Bytes::from(value.to_owned()),
        if_revision: None,
    }
}

fn prefix(text: &str) -> WatchRange {
    WatchRange::Prefix(Bytes::from(text.to_owned()))
}

fn small_queues() -> WatchLimits {
    WatchLimits {
        queue_revisions: 4,
        history_page_events: 3,
        ..WatchLimits::default()
    }
}

async fn next(stream: &mut WatchStream<StoreHistory>) -> Option<Message> {
    tokio::time::timeout(Duration::from_secs(5), stream.next_message())
        .await
        .expect("the stream sent nothing for 5 s")
}

/// The revisions of the `change` messages up to the first that is not one
/// (returned too), checking each holds `key_prefix` keys only.
async fn changes_until_other(stream: &mut WatchStream<StoreHistory>, count: usize) -> Vec<u64> {
    let mut revisions = Vec::new();
    while revisions.len() < count {
        match next(stream).await {
            Some(Message::Change(change)) => revisions.push(change.revision),
            other => panic!("expected a change after {revisions:?}, got {other:?}"),
        }
    }
    revisions
}

/// A write reaches the watchers whose range holds its key, and only them.
#[tokio::test]
async fn a_write_reaches_only_the_watchers_of_its_key() {
    let fixture = Fixture::new(WatchLimits::default());
    let exact = fixture.hub.register(WatchRange::Key("a/1".into())).unwrap();
    let under_a = fixture.hub.register(prefix("a/")).unwrap();
    let under_b = fixture.hub.register(prefix("b/")).unwrap();
    let range = fixture
        .hub
        .register(WatchRange::Range(KeyRange {
            key: "a/2".into(),
            range_end: "a/3".into(),
        }))
        .unwrap();
    fixture.put("a/1", "x");
    fixture.put("a/2", "y");
    fixture.put("c", "z");
    let queued = |registration: &super::hub::Registration| registration.queue.queued().0;
    assert_eq!(queued(&exact), 1);
    assert_eq!(queued(&under_a), 2);
    assert_eq!(queued(&under_b), 0);
    assert_eq!(queued(&range), 1);
    assert_eq!(fixture.hub.last_revision(), 3);
    drop((exact, under_a, under_b, range));
    assert_eq!(fixture.hub.watchers(), 0);
}

/// A txn's writes in the range arrive as one change, in the order of its
/// operations; keys outside the range are left out of it.
#[tokio::test]
async fn a_revision_is_one_change_with_its_events_in_the_range() {
    let fixture = Fixture::new(WatchLimits::default());
    let mut stream = fixture.open(prefix("t/"), Start::Now).await;
    assert_eq!(next(&mut stream).await, Some(Message::Progress(0)));
    let txn = crate::store::TxnRequest {
        compare: Vec::new(),
        success: ["t/c", "u/c", "t/a", "t/b"]
            .iter()
            .map(|key| {
                crate::store::RequestOp::Put(crate::store::PutRequest {
                    key: Bytes::from(key.to_string()),
                    value: Bytes::from_static(b"v"),
                    ..Default::default()
                })
            })
            .collect(),
        failure: Vec::new(),
    };
    fixture.apply(KvCommand::Txn(txn));
    let Some(Message::Change(change)) = next(&mut stream).await else {
        panic!("no change");
    };
    assert_eq!(change.revision, 1);
    let keys: Vec<&[u8]> = change.events.iter().map(|e| &e.kv.key[..]).collect();
    assert_eq!(keys, [b"t/c", b"t/a", b"t/b"]);
}

/// A watcher that stops reading falls behind after `queue_revisions`, holds
/// nothing while behind, then catches up from history and rejoins: every
/// revision exactly once, in order, including the writes applied while it
/// was reading history (which reach both the queue and history).
#[tokio::test]
async fn a_full_queue_resyncs_from_history_without_gap_or_duplicate() {
    let fixture = Fixture::new(small_queues());
    let mut stream = fixture.open(prefix("k/"), Start::Now).await;
    assert_eq!(next(&mut stream).await, Some(Message::Progress(0)));
    for i in 1..=20 {
        fixture.put(&format!("k/{i}"), "v");
        fixture.put("other", "v");
    }
    assert_eq!(stream.queued(), (0, 0), "a behind watcher holds nothing");
    assert_eq!(fixture.hub.queued_bytes(), 0);
    // Writes that land between re-arming the queue and the history read
    // that covers them: queued, and read from history too.
    fixture
        .history
        .during_read
        .lock()
        .unwrap()
        .extend((21..=22).map(|i| put(&format!("k/{i}"), "v")));
    // A write after the last history read: only the queue has it.
    fixture
        .history
        .after_last_read
        .lock()
        .unwrap()
        .push(put("k/23", "v"));
    let revisions = changes_until_other(&mut stream, 23).await;
    let expected: Vec<u64> = (1..=20).map(|i| 2 * i - 1).chain(41..=43).collect();
    assert_eq!(revisions, expected);
    // Live again: the next write comes from the queue.
    fixture.put("k/live", "v");
    assert_eq!(changes_until_other(&mut stream, 1).await, [44]);
    let counters = &fixture.hub.counters;
    assert_eq!(
        counters.resyncs.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        counters.events.load(std::sync::atomic::Ordering::Relaxed),
        24
    );
}

/// A start in the past reads history first, then goes live; the first
/// progress never claims a revision whose events are still to come.
#[tokio::test]
async fn a_past_start_replays_history_then_goes_live() {
    let fixture = Fixture::new(small_queues());
    for i in 1..=10 {
        fixture.put(&format!("k/{i}"), "v");
    }
    let mut stream = fixture.open(prefix("k/"), Start::At(4)).await;
    assert_eq!(next(&mut stream).await, Some(Message::Progress(3)));
    assert_eq!(
        changes_until_other(&mut stream, 7).await,
        (4..=10).collect::<Vec<_>>()
    );
    fixture.put("k/11", "v");
    assert_eq!(changes_until_other(&mut stream, 1).await, [11]);
}

/// A restore marks every watcher behind; it catches up from the restored
/// store's history.
#[tokio::test]
async fn a_restore_resyncs_every_watcher_from_the_restored_history() {
    let fixture = Fixture::new(WatchLimits::default());
    let mut stream = fixture.open(prefix("k/"), Start::Now).await;
    assert_eq!(next(&mut stream).await, Some(Message::Progress(0)));
    fixture.put("k/1", "v");
    assert_eq!(changes_until_other(&mut stream, 1).await, [1]);
    // A snapshot from a node that applied more.
    let mut ahead = KvStore::new();
    for i in 1..=5 {
        ahead.apply_command(put(&format!("k/{i}"), "v"));
    }
    let mut snapshot = Vec::new();
    ahead.snapshot(&mut snapshot).unwrap();
    fixture
        .history
        .store
        .lock()
        .unwrap()
        .restore(&mut snapshot.as_slice())
        .unwrap();
    assert_eq!(fixture.hub.last_revision(), 5);
    assert_eq!(changes_until_other(&mut stream, 4).await, [2, 3, 4, 5]);
}

/// A behind watcher whose next revision was compacted away ends with
/// `compacted`; a start already compacted is refused at open.
#[tokio::test]
async fn compaction_overtaking_a_behind_watcher_ends_it() {
    let fixture = Fixture::new(small_queues());
    let mut stream = fixture.open(prefix("k/"), Start::Now).await;
    assert_eq!(next(&mut stream).await, Some(Message::Progress(0)));
    for i in 1..=10 {
        fixture.put(&format!("k/{i}"), "v");
    }
    fixture.apply(KvCommand::Compact { revision: 8 });
    assert_eq!(
        next(&mut stream).await,
        Some(Message::Compacted {
            compact_revision: 8
        })
    );
    assert_eq!(next(&mut stream).await, None);
    let refused = fixture.try_open(prefix("k/"), Start::At(8)).await;
    assert!(
        matches!(
            refused,
            Err(OpenError::Compacted {
                compact_revision: 8,
                ..
            })
        ),
        "{refused:?}"
    );
    assert!(fixture.try_open(prefix("k/"), Start::At(9)).await.is_ok());
}

/// Closing the hub (the node stops) ends every stream with `cancelled` and
/// refuses new ones.
#[tokio::test]
async fn closing_cancels_every_watcher() {
    let fixture = Fixture::new(WatchLimits::default());
    let mut stream = fixture.open(prefix("k/"), Start::Now).await;
    assert_eq!(next(&mut stream).await, Some(Message::Progress(0)));
    fixture.hub.close("stopping");
    assert_eq!(
        next(&mut stream).await,
        Some(Message::Cancelled("stopping".into()))
    );
    assert_eq!(next(&mut stream).await, None);
    assert!(fixture.try_open(prefix("k/"), Start::Now).await.is_err());
}

/// Progress on a quiet live stream reports the last routed revision, which
/// every sent change is at or below.
#[tokio::test]
async fn progress_reports_what_was_routed() {
    let fixture = Fixture::new(WatchLimits::default());
    let options = WatchOptions {
        range: prefix("k/"),
        start: Start::Now,
        prev_kv: false,
        progress_interval: Some(Duration::from_millis(50)),
    };
    let mut stream = WatchStream::open(&fixture.hub, fixture.history.clone(), options)
        .await
        .unwrap();
    assert_eq!(next(&mut stream).await, Some(Message::Progress(0)));
    fixture.put("k/1", "v");
    fixture.put("other", "v");
    assert_eq!(changes_until_other(&mut stream, 1).await, [1]);
    assert_eq!(next(&mut stream).await, Some(Message::Progress(2)));
}

/// Stands for the hub as the store's observer, and runs `on_asked` once,
/// right after the store asked whether events are wanted (and the hub, with
/// no watcher, said no): a watcher registers in the middle of a write whose
/// events will not be built.
struct RegistersWhileAsked {
    hub: Arc<WatchHub>,
    on_asked: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl crate::store::ChangeObserver for RegistersWhileAsked {
    fn applied(&self, revision: u64, events: &[crate::store::Event]) {
        self.hub.applied(revision, events);
    }

    fn restored(&self, revision: u64, compact_revision: u64) {
        self.hub.restored(revision, compact_revision);
    }

    fn wants_events(&self) -> bool {
        let wanted = self.hub.wants_events();
        let on_asked = self.on_asked.lock().unwrap().take();
        if let Some(on_asked) = on_asked {
            on_asked();
        }
        wanted
    }
}

/// The race of item 3: the store decided not to build a write's events,
/// then two watchers registered (one from now, one from revision 1) before
/// that write was applied. Neither misses anything: the one from now starts
/// after it (its first progress names it), the other reads it from history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_registering_while_a_write_skips_its_events_miss_nothing() {
    use crate::store::ChangeObserver;
    let hub = Arc::new(WatchHub::new(WatchLimits::default()));
    let racing = Arc::new(RegistersWhileAsked {
        hub: Arc::clone(&hub),
        on_asked: Mutex::new(None),
    });
    let history = StoreHistory {
        store: Arc::new(Mutex::new(KvStore::new().with_observer(racing.clone()))),
        during_read: Arc::default(),
        after_last_read: Arc::default(),
    };
    assert!(!hub.wants_events(), "no watcher: no events wanted");
    let (opened_tx, opened_rx) = std::sync::mpsc::channel();
    let (open_hub, open_history) = (Arc::clone(&hub), history.clone());
    *racing.on_asked.lock().unwrap() = Some(Box::new(move || {
        for start in [Start::Now, Start::At(1)] {
            let (hub, history, opened) = (
                Arc::clone(&open_hub),
                open_history.clone(),
                opened_tx.clone(),
            );
            tokio::spawn(async move {
                let options = WatchOptions {
                    range: WatchRange::Key("k".into()),
                    start,
                    prev_kv: false,
                    progress_interval: None,
                };
                let stream = WatchStream::open(&hub, history, options).await;
                let _ = opened.send(stream.map_err(|error| format!("{error:?}")));
            });
        }
        // Both registered (they now wait for the store, which this write holds).
        let waited = std::time::Instant::now();
        while open_hub.watchers() < 2 {
            assert!(
                waited.elapsed() < Duration::from_secs(5),
                "never registered"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }));
    history
        .store
        .lock()
        .unwrap()
        .apply_command(put("k", "first"));
    assert!(hub.wants_events(), "watchers registered: events wanted");
    // Both opened (each read the store after the first write) before the
    // second write.
    let mut streams: Vec<_> = (0..2)
        .map(|_| {
            opened_rx
                .recv_timeout(Duration::from_secs(5))
                .unwrap()
                .unwrap()
        })
        .collect();
    history
        .store
        .lock()
        .unwrap()
        .apply_command(put("k", "second"));
    let mut seen = Vec::new();
    for stream in &mut streams {
        let mut messages = Vec::new();
        while messages.last().map(String::as_str) != Some("change 2") {
            let message = match next(stream).await {
                Some(Message::Change(change)) => format!("change {}", change.revision),
                Some(Message::Progress(revision)) => format!("progress {revision}"),
                other => panic!("{other:?} after {messages:?}"),
            };
            messages.push(message);
        }
        seen.push(messages);
    }
    seen.sort();
    let expected = [
        vec!["progress 0", "change 1", "change 2"],
        vec!["progress 1", "change 2"],
    ];
    assert_eq!(seen, expected);
}
