//! Recording a client history through etcd's gRPC API, in the terms of
//! `ordo_sim`'s linearizability checker ([`KvModel`](ordo_sim::linearizability::KvModel)).
//!
//! Keys and values are the checker's `u64`s, written as decimal text
//! (`lin/KEY`, `VALUE`). Each client issues, on a node picked at random
//! among those it believes up:
//!
//! - `Put` of a value no other operation writes;
//! - `Get` as a linearizable Range (`serializable: false`);
//! - `CompareAndSet` as a Txn: compare the value with the last one this
//!   client read (or `create_revision == 0` when it read none), put a new
//!   value on success, nothing on failure.
//!
//! How outcomes are recorded (the checker's contract, `kv.rs` in ordo-sim):
//! an answer is `Returned`; any error or timeout on a write is
//! `Indeterminate` (it may have been forwarded, proposed and committed
//! before the connection went), which is always sound; a read that fails
//! is left out, since it changed nothing.
//!
//! [`Reads::Serializable`] plants a lying client (serializable reads
//! recorded as linearizable), to show the check catches one.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ordo_kv::server::etcd::pb::etcdserverpb::{
    self as pb, compare, kv_client::KvClient, request_op,
};
use ordo_sim::linearizability::{KvInput, KvKey, KvOperation, KvOutput, KvValue, Outcome};
use tonic::transport::Channel;

use super::bytes;

/// The keys the clients share: few, so that operations contend.
pub const KEYS: u64 = 3;

/// Longest wait for one answer; past it the operation is indeterminate.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(1);

/// The pause after a failed operation, so a dead node is not hammered.
const BACK_OFF: Duration = Duration::from_millis(50);

/// Where the clients send their operations: every node's channel, and
/// which nodes they still try (the fault driver takes a killed node out,
/// as a client's health check would; a paused one stays in, unknown).
#[derive(Clone)]
pub struct Targets {
    channels: Arc<BTreeMap<u64, Channel>>,
    up: Arc<Mutex<Vec<u64>>>,
}

impl Targets {
    /// Targets over `channels`, all up.
    pub fn new(channels: BTreeMap<u64, Channel>) -> Targets {
        let up = channels.keys().copied().collect();
        Targets {
            channels: Arc::new(channels),
            up: Arc::new(Mutex::new(up)),
        }
    }

    /// Clients stop picking node `id` (it was killed).
    pub fn take_out(&self, id: u64) {
        self.up.lock().unwrap().retain(|&up| up != id);
    }

    fn pick(&self, rng: &mut fastrand::Rng) -> (u64, Channel) {
        let up = self.up.lock().unwrap().clone();
        assert!(!up.is_empty(), "no node left to send to");
        let id = up[rng.usize(..up.len())];
        (id, self.channels[&id].clone())
    }
}

/// One operation as recorded, and the node it was sent to.
pub struct Recorded {
    /// The operation, in the checker's terms.
    pub operation: KvOperation,
    /// The node that was asked.
    pub node: u64,
}

/// What one client does until `stop`: its operations in order.
pub async fn run_client(
    client_id: u64,
    targets: Targets,
    start: Instant,
    stop: Arc<AtomicBool>,
) -> Vec<Recorded> {
    let mut rng = fastrand::Rng::with_seed(client_id);
    let mut last_read: BTreeMap<KvKey, Option<KvValue>> = BTreeMap::new();
    let mut recorded = Vec::new();
    let mut next_value = client_id * 1_000_000;
    while !stop.load(Ordering::Relaxed) {
        let key = rng.u64(..KEYS);
        next_value += 1;
        let input = match rng.u8(..10) {
            0..4 => KvInput::Get { key },
            4..7 => KvInput::Put {
                key,
                value: next_value,
            },
            _ => KvInput::CompareAndSet {
                key,
                expected: last_read.get(&key).copied().flatten(),
                new: next_value,
            },
        };
        let (node, channel) = targets.pick(&mut rng);
        let operation = match record(client_id, channel, input, Reads::Linearizable, start).await {
            Some(operation) => operation,
            None => {
                tokio::time::sleep(BACK_OFF).await;
                continue;
            }
        };
        match operation.output() {
            Some(KvOutput::Get { value }) => {
                last_read.insert(key, *value);
            }
            Some(_) => {}
            None => tokio::time::sleep(BACK_OFF).await,
        }
        recorded.push(Recorded { operation, node });
    }
    recorded
}

/// How a client's `Get` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    /// A linearizable Range, as the client claims.
    Linearizable,
    /// A serializable Range (the node's own state, however stale), recorded
    /// as if it were linearizable: the lie a planted client tells.
    Serializable,
}

/// Sends `input` on `channel`, bounded by the operation timeout, and records
/// it: returned, indeterminate (a write without an answer), or `None` (a
/// read without an answer, which changed nothing).
pub async fn record(
    client_id: u64,
    channel: Channel,
    input: KvInput,
    reads: Reads,
    start: Instant,
) -> Option<KvOperation> {
    let call_ns = elapsed_ns(start);
    let asked = ask(KvClient::new(channel), input, reads);
    match tokio::time::timeout(OPERATION_TIMEOUT, asked).await {
        Ok(Ok(output)) => Some(KvOperation::returned(
            client_id,
            input,
            call_ns,
            elapsed_ns(start),
            output,
        )),
        _ if matches!(input, KvInput::Get { .. }) => None,
        _ => Some(KvOperation::indeterminate(client_id, input, call_ns)),
    }
}

