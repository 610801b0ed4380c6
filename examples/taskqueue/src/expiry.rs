//! The leader's expiry loop. Every node runs it; only a node that believes
//! it leads acts. When the earliest claim deadline in its applied state is
//! past its clock, it proposes a [`Op::Tick`] stamped with that clock: the
//! claims expire when the tick is *applied*, on every replica at the same
//! log position. A follower's clock never decides anything, and a deposed
//! leader's tick is never committed.
//!
//! Every other command carries the leader's time too, so a busy queue
//! expires claims without ticks; the loop matters when it is idle.

use std::time::Duration;

use ordo::RaftNode;

use crate::command::{Answer, Command, Op, Query};
use crate::machine::TaskQueueMachine;
use crate::queue::wall_clock_ms;

/// Runs until the node stops; checks every `interval`.
pub(crate) async fn run(raft: RaftNode<TaskQueueMachine>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !raft.is_stopped() {
        ticker.tick().await;
        if !raft.is_leader() {
            continue;
        }
        let now_ms = wall_clock_ms();
        let Ok(Answer::NextDeadline(Some(deadline_ms))) =
            raft.read_stale(Query::NextDeadline).await
        else {
            continue;
        };
        if deadline_ms <= now_ms {
            // A failure (lost leadership, a timeout) is retried next round
            // by whoever leads then.
            let _ = raft
                .propose(Command {
                    now_ms,
                    op: Op::Tick,
                })
                .await;
        }
    }
}
