//! Rebuilding a node whose log is damaged beyond recovery: keep its identity
//! and its vote, discard its log and snapshots (moved aside, never deleted),
//! and set a repair point so that it does not vote until a leader has
//! brought it back. The `ordo` server runs this as `ordo repair --data DIR`.
//!
//! Why each step:
//! - **The vote is kept.** A node that forgot a vote could vote twice in one
//!   term and elect two leaders. It is the newer of the `VOTE` file's and
//!   the newest hard state the survey read. A readable `VOTE` file proves it
//!   (every hard state a sync reported durable was written there first);
//!   without one (a log from before the file existed), damage after the last
//!   hard state read in write order means a newer one may have been lost,
//!   and repair refuses unless forced. The rebuilt log writes its own file.
//! - **The repair point is a sound bound**: the highest index any readable
//!   record or header names (or a snapshot's file name, as a lost reset
//!   record can name at most the snapshot it installed), plus as many entries
//!   as the damaged bytes could hold. Until the node's log reaches it again,
//!   the node may lack an entry it acknowledged, so it must not vote.
//! - **The cluster stays the node's.** A log whose segments name another
//!   cluster id than the node's is not repaired (its vote is another
//!   cluster's); the rebuilt log names the node's id, or the one the old
//!   log names. Never another, never silently none.
//! - **Crash safety**: the new log (hard state and `REPAIR` file) is built
//!   and synced in the aside directory first, then swapped in by two renames.
//!   A crash between them leaves no log directory, which the server refuses
//!   to start on (never an empty log with a forgotten vote).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ordo_core::{HardState, Index};

use crate::storage::error::StorageError;
use crate::storage::fs::{FileSystem, StdFs, create_dir_durably};
use crate::storage::lock::DirLock;
use crate::storage::log_store::LogStore;
use crate::storage::wal::repair_file::{self, RepairRecord};
use crate::storage::wal::{WalConfig, WalLogStore, survey, vote_file};

/// How [`repair_log_dir`] runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairOptions {
    /// The node's snapshot directory, moved aside too (and its snapshots'
    /// indexes counted into the repair point). `None`: the node has none.
    pub snapshot_dir: Option<PathBuf>,
    /// A new directory to move the damaged files into (`wal/` and
    /// `snapshots/` inside it). Must not exist yet, and must be on the same
    /// file system as the log.
    pub aside_dir: PathBuf,
    /// Repair even if the newest hard state cannot be proven readable: the
    /// node may then have forgotten a vote (a double vote in that term is
    /// possible). For an operator who knows the term has passed.
    pub force: bool,
    /// The node's cluster id (as [`WalConfig::cluster_id`]): a log whose
    /// segments name another is not repaired, and the rebuilt log names
    /// this one. `None`: the id the log's segments name is kept (a log
    /// whose segments name two is not repaired).
    pub cluster_id: Option<String>,
}

/// What [`repair_log_dir`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairReport {
    /// The hard state (term and vote) the rebuilt log starts with.
    pub hard_state: HardState,
    /// Whether `hard_state` is provably the newest the node recorded.
    pub hard_state_proven: bool,
    /// The repair point: the node withholds its vote until its log reaches it.
    pub repair_point: Index,
    /// Bytes of the old log that could not be read.
    pub damaged_bytes: u64,
    /// Where the old log and snapshots went.
    pub aside_dir: PathBuf,
}

