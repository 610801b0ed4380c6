//! The queue's rules, as a pure value: commands in, outcomes out. No clock,
//! no randomness, no I/O: every replica applies the same commands to the
//! same state and gets the same result.
//!
//! Invariants (checked by [`QueueState::check`], after every restore and in
//! the tests):
//! - every task is in exactly one place: `Ready` and listed once in its
//!   queue's `ready` list; `Claimed` and listed once in `deadlines`; or
//!   `Acked` / `DeadLettered` and listed nowhere else;
//! - a claim token is the log index of the claim that made it, so no two
//!   claims ever share one;
//! - time never goes backwards: `clock_ms` is the largest time any command
//!   carried, and every command first expires the claims due by then.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::command::{ClaimedTask, QueueStats, Refusal};

/// A task's id: 1, 2, 3… in the order tasks were enqueued.
pub type TaskId = u64;

/// Proves who holds a claim: the log index of the claim command.
pub type ClaimToken = u64;

/// One task and where it is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The queue it belongs to.
    pub queue: String,
    /// What the producer enqueued (emptied once acked: nobody reads it again).
    pub payload: Vec<u8>,
    /// Claims so far.
    pub attempts: u32,
    /// Claims allowed before the task is dead-lettered.
    pub max_attempts: u32,
    /// Where it is.
    pub state: TaskState,
}

/// Where a task is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskState {
    /// Waiting in its queue's ready list.
    Ready,
    /// Held by `worker` until `deadline_ms` (the leader's clock).
    Claimed {
        /// Who claimed it (for operators; the token is what counts).
        worker: String,
        /// The claim's token.
        token: ClaimToken,
        /// When the claim expires, in the leader's milliseconds.
        deadline_ms: u64,
    },
    /// Done. The token is kept so that a retried ack is answered the same.
    Acked {
        /// The token of the claim that acked it.
        token: ClaimToken,
    },
    /// Failed `max_attempts` times; never delivered again.
    DeadLettered,
}

/// A deliberate bug, for proving that the workload checker catches it.
/// Not for use outside tests.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// A nack marks the task ready but never puts it back in its queue.
    LoseNack,
    /// An ack answers success but puts the task back in its queue.
    RedeliverAcked,
}

/// The whole replicated state of every queue.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct QueueState {
    tasks: BTreeMap<TaskId, Task>,
    /// Per queue, the ready tasks in delivery order (front first).
    ready: BTreeMap<String, VecDeque<TaskId>>,
    /// Every claimed task, by when its claim expires.
    deadlines: BTreeSet<(u64, TaskId)>,
    last_task_id: TaskId,
    clock_ms: u64,
    #[serde(skip)]
    planted_bug: Option<PlantedBug>,
}

impl QueueState {
    /// An empty state.
    pub fn new() -> Self {
        QueueState::default()
    }

    /// An empty state with `bug` planted (tests only).
    #[doc(hidden)]
    pub fn with_planted_bug(bug: Option<PlantedBug>) -> Self {
        QueueState {
            planted_bug: bug,
            ..QueueState::default()
        }
    }

    /// Replaces everything but the planted bug with `restored`'s state.
    pub(crate) fn replace_with(&mut self, restored: QueueState) {
        let bug = self.planted_bug;
        *self = restored;
        self.planted_bug = bug;
    }

    /// The latest time any command carried.
    pub fn clock_ms(&self) -> u64 {
        self.clock_ms
    }

    /// A task, if it was ever enqueued.
    pub fn task(&self, id: TaskId) -> Option<&Task> {
        self.tasks.get(&id)
    }

