//! Watch against real `ordo serve` processes: a follower's stream shows
//! exactly the writes the cluster committed, in order, and goes on across a
//! kill -9 of the leader; a stream opened afterwards on another survivor
//! from revision 1 shows the same history.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;
mod watch_support;

use std::time::Duration;

use e2e_support::Cluster;
use ordo_kv::client::{Client, PutOutcome};
use watch_support::SseReader;

/// Writes `keys` through `client` (which finds the leader and retries a
/// write whose outcome was unknown); answers the acknowledged revisions.
async fn write_all(client: &Client, keys: impl Iterator<Item = String>) -> Vec<u64> {
    let mut revisions = Vec::new();
    for key in keys {
        match client.put(&key, "v", None).await.unwrap() {
            PutOutcome::Written { revision } => revisions.push(revision),
            other => panic!("put {key}: {other:?}"),
        }
    }
    revisions
}

/// Reads change ids until every one of `wanted` was seen; answers them all.
async fn ids_through(reader: &mut SseReader, wanted: &[u64]) -> Vec<u64> {
    let last = *wanted.iter().max().unwrap();
    let mut ids = Vec::new();
    while ids.last().is_none_or(|id| *id < last) {
        let message = reader
            .next_within(Duration::from_secs(30))
            .await
            .expect("the stream ended");
        if message.event == "change" {
            ids.push(message.id.unwrap());
        } else {
            assert_eq!(message.event, "progress", "{message:?}");
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followers_watch_survives_a_leader_kill_and_matches_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-watch", dir.path(), 3);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let followers: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    let watch_urls: Vec<String> = followers
        .iter()
        .map(|id| {
            format!(
                "{}/v1/watch?prefix=w/&progress_interval=1s",
                cluster.url(*id)
            )
        })
        .collect();
    let mut reader = SseReader::open(&watch_urls[0], &[]).await;
    assert_eq!(reader.next().await.unwrap().event, "progress");

    let client = cluster.client();
    let mut acknowledged = write_all(&client, (0..10).map(|i| format!("w/{i}"))).await;
    cluster.kill(leader);
    acknowledged.extend(write_all(&client, (10..20).map(|i| format!("w/{i}"))).await);

    let streamed = ids_through(&mut reader, &acknowledged).await;
    assert!(
        streamed.windows(2).all(|pair| pair[0] < pair[1]),
        "in order, no repeats: {streamed:?}"
    );
    for revision in &acknowledged {
        assert!(
            streamed.contains(revision),
            "{revision} missing from {streamed:?}"
        );
    }
    // The other survivor's history from the start is the same stream.
    let from_start = format!("{}&start_revision=1", watch_urls[1]);
    let mut replay = SseReader::open(&from_start, &[]).await;
    assert_eq!(ids_through(&mut replay, &acknowledged).await, streamed);
}
