//! A node's data directory: who it belongs to, and how it was bootstrapped.
//!
//! ```text
//! DIR/ordo-node.json     identity: format, cluster, node id, bootstrap
//! DIR/wal/               the Raft log (WalLogStore)
//! DIR/snapshots/         store snapshots (SnapshotStore)
//! DIR/restore.backup     a backup to seed a new cluster from (ordo snapshot restore)
//! ```
//!
//! The identity is written before the stores are first opened, and checked
//! at every start: a directory that belongs to another node or cluster is
//! refused, because starting on it would make the node vote with someone
//! else's log. It also keeps the bootstrap (the first members, or the
//! cluster joined): a node restarted before its log recorded any
//! membership must come back with the same view of the group it had, never
//! as a group of its own. After the first start, `--initial-cluster` and
//! `--join` are ignored, as the log knows better.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ordo::NodeId;
use serde::{Deserialize, Serialize};

const IDENTITY_FILE: &str = "ordo-node.json";
const IDENTITY_FORMAT: u32 = 1;
/// Where `ordo snapshot restore` puts a backup to seed from.
pub const RESTORE_FILE: &str = "restore.backup";

/// How the node first became a member, as recorded at its first start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedBootstrap {
    /// A first member; the first members and their member addresses.
    Initial {
        /// Member id to its address string (see `member_address.rs`).
        members: BTreeMap<NodeId, String>,
    },
    /// Joined a running cluster whose voters were these.
    Joined {
        /// Voter id to its address string.
        voters: BTreeMap<NodeId, String>,
    },
}

/// The identity file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// File format version.
    pub format: u32,
    /// The cluster's name.
    pub cluster: String,
    /// The node's id.
    pub node_id: NodeId,
    /// How it joined.
    pub bootstrap: RecordedBootstrap,
}

/// An opened data directory.
#[derive(Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Opens (creating) `root` for node `node_id` of `cluster`, and returns
    /// the identity recorded there, if any (none: the node's first start).
    ///
    /// # Errors
    /// The directory cannot be created or read; its identity is unreadable
    /// or names another node or cluster; it holds a log but no identity.
    pub fn open(
        root: &Path,
        cluster: &str,
        node_id: NodeId,
    ) -> anyhow::Result<(Self, Option<Identity>)> {
        fs::create_dir_all(root)
            .with_context(|| format!("cannot create the data directory {}", root.display()))?;
        let dir = DataDir {
            root: root.to_path_buf(),
        };
        let identity = dir.read_identity()?;
        match &identity {
            Some(found) if found.cluster != cluster || found.node_id != node_id => bail!(
                "the data directory {} belongs to node {} of cluster {:?}, not node {node_id} of \
                 cluster {cluster:?}; give this node its own --data directory",
                root.display(),
                found.node_id,
                found.cluster
            ),
            Some(_) if !dir.wal_dir().exists() => bail!(
                "the data directory {} belongs to node {node_id} but its log ({}) is gone; a node \
                 that lost its log must not vote again under its old id: remove it from the \
                 cluster and add it back with a new id and an empty directory",
                root.display(),
                dir.wal_dir().display()
            ),
            Some(_) => {}
            None if has_entries(&dir.wal_dir()) => bail!(
                "the data directory {} holds a log but no {IDENTITY_FILE}; it was not written by \
                 `ordo serve` (or the file was removed): refusing to guess whose it is",
                root.display()
            ),
            None => {}
        }
        Ok((dir, identity))
    }

    /// The layout of the data directory `root`, without opening or checking it.
    pub fn at(root: &Path) -> Self {
        DataDir {
            root: root.to_path_buf(),
        }
    }

    /// The identity recorded in `root`, if any.
    ///
    /// # Errors
    /// The identity file is unreadable or damaged.
    pub fn identity_at(root: &Path) -> anyhow::Result<Option<Identity>> {
        Self::at(root).read_identity()
    }

    /// Records `identity` for a node's first start, with its (empty) log
    /// directory created first: from then on, an identity without a log
    /// means the log was lost.
    ///
    /// # Errors
    /// I/O errors.
    pub fn create(&self, identity: &Identity) -> anyhow::Result<()> {
        fs::create_dir_all(self.wal_dir())
            .with_context(|| format!("cannot create {}", self.wal_dir().display()))?;
        self.write_identity(identity)
    }

    fn read_identity(&self) -> anyhow::Result<Option<Identity>> {
        let path = self.root.join(IDENTITY_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        let identity: Identity = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is damaged", path.display()))?;
        if identity.format != IDENTITY_FORMAT {
            bail!(
                "{} has format {}; this build reads format {IDENTITY_FORMAT}",
                path.display(),
                identity.format
            );
        }
        Ok(Some(identity))
    }

    /// Records `identity`, durably (write, fsync, rename, fsync the directory).
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_identity(&self, identity: &Identity) -> anyhow::Result<()> {
        let path = self.root.join(IDENTITY_FILE);
        let temporary = self.root.join(format!("{IDENTITY_FILE}.tmp"));
        let bytes = serde_json::to_vec_pretty(identity)?;
        let mut file = fs::File::create(&temporary)
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, &path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        fs::File::open(&self.root)?.sync_all()?;
        Ok(())
    }

    /// The log's directory.
    pub fn wal_dir(&self) -> PathBuf {
        self.root.join("wal")
    }

    /// The snapshots' directory.
    pub fn snapshot_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    /// The backup to seed from, if `ordo snapshot restore` left one.
    pub fn restore_file(&self) -> Option<PathBuf> {
        let path = self.root.join(RESTORE_FILE);
        path.exists().then_some(path)
    }
}

fn has_entries(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn identity(node_id: NodeId, cluster: &str) -> Identity {
        Identity {
            format: IDENTITY_FORMAT,
            cluster: cluster.into(),
            node_id,
            bootstrap: RecordedBootstrap::Initial {
                members: BTreeMap::from([(node_id, "peer=127.0.0.1:1".to_owned())]),
            },
        }
    }

    #[test]
    fn a_directory_is_refused_to_another_node_or_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let (data, found) = DataDir::open(dir.path(), "ordo", 1).unwrap();
        assert_eq!(found, None);
        data.create(&identity(1, "ordo")).unwrap();
        let (_, found) = DataDir::open(dir.path(), "ordo", 1).unwrap();
        assert_eq!(found, Some(identity(1, "ordo")));
        let other_node = DataDir::open(dir.path(), "ordo", 2).unwrap_err();
        assert!(
            other_node.to_string().contains("belongs to node 1"),
            "{other_node}"
        );
        let other_cluster = DataDir::open(dir.path(), "prod", 1).unwrap_err();
        assert!(
            other_cluster.to_string().contains("cluster \"ordo\""),
            "{other_cluster}"
        );
    }

    #[test]
    fn a_damaged_identity_or_an_anonymous_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(IDENTITY_FILE), b"{not json").unwrap();
        let damaged = DataDir::open(dir.path(), "ordo", 1).unwrap_err();
        assert!(damaged.to_string().contains("damaged"), "{damaged}");
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("wal")).unwrap();
        // An empty log directory (a first start that stopped early) is fresh...
        assert!(DataDir::open(dir.path(), "ordo", 1).is_ok());
        // ...one with something in it belongs to someone.
        fs::write(dir.path().join("wal").join("segment"), b"x").unwrap();
        let anonymous = DataDir::open(dir.path(), "ordo", 1).unwrap_err();
        assert!(
            anonymous.to_string().contains("no ordo-node.json"),
            "{anonymous}"
        );
    }
}