    /// The earliest claim deadline, if anything is claimed: the leader
    /// proposes a tick once its clock passes it.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.deadlines.first().map(|&(deadline_ms, _)| deadline_ms)
    }

    /// Moves the clock to `now_ms` (never back) and returns every claim due
    /// by then to its queue, or to the dead letters.
    pub fn advance_clock(&mut self, now_ms: u64) {
        self.clock_ms = self.clock_ms.max(now_ms);
        while let Some(&(deadline_ms, id)) = self.deadlines.first() {
            if deadline_ms > self.clock_ms {
                break;
            }
            self.deadlines.pop_first();
            self.release(id);
        }
    }

    /// Adds a task at the back of `queue`.
    pub fn enqueue(&mut self, queue: String, payload: Vec<u8>, max_attempts: u32) -> TaskId {
        self.last_task_id += 1;
        let id = self.last_task_id;
        self.ready.entry(queue.clone()).or_default().push_back(id);
        let task = Task {
            queue,
            payload,
            attempts: 0,
            max_attempts: max_attempts.max(1),
            state: TaskState::Ready,
        };
        self.tasks.insert(id, task);
        id
    }

    /// Hands the task at the front of `queue` to `worker` until
    /// `visibility_timeout_ms` past the clock, under `token`.
    pub fn claim(
        &mut self,
        queue: &str,
        worker: String,
        visibility_timeout_ms: u64,
        token: ClaimToken,
    ) -> Option<ClaimedTask> {
        let id = self.ready.get_mut(queue)?.pop_front()?;
        let deadline_ms = self.clock_ms.saturating_add(visibility_timeout_ms);
        let task = self.tasks.get_mut(&id);
        let task = task.unwrap_or_else(|| panic!("ready task {id} is not in the task table"));
        assert_eq!(task.state, TaskState::Ready, "task {id} listed as ready");
        task.attempts += 1;
        task.state = TaskState::Claimed {
            worker,
            token,
            deadline_ms,
        };
        self.deadlines.insert((deadline_ms, id));
        Some(ClaimedTask {
            id,
            queue: queue.to_owned(),
            payload: task.payload.clone(),
            token,
            attempt: task.attempts,
            deadline_ms,
        })
    }

    /// Marks a claimed task done, if `token` is its current claim's.
    /// Acking again with the same token succeeds again (a retried ack).
    pub fn ack(&mut self, id: TaskId, token: ClaimToken) -> Result<(), Refusal> {
        let deadline_ms = self.check_claim(id, token)?;
        let Some(deadline_ms) = deadline_ms else {
            return Ok(()); // already acked with this token
        };
        self.deadlines.remove(&(deadline_ms, id));
        let task = self.task_mut(id);
        task.payload = Vec::new();
        task.state = TaskState::Acked { token };
        if self.planted_bug == Some(PlantedBug::RedeliverAcked) {
            let task = self.task_mut(id);
            task.state = TaskState::Ready;
            let queue = task.queue.clone();
            self.ready.entry(queue).or_default().push_back(id);
        }
        Ok(())
    }

    /// Gives a claimed task back before its claim expires: to the back of
    /// its queue, or to the dead letters if it used its attempts.
    pub fn nack(&mut self, id: TaskId, token: ClaimToken) -> Result<(), Refusal> {
        match self.check_claim(id, token)? {
            Some(deadline_ms) => {
                self.deadlines.remove(&(deadline_ms, id));
                self.release(id);
                if self.planted_bug == Some(PlantedBug::LoseNack) {
                    self.lose_requeued(id);
                }
                Ok(())
            }
            None => Err(Refusal::AlreadyAcked),
        }
    }

    /// `Ok(Some(deadline))` if `token` holds `id`'s claim; `Ok(None)` if the
    /// task was acked under `token`; why not otherwise.
    fn check_claim(&self, id: TaskId, token: ClaimToken) -> Result<Option<u64>, Refusal> {
        let task = self.tasks.get(&id).ok_or(Refusal::UnknownTask)?;
        match task.state {
            TaskState::Claimed {
                token: held,
                deadline_ms,
                ..
            } if held == token => Ok(Some(deadline_ms)),
            TaskState::Claimed { .. } => Err(Refusal::TokenMismatch),
            TaskState::Acked { token: acked } if acked == token => Ok(None),
            TaskState::Acked { .. } => Err(Refusal::AlreadyAcked),
            TaskState::Ready => Err(Refusal::NotClaimed),
            TaskState::DeadLettered => Err(Refusal::DeadLettered),
        }
    }

    /// Ends a claim (already removed from `deadlines`): back to the queue,
    /// or dead-lettered once out of attempts.
    fn release(&mut self, id: TaskId) {
        let task = self.task_mut(id);
        assert!(
            matches!(task.state, TaskState::Claimed { .. }),
            "task {id} released while not claimed"
        );
        if task.attempts >= task.max_attempts {
            task.state = TaskState::DeadLettered;
            return;
        }
        task.state = TaskState::Ready;
        let queue = task.queue.clone();
        self.ready.entry(queue).or_default().push_back(id);
    }

    /// The planted [`PlantedBug::LoseNack`]: forgets that `id` was just
    /// put back at the end of its queue.
    fn lose_requeued(&mut self, id: TaskId) {
        let task = self.task_mut(id);
        if task.state == TaskState::Ready {
            let queue = task.queue.clone();
            let last = self.ready.get_mut(&queue).and_then(VecDeque::pop_back);
            assert_eq!(last, Some(id), "a requeued task is last in its queue");
        }
    }

    fn task_mut(&mut self, id: TaskId) -> &mut Task {
        self.tasks
            .get_mut(&id)
            .unwrap_or_else(|| panic!("task {id} is not in the task table"))
    }

    /// Counts of `queue`'s tasks (of every queue's with `None`).
    pub fn stats(&self, queue: Option<&str>) -> QueueStats {
        let mut stats = QueueStats {
            clock_ms: self.clock_ms,
            ..QueueStats::default()
        };
        let tasks = self.tasks.values();
        for task in tasks.filter(|task| queue.is_none_or(|queue| task.queue == queue)) {
            match task.state {
                TaskState::Ready => stats.ready += 1,
                TaskState::Claimed { .. } => stats.claimed += 1,
                TaskState::Acked { .. } => stats.acked += 1,
                TaskState::DeadLettered => stats.dead_lettered += 1,
            }
        }
        stats
    }

    /// The ids of `queue`'s dead-lettered tasks, oldest first.
    pub fn dead_letters(&self, queue: &str) -> Vec<TaskId> {
        let tasks = self.tasks.iter();
        tasks
            .filter(|(_, task)| task.queue == queue && task.state == TaskState::DeadLettered)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Checks the module's invariants; says which one is broken.
    pub fn check(&self) -> Result<(), String> {
        let mut listed = BTreeSet::new();
        for (queue, ids) in &self.ready {
            for &id in ids {
                let task = self.tasks.get(&id).ok_or(format!("ready {id} unknown"))?;
                if task.state != TaskState::Ready || &task.queue != queue || !listed.insert(id) {
                    return Err(format!("task {id} is listed ready in {queue:?} wrongly"));
                }
            }
        }
        for &(deadline_ms, id) in &self.deadlines {
            let task = self.tasks.get(&id).ok_or(format!("claimed {id} unknown"))?;
            let claimed_until = match task.state {
                TaskState::Claimed { deadline_ms, .. } => Some(deadline_ms),
                _ => None,
            };
            if claimed_until != Some(deadline_ms) || !listed.insert(id) {
                return Err(format!("task {id} is listed claimed wrongly"));
            }
        }
        for (&id, task) in &self.tasks {
            let active = matches!(task.state, TaskState::Ready | TaskState::Claimed { .. });
            if active != listed.contains(&id) || id > self.last_task_id {
                return Err(format!("task {id} ({:?}) is not listed once", task.state));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
