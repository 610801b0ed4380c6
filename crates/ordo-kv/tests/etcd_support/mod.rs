//! Shared by the tests that drive etcd's gRPC API through failures
//! (`etcd_linearizable.rs`, `etcd_failover.rs`): a 3-node cluster with
//! short election timeouts, channels to its nodes, and the leader as the
//! nodes still answering see it (a paused node answers nothing, so
//! [`e2e_support::Cluster::wait_for_leader`], which asks every running
//! node, cannot be used while one is stopped).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

pub mod history;
pub mod traffic;
pub mod watch_stream;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use tonic::transport::{Channel, Endpoint};

use crate::e2e_support::Cluster;

/// Election timeouts short enough that a failover fits a bounded test, long
/// enough that a loaded 2-core machine does not elect for nothing.
pub const TIMING: [&str; 4] = [
    "--election-timeout-min-ms",
    "500",
    "--election-timeout-max-ms",
    "1000",
];

/// How long a connection attempt to a node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A channel to node `id`'s client port, connected on first use (so a
/// killed or paused node fails its calls instead of this function).
pub fn channel(cluster: &Cluster, id: u64) -> Channel {
    Endpoint::from_shared(cluster.url(id))
        .unwrap()
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .connect_lazy()
}

/// A channel to every node of `cluster`, by id.
pub fn channels(cluster: &Cluster) -> BTreeMap<u64, Channel> {
    cluster
        .ids()
        .into_iter()
        .map(|id| (id, channel(cluster, id)))
        .collect()
}

/// `text` as a key or value.
pub fn bytes(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

/// The leader that every node of `ids` names, once they agree on one of
/// `ids`; panics after `within` with the cluster's logs.
pub async fn leader_among(cluster: &Cluster, ids: &[u64], within: Duration) -> u64 {
    let what = format!("nodes {ids:?} to agree on a leader among them");
    cluster
        .eventually(&what, within, || async move {
            let mut leaders = BTreeSet::new();
            for &id in ids {
                let view = cluster
                    .view(id)
                    .await
                    .ok_or_else(|| format!("node {id} does not answer"))?;
                leaders.insert(view.leader.ok_or_else(|| format!("node {id}: no leader"))?);
            }
            match leaders.into_iter().collect::<Vec<_>>()[..] {
                [leader] if ids.contains(&leader) => Ok(leader),
                ref seen => Err(format!("leaders seen: {seen:?}")),
            }
        })
        .await
}

/// Every node of `cluster` but `excluded`.
pub fn others(cluster: &Cluster, excluded: u64) -> Vec<u64> {
    cluster
        .ids()
        .into_iter()
        .filter(|&id| id != excluded)
        .collect()
}
