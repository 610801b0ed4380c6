//! [`TaskQueue`]: the queue's operations on one node. Commands go through
//! the log ([`TaskQueue::submit`]), stamped with this node's clock: only a
//! leader's proposals commit, so the time in the log is a leader's.
//! Questions are answered linearizably ([`RaftNode::read_index`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ordo::{Index, NodeId, RaftError, RaftNode};

use crate::command::{Answer, Applied, ClaimedTask, Command, Op, Outcome, Query, QueueStats};
use crate::machine::TaskQueueMachine;
use crate::state::{ClaimToken, TaskId};

/// Why a queue operation failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum QueueError {
    /// Only the leader takes commands: go to `leader_address`.
    #[error("not the leader (leader: {leader_id:?} at {leader_address:?})")]
    NotLeader {
        /// The leader's id, if known.
        leader_id: Option<NodeId>,
        /// The leader's client address, if known.
        leader_address: Option<String>,
    },
    /// The request breaks a limit; nothing was proposed.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The ack or nack was applied and refused by the rules.
    #[error("refused: {0}")]
    Refused(#[from] crate::command::Refusal),
    /// Ordo failed; see [`RaftError`] for whether the outcome is known.
    #[error(transparent)]
    Raft(RaftError),
}

impl From<RaftError> for QueueError {
    fn from(error: RaftError) -> Self {
        match error {
            RaftError::NotLeader { leader } => QueueError::NotLeader {
                leader_id: leader.as_ref().map(|(id, _)| *id),
                leader_address: leader.map(|(_, address)| address),
            },
            other => QueueError::Raft(other),
        }
    }
}

/// The seed's answer to [`TaskQueue::submit_command`].
#[derive(Clone, Debug)]
pub enum RaftResult {
    /// Committed and applied at this log index.
    Success(Index),
    /// This node does not lead; `leader_id` does, if known.
    NotLeader {
        /// The leader, if known.
        leader_id: Option<NodeId>,
    },
    /// Anything else (see [`RaftError`] for whether it may have been applied).
    Error(RaftError),
}

/// The queue's operations through one node. Cheap to clone.
#[derive(Clone)]
pub struct TaskQueue {
    raft: RaftNode<TaskQueueMachine>,
    max_attempts: u32,
}

impl TaskQueue {
    /// Operations through `raft`, enqueuing tasks with `max_attempts`.
    pub fn new(raft: RaftNode<TaskQueueMachine>, max_attempts: u32) -> Self {
        TaskQueue { raft, max_attempts }
    }

    /// The Ordo node underneath.
    pub fn raft(&self) -> &RaftNode<TaskQueueMachine> {
        &self.raft
    }

    /// Commits `op` and says where, as the seed's `submit_command` does. The
    /// rules' verdict (a refused ack, say) is [`submit`](Self::submit)'s.
    pub async fn submit_command(&self, op: Op) -> RaftResult {
        match self.submit(op).await {
            Ok(applied) => RaftResult::Success(applied.index),
            Err(QueueError::NotLeader { leader_id, .. }) => RaftResult::NotLeader { leader_id },
            Err(QueueError::Raft(error)) => RaftResult::Error(error),
            Err(error) => RaftResult::Error(RaftError::InvalidCommand(error.to_string())),
        }
    }

    /// Commits `op`, stamped with this node's clock, and returns what it did.
    ///
    /// # Errors
    /// [`QueueError::Invalid`] (nothing proposed), [`QueueError::NotLeader`],
    /// or [`QueueError::Raft`].
    pub async fn submit(&self, op: Op) -> Result<Applied, QueueError> {
        op.validate().map_err(QueueError::Invalid)?;
        let command = Command {
            now_ms: wall_clock_ms(),
            op,
        };
        Ok(self.raft.propose(command).await?)
    }