/// Nanoseconds since `start`: the history's clock.
pub fn elapsed_ns(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap()
}

fn key_bytes(key: KvKey) -> bytes::Bytes {
    bytes(&format!("lin/{key}"))
}

/// Sends `input` as its etcd request; the answer in the checker's terms.
async fn ask(mut kv: KvClient<Channel>, input: KvInput, reads: Reads) -> Result<KvOutput, String> {
    let failed = |status: tonic::Status| status.to_string();
    match input {
        KvInput::Get { key } => {
            let request = pb::RangeRequest {
                key: key_bytes(key),
                serializable: reads == Reads::Serializable,
                ..Default::default()
            };
            let response = kv.range(request).await.map_err(failed)?.into_inner();
            let value = match &response.kvs[..] {
                [] => None,
                [found] => Some(parse_value(&found.value)?),
                more => return Err(format!("{} keys for one", more.len())),
            };
            Ok(KvOutput::Get { value })
        }
        KvInput::Put { key, value } => {
            let request = pb::PutRequest {
                key: key_bytes(key),
                value: bytes(&value.to_string()),
                ..Default::default()
            };
            kv.put(request).await.map_err(failed)?;
            Ok(KvOutput::Put)
        }
        KvInput::CompareAndSet { key, expected, new } => {
            let response = kv
                .txn(compare_and_set(key, expected, new))
                .await
                .map_err(failed)?
                .into_inner();
            Ok(KvOutput::CompareAndSet {
                swapped: response.succeeded,
            })
        }
        KvInput::Delete { .. } => unreachable!("the clients never delete"),
    }
}

fn parse_value(value: &[u8]) -> Result<KvValue, String> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| format!("a value nobody wrote: {value:?}"))
}

/// The Txn a client sends for `CompareAndSet`: `expected: None` compares
/// the create revision with 0 (absent), as etcd's recipes do.
fn compare_and_set(key: KvKey, expected: Option<KvValue>, new: KvValue) -> pb::TxnRequest {
    let (target, target_union) = match expected {
        Some(value) => (
            compare::CompareTarget::Value,
            compare::TargetUnion::Value(bytes(&value.to_string())),
        ),
        None => (
            compare::CompareTarget::Create,
            compare::TargetUnion::CreateRevision(0),
        ),
    };
    let put = pb::PutRequest {
        key: key_bytes(key),
        value: bytes(&new.to_string()),
        ..Default::default()
    };
    pb::TxnRequest {
        compare: vec![pb::Compare {
            result: compare::CompareResult::Equal as i32,
            target: target as i32,
            key: key_bytes(key),
            target_union: Some(target_union),
            ..Default::default()
        }],
        success: vec![pb::RequestOp {
            request: Some(request_op::Request::RequestPut(put)),
        }],
        failure: vec![],
    }
}

/// A write that returned having written `value` to `key`.
#[derive(Clone, Copy)]
struct Write {
    key: KvKey,
    value: KvValue,
    call_ns: u64,
    return_ns: u64,
}

/// The write `operation` certainly made, if it returned having made one.
fn written(operation: &KvOperation) -> Option<Write> {
    let Outcome::Returned { return_ns, output } = operation.outcome else {
        return None;
    };
    let call_ns = operation.call_ns;
    match (operation.input, output) {
        (KvInput::Put { key, value }, KvOutput::Put)
        | (
            KvInput::CompareAndSet {
                key, new: value, ..
            },
            KvOutput::CompareAndSet { swapped: true },
        ) => Some(Write {
            key,
            value,
            call_ns,
            return_ns,
        }),
        _ => None,
    }
}

/// The planted violation: `history` with one read edited to return a stale
/// value, and that read's position. The read is one called after two
/// writes to its key returned one after the other (the first before the
/// second was called); it is made to return the first write's value, which
/// nothing else writes. No correct store can answer that, so the checker
/// must refuse the edited history. `None` if the history has no such read.
pub fn with_a_stale_read(history: &[KvOperation]) -> Option<(Vec<KvOperation>, usize)> {
    let writes: Vec<Write> = history.iter().filter_map(written).collect();
    for (index, read) in history.iter().enumerate() {
        let (KvInput::Get { key }, Some(_), Some(return_ns)) =
            (read.input, read.output(), read.return_ns())
        else {
            continue;
        };
        let done_before_the_read =
            |write: &&Write| write.key == key && write.return_ns < read.call_ns;
        let stale = writes.iter().filter(done_before_the_read).find(|first| {
            writes
                .iter()
                .filter(done_before_the_read)
                .any(|second| first.return_ns < second.call_ns && first.value != second.value)
        });
        if let Some(first) = stale {
            let mut edited = history.to_vec();
            edited[index].outcome = Outcome::Returned {
                return_ns,
                output: KvOutput::Get {
                    value: Some(first.value),
                },
            };
            return Some((edited, index));
        }
    }
    None
}
