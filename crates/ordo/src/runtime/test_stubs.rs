//! The state machine the runtime's unit tests share, so that each test module
//! does not define its own do-nothing one. (The integration tests share
//! `tests/runtime_support`'s `Kv`; state machines that exist to misbehave in
//! one particular way stay beside the test that needs them.)

use std::io::{self, Read, Write};
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::runtime::state_machine::{Entry, StateMachine};

/// Answers each command with the command itself and keeps no state (its
/// snapshots are empty). It can be told to answer at most `max_responses`
/// commands per batch, breaking the apply contract on purpose.
pub(crate) struct Echo<C> {
    max_responses: usize,
    commands: PhantomData<fn() -> C>,
}

impl<C> Echo<C> {
    /// Answers only the first `max_responses` commands of each batch.
    pub(crate) fn answering_at_most(max_responses: usize) -> Self {
        Echo {
            max_responses,
            commands: PhantomData,
        }
    }
}

impl<C: Serialize + DeserializeOwned + Send + 'static> StateMachine for Echo<C> {
    type Command = C;
    type Response = C;
    type Query = ();
    type Answer = ();

    fn apply(&mut self, entries: Vec<Entry<C>>) -> Vec<C> {
        entries
            .into_iter()
            .take(self.max_responses)
            .map(|entry| entry.command)
            .collect()
    }

    fn query(&self, _: ()) {}

    fn snapshot(&self, _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn restore(&mut self, _: &mut dyn Read) -> io::Result<()> {
        Ok(())
    }
}
