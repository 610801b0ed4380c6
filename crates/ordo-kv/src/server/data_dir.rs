//! A node's data directory: who it belongs to, and how it was bootstrapped.
//!
//! ```text
//! DIR/ordo-node.json     identity: format, cluster name and id, node id, bootstrap
//! DIR/wal/*.wal          the Raft log (WalLogStore segments)
//! DIR/snapshots/         store snapshots (SnapshotStore)
//! DIR/restore.backup     a backup to seed a new cluster from (ordo snapshot restore)
//! ```
//!
//! The identity is written once the log exists (its first segment is
//! created by opening it), and checked at every start: a directory that
//! belongs to another node or cluster is refused, because starting on it
//! would make the node vote with someone else's log; so is an identity
//! whose log is gone (no `wal/`, or no segment in it), because a node that
//! lost its log must not vote again under its old id. It also keeps the bootstrap (the first members, or the
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
/// The format written: with the cluster's unique id.
const IDENTITY_FORMAT: u32 = 2;
/// The format before cluster ids: read, never written (see [`Identity::cluster_id`]).
const IDENTITY_FORMAT_WITHOUT_ID: u32 = 1;
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
    /// The cluster's unique id (see `cluster_id.rs`); `None` only in files
    /// of format 1, whose cluster goes on using its name as its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// The node's id.
    pub node_id: NodeId,
    /// How it joined.
    pub bootstrap: RecordedBootstrap,
}

impl Identity {
    /// A new identity (the current format).
    pub fn new(
        cluster: String,
        cluster_id: String,
        node_id: NodeId,
        bootstrap: RecordedBootstrap,
    ) -> Self {
        Identity {
            format: IDENTITY_FORMAT,
            cluster,
            cluster_id: Some(cluster_id),
            node_id,
            bootstrap,
        }
    }

    /// The id the node presents to its peers: the cluster's unique id, or
    /// for a directory of format 1 its name (what the handshake checked
    /// before ids existed, so an old cluster upgrades node by node).
    pub fn cluster_id(&self) -> &str {
        self.cluster_id.as_deref().unwrap_or(&self.cluster)
    }
}

/// Who a node is told it is, to check a data directory against.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// The cluster's name (`--cluster`).
    pub cluster: &'a str,
    /// The cluster's id, if the operator gave it (`--cluster-id`).
    pub cluster_id: Option<&'a str>,
    /// The node's id (`--id`).
    pub node_id: NodeId,
}

