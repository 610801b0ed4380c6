//! The bounded window of unacknowledged appends to one follower.

use std::collections::VecDeque;

use crate::types::Index;

/// Appends sent to one follower and not yet acknowledged, oldest first, each
/// remembered by its last index and payload bytes.
///
/// Invariant: `last_indexes` strictly increase front to back, and `bytes` is
/// the sum of the bytes of the messages held.
#[derive(Clone, Debug)]
pub(crate) struct Inflights {
    messages: VecDeque<(Index, u64)>,
    bytes: u64,
    max_messages: usize,
    max_bytes: u64,
}

impl Inflights {
    /// An empty window with these limits.
    pub(crate) fn new(max_messages: usize, max_bytes: u64) -> Self {
        Inflights {
            messages: VecDeque::with_capacity(max_messages.min(64)),
            bytes: 0,
            max_messages,
            max_bytes,
        }
    }

    /// Records a message whose last entry is `last_index`, carrying `bytes`.
    ///
    /// # Panics
    /// If the window is already full or `last_index` does not grow: the leader
    /// must check [`Inflights::is_full`] before sending.
    pub(crate) fn add(&mut self, last_index: Index, bytes: u64) {
        assert!(
            !self.is_full(),
            "sent an append into a full in-flight window"
        );
        if let Some(&(previous, _)) = self.messages.back() {
            assert!(
                last_index > previous,
                "in-flight index {last_index} after {previous}"
            );
        }
        self.messages.push_back((last_index, bytes));
        self.bytes += bytes;
    }

    /// Forgets every message whose last index is at or below `index` (the
    /// follower acknowledged them).
    pub(crate) fn free_up_to(&mut self, index: Index) {
        while let Some(&(last, bytes)) = self.messages.front() {
            if last > index {
                break;
            }
            self.messages.pop_front();
            self.bytes -= bytes;
        }
    }

    /// Forgets the oldest message, so one more can be sent: used when a
    /// heartbeat shows the follower alive while the window is full, in case
    /// the window's messages were lost.
    pub(crate) fn free_first(&mut self) {
        if let Some((_, bytes)) = self.messages.pop_front() {
            self.bytes -= bytes;
        }
    }

    /// True when no further message may be sent. The byte limit admits one
    /// message beyond it, so that a single oversized message can be sent.
    pub(crate) fn is_full(&self) -> bool {
        self.messages.len() >= self.max_messages || self.bytes >= self.max_bytes
    }

    /// Number of messages in flight.
    pub(crate) fn count(&self) -> usize {
        self.messages.len()
    }

    /// Forgets everything.
    pub(crate) fn reset(&mut self) {
        self.messages.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_by_count_and_frees_by_acknowledged_index() {
        let mut window = Inflights::new(2, 1000);
        window.add(5, 10);
        window.add(9, 10);
        assert!(window.is_full());
        window.free_up_to(6);
        assert!(!window.is_full());
        assert_eq!(window.count(), 1);
    }

    #[test]
    fn fills_by_bytes() {
        let mut window = Inflights::new(10, 100);
        window.add(1, 60);
        assert!(!window.is_full());
        window.add(2, 60);
        assert!(window.is_full());
        window.free_first();
        assert!(!window.is_full());
    }

    #[test]
    #[should_panic(expected = "full in-flight window")]
    fn adding_to_a_full_window_is_a_bug() {
        let mut window = Inflights::new(1, 100);
        window.add(1, 1);
        window.add(2, 1);
    }
}
