//! [`RouterStateMachine`]: the registry plugged into Ordo. Every node applies
//! the same [`RouterCommand`]s in log order to its own [`RegistryState`] and
//! tells its watchers what changed.
//!
//! Reads are cheap: the state sits behind an [`Arc`] that a query clones,
//! and a write copies the state only while a reader still holds the old
//! one ([`Arc::make_mut`]).

use std::io::{self, Read, Write};
use std::sync::Arc;

use ordo::{Entry, Index, StateMachine};
use tokio::sync::broadcast;

use crate::model::{Change, RegistryState, RouterCommand, RuleError};

/// Changes a watcher may fall behind by before it is cut off.
pub const WATCH_BUFFER_CHANGES: usize = 4096;

/// The first bytes of a snapshot and of a backup: the format and its version.
const FORMAT_MAGIC: &[u8; 16] = b"ordo-registry/1\n";

/// What a command did, answered to the client that proposed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The log index of the command.
    pub index: Index,
    /// What changed: nothing for a repeat.
    pub changes: Vec<Change>,
}

/// A change and the log index of the command that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedChange {
    /// The command's log index.
    pub index: Index,
    /// What it changed.
    pub change: Change,
}

/// The state as of an applied index, shared with the reader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryView {
    /// The last log index applied to `state`.
    pub applied_index: Index,
    /// The state.
    pub state: Arc<RegistryState>,
}

/// The replicated registry: a [`RegistryState`] driven by the log.
pub struct RouterStateMachine {
    view: RegistryView,
    changes: broadcast::Sender<IndexedChange>,
    planted_bug: Option<PlantedBug>,
}

/// A bug planted on purpose, to show the tests catch it. Test kit, not API.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct PlantedBug {
    /// Every this-many service registrations is acknowledged but not stored.
    pub forget_every_nth_registration: u64,
    /// Registrations seen so far.
    pub seen: u64,
}

impl Default for RouterStateMachine {
    fn default() -> Self {
        Self::new()
    }
}

impl RouterStateMachine {
    /// An empty registry.
    pub fn new() -> Self {
        let (changes, _) = broadcast::channel(WATCH_BUFFER_CHANGES);
        RouterStateMachine {
            view: RegistryView {
                applied_index: 0,
                state: Arc::new(RegistryState::default()),
            },
            changes,
            planted_bug: None,
        }
    }

    /// Test kit: a registry that acknowledges every `n`th service
    /// registration without storing it (a planted bug).
    #[doc(hidden)]
    pub fn forgetting_every_nth_registration(n: u64) -> Self {
        assert!(n > 0, "n must be positive");
        RouterStateMachine {
            planted_bug: Some(PlantedBug {
                forget_every_nth_registration: n,
                seen: 0,
            }),
            ..Self::new()
        }
    }

    /// Where the changes this node applies are announced; subscribe before
    /// handing the state machine to the node.
    pub fn changes(&self) -> broadcast::Sender<IndexedChange> {
        self.changes.clone()
    }

    fn apply_one(&mut self, index: Index, command: RouterCommand) -> Result<Applied, RuleError> {
        self.view.applied_index = index;
        if self.planted_bug_forgets(&command) {
            return Ok(Applied {
                index,
                changes: vec![],
            });
        }
        let changes = Arc::make_mut(&mut self.view.state).apply(command)?;
        for change in &changes {
            // No watcher listening is not an error.
            let _ = self.changes.send(IndexedChange {
                index,
                change: change.clone(),
            });
        }
        Ok(Applied { index, changes })
    }

    fn planted_bug_forgets(&mut self, command: &RouterCommand) -> bool {
        let (Some(bug), RouterCommand::RegisterService(_)) = (&mut self.planted_bug, command)
        else {
            return false;
        };
        bug.seen += 1;
        bug.seen % bug.forget_every_nth_registration == 0
    }
}

impl StateMachine for RouterStateMachine {
    type Command = RouterCommand;
    type Response = Result<Applied, RuleError>;
    type Query = ();
    type Answer = RegistryView;