/// Rebuilds the log in `log_dir` for a node to be brought back by its
/// leader. The node must be stopped (both directories are locked while this
/// runs).
///
/// It keeps the newest readable hard state (a node that forgot a vote could
/// vote twice in one term), moves the damaged log and snapshots aside
/// (never deletes them), and sets a repair point: the highest index any
/// readable record, header or snapshot names, plus as many entries as the
/// damaged bytes could hold. Until its log reaches that point again the node
/// does not vote. The new log is built and synced aside first, then swapped
/// in by renames, so a crash leaves either the old log or the new one, or
/// no log directory (which the server refuses to start on).
///
/// # Errors
/// [`StorageError::Locked`] if a node holds a directory;
/// [`StorageError::RepairRefused`] if the newest hard state cannot be proven
/// readable and `force` is off, or `aside_dir` exists; I/O errors.
pub fn repair_log_dir(
    log_dir: &Path,
    options: &RepairOptions,
) -> Result<RepairReport, StorageError> {
    let fs: Arc<dyn FileSystem> = Arc::new(StdFs);
    let refuse = |reason: String| StorageError::RepairRefused {
        dir: log_dir.to_path_buf(),
        reason,
    };
    if !log_dir.is_dir() {
        return Err(refuse("there is no log directory to repair".to_string()));
    }
    if options.aside_dir.exists() {
        let reason = format!("{} exists already", options.aside_dir.display());
        return Err(refuse(reason));
    }
    let log_lock = DirLock::acquire(log_dir)?;
    let snapshot_dir = options.snapshot_dir.as_deref().filter(|dir| dir.is_dir());
    let snapshot_lock = snapshot_dir.map(DirLock::acquire).transpose()?;
    let found = survey::survey(fs.as_ref(), log_dir)?;
    if found.newest_hard_state.is_none() && found.index_max == 0 && found.damaged_bytes == 0 {
        // Not even --force: with no segment left, nothing bounds what the
        // node acknowledged (a VOTE file keeps only its vote), so no repair
        // point could be sound.
        return Err(refuse(
            "the log holds no segment: nothing tells which entries the node acknowledged; \
             remove the node from the cluster and add it back with a new id and an empty \
             directory"
                .to_string(),
        ));
    }
    let vote_file = match vote_file::read(fs.as_ref(), log_dir) {
        Ok(state) => state,
        Err(error) if options.force => {
            tracing::warn!(%error, "ignoring an unreadable hard state file (--force)");
            None
        }
        Err(error) => {
            return Err(refuse(format!(
                "the hard state file is unreadable ({error}), so the node's term and vote may \
                 be lost; rerun with --force only if every node has moved past the newest term \
                 the log shows"
            )));
        }
    };
    // Every hard state a sync reported durable was in the file first, so a
    // readable file proves the newest one that matters, whatever the damage.
    let hard_state_proven = vote_file.is_some()
        || (found.newest_hard_state.is_some() && !found.damage_after_hard_state);
    if !hard_state_proven && !options.force {
        return Err(refuse(format!(
            "the newest hard state (term and vote) cannot be proven readable: damage follows \
             the last one read ({:?}), so the node may forget a vote; rerun with --force only \
             if every node has moved past that term",
            found.newest_hard_state
        )));
    }
    let in_log = found.newest_hard_state.unwrap_or_default();
    let hard_state = match vote_file::newer(log_dir, in_log, vote_file) {
        Ok(newer) => newer,
        Err(error) => match vote_file {
            Some(in_file) if options.force => in_file,
            _ => {
                return Err(refuse(format!(
                    "{error}; rerun with --force to keep the file's vote"
                )));
            }
        },
    };
    let older_point = match repair_file::read(fs.as_ref(), log_dir) {
        Ok(record) => record.map(|record| record.point),
        Err(error) if options.force => {
            tracing::warn!(%error, "ignoring an unreadable repair point (--force)");
            None
        }
        Err(error) => {
            return Err(refuse(format!(
                "the old repair point is unreadable ({error}), so the bound on what the node \
                 lost is unknown; rerun with --force only if the node's data was never cut"
            )));
        }
    };
    let cluster_id =
        rebuilt_cluster_id(&found.cluster_ids, options.cluster_id.as_deref()).map_err(refuse)?;
    let snapshot_index = snapshot_dir.map_or(0, highest_snapshot_index);
    let repair_point = found
        .index_bound()
        .max(snapshot_index)
        .max(older_point.unwrap_or(0));

    create_dir_durably(fs.as_ref(), &options.aside_dir)?;
    let new_log = options.aside_dir.join("new-wal");
    build_log(&new_log, hard_state, repair_point, cluster_id)?;
    let old_log = options.aside_dir.join("wal");
    rename_durably(fs.as_ref(), log_dir, &old_log)?;
    rename_durably(fs.as_ref(), &new_log, log_dir)?;
    if let Some(snapshot_dir) = snapshot_dir {
        rename_durably(
            fs.as_ref(),
            snapshot_dir,
            &options.aside_dir.join("snapshots"),
        )?;
    }
    drop((log_lock, snapshot_lock));
    let report = RepairReport {
        hard_state,
        hard_state_proven,
        repair_point,
        damaged_bytes: found.damaged_bytes,
        aside_dir: options.aside_dir.clone(),
    };
    tracing::warn!(
        ?report,
        "log rebuilt; the node will not vote until a leader brings it back"
    );
    Ok(report)
}

