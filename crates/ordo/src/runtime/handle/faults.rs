//! Faults a test can inflict on a running node: pause and resume its event
//! loop, abort it as a crash would. The network's faults live in
//! [`InProcessNetwork`](crate::transport::InProcessNetwork), the disk's in
//! [`CrashableLogStore`](crate::storage::CrashableLogStore).

use crate::runtime::consensus::StopMode;
use crate::runtime::state_machine::StateMachine;

use super::RaftNode;

impl<S: StateMachine> RaftNode<S> {
    /// Freezes the node's event loop, as SIGSTOP freezes a process: from its
    /// next round until [`resume`](Self::resume) it feeds no ticks, handles
    /// and sends no messages, and takes no proposals or reads (callers wait;
    /// bound them with a timeout). Messages to it queue in its bounded inbox
    /// ([`RaftConfig::inbox_capacity`](crate::RaftConfig::inbox_capacity));
    /// beyond that they are dropped. Storage writes and applies already
    /// handed out finish. Wall time goes on: on resume the node catches up
    /// the ticks it missed, so a paused follower may campaign at once and a
    /// paused leader may find itself deposed — which is what tests want to
    /// see. Pausing a paused or stopped node does nothing.
    pub fn pause(&self) {
        self.inner.shared.pause.pause();
    }

    /// Lets a [paused](Self::pause) node run again.
    pub fn resume(&self) {
        self.inner.shared.pause.resume();
    }

    /// True while [paused](Self::pause).
    pub fn is_paused(&self) -> bool {
        self.inner.shared.pause.is_paused()
    }

    /// Stops the node at once, as a crash would, and returns once it has
    /// stopped: no leadership handoff (unlike [`stop`](Self::stop)), waiting
    /// callers are answered [`RaftError::ShuttingDown`](crate::RaftError::ShuttingDown)
    /// and nothing new is written. What the store has not synced is lost
    /// only if the store can lose it: crash a
    /// [`CrashableLogStore`](crate::storage::CrashableLogStore) first, and
    /// the node stops with nothing more made durable; a durable store
    /// still flushes the writes already queued. A paused node is resumed
    /// to stop.
    pub async fn abort(&self) {
        self.stop_with(StopMode::Abort).await;
    }
}
