//! Confirmed reads waiting for the state machine to apply up to their read
//! index, served in index order, and queries answered at once (stale reads).

use ordo_core::Index;

use crate::runtime::apply::Applier;
use crate::runtime::error::RaftError;
use crate::runtime::shared::Reply;
use crate::runtime::state_machine::StateMachine;

/// What a read does once it is confirmed and the state machine has applied
/// up to its read index.
pub(crate) enum ReadWork<S: StateMachine> {
    /// Answer the application's query.
    Query {
        query: S::Query,
        reply: Reply<S::Answer>,
    },
    /// Answer with the read index itself: everything acknowledged before the
    /// read is then applied here (`RaftNode::read_snapshot` starts from it).
    Barrier { reply: Reply<Index> },
}

impl<S: StateMachine> ReadWork<S> {
    /// Whether the caller gave up waiting.
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            ReadWork::Query { reply, .. } => reply.is_closed(),
            ReadWork::Barrier { reply } => reply.is_closed(),
        }
    }

    /// Answers the caller with `error`.
    pub(crate) fn fail(self, error: RaftError) {
        match self {
            ReadWork::Query { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            ReadWork::Barrier { reply } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

impl<S: StateMachine> Applier<S> {
    pub(super) fn answer_query(&mut self, query: S::Query, reply: Reply<S::Answer>) {
        if let Some(answer) = self.call(|state_machine| state_machine.query(query)) {
            let _ = reply.send(Ok(answer));
        } else if let Some(error) = self.broken.clone() {
            let _ = reply.send(Err(error));
        }
    }

    pub(super) fn read(&mut self, read_index: Index, work: ReadWork<S>) {
        if read_index <= self.applied_index {
            self.serve(read_index, work);
            return;
        }
        self.reads_arrived += 1;
        self.reads.insert((read_index, self.reads_arrived), work);
    }

    pub(super) fn serve_reads(&mut self) {
        while let Some(entry) = self.reads.first_entry() {
            let read_index = entry.key().0;
            if read_index > self.applied_index {
                break;
            }
            let work = entry.remove();
            if !work.is_closed() {
                self.serve(read_index, work);
            }
            if self.broken.is_some() {
                return;
            }
        }
    }

    /// Serves a read whose index is applied.
    fn serve(&mut self, read_index: Index, work: ReadWork<S>) {
        assert!(
            read_index <= self.applied_index,
            "a read at {read_index} served with only {} applied",
            self.applied_index
        );
        match work {
            ReadWork::Query { query, reply } => self.answer_query(query, reply),
            ReadWork::Barrier { reply } => {
                let _ = reply.send(Ok(read_index));
            }
        }
    }
}
