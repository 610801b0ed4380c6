//! The pause gate: what [`RaftNode::pause`](crate::RaftNode::pause) closes.
//!
//! The consensus task passes the gate once per round, before it waits for
//! input. While the gate is closed the node does what a process under
//! SIGSTOP does: nothing. No ticks, no messages handled or sent, no
//! proposals or reads taken; messages to it wait in its bounded inbox (and
//! are dropped once it is full, like a socket buffer), and callers wait.
//! Work already handed to the persistence and apply stages finishes (a disk
//! completes the writes it was given), but nobody hears of it until resume.
//! Time does not stop: on resume the node feeds every tick it missed (up to
//! the per-round cap), so its election timer may fire at once, as a
//! stopped process finds when it is continued.
//!
//! Cost when unused: one atomic load per round.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// Open unless paused. Invariant: `resumed` is notified on every change
/// from paused to running, after `paused` is cleared.
#[derive(Debug, Default)]
pub(crate) struct PauseGate {
    paused: AtomicBool,
    resumed: Notify,
}

impl PauseGate {
    /// Closes the gate: the consensus task stops at its next round.
    pub(crate) fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    /// Opens the gate and lets a waiting consensus task through.
    pub(crate) fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
        self.resumed.notify_waiters();
    }

    /// True while closed.
    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Returns at once when open; else once it opens.
    pub(crate) async fn pass(&self) {
        while self.is_paused() {
            let resumed = self.resumed.notified();
            tokio::pin!(resumed);
            // Registered before the second check, so a resume between the
            // check and the await is not missed.
            resumed.as_mut().enable();
            if !self.is_paused() {
                return;
            }
            resumed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn a_closed_gate_holds_until_resumed() {
        let gate = Arc::new(PauseGate::default());
        gate.pass().await; // open: at once
        gate.pause();
        let waiting = Arc::clone(&gate);
        let passed = tokio::spawn(async move { waiting.pass().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!passed.is_finished(), "held while paused");
        gate.resume();
        let done = tokio::time::timeout(Duration::from_secs(5), passed).await;
        assert!(matches!(done, Ok(Ok(()))), "released by resume");
    }
}