    fn apply(&mut self, entries: Vec<Entry<RouterCommand>>) -> Vec<Self::Response> {
        entries
            .into_iter()
            .map(|entry| self.apply_one(entry.index, entry.command))
            .collect()
    }

    fn query(&self, _query: ()) -> RegistryView {
        self.view.clone()
    }

    fn snapshot(&self, out: &mut dyn Write) -> io::Result<()> {
        write_view(&self.view, out)
    }

    fn restore(&mut self, input: &mut dyn Read) -> io::Result<()> {
        self.view = read_view(input)?;
        let _ = self.changes.send(IndexedChange {
            index: self.view.applied_index,
            change: Change::Reset,
        });
        Ok(())
    }
}

/// Writes `view` in the registry's snapshot format (also a backup's).
///
/// # Errors
/// An I/O error from `out`.
pub fn write_view(view: &RegistryView, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(FORMAT_MAGIC)?;
    let body =
        postcard::to_stdvec(&(view.applied_index, &*view.state)).map_err(io::Error::other)?;
    out.write_all(&body)
}

/// Reads what [`write_view`] wrote.
///
/// # Errors
/// An I/O error, or [`io::ErrorKind::InvalidData`] for bytes that are not
/// the registry's format.
pub fn read_view(input: &mut dyn Read) -> io::Result<RegistryView> {
    let mut magic = [0u8; FORMAT_MAGIC.len()];
    input.read_exact(&mut magic)?;
    if &magic != FORMAT_MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not an ordo-registry snapshot (or another version)",
        ));
    }
    let mut body = Vec::new();
    input.read_to_end(&mut body)?;
    let (applied_index, state): (Index, RegistryState) = postcard::from_bytes(&body)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
    Ok(RegistryView {
        applied_index,
        state: Arc::new(state),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::Service;

    fn register(index: Index, id: &str) -> Entry<RouterCommand> {
        let service = Service {
            id: id.into(),
            ..Service::default()
        };
        Entry {
            index,
            term: 1,
            command: RouterCommand::RegisterService(service),
        }
    }

    #[test]
    fn a_snapshot_restores_the_same_view_and_tells_watchers_to_list_again() {
        let mut original = RouterStateMachine::new();
        let responses = original.apply(vec![register(3, "a"), register(5, "b")]);
        assert!(responses.iter().all(Result::is_ok));
        let mut bytes = Vec::new();
        original.snapshot(&mut bytes).unwrap();

        let mut copy = RouterStateMachine::new();
        let mut watcher = copy.changes().subscribe();
        copy.restore(&mut bytes.as_slice()).unwrap();
        assert_eq!(copy.query(()), original.query(()));
        assert_eq!(copy.query(()).applied_index, 5);
        let reset = watcher.try_recv().unwrap();
        assert_eq!((reset.index, reset.change), (5, Change::Reset));
    }

    #[test]
    fn restore_refuses_bytes_of_another_format() {
        let mut machine = RouterStateMachine::new();
        let error = machine
            .restore(&mut b"something else entirely".as_slice())
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        let mut truncated = FORMAT_MAGIC.to_vec();
        truncated.push(7);
        assert!(machine.restore(&mut truncated.as_slice()).is_err());
    }

    #[test]
    fn a_read_is_not_changed_by_later_writes() {
        let mut machine = RouterStateMachine::new();
        machine.apply(vec![register(1, "a")]);
        let before = machine.query(());
        machine.apply(vec![register(2, "b")]);
        assert_eq!(before.state.services.len(), 1);
        assert_eq!(machine.query(()).state.services.len(), 2);
    }

    #[test]
    fn the_planted_bug_acknowledges_writes_it_drops() {
        let mut machine = RouterStateMachine::forgetting_every_nth_registration(2);
        let responses = machine.apply(vec![register(1, "a"), register(2, "b")]);
        assert!(responses.iter().all(Result::is_ok));
        let held: Vec<_> = machine.query(()).state.services.keys().cloned().collect();
        assert_eq!(held, ["a"]);
    }
}
