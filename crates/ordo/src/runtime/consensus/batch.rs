//! Proposal batching: every proposal taken in one round becomes one core
//! append, its commands encoded into one shared buffer (see the module docs
//! of `consensus` for when a round first yields to gather more).

use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use ordo_core::ProposeError;

use crate::runtime::apply::ApplyInput;
use crate::runtime::consensus::Consensus;
use crate::runtime::envelope;
use crate::runtime::error::RaftError;
use crate::runtime::shared::Reply;
use crate::runtime::state_machine::StateMachine;

/// Proposals gathered in one round, to become one core append.
pub(super) struct ProposalBatch<S: StateMachine> {
    commands: Vec<S::Command>,
    replies: Vec<Reply<S::Response>>,
    /// Encoded bytes per command of the last batch, to size the next buffer.
    bytes_per_command: usize,
    /// Proposals in the last batch: more than one means callers are
    /// proposing concurrently (see [`gather`]).
    pub(super) last_count: usize,
}

impl<S: StateMachine> ProposalBatch<S> {
    pub(super) fn new() -> Self {
        ProposalBatch {
            commands: Vec::new(),
            replies: Vec::new(),
            bytes_per_command: 16,
            last_count: 0,
        }
    }
}

impl<S: StateMachine> Consensus<S> {
    /// Proposes what is queued now, in core appends of at most
    /// [`RaftConfig::max_proposals_per_batch`](crate::RaftConfig::max_proposals_per_batch). Proposals that arrive
    /// meanwhile wait for the next round (they wake it): taking them here
    /// would make a core append, and a message per follower, of the few
    /// that trickled in while the last was proposed. At most
    /// [`RaftConfig::max_pending_proposals`](crate::RaftConfig::max_pending_proposals) per round: refused proposals
    /// are answered at once and may come straight back.
    pub(super) fn take_proposals(&mut self, batch: &mut ProposalBatch<S>) -> Result<(), RaftError> {
        let mut budget = self.config.max_pending_proposals;
        while budget > 0 {
            let max = self.config.max_proposals_per_batch.min(budget);
            let taken = self
                .proposals
                .take(&mut batch.commands, &mut batch.replies, max);
            budget -= taken;
            self.propose(batch)?;
            if taken < max {
                break; // the queue was emptied
            }
        }
        Ok(())
    }

    /// Turns the gathered proposals into one core append.
    pub(super) fn propose(&mut self, batch: &mut ProposalBatch<S>) -> Result<(), RaftError> {
        if batch.commands.is_empty() {
            return Ok(());
        }
        batch.last_count = batch.commands.len();
        // The replies leave with the batch; the next one is likely as large.
        let replies = std::mem::replace(&mut batch.replies, Vec::with_capacity(batch.last_count));
        if self.overloaded() {
            batch.commands.clear();
            return answer_all(replies, &RaftError::Busy { reason: "backlog" });
        }
        let (encoded, replies) = encode(batch, replies);
        if encoded.is_empty() {
            return Ok(());
        }
        let refusal = match self.raft.propose(encoded) {
            Ok(proposal) => {
                let input = ApplyInput::Register {
                    first_index: proposal.first_index,
                    term: proposal.term,
                    deadline: deadline_after(self.config.propose_timeout),
                    replies,
                };
                return self.to_apply(input);
            }
            Err(ProposeError::NotLeader { leader }) => self.not_leader(leader),
            Err(ProposeError::Busy { .. }) => RaftError::Busy {
                reason: "uncommitted",
            },
            Err(ProposeError::TransferInProgress { target }) => {
                RaftError::TransferInProgress { target }
            }
            Err(ProposeError::Fatal(error)) => return Err(error.into()),
        };
        answer_all(replies, &refusal)
    }
}

