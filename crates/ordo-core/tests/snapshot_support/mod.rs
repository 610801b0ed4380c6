//! Shared by the tests of snapshots sent to a follower
//! (`snapshot_content.rs`, `snapshot_size_cap.rs`): a three-node group with
//! node 1 elected and one entry committed, the meta of a snapshot beyond
//! every node's log, and node 3, the follower the tests send it to.

use bytes::Bytes;
use ordo_core::{Config, Membership, MemoryLog, Raft, SnapshotMeta};
use ordo_sim::cluster::Cluster;

/// The group, its nodes accepting snapshots of at most
/// `max_snapshot_bytes`; returns it with the meta of a snapshot ten entries
/// beyond every node's log.
pub(crate) fn elected_group_with_cap(max_snapshot_bytes: u64) -> (Cluster, SnapshotMeta) {
    let config = move |id| Config {
        node_id: id,
        election_timeout_min_ticks: 10,
        election_timeout_max_ticks: 20,
        heartbeat_interval_ticks: 2,
        max_snapshot_bytes,
        ..Config::default()
    };
    let mut cluster = Cluster::new(3, config).unwrap_or_else(|e| panic!("{e}"));
    cluster.campaign(1).unwrap_or_else(|e| panic!("{e}"));
    cluster.stabilize(100).unwrap_or_else(|e| panic!("{e}"));
    let proposal = cluster
        .propose(1, vec![Bytes::from_static(b"a")])
        .unwrap_or_else(|e| panic!("{e}"));
    cluster.stabilize(100).unwrap_or_else(|e| panic!("{e}"));
    let meta = SnapshotMeta {
        index: proposal.last_index + 10,
        term: proposal.term,
        membership: Membership::with_voters([1, 2, 3]),
    };
    (cluster, meta)
}

/// The follower the tests send snapshots to.
pub(crate) fn node3(cluster: &mut Cluster) -> &mut Raft<MemoryLog> {
    let Some(raft) = cluster.nodes.get_mut(&3).and_then(|n| n.raft.as_mut()) else {
        panic!("node 3 is up");
    };
    raft
}
