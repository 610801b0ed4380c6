//! Writes whose acknowledgements a test keeps, and the checks that every
//! acknowledged write is still there.
//!
//! - [`writer`]: one of several concurrent writers, overwriting a few keys
//!   with growing sequence numbers; [`assert_at_least`] then checks a node
//!   reads each key at least as new as its last acknowledgement.
//! - [`Ledger`]: one writer, a new key per write; every acknowledged write
//!   must read back exactly (value and revision) on every running node, and
//!   revisions only ever grow, so a revision handed out twice is caught.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ordo_kv::client::{Client, ClientError, Consistency, PutOutcome};

use super::wait::{Patience, wait_for};
use super::{Cluster, PATIENCE};

/// One acknowledged write: the writer's sequence number is the value, and
/// grows with every attempt, so a later write to a key has a larger one.
#[derive(Clone, Debug)]
pub struct Ack {
    /// The key written.
    pub key: String,
    /// The value written (as a number).
    pub sequence: u64,
    /// The revision the write was acknowledged with.
    pub revision: u64,
}

/// Writes `wN/kM` keys (values: sequence numbers) through `client` until
/// `stop`, recording every acknowledged write; unacknowledged ones (the
/// outcome unknown when the leader dies) are only counted.
pub async fn writer(
    writer_id: usize,
    client: Client,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
) -> (Vec<Ack>, u64) {
    let mut acks = Vec::new();
    let mut failures = 0;
    let mut sequence = 0_u64;
    while !stop.load(Ordering::Relaxed) {
        sequence += 1;
        let key = format!("w{writer_id}/k{}", sequence % 5);
        match client.put(&key, sequence.to_string(), None).await {
            Ok(PutOutcome::Written { revision }) => {
                acks.push(Ack {
                    key,
                    sequence,
                    revision,
                });
                acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(other) => panic!("a plain put answered {other:?}"),
            Err(_unknown_outcome) => {
                failures += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    (acks, failures)
}

/// `count` concurrent [`writer`]s through every node of `cluster`.
pub struct Writers {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    handles: Vec<tokio::task::JoinHandle<(Vec<Ack>, u64)>>,
}

impl Writers {
    /// Starts `count` writers.
    pub fn start(cluster: &Cluster, count: usize) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let handles = (0..count)
            .map(|writer_id| {
                let client = super::client(&cluster.endpoints(), Duration::from_secs(5));
                tokio::spawn(writer(
                    writer_id,
                    client,
                    Arc::clone(&stop),
                    Arc::clone(&acked),
                ))
            })
            .collect();
        Writers {
            stop,
            acked,
            handles,
        }
    }

    /// Writes acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    /// Waits until `at_least` writes were acknowledged.
    pub async fn wait_for(&self, at_least: u64, cluster: &Cluster) {
        wait_for_acks(&self.acked, at_least, cluster).await;
    }

    /// Stops every writer; their acknowledged writes and the count of writes
    /// whose outcome is unknown. Panics if two acknowledged writes share a
    /// revision.
    pub async fn stop(self) -> (Vec<Ack>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let mut acks = Vec::new();
        let mut failures = 0;
        for handle in self.handles {
            let (mut written, failed) = handle.await.expect("a writer panicked");
            acks.append(&mut written);
            failures += failed;
        }
        let revisions: std::collections::BTreeSet<u64> =
            acks.iter().map(|ack| ack.revision).collect();
        assert_eq!(
            revisions.len(),
            acks.len(),
            "two acknowledged writes share a revision"
        );
        (acks, failures)
    }
}

/// Waits until `acked` reaches `at_least`; panics after [`PATIENCE`].
pub async fn wait_for_acks(acked: &AtomicU64, at_least: u64, cluster: &Cluster) {
    let patience = Patience {
        within: PATIENCE,
        every: Duration::from_millis(20),
    };
    let check = || {
        let acks = acked.load(Ordering::Relaxed);
        std::future::ready(if acks >= at_least {
            Ok(())
        } else {
            Err(format!("{acks} acknowledged"))
        })
    };
    let what = format!("{at_least} acknowledged writes");
    wait_for(&what, patience, check, || cluster.logs()).await;
}

/// The newest acknowledged write of each key.
pub fn latest(acks: Vec<Ack>) -> BTreeMap<String, Ack> {
    let mut latest: BTreeMap<String, Ack> = BTreeMap::new();
    for ack in acks {
        let newer = latest
            .get(&ack.key)
            .is_none_or(|seen| seen.sequence < ack.sequence);
        if newer {
            latest.insert(ack.key.clone(), ack);
        }
    }
    latest
}

/// Checks that `key` reads, on `node`, at least as new as `ack`.
pub async fn assert_at_least(node: &Client, id: u64, ack: &Ack) {
    let read = node
        .get(&ack.key, Consistency::Linearizable)
        .await
        .unwrap_or_else(|error| panic!("node {id}: get {}: {error}", ack.key))
        .unwrap_or_else(|| panic!("node {id}: acknowledged {ack:?} is gone"));
    let sequence: u64 = std::str::from_utf8(&read.value).unwrap().parse().unwrap();
    assert!(
        sequence >= ack.sequence && read.revision >= ack.revision,
        "node {id}: {} reads {sequence} at revision {}, older than acknowledged {ack:?}",
        ack.key,
        read.revision
    );
}

/// Every write a test saw acknowledged, each to its own key, in order.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Key → (value, revision acknowledged).
    written: BTreeMap<String, (String, u64)>,
    /// The highest revision acknowledged so far.
    highest_revision: u64,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// How many writes were acknowledged.
    pub fn len(&self) -> usize {
        self.written.len()
    }

    /// The highest revision acknowledged.
    pub fn highest_revision(&self) -> u64 {
        self.highest_revision
    }

    /// Writes `key` = `value` through `client` (see [`put_acknowledged`]);
    /// panics unless it is acknowledged with a revision above every
    /// earlier one (a revision handed out twice is a lost write).
    pub async fn write(&mut self, client: &Client, key: &str, value: &str) -> u64 {
        let outcome = put_acknowledged(client, key, value.as_bytes().to_vec()).await;
        let PutOutcome::Written { revision } = outcome else {
            panic!("a plain put of {key} answered {outcome:?}");
        };
        self.record(key, value, revision);
        revision
    }

    /// Records a write acknowledged elsewhere (a raw HTTP 200).
    pub fn record(&mut self, key: &str, value: &str, revision: u64) {
        assert!(
            revision > self.highest_revision,
            "{key} acknowledged at revision {revision}, not above the {} acknowledged before",
            self.highest_revision
        );
        assert!(
            !self.written.contains_key(key),
            "the ledger writes each key once"
        );
        self.highest_revision = revision;
        self.written
            .insert(key.to_owned(), (value.to_owned(), revision));
    }

    /// Writes `PREFIX/000` .. `PREFIX/COUNT-1` through `client`.
    pub async fn write_many(&mut self, client: &Client, prefix: &str, count: usize) {
        for index in 0..count {
            let key = format!("{prefix}/{index:03}");
            self.write(client, &key, &format!("{prefix} value {index}"))
                .await;
        }
    }

    /// Whether every acknowledged write reads back exactly on `node`
    /// (linearizable), or the first that does not.
    pub async fn check(&self, node: &Client) -> Result<(), String> {
        for (key, (value, revision)) in &self.written {
            let read = node
                .get(key, Consistency::Linearizable)
                .await
                .map_err(|error| format!("get {key}: {error}"))?;
            let Some(read) = read else {
                return Err(format!("acknowledged {key} (revision {revision}) is gone"));
            };
            if read.value != value.as_bytes() || read.revision != *revision {
                return Err(format!(
                    "{key} reads {:?} at revision {}, acknowledged {value:?} at revision {revision}",
                    String::from_utf8_lossy(&read.value),
                    read.revision
                ));
            }
        }
        Ok(())
    }

    /// Waits until every acknowledged write reads back exactly on every
    /// running node of `cluster`; panics with the first difference after
    /// `within`.
    pub async fn assert_everywhere(&self, cluster: &Cluster, within: Duration) {
        for id in cluster.running_ids() {
            let node = super::client(&cluster.url(id), Duration::from_secs(3));
            let node = &node;
            cluster
                .eventually(
                    &format!("node {id} reads every acknowledged write"),
                    within,
                    || async move { self.check(node).await },
                )
                .await;
        }
    }
}

/// `writes` plain writes through `client`, `concurrency` at a time, over a
/// few `load/N` keys: to grow the log (past a snapshot threshold and the
/// log's retention) quickly. Panics if one is not acknowledged.
pub async fn grow_log(client: &Client, writes: usize, concurrency: usize) {
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let client = client.clone();
            tokio::spawn(async move {
                for index in (task..writes).step_by(concurrency) {
                    let key = format!("load/{}", index % 50);
                    client
                        .put(&key, index.to_string(), None)
                        .await
                        .unwrap_or_else(|error| panic!("put {key}: {error}"));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

/// Puts `key` = `value` through `client` until a node acknowledges it;
/// panics on any other error, or after a few attempts.
///
/// A write whose outcome is unknown (a `503` after it was proposed, or a
/// lost connection: on a loaded machine leadership can move mid-write) is
/// sent again: for a test that writes a value to have it, writing it twice
/// is harmless, and the answer is the acknowledged attempt's, which is the
/// key's latest version.
pub async fn put_acknowledged(client: &Client, key: &str, value: Vec<u8>) -> PutOutcome {
    const ATTEMPTS: u32 = 5;
    let mut attempt = 1;
    loop {
        match client.put(key, value.clone(), None).await {
            Ok(outcome) => return outcome,
            Err(error) if attempt < ATTEMPTS && outcome_unknown(&error) => {
                eprintln!("put {key}: {error}; sending it again");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => panic!("put {key} (attempt {attempt}): {error}"),
        }
    }
}

/// Whether a failed write may or may not have been applied: the node
/// answered 503 after proposing it, or the connection failed mid-request.
fn outcome_unknown(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Server { status: 503, .. } | ClientError::ConnectionLost { .. }
    )
}
