//! [`seed_snapshot`]: starting a new group from a copy of an application's
//! state, such as a backup of another group.
//!
//! The state goes in as the group's first snapshot, at index 1 of term 1,
//! on every initial member alike. The log then starts at index 2, so
//! everything later works as after any snapshot: the nodes restore the
//! state machine from it at start, and a node added later (with an empty
//! store) receives the snapshot from the leader rather than a log that
//! would rebuild a different state.
//!
//! Why index 1 of term 1 is safe: every initial member holds the same
//! snapshot, so it is as if a leader of term 1 had committed one entry on
//! all of them. No real leader of term 1 can have written anything else
//! there, because the stores were empty (the function refuses otherwise).

use std::collections::BTreeMap;
use std::io::Read;

use ordo_core::{HardState, Membership, NodeId};

use crate::runtime::addresses::MemberInfo;
use crate::runtime::envelope::{self, SnapshotHeader};
use crate::runtime::error::RaftError;
use crate::storage::{LogStore, SnapshotMeta, SnapshotStore};

/// The index (and term) of a seeded snapshot.
pub const SEED_INDEX: u64 = 1;

/// Writes `state` (bytes in the format the application's
/// [`StateMachine::restore`](crate::StateMachine::restore) reads) as the
/// first snapshot of a new group whose initial configuration is
/// `membership`, with what the group knows of its `members` as
/// [`RaftNode::member_infos`](crate::RaftNode::member_infos) reports it
/// (the transports dial each member at its
/// [`MemberInfo::peer_address`](crate::MemberInfo::peer_address)).
/// Give every initial member the same `members`: they are part of the
/// replicated state.
///
/// Call it once on each initial member, with the same `state` and
/// `membership`, before its first start. `log` must be that member's log
/// store: it must be empty, as must `snapshots`.
///
/// The snapshot is written first, then the log is reset to it and the term
/// set to 1, each durable before the next step. A crash in between leaves a
/// node that refuses to start (its log does not reach its snapshot) until
/// `seed_snapshot` is called again, which finishes the interrupted seed
/// ([`is_unfinished_seed`]).
///
/// # Errors
/// [`RaftError::Snapshot`] if either store already holds anything (seeding
/// an existing node would fork the group); [`RaftError::Storage`] if the
/// snapshot cannot be written; [`RaftError::StateMachine`] if reading
/// `state` fails.
pub fn seed_snapshot(
    log: &dyn LogStore,
    snapshots: &SnapshotStore,
    membership: Membership,
    members: BTreeMap<NodeId, MemberInfo>,
    state: &mut dyn Read,
) -> Result<SnapshotMeta, RaftError> {
    if log.last_index() != 0 || log.hard_state().term != 0 {
        return Err(RaftError::Snapshot(
            "cannot seed a node whose log is not empty: it already belongs to a group".into(),
        ));
    }
    if let Some(existing) = snapshots.latest()? {
        if is_unfinished_seed(log, &existing) {
            // A seed interrupted after its snapshot was durable: finish it.
            // The snapshot holds the state it was asked to hold (the caller
            // seeds every member from the same state).
            finish_seed(log)?;
            return Ok(existing);
        }
        return Err(RaftError::Snapshot(format!(
            "cannot seed a node that already holds a snapshot (index {})",
            existing.index
        )));
    }
    let meta = SnapshotMeta {
        index: SEED_INDEX,
        term: SEED_INDEX,
        membership,
    };
    let mut writer = snapshots.create(meta)?;
    envelope::write_snapshot_header(&mut writer, &SnapshotHeader::new(members))
        .map_err(|error| RaftError::Snapshot(format!("writing the seed: {error}")))?;
    std::io::copy(state, &mut writer)
        .map_err(|error| RaftError::StateMachine(format!("reading the seed state: {error}")))?;
    let meta = writer.finish()?;
    finish_seed(log)?;
    Ok(meta)
}

/// True if `snapshots`' newest snapshot is a seed whose log reset never
/// happened (the process stopped in between): the log is still empty.
pub fn is_unfinished_seed(log: &dyn LogStore, newest: &SnapshotMeta) -> bool {
    log.last_index() == 0
        && log.hard_state().term == 0
        && newest.index == SEED_INDEX
        && newest.term == SEED_INDEX
}

/// The second half of a seed: the log starts after the seeded snapshot.
fn finish_seed(log: &dyn LogStore) -> Result<(), RaftError> {
    log.reset(SEED_INDEX, SEED_INDEX)?;
    log.save_hard_state(HardState {
        term: SEED_INDEX,
        voted_for: None,
    })?;
    log.sync()?;
    Ok(())
}
