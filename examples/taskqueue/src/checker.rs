//! [`History`]: what clients saw, recorded while a workload runs, and the
//! check of the queue's contract against it:
//!
//! - every task is acked exactly once (a task seen enqueued or delivered
//!   and never acked is *lost*);
//! - every payload the producer meant to enqueue is acked;
//! - nothing acked is delivered again: a claim *sent* after an ack of its
//!   task was *confirmed* must not return that task;
//! - a delivery carries the payload its task was enqueued with.
//!
//! Delivering a task again after its claim expired (or was nacked) is
//! allowed: at-least-once delivery. Such deliveries are counted.
//!
//! Time here is logical: one counter, bumped at every record, so "sent
//! after confirmed" means after in real time for the recording process.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::command::ClaimedTask;
use crate::state::{ClaimToken, TaskId};

/// One thing a client saw.
#[derive(Clone, Debug)]
enum Record {
    Enqueued {
        task: TaskId,
        payload: Vec<u8>,
    },
    Delivered {
        task: TaskId,
        payload: Vec<u8>,
        claim_sent_at: u64,
    },
    Acked {
        task: TaskId,
        confirmed_at: u64,
    },
}

/// A broken promise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Seen enqueued or delivered, never acked.
    Lost(TaskId),
    /// Acked by more than one claim.
    AckedTwice {
        /// The task.
        task: TaskId,
        /// Successful acks.
        acks: usize,
    },
    /// Returned by a claim sent after its ack was confirmed.
    DeliveredAfterAck(TaskId),
    /// Delivered with bytes it was not enqueued with.
    WrongPayload(TaskId),
    /// A payload the producer meant to enqueue that no acked task carries.
    PayloadNeverAcked(String),
}

/// The check's verdict.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Distinct tasks seen.
    pub tasks: usize,
    /// Claims that returned a task.
    pub deliveries: usize,
    /// Deliveries of a task already delivered before (after an expiry or nack).
    pub duplicate_deliveries: usize,
    /// Successful acks.
    pub acks: usize,
    /// Everything wrong; empty when the contract held.
    pub violations: Vec<Violation>,
}

/// What clients saw, shared by every client task of a workload.
#[derive(Debug, Default)]
pub struct History {
    clock: AtomicU64,
    records: Mutex<Vec<Record>>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        History::default()
    }

    /// Now, in the history's logical time: call it before sending a claim.
    pub fn now(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    /// A confirmed enqueue.
    pub fn enqueued(&self, task: TaskId, payload: Vec<u8>) {
        self.record(Record::Enqueued { task, payload });
    }

    /// A claim sent at `claim_sent_at` returned `task`.
    pub fn delivered(&self, task: &ClaimedTask, claim_sent_at: u64) {
        self.record(Record::Delivered {
            task: task.id,
            payload: task.payload.clone(),
            claim_sent_at,
        });
    }

    /// An ack of `task` was confirmed (now).
    pub fn acked(&self, task: TaskId, _token: ClaimToken) {
        let confirmed_at = self.now();
        self.record(Record::Acked { task, confirmed_at });
    }

    /// Successful acks so far.
    pub fn ack_count(&self) -> usize {
        let records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        records
            .iter()
            .filter(|record| matches!(record, Record::Acked { .. }))
            .count()
    }

    fn record(&self, record: Record) {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        records.push(record);
    }

    /// Checks the contract; `intended` are the payloads the producer meant
    /// to enqueue.
    pub fn check(&self, intended: impl IntoIterator<Item = Vec<u8>>) -> Report {
        let records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let mut payloads: BTreeMap<TaskId, &[u8]> = BTreeMap::new();
        let mut acks: BTreeMap<TaskId, Vec<u64>> = BTreeMap::new();
        let mut report = Report::default();
        for record in records.iter() {
            match record {
                Record::Enqueued { task, payload } => {
                    payloads.insert(*task, payload);
                }
                Record::Acked { task, confirmed_at } => {
                    acks.entry(*task).or_default().push(*confirmed_at);
                }
                Record::Delivered { .. } => {}
            }
        }
        let mut delivered = BTreeSet::new();
        let mut violations = BTreeSet::new();
        for record in records.iter() {
            let Record::Delivered {
                task,
                payload,
                claim_sent_at,
            } = record
            else {
                continue;
            };
            report.deliveries += 1;
            if !delivered.insert(*task) {
                report.duplicate_deliveries += 1;
            }
            let first_ack = acks.get(task).and_then(|times| times.iter().min());
            if first_ack.is_some_and(|acked_at| claim_sent_at > acked_at) {
                violations.insert(ViolationKey::DeliveredAfterAck(*task));
            }
            if *payloads.entry(*task).or_insert(payload.as_slice()) != payload.as_slice() {
                violations.insert(ViolationKey::WrongPayload(*task));
            }
        }
        for &task in payloads.keys() {
            match acks.get(&task).map_or(0, Vec::len) {
                0 => violations.insert(ViolationKey::Lost(task)),
                1 => false,
                many => violations.insert(ViolationKey::AckedTwice(task, many)),
            };
        }
        let acked_payloads: BTreeSet<&[u8]> = acks
            .keys()
            .filter_map(|task| payloads.get(task).copied())
            .collect();
        for payload in intended {
            if !acked_payloads.contains(payload.as_slice()) {
                let payload = String::from_utf8_lossy(&payload).into_owned();
                violations.insert(ViolationKey::PayloadNeverAcked(payload));
            }
        }
        report.tasks = payloads.len();
        report.acks = acks.values().map(Vec::len).sum();
        report.violations = violations
            .into_iter()
            .map(ViolationKey::into_violation)
            .collect();
        report
    }
}