/// The cluster id the rebuilt log names: the node's, which every id the
/// old log's segments name must equal (`ids`), or else the one they name.
/// Never silently another: a log of another cluster holds another cluster's
/// vote, which repair would keep. Refused with the reason.
fn rebuilt_cluster_id(
    ids: &BTreeSet<Vec<u8>>,
    node_cluster_id: Option<&str>,
) -> Result<Option<String>, String> {
    let names = || {
        ids.iter()
            .map(|id| format!("{:?}", String::from_utf8_lossy(id)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match node_cluster_id {
        Some(wanted) if ids.iter().any(|id| id != wanted.as_bytes()) => Err(format!(
            "the log's segments name cluster id {}, not this node's {wanted:?}: the log belongs \
             to another cluster and repair would keep that cluster's vote; remove the data \
             directory and add the node to its cluster as a new member",
            names()
        )),
        Some(wanted) => Ok(Some(wanted.to_owned())),
        None if ids.len() > 1 => Err(format!(
            "the log's segments name several cluster ids ({}): segments of another cluster's \
             log were mixed in; say which cluster the node belongs to",
            names()
        )),
        None => Ok(ids
            .first()
            .map(|id| String::from_utf8_lossy(id).into_owned())),
    }
}

/// An empty log at `dir` holding `hard_state` and the repair point, synced,
/// naming `cluster_id` in its segment header.
fn build_log(
    dir: &Path,
    hard_state: HardState,
    repair_point: Index,
    cluster_id: Option<String>,
) -> Result<(), StorageError> {
    let config = WalConfig {
        cluster_id,
        ..WalConfig::default()
    };
    let log = WalLogStore::open(dir, config)?;
    log.save_hard_state(hard_state)?;
    log.sync()?;
    drop(log);
    // The snapshots' indexes are in the point already, and they are moved
    // aside: no install can be left to finish, so no cut entries to count.
    let record = RepairRecord {
        point: repair_point,
        entries_cut: 0,
    };
    repair_file::write(&StdFs, dir, record, true)
}

fn rename_durably(fs: &dyn FileSystem, from: &Path, to: &Path) -> Result<(), StorageError> {
    fs.rename(from, to)
        .map_err(|source| StorageError::io("move aside", from, source))?;
    for parent in [from.parent(), to.parent()].into_iter().flatten() {
        fs.sync_dir(parent)
            .map_err(|source| StorageError::io("fsync the directory", parent, source))?;
    }
    Ok(())
}

/// The highest index a snapshot file name in `dir` names (finished,
/// temporary or incoming alike): `snap-<index>-<term>...`.
fn highest_snapshot_index(dir: &Path) -> Index {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| name.strip_prefix("snap-")?.get(..20)?.parse::<Index>().ok())
        .max()
        .unwrap_or(0)
}
