//! `ordo bench --protocol etcd` against an in-process 3-node cluster, with a
//! dead endpoint in its list: it finds the leader by `Maintenance.Status`,
//! its counts agree with the revisions the cluster made, and the reads sent
//! to the dead endpoint are counted as errors, not lost or fatal.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use ordo_kv::client::{BenchConfig, Consistency, Endpoint, run_etcd_bench};
use ordo_kv::server::etcd::pb::etcdserverpb::{self as pb, kv_client::KvClient};
use support::{PATIENCE, eventually, free_port, leader_of, start_cluster};

const CLIENTS: usize = 8;

/// The cluster's revision, read through the etcd API of `url`; retried
/// while a new leader cannot serve linearizable reads yet.
async fn revision(url: &str) -> i64 {
    let read = || async {
        let mut kv = KvClient::connect(url.to_owned())
            .await
            .map_err(|error| error.to_string())?;
        let answer = kv
            .range(pb::RangeRequest {
                key: Bytes::from_static(b"any"),
                ..Default::default()
            })
            .await
            .map_err(|status| status.to_string())?
            .into_inner();
        answer
            .header
            .map(|header| header.revision)
            .ok_or_else(|| "no header".to_owned())
    };
    eventually(
        "a range to answer",
        PATIENCE,
        Duration::from_millis(20),
        read,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_etcd_bench_finds_the_leader_and_counts_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(3, dir.path()).await;
    let leader = leader_of(&nodes).await;
    let leader_url = nodes[leader].client_url.clone();
    let dead_url = format!("http://127.0.0.1:{}", free_port());
    // Four endpoints, so clients 3 and 7 read from the dead one.
    let mut urls: Vec<String> = nodes.iter().map(|node| node.client_url.clone()).collect();
    urls.push(dead_url);
    let endpoints: Vec<Endpoint> = urls
        .iter()
        .map(|url| Endpoint::parse(url).unwrap())
        .collect();
    let before = revision(&leader_url).await;

    let config = BenchConfig {
        clients: CLIENTS,
        duration: Duration::from_millis(1500),
        // No warm-up, so every acknowledged put is counted.
        warmup: Duration::ZERO,
        keys: 100,
        value_size: 100,
        read_ratio: 0.5,
        consistency: Consistency::Linearizable,
        key_prefix: "etcd-bench-".to_owned(),
        show_progress: false,
    };
    let summary = run_etcd_bench(&endpoints, 2, &config).await.unwrap();
    let after = revision(&leader_url).await;

    assert_eq!(summary.leader.as_deref(), Some(leader_url.as_str()));
    assert!(summary.writes.count > 0, "{summary:?}");
    assert!(summary.reads.count > 0, "{summary:?}");
    assert_eq!(
        summary.total_ops,
        summary.writes.count + summary.reads.count
    );
    let expected_rate = summary.total_ops as f64 / 1.5;
    assert!(
        (summary.ops_per_sec - expected_rate).abs() < 1.0,
        "{summary:?}"
    );
    for latency in [&summary.writes, &summary.reads] {
        assert!(
            0 < latency.p50_us
                && latency.p50_us <= latency.p99_us
                && latency.p99_us <= latency.max_us,
            "{latency:?}"
        );
    }
    // Each acknowledged put made one revision, and so did the first put;
    // at most one put per client was cut off at the end yet committed.
    let made = u64::try_from(after - before).unwrap();
    let acknowledged = summary.writes.count + 1;
    assert!(
        (acknowledged..=acknowledged + CLIENTS as u64).contains(&made),
        "{made} revisions for {acknowledged} acknowledged puts"
    );
    // Puts went to the leader and never failed; the dead endpoint's reads did.
    let unavailable = summary.errors.get("grpc:Unavailable").copied().unwrap_or(0);
    assert!(unavailable > 0, "{:?}", summary.errors);
    assert_eq!(
        summary.errors.values().sum::<u64>(),
        unavailable,
        "{:?}",
        summary.errors
    );
    for node in nodes {
        node.stop().await;
    }
}
