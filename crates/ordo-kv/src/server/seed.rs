//! Seeding a new cluster from a backup (`ordo snapshot restore`).
//!
//! `ordo snapshot restore FILE --data DIR` checks FILE and copies it to
//! `DIR/restore.backup` (a backup saved by `etcdctl snapshot save` without
//! its frame: `etcd/snapshot_envelope.rs`). At the node's next start, if its stores are still
//! empty, the backup becomes the cluster's first snapshot on this node
//! ([`ordo::seed_snapshot`]); the file is then renamed `restore.backup.used`.
//! Every first member must be seeded from the same file (`ordo dev` does it
//! for its nodes): a member that starts empty would hold a different state.
//! A node that joins later gets the state from the leader, so seeding a
//! joining node is refused.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use anyhow::{Context, bail};
use ordo::storage::{LogStore, SnapshotStore};
use ordo::{MemberInfo, Membership, NodeId};

use crate::server::data_dir::{RESTORE_FILE, RecordedBootstrap};
use crate::server::etcd::snapshot_envelope::framed_backup_length;
use crate::server::member_address::MemberAddress;
use crate::store::read_backup_summary;

/// Seeds the stores from `backup` if they are empty, then marks it used.
///
/// # Errors
/// A damaged backup, a joining node, or a store that cannot be written.
pub fn from_restore_file(
    backup: &Path,
    bootstrap: &RecordedBootstrap,
    log: &dyn LogStore,
    snapshots: &SnapshotStore,
) -> anyhow::Result<()> {
    // Empty, or seeded up to the snapshot when the process stopped (the
    // runtime then finishes the seed): either way, seed.
    let seedable = match snapshots.latest()? {
        None => log.last_index() == 0 && log.hard_state().term == 0,
        Some(newest) => ordo::is_unfinished_seed(log, &newest),
    };
    if seedable {
        let Some((membership, addresses)) = initial_membership(bootstrap) else {
            bail!(
                "{} is for seeding a new cluster; a joining node gets its data from the cluster. \
                 Remove the file, or start this node with --initial-cluster",
                backup.display()
            );
        };
        let open =
            || fs::File::open(backup).with_context(|| format!("cannot read {}", backup.display()));
        let summary = read_backup_summary(&mut BufReader::new(open()?))
            .with_context(|| format!("{} is not a usable backup", backup.display()))?;
        ordo::seed_snapshot(
            log,
            snapshots,
            membership,
            addresses,
            &mut BufReader::new(open()?),
        )
        .with_context(|| format!("cannot seed from {}", backup.display()))?;
        tracing::info!(
            keys = summary.keys,
            revision = summary.cluster_revision,
            "seeded the store from {}",
            backup.display()
        );
    } else {
        tracing::warn!(
            "{} is left from an earlier seed (the stores are not empty); not using it",
            backup.display()
        );
    }
    let used = backup.with_file_name(format!("{RESTORE_FILE}.used"));
    fs::rename(backup, &used)
        .with_context(|| format!("cannot rename {} to {}", backup.display(), used.display()))?;
    Ok(())
}

/// `ordo snapshot restore FILE --data DIR`: checks `file` and places it in
/// `data` for the next start.
///
/// # Errors
/// A damaged backup, or a data directory that already holds a node.
pub fn place_restore_file(file: &Path, data: &Path) -> anyhow::Result<crate::store::BackupSummary> {
    let mut input =
        fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    // A backup saved by `etcdctl snapshot save` is framed; the frame stays out.
    let length = framed_backup_length(&mut input)
        .with_context(|| format!("cannot read {}", file.display()))?
        .unwrap_or(u64::MAX);
    let summary = read_backup_summary(&mut BufReader::new((&input).take(length)))
        .with_context(|| format!("{} is not a usable backup", file.display()))?;
    let occupied = fs::read_dir(data).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        bail!(
            "{} is not empty; restore into a new, empty directory",
            data.display()
        );
    }
    fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))?;
    let target = data.join(RESTORE_FILE);
    let temporary = data.join(format!("{RESTORE_FILE}.tmp"));
    let copied = (|| {
        input.seek(std::io::SeekFrom::Start(0))?;
        let mut output = fs::File::create(&temporary)?;
        std::io::copy(&mut (&input).take(length), &mut output)?;
        output.sync_all()
    })();
    copied.with_context(|| format!("cannot write {}", temporary.display()))?;
    fs::rename(&temporary, &target)?;
    // The rename is durable only once the directory is.
    fs::File::open(data)?.sync_all()?;
    Ok(summary)
}

/// The voters of a new cluster and their node addresses, for seeding.
/// Only what every first member knows alike (node addresses, not client
/// URLs), so that the seeded snapshot is the same on every node; each
/// leader then logs its own client URL.
fn initial_membership(
    bootstrap: &RecordedBootstrap,
) -> Option<(Membership, BTreeMap<NodeId, MemberInfo>)> {
    match bootstrap {
        RecordedBootstrap::Initial { members } => {
            let addresses = members
                .iter()
                .map(|(&id, address)| {
                    let peer = MemberAddress::parse(address).peer.unwrap_or_default();
                    (id, MemberInfo::default().with_peer_address(peer))
                })
                .collect();
            Some((Membership::with_voters(members.keys().copied()), addresses))
        }
        RecordedBootstrap::Joined { .. } => None,
    }
}
