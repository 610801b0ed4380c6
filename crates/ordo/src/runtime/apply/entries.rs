//! Applying committed entries: decoding each (the one place that knows
//! every kind of entry), handing the application's commands to the state
//! machine as one batch, and answering their proposals by index and term.

use ordo_core::{EntryPayload, Index, Term};

use crate::runtime::apply::Applier;
use crate::runtime::envelope;
use crate::runtime::error::RaftError;
use crate::runtime::event::Event;
use crate::runtime::state_machine::{Entry, StateMachine};

/// What one log entry means to the state machine.
enum Decoded<C> {
    Command(Entry<C>),
    /// Nothing to apply (a no-op).
    Nothing,
    /// A command that cannot be decoded: skipped everywhere alike.
    Invalid {
        index: Index,
        term: Term,
        error: RaftError,
    },
}

impl<S: StateMachine> Applier<S> {
    pub(super) fn apply(&mut self, mut entries: Vec<ordo_core::Entry>) {
        // Entries a restored snapshot already covers must not be applied on
        // top of it (the core never hands them out; this is the second line).
        let applied_index = self.applied_index;
        entries.retain(|entry| entry.index > applied_index);
        let Some(last) = entries.last().map(|e| (e.index, e.term)) else {
            return;
        };
        let mut commands = Vec::with_capacity(entries.len());
        let mut keys = Vec::with_capacity(entries.len());
        let mut invalid = Vec::new();
        for entry in entries {
            match self.decode(entry) {
                Decoded::Command(command) => {
                    keys.push((command.index, command.term));
                    commands.push(command);
                }
                Decoded::Nothing => {}
                Decoded::Invalid { index, term, error } => invalid.push((index, term, error)),
            }
        }
        let responses = if commands.is_empty() {
            Vec::new()
        } else {
            let Some(responses) = self.call(|state_machine| state_machine.apply(commands)) else {
                return;
            };
            responses
        };
        self.answer(keys, responses, invalid);
        // Whatever is left at or below the batch was replaced by other entries.
        self.waiters.applied_through(last.0);
        self.changes.applied_through(last.0);
        (self.applied_index, self.applied_term) = last;
        self.serve_reads();
    }

    /// Answers the proposals of one applied batch in index order: those of
    /// the commands at `keys` with the state machine's `responses`, those
    /// of `invalid` entries with their error.
    fn answer(
        &mut self,
        keys: Vec<(Index, Term)>,
        responses: Vec<S::Response>,
        invalid: Vec<(Index, Term, RaftError)>,
    ) {
        let mut responses = responses.into_iter();
        let mut invalid = invalid.into_iter().peekable();
        let mut missing = None;
        for (index, term) in keys {
            while let Some((index, term, error)) = invalid.next_if(|entry| entry.0 < index) {
                self.waiters.applied(index, term, || Err(error));
            }
            let outcome = match responses.next() {
                Some(response) => Ok(response),
                None => Err(missing
                    .get_or_insert_with(|| self.missing_response_error(index))
                    .clone()),
            };
            self.waiters.applied(index, term, || outcome);
        }
        for (index, term, error) in invalid {
            self.waiters.applied(index, term, || Err(error));
        }
    }

    fn missing_response_error(&self, index: Index) -> RaftError {
        let error = RaftError::StateMachine(format!(
            "apply returned no response for the command at index {index} (one per command is required)"
        ));
        tracing::error!(node_id = self.node_id, %error, "state machine broke its contract");
        self.events.send_with(|| Event::Error {
            error: error.clone(),
        });
        error
    }

    /// What an entry carries for the state machine. The one place that knows
    /// every kind of entry.
    fn decode(&mut self, entry: ordo_core::Entry) -> Decoded<S::Command> {
        match entry.payload {
            EntryPayload::Noop => Decoded::Nothing,
            // The core acts on configuration entries when they are appended;
            // here they only mark what a snapshot at this index must record.
            EntryPayload::Membership(membership) => {
                self.membership = membership;
                self.changes.applied(entry.index, entry.term, || Ok(()));
                Decoded::Nothing
            }
            EntryPayload::Command(bytes) => self.decode_command(entry.index, entry.term, &bytes),
        }
    }

    /// A command entry: the application's, or the runtime's own.
    fn decode_command(&mut self, index: Index, term: Term, bytes: &[u8]) -> Decoded<S::Command> {
        let command = match envelope::open(bytes) {
            envelope::Payload::Command(command) => postcard::from_bytes(command)
                .map_err(|error| format!("cannot be decoded as a command: {error}")),
            envelope::Payload::Members(members) => {
                // Learned when applied, never when appended: a truncated
                // entry leaves nothing behind (see `runtime/addresses.rs`).
                self.shared.directory_mut().learn(&members);
                // `RaftNode::update_member_info` waits for its entry like a change.
                self.changes.applied(index, term, || Ok(()));
                return Decoded::Nothing;
            }
            envelope::Payload::Unknown(reason) => Err(reason),
        };
        match command {
            Ok(command) => Decoded::Command(Entry {
                index,
                term,
                command,
            }),
            Err(reason) => {
                // Every node fails the same way, so skipping keeps the
                // replicas identical; the proposer hears why.
                let error = RaftError::InvalidCommand(format!("entry {index} {reason}"));
                tracing::error!(node_id = self.node_id, %error, "skipping entry");
                self.events.send_with(|| Event::Error {
                    error: error.clone(),
                });
                Decoded::Invalid { index, term, error }
            }
        }
    }
}
