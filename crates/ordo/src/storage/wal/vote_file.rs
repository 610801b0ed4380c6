//! The `VOTE` file: a second, separate copy of the hard state (term and vote).
//!
//! ```text
//! VOTE := magic "ORDOVOTE" (8) | term u64 | has vote u8 | voted for u64
//!       | CRC32C of the previous 25 bytes u32
//! ```
//!
//! Why: recovery may cut a damaged last record of the log even though it was
//! synced (`tail.rs`), and the repair point protects only log indexes. If that
//! record was the newest hard state, the node would restart in an older term
//! and could accept a deposed leader's appends, or vote twice in one term.
//! So the store writes this file whenever the term or vote changed, durably
//! and *before* the sync that reports that hard state durable (so no vote
//! grant ever leaves before it); recovery takes the newer of the two (see
//! [`newer`]). Elections are rare, so this costs nothing per entry.
//!
//! Invariants: the file never holds a hard state older than the newest one
//! the store reported durable; it is replaced atomically (temporary file,
//! fdatasync, rename, directory fsync), so a crash leaves the old state or the
//! new one. A damaged file is refused, never ignored: ignoring it could make
//! the node forget a vote.

use std::path::Path;

use ordo_core::HardState;

use crate::storage::error::StorageError;
use crate::storage::fs::FileSystem;
use crate::storage::wal::marker_file::{MarkerFile, u64_at};

/// The `VOTE` file.
const FILE: MarkerFile = MarkerFile {
    name: "VOTE",
    temporary_name: "VOTE.tmp",
    magic: *b"ORDOVOTE",
    body_bytes: 17,
};

fn damaged(path: &Path, what: String) -> StorageError {
    // The error's message adds how to rebuild the node (`ordo repair`).
    let reason = format!(
        "the hard state file (term and vote) is damaged: {what}, so the node cannot know its \
         term and whom it voted for"
    );
    StorageError::corrupt(path, 0, reason)
}

/// The hard state recorded in `dir`, if the file exists.
pub(crate) fn read(fs: &dyn FileSystem, dir: &Path) -> Result<Option<HardState>, StorageError> {
    let path = FILE.path(dir);
    let body = match FILE.read(fs, dir)? {
        None => return Ok(None),
        Some(Ok(body)) => body,
        Some(Err(damage)) => return Err(damaged(&path, damage.to_string())),
    };
    let voted_for = match body[8] {
        0 => None,
        1 => Some(u64_at(&body, 9)),
        flag => return Err(damaged(&path, format!("vote flag {flag}"))),
    };
    Ok(Some(HardState {
        term: u64_at(&body, 0),
        voted_for,
    }))
}

/// Records `hard_state` in `dir`, replacing the older one; durably unless
/// `flush` is off (a log opened with
/// [`Durability::Never`](crate::storage::Durability::Never)).
pub(crate) fn write(
    fs: &dyn FileSystem,
    dir: &Path,
    hard_state: HardState,
    flush: bool,
) -> Result<(), StorageError> {
    let mut body = [0u8; 17];
    body[0..8].copy_from_slice(&hard_state.term.to_le_bytes());
    body[8] = u8::from(hard_state.voted_for.is_some());
    body[9..17].copy_from_slice(&hard_state.voted_for.unwrap_or(0).to_le_bytes());
    FILE.write(fs, dir, &body, flush)
}

/// The newer of the log's hard state and the file's. Terms only grow, so the
/// higher term wins. In the same term a vote, once cast, never changes, so a
/// vote either holds wins over none (the file must never make the node
/// forget a vote, nor the log's cut record). Two different votes in one term
/// cannot both have been recorded: refused as damage.
pub(crate) fn newer(
    dir: &Path,
    in_log: HardState,
    in_file: Option<HardState>,
) -> Result<HardState, StorageError> {
    let Some(in_file) = in_file else {
        return Ok(in_log);
    };
    if in_file.term != in_log.term {
        return Ok(if in_file.term > in_log.term {
            in_file
        } else {
            in_log
        });
    }
    match (in_log.voted_for, in_file.voted_for) {
        (Some(log_vote), Some(file_vote)) if log_vote != file_vote => Err(damaged(
            &FILE.path(dir),
            format!(
                "it says node {file_vote} got the vote in term {}, the log says node {log_vote}",
                in_log.term
            ),
        )),
        (log_vote, file_vote) => Ok(HardState {
            term: in_log.term,
            voted_for: log_vote.or(file_vote),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(term: u64, voted_for: Option<u64>) -> HardState {
        HardState { term, voted_for }
    }

    #[test]
    fn the_newer_hard_state_wins_and_no_vote_is_forgotten() {
        let dir = Path::new("/nowhere");
        let pick = |log, file| newer(dir, log, file).map_err(|error| error.to_string());
        assert_eq!(pick(state(5, None), None), Ok(state(5, None)));
        assert_eq!(
            pick(state(5, Some(1)), Some(state(6, Some(2)))),
            Ok(state(6, Some(2)))
        );
        assert_eq!(
            pick(state(7, None), Some(state(6, Some(2)))),
            Ok(state(7, None))
        );
        assert_eq!(
            pick(state(6, None), Some(state(6, Some(2)))),
            Ok(state(6, Some(2)))
        );
        assert_eq!(
            pick(state(6, Some(2)), Some(state(6, None))),
            Ok(state(6, Some(2)))
        );
        assert!(pick(state(6, Some(1)), Some(state(6, Some(2)))).is_err());
    }
}
