//! A 3-node [`LocalCluster`] set up for tests, and the workload that runs
//! against it.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

pub mod workload;

use std::time::Duration;

use ordo::storage::Durability;
use ordo_taskqueue::local::LocalCluster;
use ordo_taskqueue::state::PlantedBug;
use tempfile::TempDir;

/// A cluster and the directory its nodes keep their data in.
pub struct Cluster {
    pub nodes: LocalCluster,
    _dir: TempDir,
}

impl Cluster {
    /// Starts `size` nodes with `bug` planted in each.
    pub async fn start(size: u64, bug: Option<PlantedBug>) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let nodes = LocalCluster::start(size, dir.path(), |config| {
            config.max_attempts = 10;
            // Nodes are killed in-process: what was written reaches the
            // file (the OS keeps it), so fsync would only cost time.
            config.durability = Durability::Never;
            config.snapshot_threshold_entries = 2_000;
            config.planted_bug = bug;
        });
        let nodes = nodes.await.unwrap();
        Cluster { nodes, _dir: dir }
    }

    /// The index of the leader, once there is one.
    pub async fn wait_for_leader(&self) -> usize {
        let leader = self.nodes.wait_for_leader(Duration::from_secs(5)).await;
        leader.expect("a leader within 5 s")
    }

    /// Kills the leader; returns its index.
    pub async fn kill_leader(&mut self) -> usize {
        let index = self.wait_for_leader().await;
        self.nodes.kill(index).await.unwrap();
        index
    }

    /// Stops every node.
    pub async fn stop(self) {
        self.nodes.stop().await;
    }
}