/// An opened data directory.
#[derive(Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Opens (creating) `root` for the node `expected` describes, and
    /// returns the identity recorded there, if any (none: the node's first
    /// start).
    ///
    /// # Errors
    /// The directory cannot be created or read; its identity is unreadable
    /// or names another node or cluster; its log is gone; it holds a log
    /// but no identity.
    pub fn open(root: &Path, expected: Expected<'_>) -> anyhow::Result<(Self, Option<Identity>)> {
        let Expected {
            cluster, node_id, ..
        } = expected;
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
            Some(found)
                if expected
                    .cluster_id
                    .is_some_and(|wanted| wanted != found.cluster_id()) =>
            {
                bail!(
                    "the data directory {} belongs to cluster {:?} with id {}, not to the cluster \
                     with id {}: it is another cluster's node (same name, another bootstrap); \
                     give this node its own --data directory",
                    root.display(),
                    found.cluster,
                    found.cluster_id(),
                    expected.cluster_id.unwrap_or_default()
                )
            }
            Some(_) if !dir.wal_dir().exists() => bail!(
                "the data directory {} belongs to node {node_id} but its log ({}) is gone; a node \
                 that lost its log must not vote again under its old id: remove it from the \
                 cluster and add it back with a new id and an empty directory",
                root.display(),
                dir.wal_dir().display()
            ),
            Some(_) if segments(&dir.wal_dir())?.is_empty() => bail!(
                "the data directory {} belongs to node {node_id} but its log has no segment left \
                 ({} holds no *.wal file): a node that lost its log must not vote again under \
                 its old id, and nothing tells what it acknowledged, so `ordo repair --data {}` \
                 cannot rebuild it either: remove it from the cluster and add it back with a new \
                 id and an empty directory",
                root.display(),
                dir.wal_dir().display(),
                root.display()
            ),
            Some(_) => {}
            None if has_entries(&dir.wal_dir()) => bail!(
                "the data directory {} holds a log but no {IDENTITY_FILE}; it was not written by \
                 `ordo serve` (or the file was removed), or its first start stopped before \
                 recording who it is (then remove the directory): refusing to guess whose it is",
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
        let consistent = match identity.format {
            IDENTITY_FORMAT => identity.cluster_id.is_some(),
            IDENTITY_FORMAT_WITHOUT_ID => identity.cluster_id.is_none(),
            other => bail!(
                "{} has format {other}; this build reads formats \
                 {IDENTITY_FORMAT_WITHOUT_ID} and {IDENTITY_FORMAT}",
                path.display()
            ),
        };
        if !consistent {
            bail!(
                "{} is damaged (format and cluster id disagree)",
                path.display()
            );
        }
        Ok(Some(identity))
    }

    /// Records `identity`, durably (write, fsync, rename, fsync the
    /// directory). On a first start, only once the log exists: from then
    /// on, an identity without a log means the log was lost.
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

/// The log segments (`*.wal`) in `dir`.
fn segments(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries =
        fs::read_dir(dir).with_context(|| format!("cannot read the log in {}", dir.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot read the log in {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|ext| ext == "wal") {
            found.push(path);
        }
    }
    Ok(found)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const CLUSTER_ID: &str = "0123456789abcdef0123456789abcdef";

    fn identity(node_id: NodeId, cluster: &str) -> Identity {
        Identity::new(
            cluster.into(),
            CLUSTER_ID.into(),
            node_id,
            RecordedBootstrap::Initial {
                members: BTreeMap::from([(node_id, "peer=127.0.0.1:1".to_owned())]),
            },
        )
    }

    fn expected(cluster: &str, node_id: NodeId) -> Expected<'_> {
        Expected {
            cluster,
            cluster_id: None,
            node_id,
        }
    }

    /// What opening the log does on a first start: a directory and a segment.
    fn create_log(data: &DataDir) {
        fs::create_dir_all(data.wal_dir()).unwrap();
        fs::write(data.wal_dir().join("00000000000000000001.wal"), b"").unwrap();
    }

    #[test]
    fn a_directory_is_refused_to_another_node_or_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let (data, found) = DataDir::open(dir.path(), expected("ordo", 1)).unwrap();
        assert_eq!(found, None);
        create_log(&data);
        data.write_identity(&identity(1, "ordo")).unwrap();
        let (_, found) = DataDir::open(dir.path(), expected("ordo", 1)).unwrap();
        assert_eq!(found, Some(identity(1, "ordo")));
        let other_node = DataDir::open(dir.path(), expected("ordo", 2)).unwrap_err();
        assert!(
            other_node.to_string().contains("belongs to node 1"),
            "{other_node}"
        );
        let other_cluster = DataDir::open(dir.path(), expected("prod", 1)).unwrap_err();
        assert!(
            other_cluster.to_string().contains("cluster \"ordo\""),
            "{other_cluster}"
        );
        // Same name, another cluster id: another cluster's directory.
        let other_id = Expected {
            cluster_id: Some("ffffffffffffffffffffffffffffffff"),
            ..expected("ordo", 1)
        };
        let other_id = DataDir::open(dir.path(), other_id).unwrap_err().to_string();
        assert!(
            other_id.contains(CLUSTER_ID) && other_id.contains("another cluster"),
            "{other_id}"
        );
        let same_id = Expected {
            cluster_id: Some(CLUSTER_ID),
            ..expected("ordo", 1)
        };
        assert!(DataDir::open(dir.path(), same_id).is_ok());
    }

    #[test]
    fn an_identity_whose_log_segments_are_gone_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (data, _) = DataDir::open(dir.path(), expected("ordo", 1)).unwrap();
        create_log(&data);
        data.write_identity(&identity(1, "ordo")).unwrap();
        fs::remove_file(data.wal_dir().join("00000000000000000001.wal")).unwrap();
        // The directory (and its lock file) stays; the segments are gone.
        fs::write(data.wal_dir().join("LOCK"), b"").unwrap();
        let error = DataDir::open(dir.path(), expected("ordo", 1))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no *.wal file") && error.contains("ordo repair --data"),
            "{error}"
        );
        fs::remove_dir_all(data.wal_dir()).unwrap();
        let error = DataDir::open(dir.path(), expected("ordo", 1))
            .unwrap_err()
            .to_string();
        assert!(error.contains("is gone"), "{error}");
    }

    #[test]
    fn an_identity_of_the_format_before_cluster_ids_uses_its_name_as_id() {
        let dir = tempfile::tempdir().unwrap();
        let (data, _) = DataDir::open(dir.path(), expected("ordo", 1)).unwrap();
        create_log(&data);
        fs::write(
            dir.path().join(IDENTITY_FILE),
            r#"{"format":1,"cluster":"ordo","node_id":1,
               "bootstrap":{"initial":{"members":{"1":"peer=127.0.0.1:1"}}}}"#,
        )
        .unwrap();
        let (_, found) = DataDir::open(dir.path(), expected("ordo", 1)).unwrap();
        let found = found.unwrap();
        assert_eq!(
            (found.cluster_id.as_deref(), found.cluster_id()),
            (None, "ordo")
        );
        // Format 2 without an id, or format 1 with one, is damage.
        fs::write(
            dir.path().join(IDENTITY_FILE),
            r#"{"format":2,"cluster":"ordo","node_id":1,
               "bootstrap":{"initial":{"members":{}}}}"#,
        )
        .unwrap();
        let damaged = DataDir::open(dir.path(), expected("ordo", 1)).unwrap_err();
        assert!(damaged.to_string().contains("damaged"), "{damaged}");
    }

    #[test]
    fn a_damaged_identity_or_an_anonymous_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(IDENTITY_FILE), b"{not json").unwrap();
        let damaged = DataDir::open(dir.path(), expected("ordo", 1)).unwrap_err();
        assert!(damaged.to_string().contains("damaged"), "{damaged}");
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("wal")).unwrap();
        // An empty log directory (a first start that stopped early) is fresh...
        assert!(DataDir::open(dir.path(), expected("ordo", 1)).is_ok());
        // ...one with something in it belongs to someone.
        fs::write(dir.path().join("wal").join("segment"), b"x").unwrap();
        let anonymous = DataDir::open(dir.path(), expected("ordo", 1)).unwrap_err();
        assert!(
            anonymous.to_string().contains("no ordo-node.json"),
            "{anonymous}"
        );
    }
}
