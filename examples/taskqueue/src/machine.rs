//! [`TaskQueueMachine`]: the queue's rules plugged into Ordo as a
//! [`StateMachine`]. Each committed [`Command`] first moves the clock to the
//! leader time it carries (expiring claims due by then), then does its
//! operation. A claim's token is the claim's log index.
//!
//! Snapshots hold the whole [`QueueState`]: a version byte, then the state in
//! postcard. The state lives in memory, so serializing it whole is the
//! simple choice for an example; a larger queue would stream it task by
//! task.

use std::io::{self, Read, Write};

use ordo::{Entry, StateMachine};

use crate::command::{Answer, Applied, Command, Op, Outcome, Query};
use crate::state::{PlantedBug, QueueState};

/// The first byte of every snapshot; a snapshot of another version is refused.
const SNAPSHOT_VERSION: u8 = 1;

/// The replicated task queue.
#[derive(Debug, Default)]
pub struct TaskQueueMachine {
    state: QueueState,
}

impl TaskQueueMachine {
    /// An empty queue.
    pub fn new() -> Self {
        TaskQueueMachine::default()
    }

    /// An empty queue with `bug` planted (tests only).
    #[doc(hidden)]
    pub fn with_planted_bug(bug: Option<PlantedBug>) -> Self {
        TaskQueueMachine {
            state: QueueState::with_planted_bug(bug),
        }
    }

    /// Applies one command at log `index`.
    fn apply_one(&mut self, index: ordo::Index, command: Command) -> Outcome {
        self.state.advance_clock(command.now_ms);
        match command.op {
            Op::Enqueue {
                queue,
                payload,
                max_attempts,
            } => Outcome::Enqueued(self.state.enqueue(queue, payload, max_attempts)),
            Op::Claim {
                queue,
                worker,
                visibility_timeout_ms,
            } => Outcome::Claimed(
                self.state
                    .claim(&queue, worker, visibility_timeout_ms, index),
            ),
            Op::Ack { task_id, token } => done_or_refused(self.state.ack(task_id, token)),
            Op::Nack { task_id, token } => done_or_refused(self.state.nack(task_id, token)),
            Op::Tick => Outcome::Ticked,
        }
    }
}

fn done_or_refused(result: Result<(), crate::command::Refusal>) -> Outcome {
    result.map_or_else(Outcome::Refused, |()| Outcome::Done)
}

impl StateMachine for TaskQueueMachine {
    type Command = Command;
    type Response = Applied;
    type Query = Query;
    type Answer = Answer;

    fn apply(&mut self, entries: Vec<Entry<Command>>) -> Vec<Applied> {
        let applied = entries.into_iter().map(|entry| Applied {
            index: entry.index,
            outcome: self.apply_one(entry.index, entry.command),
        });
        applied.collect()
    }

    fn query(&self, query: Query) -> Answer {
        match query {
            Query::Stats(queue) => Answer::Stats(self.state.stats(queue.as_deref())),
            Query::DeadLetters(queue) => Answer::DeadLetters(self.state.dead_letters(&queue)),
            Query::NextDeadline => Answer::NextDeadline(self.state.next_deadline_ms()),
        }
    }

    fn snapshot(&self, out: &mut dyn Write) -> io::Result<()> {
        let bytes = postcard::to_stdvec(&self.state).map_err(io::Error::other)?;
        out.write_all(&[SNAPSHOT_VERSION])?;
        out.write_all(&bytes)
    }

    fn restore(&mut self, input: &mut dyn Read) -> io::Result<()> {
        let mut bytes = Vec::new();
        input.read_to_end(&mut bytes)?;
        let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
        match bytes.split_first() {
            Some((&SNAPSHOT_VERSION, body)) => {
                let restored: QueueState = postcard::from_bytes(body)
                    .map_err(|error| invalid(format!("task queue snapshot: {error}")))?;
                restored.check().map_err(invalid)?;
                self.state.replace_with(restored);
                Ok(())
            }
            Some((version, _)) => Err(invalid(format!("snapshot version {version} unknown"))),
            None => Err(invalid("empty task queue snapshot".into())),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn entry(index: u64, now_ms: u64, op: Op) -> Entry<Command> {
        let command = Command { now_ms, op };
        Entry {
            index,
            term: 1,
            command,
        }
    }

    fn enqueue(payload: &str) -> Op {
        Op::Enqueue {
            queue: "q".into(),
            payload: payload.into(),
            max_attempts: 3,
        }
    }

    fn claim() -> Op {
        Op::Claim {
            queue: "q".into(),
            worker: "w".into(),
            visibility_timeout_ms: 100,
        }
    }

    #[test]
    fn a_claims_token_is_its_log_index_and_its_deadline_the_leaders_time_plus_the_timeout() {
        let mut machine = TaskQueueMachine::new();
        let applied = machine.apply(vec![
            entry(7, 1_000, enqueue("a")),
            entry(8, 1_005, claim()),
        ]);
        let Outcome::Claimed(Some(task)) = &applied[1].outcome else {
            panic!("expected a claim, got {applied:?}");
        };
        assert_eq!((task.token, task.deadline_ms, task.attempt), (8, 1_105, 1));
        assert_eq!(applied[1].index, 8);
    }

    #[test]
    fn a_snapshot_restores_the_same_state_and_a_corrupt_one_is_refused() {
        let mut machine = TaskQueueMachine::new();
        let ops = [enqueue("a"), enqueue("b"), claim()];
        let entries = ops.into_iter().enumerate();
        machine.apply(entries.map(|(i, op)| entry(i as u64 + 1, 50, op)).collect());
        let mut bytes = Vec::new();
        machine.snapshot(&mut bytes).unwrap();

        let mut restored = TaskQueueMachine::new();
        restored.restore(&mut bytes.as_slice()).unwrap();
        assert_eq!(
            restored.query(Query::Stats(None)),
            machine.query(Query::Stats(None))
        );
        assert_eq!(
            restored.query(Query::NextDeadline),
            Answer::NextDeadline(Some(150))
        );

        let mut truncated = &bytes[..bytes.len() - 3];
        assert!(TaskQueueMachine::new().restore(&mut truncated).is_err());
        let mut other_version = vec![9];
        other_version.extend_from_slice(&bytes[1..]);
        assert!(
            TaskQueueMachine::new()
                .restore(&mut other_version.as_slice())
                .is_err()
        );
    }
}
