//! etcd's gRPC API through a leader kill, as a client library uses it:
//! tonic stubs generated from the same protos (no published etcd crate
//! builds here: `etcd-client` compiles its protos with a system `protoc`).
//!
//! - A watch on the leader, cut by the kill, resumed on another node from
//!   last seen + 1, sees every revision the writes made exactly once, in
//!   order: no gap, no duplicate, nothing uncommitted.
//! - A lease kept alive through the kill keeps its key, and its remaining
//!   TTL stays within (0, granted]; left alone afterwards, it expires (so
//!   the TTL was real, and a lease not kept alive across the change would
//!   have failed the test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;
mod etcd_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use e2e_support::{Cluster, PATIENCE};
use etcd_support::watch_stream::{Committed, Resumer, stream_matches};
use etcd_support::{TIMING, bytes, channel, leader_among, others};
use ordo_kv::server::etcd::pb::etcdserverpb::lease_client::LeaseClient;
use ordo_kv::server::etcd::pb::etcdserverpb::{self as pb, kv_client::KvClient};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

/// Longest wait for the survivors to agree on a new leader.
const ELECTION_PATIENCE: Duration = Duration::from_secs(10);
/// Writes before the kill, and after the new leader is known.
const WRITING: Duration = Duration::from_millis(1500);
/// The lease's TTL, in seconds.
const TTL_SECONDS: i64 = 2;
/// How often the holder renews: a quarter of the TTL (clientv3 uses a third).
const KEEPALIVE_EVERY: Duration = Duration::from_millis(500);
/// Longest wait for one answer.
const ANSWER_PATIENCE: Duration = Duration::from_secs(2);

