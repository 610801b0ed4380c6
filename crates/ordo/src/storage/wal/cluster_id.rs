//! Which cluster a log belongs to. A segment written with a cluster id names
//! it in its header (format version 2, `record.rs`); one written without (a
//! version 1 header: from a build before ids, or a store opened without one)
//! names none and fits any cluster.
//!
//! At open, before anything on disk changes (the `POISONED` cut, recovery's
//! cut of a torn tail), every segment header that reads is checked: each id
//! it names must be the configured one or, with none configured, the one
//! the other segments name. Otherwise the open is refused with
//! [`StorageError::ClusterMismatch`]: a `wal/` directory copied in from
//! another cluster's node would otherwise be served, and voted with, under
//! this node's identity. Headers that do not read are left to recovery, which
//! cuts or refuses them.
//!
//! New segments carry the configured id, else the one the log names, so an
//! id once written is never dropped. A log whose segments name none (one
//! written before ids) takes the configured id with its next segment, the
//! one every open starts.

use std::path::Path;

use crate::storage::error::StorageError;
use crate::storage::fs::FileSystem;
use crate::storage::wal::record::{self, SEGMENT_HEADER_BYTES_MAX};
use crate::storage::wal::recovery::{segment_path, segment_seqs};

/// Checks the cluster ids the segments of `dir` name against `configured`
/// and each other; returns the id new segments carry (empty: none).
pub(crate) fn check(
    fs: &dyn FileSystem,
    dir: &Path,
    configured: Option<&[u8]>,
) -> Result<Vec<u8>, StorageError> {
    let mut expected = configured.map(|id| (id.to_vec(), "this node's cluster id"));
    let mut segments_without_id = 0usize;
    for seq in segment_seqs(fs, dir)? {
        let path = segment_path(dir, seq);
        let Some(found) = read_cluster_id(fs, &path)? else {
            continue;
        };
        if found.is_empty() {
            segments_without_id += 1;
            continue;
        }
        match &expected {
            Some((wanted, _)) if *wanted == found => {}
            Some((wanted, expected_from)) => {
                return Err(StorageError::ClusterMismatch {
                    dir: dir.to_path_buf(),
                    segment: path,
                    found: shown(&found),
                    expected: shown(wanted),
                    expected_from,
                });
            }
            None => expected = Some((found, "the cluster id its earlier segments name")),
        }
    }
    if let Some(id) = configured
        && segments_without_id > 0
    {
        tracing::info!(
            dir = %dir.display(),
            segments = segments_without_id,
            cluster_id = %shown(id),
            "log segments written before cluster ids are accepted; new segments name the cluster"
        );
    }
    Ok(expected.map(|(id, _)| id).unwrap_or_default())
}

/// The cluster id segment `path` names (empty: none), or `None` if its
/// header does not read (recovery decides what that is).
fn read_cluster_id(fs: &dyn FileSystem, path: &Path) -> Result<Option<Vec<u8>>, StorageError> {
    let file = fs
        .open(path)
        .map_err(|source| StorageError::io("open", path, source))?;
    let len = file
        .size_bytes()
        .map_err(|source| StorageError::io("stat", path, source))?;
    let mut bytes = vec![0u8; len.min(SEGMENT_HEADER_BYTES_MAX as u64) as usize];
    file.read_exact_at(&mut bytes, 0)
        .map_err(|source| StorageError::io("read", path, source))?;
    Ok(record::decode_header(&bytes)
        .ok()
        .map(|(header, _)| header.cluster_id))
}

