//! Confirmed reads waiting for the state machine to apply up to their read
//! index, served in index order, and queries answered at once (stale reads).

use ordo_core::Index;

use crate::runtime::apply::Applier;
use crate::runtime::shared::Reply;
use crate::runtime::state_machine::StateMachine;

/// A confirmed read waiting for the state machine to catch up.
pub(super) struct WaitingRead<S: StateMachine> {
    query: S::Query,
    pub(super) reply: Reply<S::Answer>,
}

impl<S: StateMachine> Applier<S> {
    pub(super) fn answer_query(&mut self, query: S::Query, reply: Reply<S::Answer>) {
        if let Some(answer) = self.call(|state_machine| state_machine.query(query)) {
            let _ = reply.send(Ok(answer));
        } else if let Some(error) = self.broken.clone() {
            let _ = reply.send(Err(error));
        }
    }

    pub(super) fn read(&mut self, read_index: Index, query: S::Query, reply: Reply<S::Answer>) {
        if read_index <= self.applied_index {
            self.answer_query(query, reply);
            return;
        }
        self.reads_arrived += 1;
        self.reads.insert(
            (read_index, self.reads_arrived),
            WaitingRead { query, reply },
        );
    }

    pub(super) fn serve_reads(&mut self) {
        while let Some(entry) = self.reads.first_entry() {
            if entry.key().0 > self.applied_index {
                break;
            }
            let read = entry.remove();
            if !read.reply.is_closed() {
                self.answer_query(read.query, read.reply);
            }
            if self.broken.is_some() {
                return;
            }
        }
    }
}
