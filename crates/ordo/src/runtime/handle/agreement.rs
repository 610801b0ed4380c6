//! At start, the snapshot and the log must agree before either is used.
//!
//! The rules, each with its reason:
//! - A log that begins after index 1 was compacted (or reset) behind a
//!   snapshot. Without a readable snapshot covering `first_index - 1`, the
//!   entries before the log are lost: replaying the log into an empty state
//!   machine would serve wrong answers. Refuse with
//!   [`StorageError::SnapshotMissing`], which names both directories and the
//!   repair path.
//! - Installing a received snapshot publishes it first and resets the log
//!   second. A crash in between leaves a snapshot the log does not reach, or
//!   one the log contradicts (another term at its index): the install is
//!   finished now (the log is reset to the snapshot) rather than refused.
//!   A snapshot is only ever built from or received as committed state, so
//!   it wins over whatever the log holds there.

use std::path::Path;

use crate::runtime::error::RaftError;
use crate::storage::{LogStore, SnapshotMeta, StorageError};

/// Checks that `newest` (the snapshot the node restores from, if any) and
/// `log` agree, finishing an interrupted snapshot install if needed.
///
/// # Errors
/// [`StorageError::SnapshotMissing`] (as [`RaftError::Storage`]) if the log
/// begins after what the snapshot covers; storage errors of the reset.
pub(super) fn reconcile(
    log: &dyn LogStore,
    snapshot_dir: Option<&Path>,
    newest: Option<&SnapshotMeta>,
) -> Result<(), RaftError> {
    let log_first_index = log.first_index();
    let covered = newest.map_or(0, |meta| meta.index);
    if log_first_index > covered + 1 {
        let error = StorageError::SnapshotMissing {
            log_dir: log.location().map(Path::to_path_buf),
            snapshot_dir: snapshot_dir.map(Path::to_path_buf),
            log_first_index,
            snapshot_index: newest.map(|meta| meta.index),
        };
        tracing::error!(%error, "refusing to start");
        return Err(error.into());
    }
    let Some(meta) = newest else {
        return Ok(());
    };
    let log_last_index = log.last_index();
    let log_reaches_it = meta.index <= log_last_index && log.term(meta.index) == Ok(meta.term);
    if !log_reaches_it {
        tracing::warn!(
            snapshot_index = meta.index,
            snapshot_term = meta.term,
            log_first_index,
            log_last_index,
            "finishing the install of a received snapshot interrupted by a restart: \
             resetting the log to it"
        );
        log.reset(meta.index, meta.term)?;
    }
    Ok(())
}