    /// Adds a task at the back of `queue`; returns its id.
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub async fn enqueue(&self, queue: &str, payload: Vec<u8>) -> Result<TaskId, QueueError> {
        let op = Op::Enqueue {
            queue: queue.to_owned(),
            payload,
            max_attempts: self.max_attempts,
        };
        match self.submit(op).await?.outcome {
            Outcome::Enqueued(id) => Ok(id),
            other => unreachable!("an enqueue gave {other:?}"),
        }
    }

    /// Claims the task at the front of `queue` for `worker` until
    /// `visibility_timeout` from now (the leader's clock); `None` if empty.
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub async fn claim(
        &self,
        queue: &str,
        worker: &str,
        visibility_timeout: Duration,
    ) -> Result<Option<ClaimedTask>, QueueError> {
        let op = Op::Claim {
            queue: queue.to_owned(),
            worker: worker.to_owned(),
            visibility_timeout_ms: u64::try_from(visibility_timeout.as_millis())
                .unwrap_or(u64::MAX),
        };
        match self.submit(op).await?.outcome {
            Outcome::Claimed(task) => Ok(task),
            other => unreachable!("a claim gave {other:?}"),
        }
    }

    /// Marks the task done. Safe to retry with the same token.
    ///
    /// # Errors
    /// [`QueueError::Refused`] if `token` no longer holds the task (its
    /// claim expired), else as [`submit`](Self::submit).
    pub async fn ack(&self, task_id: TaskId, token: ClaimToken) -> Result<(), QueueError> {
        let outcome = self.submit(Op::Ack { task_id, token }).await?.outcome;
        done_or_refused(outcome)
    }

    /// Gives the task back to its queue now (or to the dead letters if that
    /// was its last attempt).
    ///
    /// # Errors
    /// As [`ack`](Self::ack).
    pub async fn nack(&self, task_id: TaskId, token: ClaimToken) -> Result<(), QueueError> {
        let outcome = self.submit(Op::Nack { task_id, token }).await?.outcome;
        done_or_refused(outcome)
    }

    /// Counts of `queue`'s tasks (every queue's with `None`), linearizable.
    ///
    /// # Errors
    /// As [`RaftNode::read_index`], with [`QueueError::NotLeader`] when no
    /// leader is known.
    pub async fn stats(&self, queue: Option<&str>) -> Result<QueueStats, QueueError> {
        match self
            .raft
            .read_index(Query::Stats(queue.map(str::to_owned)))
            .await?
        {
            Answer::Stats(stats) => Ok(stats),
            other => unreachable!("a stats query gave {other:?}"),
        }
    }

    /// The ids of `queue`'s dead-lettered tasks, linearizable.
    ///
    /// # Errors
    /// As [`stats`](Self::stats).
    pub async fn dead_letters(&self, queue: &str) -> Result<Vec<TaskId>, QueueError> {
        match self
            .raft
            .read_index(Query::DeadLetters(queue.to_owned()))
            .await?
        {
            Answer::DeadLetters(ids) => Ok(ids),
            other => unreachable!("a dead letters query gave {other:?}"),
        }
    }

    /// True while this node believes it leads.
    pub fn is_leader(&self) -> bool {
        self.raft.is_leader()
    }

    /// The leader this node knows of.
    pub fn leader_id(&self) -> Option<NodeId> {
        self.raft.leader_id()
    }

    /// The node's current term (the seed's `get_term`).
    pub fn term(&self) -> ordo::Term {
        self.raft.soft_state().term
    }
}

fn done_or_refused(outcome: Outcome) -> Result<(), QueueError> {
    match outcome {
        Outcome::Done => Ok(()),
        Outcome::Refused(refusal) => Err(QueueError::Refused(refusal)),
        other => unreachable!("an ack or nack gave {other:?}"),
    }
}

/// This node's wall clock, in milliseconds since the Unix epoch. Wall time
/// (not a monotonic clock) so that a new leader carries on the same timeline;
/// the state's clock never goes back, so a leader whose clock is behind
/// delays expiry by the skew, never advances it.
pub(crate) fn wall_clock_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH);
    since_epoch.map_or(0, |elapsed| {
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    })
}