/// Encodes the batch's commands into one shared buffer: one allocation per
/// batch, and each entry's `Bytes` is a slice of it. A command that cannot be
/// encoded is answered at once. Returns the encoded commands and the replies
/// of exactly those.
fn encode<S: StateMachine>(
    batch: &mut ProposalBatch<S>,
    mut replies: Vec<Reply<S::Response>>,
) -> (Vec<Bytes>, Vec<Reply<S::Response>>) {
    let count = batch.commands.len();
    let mut buffer = BytesMut::with_capacity(count * batch.bytes_per_command);
    let mut encoded = Vec::with_capacity(count);
    let mut failed = Vec::new();
    let mut total = 0;
    for (position, command) in batch.commands.drain(..).enumerate() {
        buffer.put_u8(envelope::COMMAND_TAG);
        match postcard::to_io(&command, (&mut buffer).writer()) {
            Ok(_) => {
                let bytes = buffer.split().freeze();
                total += bytes.len();
                encoded.push(bytes);
            }
            Err(error) => {
                drop(buffer.split()); // whatever was half written
                failed.push((position, error));
            }
        }
    }
    // From the back, so that the positions still hold.
    for (position, error) in failed.into_iter().rev() {
        let reply = replies.remove(position);
        let _ = reply.send(Err(RaftError::InvalidCommand(error.to_string())));
    }
    batch.bytes_per_command = (total / count.max(1)).clamp(1, 4096);
    (encoded, replies)
}

/// Lets callers that are ready to run queue their proposals before a round
/// drains the queue; called when the last batch shows that they propose
/// concurrently. Callers answered by one applied batch propose again
/// together, and without this the first of them wakes the consensus task, which
/// runs at once (Tokio runs a task woken by the running one next) and
/// appends a handful, then the next handful, each round costing a
/// message per follower, their appends and answers, and an apply. One
/// yield lets the runtime run the ready callers first (Tokio reschedules
/// a yielding task once the others ready have run, or at its next
/// maintenance), so they share one append. A lone caller never waits
/// here.
pub(super) async fn gather() {
    tokio::task::yield_now().await;
}

/// `timeout` from now; a timeout too long for the clock never expires in
/// practice (a century).
fn deadline_after(timeout: std::time::Duration) -> Instant {
    const CENTURY: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 24 * 3600);
    let now = Instant::now();
    now.checked_add(timeout.min(CENTURY)).unwrap_or(now)
}

fn answer_all<R>(replies: Vec<Reply<R>>, error: &RaftError) -> Result<(), RaftError> {
    for reply in replies {
        let _ = reply.send(Err(error.clone()));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use tokio::sync::oneshot;

    use super::*;
    use crate::runtime::test_stubs::Echo;

    /// A command that postcard cannot encode when it is odd.
    #[derive(Debug)]
    struct Picky(u64);

    impl Serialize for Picky {
        fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
            if self.0 % 2 == 1 {
                return Err(serde::ser::Error::custom("odd"));
            }
            serializer.serialize_u64(self.0)
        }
    }

    impl<'de> Deserialize<'de> for Picky {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            u64::deserialize(deserializer).map(Picky)
        }
    }

    #[test]
    fn commands_that_cannot_be_encoded_are_answered_and_left_out() {
        let mut batch = ProposalBatch::<Echo<Picky>> {
            commands: (0..5).map(Picky).collect(),
            replies: Vec::new(),
            bytes_per_command: 1,
            last_count: 0,
        };
        let (replies, mut answers): (Vec<_>, Vec<_>) = (0..5).map(|_| oneshot::channel()).unzip();
        let (encoded, kept) = encode(&mut batch, replies);
        let values: Vec<u64> = encoded
            .iter()
            .map(|bytes| match envelope::open(bytes) {
                envelope::Payload::Command(command) => postcard::from_bytes(command).unwrap(),
                _ => panic!("not a command"),
            })
            .collect();
        assert_eq!(values, [0, 2, 4]);
        assert_eq!(kept.len(), 3);
        for (value, answer) in answers.iter_mut().enumerate() {
            let answered = answer.try_recv();
            if value % 2 == 1 {
                assert!(matches!(answered, Ok(Err(RaftError::InvalidCommand(_)))));
            } else {
                assert!(answered.is_err(), "{value} waits for its entry");
            }
        }
        // The kept replies are those of the encoded commands, in order.
        for (reply, value) in kept.into_iter().zip([0, 2, 4]) {
            let _ = reply.send(Err(RaftError::Fatal(value.to_string())));
        }
        for value in [0, 2, 4] {
            let answered = answers[value].try_recv();
            assert!(
                matches!(&answered, Ok(Err(RaftError::Fatal(v))) if *v == value.to_string()),
                "{answered:?}"
            );
        }
    }
}
