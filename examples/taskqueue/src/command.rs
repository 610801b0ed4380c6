//! What goes through the log (commands), what comes back (outcomes), and
//! what can be asked without the log (queries).
//!
//! Every command carries the proposing node's clock ([`Command::now_ms`]).
//! Only a leader's proposals commit, so the time in the log is always a
//! leader's: claim deadlines and expiry are decided by it, and followers
//! never consult their own clocks.

use serde::{Deserialize, Serialize};

use crate::state::{ClaimToken, TaskId};

/// Longest queue name, in bytes.
pub const QUEUE_NAME_BYTES_MAX: usize = 256;
/// Longest worker name, in bytes.
pub const WORKER_NAME_BYTES_MAX: usize = 256;
/// Largest payload, in bytes.
pub const PAYLOAD_BYTES_MAX: usize = 64 * 1024;

/// One entry of the queue's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The leader's wall clock when it proposed, in milliseconds since the
    /// Unix epoch. The state's clock moves to it (never back) before `op`.
    pub now_ms: u64,
    /// What to do.
    pub op: Op,
}

/// The queue operations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Add a task at the back of `queue`.
    Enqueue {
        /// The queue.
        queue: String,
        /// The task's bytes.
        payload: Vec<u8>,
        /// Claims allowed before it is dead-lettered (the proposing node's
        /// setting, fixed here so every replica agrees).
        max_attempts: u32,
    },
    /// Take the task at the front of `queue` until the clock passes
    /// `now_ms + visibility_timeout_ms`.
    Claim {
        /// The queue.
        queue: String,
        /// Who takes it.
        worker: String,
        /// How long the claim lasts, in milliseconds.
        visibility_timeout_ms: u64,
    },
    /// The task is done.
    Ack {
        /// The task.
        task_id: TaskId,
        /// The token its claim returned.
        token: ClaimToken,
    },
    /// Give the task back now rather than at its claim's expiry.
    Nack {
        /// The task.
        task_id: TaskId,
        /// The token its claim returned.
        token: ClaimToken,
    },
    /// Only moves the clock: the leader's way to expire claims when nothing
    /// else is written.
    Tick,
}

impl Op {
    /// Checks the limits on names and payloads, before anything is proposed.
    ///
    /// # Errors
    /// Says which limit is exceeded.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = |name: &str, max| !name.is_empty() && name.len() <= max;
        match self {
            Op::Enqueue { queue, payload, .. } => {
                if !name_ok(queue, QUEUE_NAME_BYTES_MAX) {
                    return Err(format!(
                        "a queue name has 1 to {QUEUE_NAME_BYTES_MAX} bytes"
                    ));
                }
                if payload.len() > PAYLOAD_BYTES_MAX {
                    return Err(format!("a payload has at most {PAYLOAD_BYTES_MAX} bytes"));
                }
            }
            Op::Claim { queue, worker, .. } => {
                if !name_ok(queue, QUEUE_NAME_BYTES_MAX) {
                    return Err(format!(
                        "a queue name has 1 to {QUEUE_NAME_BYTES_MAX} bytes"
                    ));
                }
                if !name_ok(worker, WORKER_NAME_BYTES_MAX) {
                    return Err(format!(
                        "a worker name has 1 to {WORKER_NAME_BYTES_MAX} bytes"
                    ));
                }
            }
            Op::Ack { .. } | Op::Nack { .. } | Op::Tick => {}
        }
        Ok(())
    }
}

/// A claimed task, as the worker receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedTask {
    /// The task.
    pub id: TaskId,
    /// Its queue.
    pub queue: String,
    /// Its bytes.
    pub payload: Vec<u8>,
    /// What `ack` and `nack` need.
    pub token: ClaimToken,
    /// 1 for the first claim, 2 after one expiry or nack, and so on.
    pub attempt: u32,
    /// When the claim expires, in the leader's milliseconds since the epoch.
    pub deadline_ms: u64,
}

/// Why an ack or nack did nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// No task has this id.
    #[error("no such task")]
    UnknownTask,
    /// The task is in its queue: the claim expired (or was nacked).
    #[error("the task is not claimed (the claim expired)")]
    NotClaimed,
    /// Someone else claims the task now: this claim expired.
    #[error("the task is claimed under another token (this claim expired)")]
    TokenMismatch,
    /// The task was acked under another claim.
    #[error("the task was acked by another claim")]
    AlreadyAcked,
    /// The task ran out of attempts.
    #[error("the task was dead-lettered")]
    DeadLettered,
}

/// What a command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The new task's id.
    Enqueued(TaskId),
    /// The task claimed, or `None` when the queue was empty.
    Claimed(Option<ClaimedTask>),
    /// The ack or nack was done.
    Done,
    /// The ack or nack was refused.
    Refused(Refusal),
    /// The clock moved.
    Ticked,
}

/// A command's outcome and where it sits in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The command's log index.
    pub index: ordo::Index,
    /// What it did.
    pub outcome: Outcome,
}

/// Counts of tasks by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Waiting to be claimed.
    pub ready: u64,
    /// Claimed and not yet acked, nacked or expired.
    pub claimed: u64,
    /// Done.
    pub acked: u64,
    /// Out of attempts.
    pub dead_lettered: u64,
    /// The state's clock (the latest leader time in the log).
    pub clock_ms: u64,
}

/// Questions answered from a node's applied state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// [`QueueStats`] of one queue, or of all with `None`.
    Stats(Option<String>),
    /// The ids of a queue's dead letters.
    DeadLetters(String),
    /// The earliest claim deadline.
    NextDeadline,
}

/// Answers to [`Query`]s, in the same order of variants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Counts.
    Stats(QueueStats),
    /// Dead-lettered task ids, oldest first.
    DeadLetters(Vec<TaskId>),
    /// The earliest claim deadline, if any.
    NextDeadline(Option<u64>),
}