/// [`Violation`] in a sortable shape, so a report lists each once, in order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ViolationKey {
    Lost(TaskId),
    AckedTwice(TaskId, usize),
    DeliveredAfterAck(TaskId),
    WrongPayload(TaskId),
    PayloadNeverAcked(String),
}

impl ViolationKey {
    fn into_violation(self) -> Violation {
        match self {
            ViolationKey::Lost(task) => Violation::Lost(task),
            ViolationKey::AckedTwice(task, acks) => Violation::AckedTwice { task, acks },
            ViolationKey::DeliveredAfterAck(task) => Violation::DeliveredAfterAck(task),
            ViolationKey::WrongPayload(task) => Violation::WrongPayload(task),
            ViolationKey::PayloadNeverAcked(payload) => Violation::PayloadNeverAcked(payload),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn claimed(id: TaskId, payload: &str) -> ClaimedTask {
        ClaimedTask {
            id,
            queue: "q".into(),
            payload: payload.into(),
            token: id * 10,
            attempt: 1,
            deadline_ms: 0,
        }
    }

    #[test]
    fn a_clean_history_passes_and_a_redelivery_after_expiry_is_only_counted() {
        let history = History::new();
        history.enqueued(1, b"a".to_vec());
        let sent = history.now();
        history.delivered(&claimed(1, "a"), sent);
        let sent = history.now(); // the first claim expired: delivered again
        history.delivered(&claimed(1, "a"), sent);
        history.acked(1, 10);
        let report = history.check([b"a".to_vec()]);
        assert_eq!(report.violations, vec![]);
        assert_eq!((report.deliveries, report.duplicate_deliveries), (2, 1));
    }

    #[test]
    fn each_broken_promise_is_reported() {
        let history = History::new();
        history.enqueued(1, b"lost".to_vec());
        history.enqueued(2, b"twice".to_vec());
        history.acked(2, 20);
        history.acked(2, 21);
        history.enqueued(3, b"again".to_vec());
        history.acked(3, 30);
        let sent = history.now();
        history.delivered(&claimed(3, "again"), sent);
        let sent = history.now();
        history.delivered(&claimed(4, "swapped"), sent);
        history.enqueued(4, b"original".to_vec());
        history.acked(4, 40);

        let report = history.check([b"never".to_vec()]);
        assert_eq!(
            report.violations,
            vec![
                Violation::Lost(1),
                Violation::AckedTwice { task: 2, acks: 2 },
                Violation::DeliveredAfterAck(3),
                Violation::WrongPayload(4),
                Violation::PayloadNeverAcked("never".into()),
            ]
        );
    }

    #[test]
    fn a_delivery_whose_claim_was_sent_before_the_ack_was_confirmed_is_allowed() {
        let history = History::new();
        history.enqueued(1, b"a".to_vec());
        let sent = history.now();
        history.acked(1, 10);
        history.delivered(&claimed(1, "a"), sent);
        assert_eq!(history.check([]).violations, vec![]);
    }
}
