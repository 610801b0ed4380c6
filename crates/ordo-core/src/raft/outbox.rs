//! Outgoing messages and the persist writes they may have to wait for.
//!
//! This is where "durable before acknowledged" is enforced. A response that
//! promises something about this node's state (a vote, an append
//! acknowledgement) names the persist write that must complete first; it is
//! held here until storage reports that write durable. Requests (appends,
//! vote requests) promise nothing and go out at once, which is what lets a
//! leader send entries to followers in parallel with its own disk write.

use std::collections::VecDeque;

use crate::actions::PersistId;
use crate::hard_state::HardState;
use crate::message::Message;
use crate::types::{Index, Term};

/// A persist handed out and not yet durable: the entries it writes span
/// `first_index ..= last_entry.0` (none if it writes only the hard state).
#[derive(Clone, Copy, Debug)]
struct IssuedWrite {
    id: PersistId,
    first_index: Option<Index>,
    last_entry: Option<(Index, Term)>,
}

/// What became durable when storage reported a persist id.
#[derive(Debug, Default)]
pub(crate) struct Completed {
    /// The last entry of each write now durable, oldest first.
    pub(crate) last_entries: Vec<(Index, Term)>,
    /// Entries above this index may still be overwritten on disk by a write
    /// not yet durable (one that truncates a suffix): none of them may be
    /// counted durable yet, whatever an earlier write put there.
    pub(crate) overwrite_pending_above: Index,
    /// Held messages now free to go, in order.
    pub(crate) released: Vec<Message>,
}

/// Invariants: `durable_id < next_id`; every id in `writes` and `held` is
/// above `durable_id` and below or equal to `next_id`.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// The id the next persist action will take.
    next_id: PersistId,
    /// Every id up to this one is durable.
    durable_id: PersistId,
    /// The hard state in the most recent persist action handed out.
    issued_hard_state: HardState,
    /// Persist actions handed out and not yet durable, oldest first.
    writes: VecDeque<IssuedWrite>,
    /// Messages waiting for a persist id to become durable, in creation order.
    held: VecDeque<(PersistId, Message)>,
    /// Messages ready to send.
    ready: Vec<Message>,
}

impl Outbox {
    /// An outbox for a node whose durable hard state is `hard_state`.
    pub(crate) fn new(hard_state: HardState) -> Self {
        Outbox {
            next_id: 1,
            issued_hard_state: hard_state,
            ..Outbox::default()
        }
    }

    /// Queues a message that needs no durability.
    pub(crate) fn send(&mut self, message: Message) {
        self.ready.push(message);
    }

    /// Queues a message that may leave only once persist `needs` is durable.
    pub(crate) fn send_after(&mut self, needs: PersistId, message: Message) {
        if needs <= self.durable_id {
            self.ready.push(message);
        } else {
            self.held.push_back((needs, message));
        }
    }

    /// The id of the write that will cover everything changed so far: the next
    /// id if there are unissued changes, else the last id handed out.
    pub(crate) fn covering_id(&self, unissued_changes: bool) -> PersistId {
        if unissued_changes {
            self.next_id
        } else {
            self.next_id - 1
        }
    }

    /// The hard state of the last persist handed out.
    pub(crate) fn issued_hard_state(&self) -> HardState {
        self.issued_hard_state
    }

    /// Hands out a new persist id for a write of `hard_state` and `entries`
    /// (their first index and last entry).
    pub(crate) fn issue(
        &mut self,
        hard_state: HardState,
        entries: Option<(Index, (Index, Term))>,
    ) -> PersistId {
        let id = self.next_id;
        self.next_id += 1;
        self.issued_hard_state = hard_state;
        self.writes.push_back(IssuedWrite {
            id,
            first_index: entries.map(|(first, _)| first),
            last_entry: entries.map(|(_, last)| last),
        });
        id
    }

    /// Storage reports `id` (and all before it) durable.
    ///
    /// # Panics
    /// If `id` was never handed out: the driver is confused, and acting on it
    /// could acknowledge writes that never happened.
    pub(crate) fn complete(&mut self, id: PersistId) -> Completed {
        assert!(
            id < self.next_id,
            "persist {id} reported durable but never issued (next is {})",
            self.next_id
        );
        let mut completed = Completed {
            overwrite_pending_above: Index::MAX,
            ..Completed::default()
        };
        if id <= self.durable_id {
            return completed;
        }
        self.durable_id = id;
        while let Some(write) = self.writes.front() {
            if write.id > id {
                break;
            }
            completed.last_entries.extend(write.last_entry);
            self.writes.pop_front();
        }
        completed.overwrite_pending_above = self
            .writes
            .iter()
            .filter_map(|w| w.first_index)
            .min()
            .map_or(Index::MAX, |first| first - 1);
        while let Some((needs, _)) = self.held.front() {
            if *needs > id {
                break;
            }
            if let Some((_, message)) = self.held.pop_front() {
                completed.released.push(message);
            }
        }
        completed
    }

    /// Takes the messages ready to send.
    pub(crate) fn take_ready(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.ready)
    }

    /// True when every persist handed out is durable.
    pub(crate) fn all_durable(&self) -> bool {
        self.durable_id + 1 == self.next_id
    }

    /// Messages still held for durability.
    pub(crate) fn held_count(&self) -> usize {
        self.held.len()
    }
}
