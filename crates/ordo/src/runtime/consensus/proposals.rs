//! [`ProposalQueue`]: proposals on their way from the handles to the
//! consensus task.
//!
//! Not a channel: a lock around the next batch itself. A caller pushes its
//! command and reply; the consensus task takes everything queued in one
//! swap of vectors. Only the proposal that finds the queue empty wakes the
//! consensus task, so a batch of a thousand proposals costs one wake-up, not
//! a thousand (each message sent through a Tokio channel wakes its
//! receiver, contending on its waker, and the bounded one takes a lock per
//! message received). Critical sections are a few pushes or a swap.
//!
//! The queue needs no capacity of its own: every proposal in it holds one of
//! the node's [`RaftConfig::max_pending_proposals`](crate::RaftConfig::max_pending_proposals)
//! slots, taken before it is pushed.

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::runtime::error::RaftError;
use crate::runtime::shared::Reply;
use crate::runtime::state_machine::StateMachine;

/// Proposals not yet taken by the consensus task.
pub(crate) struct ProposalQueue<S: StateMachine> {
    queued: Mutex<Queued<S>>,
    /// Notified when a proposal is pushed onto an empty queue.
    pushed: Notify,
}

/// Invariant: `commands[i]` is answered through `replies[i]`.
struct Queued<S: StateMachine> {
    commands: Vec<S::Command>,
    replies: Vec<Reply<S::Response>>,
    /// Set when the consensus task stops: nothing is queued any more.
    closed: bool,
}

impl<S: StateMachine> ProposalQueue<S> {
    pub(crate) fn new() -> Self {
        ProposalQueue {
            queued: Mutex::new(Queued {
                commands: Vec::new(),
                replies: Vec::new(),
                closed: false,
            }),
            pushed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queued<S>> {
        self.queued.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a proposal for the consensus task.
    ///
    /// # Errors
    /// [`RaftError::ShuttingDown`] once the queue is closed (`reply` is
    /// dropped unanswered).
    pub(crate) fn push(
        &self,
        command: S::Command,
        reply: Reply<S::Response>,
    ) -> Result<(), RaftError> {
        let mut queued = self.lock();
        if queued.closed {
            return Err(RaftError::ShuttingDown);
        }
        queued.commands.push(command);
        queued.replies.push(reply);
        let first = queued.commands.len() == 1;
        drop(queued);
        if first {
            self.pushed.notify_one();
        }
        Ok(())
    }

    /// Resolves once a proposal was pushed onto an empty queue since the
    /// last time (the queue may have been emptied again meanwhile).
    pub(crate) async fn pushed(&self) {
        self.pushed.notified().await;
    }

    /// Moves the oldest queued proposals, at most `max`, to the end of
    /// `commands` and `replies`. Returns how many. Proposals left behind
    /// announce themselves as a push onto an empty queue would: whenever the
    /// queue holds something, [`pushed`](Self::pushed) will resolve.
    pub(crate) fn take(
        &self,
        commands: &mut Vec<S::Command>,
        replies: &mut Vec<Reply<S::Response>>,
        max: usize,
    ) -> usize {
        let mut queued = self.lock();
        let count = queued.commands.len().min(max);
        if count == queued.commands.len() && commands.is_empty() {
            // The usual case: everything, into empty vectors. Swapping
            // leaves the queue their capacity for the next batch.
            std::mem::swap(&mut queued.commands, commands);
            std::mem::swap(&mut queued.replies, replies);
        } else {
            commands.extend(queued.commands.drain(..count));
            replies.extend(queued.replies.drain(..count));
        }
        let left = !queued.commands.is_empty();
        drop(queued);
        if left {
            // No push onto an empty queue will announce these.
            self.pushed.notify_one();
        }
        count
    }

    /// Refuses every later proposal and hands back the replies of those
    /// still queued. Called when the consensus task stops, however it stops.
    pub(crate) fn close(&self) -> Vec<Reply<S::Response>> {
        let mut queued = self.lock();
        queued.closed = true;
        queued.commands.clear();
        std::mem::take(&mut queued.replies)
    }
}

/// The consensus task's hold on the queue: closes it when dropped, so that
/// callers are never left waiting on a queue nobody takes from (also if the
/// task panics; their replies are dropped, which answers them
/// [`RaftError::ShuttingDown`]).
pub(crate) struct QueueTaker<S: StateMachine>(pub(crate) std::sync::Arc<ProposalQueue<S>>);

impl<S: StateMachine> std::ops::Deref for QueueTaker<S> {
    type Target = ProposalQueue<S>;

    fn deref(&self) -> &ProposalQueue<S> {
        &self.0
    }
}

impl<S: StateMachine> Drop for QueueTaker<S> {
    fn drop(&mut self) {
        drop(self.0.close());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use tokio::sync::oneshot;

    use super::*;
    use crate::runtime::test_stubs::Echo;

    fn push(
        queue: &ProposalQueue<Echo<u64>>,
        command: u64,
    ) -> oneshot::Receiver<Result<u64, RaftError>> {
        let (reply, answer) = oneshot::channel();
        queue.push(command, reply).unwrap();
        answer
    }

    #[test]
    fn proposals_are_taken_in_order_at_most_max_at_a_time() {
        let queue = ProposalQueue::<Echo<u64>>::new();
        let _answers: Vec<_> = (0..5).map(|command| push(&queue, command)).collect();
        let (mut commands, mut replies) = (Vec::new(), Vec::new());
        assert_eq!(queue.take(&mut commands, &mut replies, 3), 3);
        assert_eq!(commands, [0, 1, 2]);
        assert_eq!(queue.take(&mut commands, &mut replies, 3), 2);
        assert_eq!(commands, [0, 1, 2, 3, 4]);
        assert_eq!(replies.len(), 5);
        assert_eq!(queue.take(&mut commands, &mut replies, 3), 0);
    }

    #[tokio::test]
    async fn proposals_left_behind_by_a_take_wake_the_taker_again() {
        let queue = ProposalQueue::<Echo<u64>>::new();
        let _answers: Vec<_> = (0..3).map(|command| push(&queue, command)).collect();
        queue.pushed().await;
        let (mut commands, mut replies) = (Vec::new(), Vec::new());
        assert_eq!(queue.take(&mut commands, &mut replies, 2), 2);
        queue.pushed().await; // announced by the take itself
        assert_eq!(queue.take(&mut commands, &mut replies, 2), 1);
    }

    #[tokio::test]
    async fn only_a_push_onto_an_empty_queue_wakes_the_taker() {
        let queue = ProposalQueue::<Echo<u64>>::new();
        let _first = push(&queue, 1);
        queue.pushed().await; // the permit the first push left
        let _second = push(&queue, 2);
        let woken = tokio::time::timeout(std::time::Duration::from_millis(20), queue.pushed());
        assert!(woken.await.is_err(), "the queue was not empty");
        let (mut commands, mut replies) = (Vec::new(), Vec::new());
        queue.take(&mut commands, &mut replies, usize::MAX);
        let _third = push(&queue, 3);
        queue.pushed().await;
    }

    #[test]
    fn a_closed_queue_hands_back_what_it_held_and_refuses_more() {
        let queue = ProposalQueue::<Echo<u64>>::new();
        let _answer = push(&queue, 7);
        assert_eq!(queue.close().len(), 1);
        let (reply, mut answer) = oneshot::channel();
        assert!(matches!(queue.push(8, reply), Err(RaftError::ShuttingDown)));
        assert!(answer.try_recv().is_err(), "dropped, never answered");
    }
}