/// A cluster id for a message (ids are text in practice; bytes are shown
/// lossily rather than refused).
pub(crate) fn shown(id: &[u8]) -> String {
    String::from_utf8_lossy(id).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use ordo_core::{Entry, LogRead};

    use super::*;

    use crate::storage::log_store::LogStore;
    use crate::storage::wal::record::{FORMAT_VERSION, FORMAT_VERSION_WITHOUT_CLUSTER_ID};
    use crate::storage::wal::{WalConfig, WalLogStore};
    use crate::storage::{Durability, StorageError};

    const CLUSTER_A: &str = "0123456789abcdef0123456789abcdef";
    const CLUSTER_B: &str = "fedcba9876543210fedcba9876543210";

    fn config(cluster_id: Option<&str>) -> WalConfig {
        WalConfig {
            durability: Durability::Never,
            cluster_id: cluster_id.map(str::to_owned),
            ..WalConfig::default()
        }
    }

    /// A log of three entries over `opens` opens (a segment each), written
    /// with `cluster_id`.
    fn write_log(dir: &Path, cluster_id: Option<&str>, opens: u64) {
        for index in 1..=opens {
            let log = WalLogStore::open(dir, config(cluster_id)).unwrap();
            log.append(&[Entry::command(index, 1, &b"x"[..])]).unwrap();
            log.sync().unwrap();
        }
    }

    /// Each segment's header version and cluster id, oldest first.
    fn headers(dir: &Path) -> Vec<(u32, Vec<u8>)> {
        segment_seqs(&crate::storage::fs::StdFs, dir)
            .unwrap()
            .into_iter()
            .map(|seq| {
                let bytes = std::fs::read(segment_path(dir, seq)).unwrap();
                let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
                (version, record::decode_header(&bytes).unwrap().0.cluster_id)
            })
            .collect()
    }

    #[test]
    fn a_log_names_its_cluster_in_every_segment_and_reopens_with_it() {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), Some(CLUSTER_A), 2);
        let log = WalLogStore::open(dir.path(), config(Some(CLUSTER_A))).unwrap();
        assert_eq!(log.last_index(), 2);
        drop(log);
        let named = (FORMAT_VERSION, CLUSTER_A.as_bytes().to_vec());
        assert_eq!(headers(dir.path()), vec![named; 3]);
    }

    #[test]
    fn another_clusters_log_is_refused_naming_both_ids_and_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), Some(CLUSTER_A), 2);
        let before = headers(dir.path());
        let error = WalLogStore::open(dir.path(), config(Some(CLUSTER_B))).unwrap_err();
        assert!(
            matches!(&error, StorageError::ClusterMismatch { found, expected, .. }
                if found == CLUSTER_A && expected == CLUSTER_B),
            "{error:?}"
        );
        let message = error.to_string();
        for needed in [
            CLUSTER_A,
            CLUSTER_B,
            &dir.path().display().to_string(),
            "another cluster",
            "own data directory",
            "new member",
        ] {
            assert!(message.contains(needed), "{needed:?} missing: {message}");
        }
        assert_eq!(
            headers(dir.path()),
            before,
            "a refused open wrote a segment"
        );
    }

    #[test]
    fn segments_that_name_two_clusters_are_refused_even_without_an_id_configured() {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), Some(CLUSTER_A), 1);
        // A segment of another cluster's log, numbered to follow.
        let other = tempfile::tempdir().unwrap();
        write_log(other.path(), Some(CLUSTER_B), 2);
        std::fs::copy(segment_path(other.path(), 2), segment_path(dir.path(), 2)).unwrap();
        let error = WalLogStore::open(dir.path(), config(None)).unwrap_err();
        assert!(
            matches!(&error, StorageError::ClusterMismatch { found, expected, expected_from, .. }
                if found == CLUSTER_B && expected == CLUSTER_A
                    && expected_from.contains("earlier segments")),
            "{error:?}"
        );
    }

    /// An existing data directory upgrades: segments without an id (version
    /// 1, as builds before ids wrote them) are accepted under any id, and
    /// the next segment names it; from then on another id is refused.
    #[test]
    fn a_log_without_ids_is_accepted_and_its_next_segment_names_the_cluster() {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), None, 2);
        let unnamed = (FORMAT_VERSION_WITHOUT_CLUSTER_ID, Vec::new());
        assert_eq!(headers(dir.path()), vec![unnamed.clone(); 2]);
        let log = WalLogStore::open(dir.path(), config(Some(CLUSTER_A))).unwrap();
        assert_eq!(log.last_index(), 2);
        drop(log);
        let named = (FORMAT_VERSION, CLUSTER_A.as_bytes().to_vec());
        assert_eq!(
            headers(dir.path()),
            vec![unnamed.clone(), unnamed, named.clone()]
        );
        assert!(matches!(
            WalLogStore::open(dir.path(), config(Some(CLUSTER_B))),
            Err(StorageError::ClusterMismatch { .. })
        ));
        // Opened without an id, the log keeps naming its cluster.
        drop(WalLogStore::open(dir.path(), config(None)).unwrap());
        assert_eq!(headers(dir.path()).last(), Some(&named));
    }

    #[test]
    fn an_unusable_cluster_id_is_a_configuration_error() {
        let dir = tempfile::tempdir().unwrap();
        for id in [
            String::new(),
            "x".repeat(WalConfig::CLUSTER_ID_BYTES_MAX + 1),
        ] {
            assert!(matches!(
                WalLogStore::open(dir.path(), config(Some(&id))),
                Err(StorageError::InvalidConfig(_))
            ));
        }
        let longest = "x".repeat(WalConfig::CLUSTER_ID_BYTES_MAX);
        drop(WalLogStore::open(dir.path(), config(Some(&longest))).unwrap());
        assert!(WalLogStore::open(dir.path(), config(Some(&longest))).is_ok());
    }
}
