//! Reads the core is confirming (ReadIndex): registered by request id,
//! handed to the apply stage once confirmed, and swept when their caller
//! gave up, since a lost forwarded read is never answered by the core.

use std::time::Instant;

use ordo_core::{ReadError, ReadMode};

use crate::runtime::apply::ReadWork;
use crate::runtime::consensus::Consensus;
use crate::runtime::error::RaftError;
use crate::runtime::state_machine::StateMachine;

/// How often (in ticks) forgotten reads are swept.
pub(super) const READ_SWEEP_TICKS: u64 = 100;

/// A read the core is confirming: what to do once it is, and for whom (the
/// core's own `PendingRead` is the heartbeat round confirming it).
pub(crate) struct UnconfirmedRead<S: StateMachine> {
    pub(super) work: ReadWork<S>,
    pub(super) asked: Instant,
}

impl<S: StateMachine> Consensus<S> {
    pub(super) fn read(&mut self, work: ReadWork<S>, mode: ReadMode) -> Result<(), RaftError> {
        let id = self.state.next_read_id;
        self.state.next_read_id += 1;
        match self.raft.read_index([id], mode) {
            Ok(()) => {
                let pending = UnconfirmedRead {
                    work,
                    asked: Instant::now(),
                };
                self.reads.insert(id, pending);
                Ok(())
            }
            Err(ReadError::NoLeader) => {
                work.fail(RaftError::NotLeader { leader: None });
                Ok(())
            }
            Err(ReadError::Fatal(error)) => Err(error.into()),
        }
    }

    pub(super) fn take_read(&mut self, id: u64) -> Option<UnconfirmedRead<S>> {
        self.reads.remove(&id)
    }

    /// Forgets reads whose caller gave up (a lost forwarded read is never
    /// answered by the core).
    pub(super) fn sweep_reads(&mut self) {
        let timeout = self.config.read_timeout;
        let mut forgotten = Vec::new();
        for (&id, read) in &self.reads {
            if read.work.is_closed() || read.asked.elapsed() > timeout {
                forgotten.push(id);
            }
        }
        for id in forgotten {
            if let Some(read) = self.take_read(id) {
                read.work.fail(RaftError::Timeout);
            }
        }
    }
}