/// Writes `w/NNNNN` keys, each once, through `nodes` (moving to the next
/// on an error) until `stop`; the keys and revisions acknowledged.
async fn write_until(cluster_channels: Vec<Channel>, stop: Arc<AtomicBool>) -> Vec<Committed> {
    let mut acknowledged = Vec::new();
    let mut node = 0;
    let mut number = 0;
    while !stop.load(Ordering::Relaxed) {
        number += 1;
        let key = format!("w/{number:05}");
        let mut kv = KvClient::new(cluster_channels[node].clone());
        let request = pb::PutRequest {
            key: bytes(&key),
            value: bytes(&number.to_string()),
            ..Default::default()
        };
        match tokio::time::timeout(ANSWER_PATIENCE, kv.put(request)).await {
            Ok(Ok(response)) => {
                let revision = response.into_inner().header.unwrap().revision;
                acknowledged.push(Committed { revision, key });
            }
            _ => {
                node = (node + 1) % cluster_channels.len();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    acknowledged
}

/// Every `w/` key a linearizable Range on `channel` finds, by revision.
async fn committed_writes(channel: Channel) -> (Vec<Committed>, i64) {
    let response = KvClient::new(channel)
        .range(pb::RangeRequest {
            key: bytes("w/"),
            range_end: bytes("w0"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut committed: Vec<Committed> = response
        .kvs
        .into_iter()
        .map(|kv| {
            assert_eq!(kv.create_revision, kv.mod_revision, "a key written twice");
            Committed {
                revision: kv.mod_revision,
                key: String::from_utf8(kv.key.to_vec()).unwrap(),
            }
        })
        .collect();
    committed.sort();
    (committed, response.header.unwrap().revision)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumed_after_its_leader_was_killed_sees_every_revision_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("etcd-watch-failover", dir.path(), 3).with_flags(&TIMING);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let followers = others(&cluster, leader);
    // The watch starts on the leader, then moves to the followers in turn.
    let watch_nodes: Vec<Channel> = std::iter::once(leader)
        .chain(followers.iter().copied())
        .map(|id| channel(&cluster, id))
        .collect();
    let mut resumer = Resumer::new(watch_nodes);
    let watching = tokio::spawn(async move {
        resumer.follow_until_quiet().await;
        resumer
    });
    let stop = Arc::new(AtomicBool::new(false));
    let writer_channels = followers.iter().map(|&id| channel(&cluster, id)).collect();
    let writer = tokio::spawn(write_until(writer_channels, Arc::clone(&stop)));

    tokio::time::sleep(WRITING).await;
    cluster.kill(leader);
    leader_among(&cluster, &followers, ELECTION_PATIENCE).await;
    tokio::time::sleep(WRITING).await;
    stop.store(true, Ordering::Relaxed);
    let acknowledged = writer.await.unwrap();
    let (committed, _) = committed_writes(channel(&cluster, followers[0])).await;
    let resumer = watching.await.unwrap();

    println!(
        "{} writes acknowledged, {} committed, {} events seen over {} streams",
        acknowledged.len(),
        committed.len(),
        resumer.seen.len(),
        resumer.streams
    );
    assert!(resumer.streams >= 2, "the kill did not cut the watch");
    let before_kill = resumer.seen_on_first_stream;
    assert!(before_kill > 0, "the first stream saw nothing");
    assert!(
        resumer.seen.len() > before_kill,
        "the resumed stream saw nothing"
    );
    for write in &acknowledged {
        assert!(
            committed.contains(write),
            "acknowledged {write:?} is not in the store"
        );
    }
    if let Err(complaint) = stream_matches(&resumer.seen, &committed) {
        panic!("{complaint}\n{}", cluster.logs());
    }
}

/// What the keepalive holder saw.
#[derive(Debug, Default)]
struct Renewals {
    /// Answers with TTL > 0, and when they came.
    answered: Vec<(Instant, i64)>,
    /// Streams opened (1 + reconnections).
    streams: usize,
}

impl Renewals {
    /// The longest time between two answered keepalives.
    fn longest_gap(&self) -> Duration {
        self.answered
            .windows(2)
            .map(|pair| pair[1].0 - pair[0].0)
            .max()
            .unwrap_or_default()
    }
}

/// Renews `id` every [`KEEPALIVE_EVERY`] over a keepalive stream on
/// `nodes[0]`, moving to the next node when the stream fails, until `stop`.
/// Panics on an answer of TTL 0 (the lease is gone) or above `TTL_SECONDS`.
async fn keep_alive(nodes: Vec<Channel>, id: i64, stop: Arc<AtomicBool>) -> Renewals {
    let mut renewals = Renewals::default();
    let mut node = 0;
    'streams: while !stop.load(Ordering::Relaxed) {
        renewals.streams += 1;
        let (requests, outbox) = mpsc::channel(4);
        let mut lease = LeaseClient::new(nodes[node].clone());
        node = (node + 1) % nodes.len();
        let opened = tokio::time::timeout(
            ANSWER_PATIENCE,
            lease.lease_keep_alive(ReceiverStream::new(outbox)),
        );
        let Ok(Ok(answers)) = opened.await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut answers = answers.into_inner();
        while !stop.load(Ordering::Relaxed) {
            if requests
                .send(pb::LeaseKeepAliveRequest { id })
                .await
                .is_err()
            {
                continue 'streams;
            }
            let Ok(Ok(Some(answer))) =
                tokio::time::timeout(ANSWER_PATIENCE, answers.message()).await
            else {
                continue 'streams;
            };
            assert!(
                (1..=TTL_SECONDS).contains(&answer.ttl),
                "keepalive answered TTL {} for a lease of {TTL_SECONDS} s",
                answer.ttl
            );
            renewals.answered.push((Instant::now(), answer.ttl));
            tokio::time::sleep(KEEPALIVE_EVERY).await;
        }
    }
    renewals
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_kept_alive_through_a_leader_kill_keeps_its_key_and_a_sane_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("etcd-lease-failover", dir.path(), 3).with_flags(&TIMING);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let followers = others(&cluster, leader);
    // Granted and used through a follower (forwarded to the leader).
    let follower = channel(&cluster, followers[0]);
    let mut leases = LeaseClient::new(follower.clone());
    let granted = leases
        .lease_grant(pb::LeaseGrantRequest {
            ttl: TTL_SECONDS,
            id: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let id = granted.id;
    KvClient::new(follower.clone())
        .put(pb::PutRequest {
            key: bytes("leased"),
            value: bytes("held"),
            lease: id,
            ..Default::default()
        })
        .await
        .unwrap();

    // Renewed on the leader first, so that the kill cuts the stream.
    let holder_nodes = std::iter::once(leader)
        .chain(followers.iter().copied())
        .map(|node| channel(&cluster, node))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let holder = tokio::spawn(keep_alive(holder_nodes, id, Arc::clone(&stop)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.kill(leader);
    let killed = Instant::now();
    leader_among(&cluster, &followers, ELECTION_PATIENCE).await;
    // Three TTLs past the kill: without renewals reaching the new leader the
    // lease would have expired by now.
    tokio::time::sleep(Duration::from_secs(3 * TTL_SECONDS as u64)).await;

    let survivor = channel(&cluster, followers[1]);
    let found = KvClient::new(survivor.clone())
        .range(pb::RangeRequest {
            key: bytes("leased"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.kvs.len(), 1, "the kept-alive lease's key vanished");
    assert_eq!(found.kvs[0].lease, id);
    let alive = LeaseClient::new(survivor.clone())
        .lease_time_to_live(pb::LeaseTimeToLiveRequest { id, keys: true })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(alive.granted_ttl, TTL_SECONDS);
    assert!(
        (1..=TTL_SECONDS).contains(&alive.ttl),
        "remaining TTL {} of a {TTL_SECONDS} s lease",
        alive.ttl
    );
    assert_eq!(alive.keys, [bytes("leased")]);

    stop.store(true, Ordering::Relaxed);
    let renewals = holder.await.unwrap();
    println!(
        "{} keepalives answered over {} streams, longest gap {:?}",
        renewals.answered.len(),
        renewals.streams,
        renewals.longest_gap()
    );
    assert!(renewals.streams >= 2, "the kill did not cut the keepalives");
    let after_kill = renewals
        .answered
        .iter()
        .filter(|(when, _)| *when > killed)
        .count();
    assert!(after_kill > 0, "no keepalive was answered after the kill");

    // Left alone, the lease expires: its TTL was real.
    let abandoned = Instant::now();
    cluster
        .eventually("the abandoned lease to expire", PATIENCE, || {
            let survivor = survivor.clone();
            async move {
                let left = KvClient::new(survivor)
                    .range(pb::RangeRequest {
                        key: bytes("leased"),
                        ..Default::default()
                    })
                    .await
                    .map_err(|status| status.to_string())?
                    .into_inner();
                match left.kvs.len() {
                    0 => Ok(()),
                    _ => Err("the key is still there".to_owned()),
                }
            }
        })
        .await;
    let expired_after = abandoned.elapsed();
    assert!(
        expired_after < Duration::from_secs(2 * TTL_SECONDS as u64 + 2),
        "the abandoned lease took {expired_after:?} to expire"
    );
}

/// The stream check can fail: each way a resume can go wrong is named.
#[test]
fn the_stream_check_names_a_gap_a_duplicate_a_reordering_and_a_stranger() {
    let write = |revision: i64| Committed {
        revision,
        key: format!("w/{revision:05}"),
    };
    let committed: Vec<Committed> = (2..=5).map(write).collect();
    assert_eq!(stream_matches(&committed, &committed), Ok(()));
    let cases: [(&[i64], &str); 5] = [
        // Resumed from last seen + 2.
        (&[2, 3, 5], "gap"),
        // Resumed from last seen.
        (&[2, 3, 3, 4, 5], "duplicate"),
        (&[2, 4, 3, 5], "reordered"),
        (&[2, 3, 4, 5, 6], "never committed"),
        (&[2, 3], "ended before"),
    ];
    for (revisions, complaint) in cases {
        let seen: Vec<Committed> = revisions.iter().copied().map(write).collect();
        let verdict = stream_matches(&seen, &committed);
        assert!(
            verdict.as_ref().is_err_and(|said| said.contains(complaint)),
            "{revisions:?}: {verdict:?}"
        );
    }
}
