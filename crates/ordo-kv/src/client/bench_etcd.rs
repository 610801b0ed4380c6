//! `ordo bench --protocol etcd`: the closed-loop load of [`bench`](super::bench)
//! over etcd's v3 gRPC API, so the same tool measures `ordo` and a real etcd.
//!
//! The clients share a few HTTP/2 connections (`connections` per endpoint),
//! each carrying many requests at once, as etcd's own clients do. Before the
//! start, `Maintenance.Status` on every endpoint finds the leader (the
//! endpoint whose member id is the leader it reports); puts go to its
//! connections, ranges spread over every endpoint's. If no endpoint is
//! the leader, puts spread too and the servers forward them. A get is a
//! `Range` of one key, linearizable unless `--consistency stale` (then
//! `serializable`; etcd has no lease reads, so `lease` is linearizable), so against any etcd v3 endpoint it measures what
//! `etcdctl get` would cost.
//!
//! Failures are counted by gRPC code (`grpc:Unavailable`, ...); a client
//! whose request failed pauses [`PAUSE_AFTER_FAILURE`] before its next, so a
//! dead endpoint costs a few counted failures instead of a busy loop.
//! Plain `http://` endpoints only: the client has no TLS for gRPC.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};
use tonic::transport::Channel;

use super::bench::{
    BenchConfig, OpKind, Plan, Progress, Tally, gather, start_measuring, summarise,
};
use super::bench_report::BenchSummary;
use super::{ClientError, Consistency, Endpoint};
use crate::server::etcd::pb::etcdserverpb::{
    self as pb, kv_client::KvClient, maintenance_client::MaintenanceClient,
};

/// Which API `ordo bench` loads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchProtocol {
    /// ordo's JSON API over HTTP/1.1, one request in flight per connection.
    #[default]
    Http,
    /// etcd's v3 gRPC API, many requests in flight per HTTP/2 connection.
    Etcd,
}

/// Connections per endpoint unless `--connections` says otherwise.
pub const DEFAULT_CONNECTIONS_PER_ENDPOINT: usize = 4;
/// The most connections a bench opens to one endpoint.
pub const MAX_CONNECTIONS_PER_ENDPOINT: usize = 64;
/// How long a client waits after a failed request before its next.
pub const PAUSE_AFTER_FAILURE: Duration = Duration::from_millis(10);
/// How long opening a connection or asking for the leader may take.
const SETUP_PATIENCE: Duration = Duration::from_secs(5);

/// The connections the clients share.
struct Connections {
    /// Where puts go: the leader's connections, or every endpoint's.
    writes: Vec<KvClient<Channel>>,
    /// Where ranges go: every endpoint's connections.
    reads: Vec<KvClient<Channel>>,
    /// The leader's URL, when an endpoint is the leader.
    leader: Option<String>,
}

/// Runs the benchmark over etcd's gRPC API against `endpoints`, with
/// `connections_per_endpoint` HTTP/2 connections to each. Fails if the
/// arguments are out of range, an endpoint is not `http://`, or the first
/// put fails; later failures are counted by kind.
pub async fn run(
    endpoints: &[Endpoint],
    connections_per_endpoint: usize,
    config: &BenchConfig,
) -> Result<BenchSummary, ClientError> {
    config.validate().map_err(ClientError::invalid)?;
    if !(1..=MAX_CONNECTIONS_PER_ENDPOINT).contains(&connections_per_endpoint) {
        return Err(ClientError::invalid(format!(
            "--connections must be 1 to {MAX_CONNECTIONS_PER_ENDPOINT}"
        )));
    }
    if endpoints.is_empty() {
        return Err(ClientError::invalid("no endpoints"));
    }
    if let Some(secure) = endpoints.iter().find(|endpoint| endpoint.is_secure()) {
        return Err(ClientError::invalid(format!(
            "--protocol etcd takes http:// endpoints only, not {secure}"
        )));
    }
    let connections = connect(endpoints, connections_per_endpoint).await?;

    let plan = Plan::new(config);
    let mut first_key = String::new();
    plan.key_into(0, &mut first_key);
    // Index 0 exists: `connect` opens at least one connection per endpoint.
    let mut first_client = connections.writes[0].clone();
    first_client
        .put(put_request(&first_key, &plan.value))
        .await
        .map_err(|status| first_put_failed(&connections, endpoints, &status))?;

    let (plan, progress, reporter) = start_measuring(plan, config);
    let mut tasks = JoinSet::new();
    for index in 0..config.clients {
        let writes = connections.writes[index % connections.writes.len()].clone();
        let reads = connections.reads[index % connections.reads.len()].clone();
        tasks.spawn(work(
            writes,
            reads,
            Arc::clone(&plan),
            Arc::clone(&progress),
        ));
    }
    let total = gather(tasks, reporter).await;
    Ok(summarise(config, connections.leader, &total))
}

/// Opens the connections and finds the leader among the endpoints.
async fn connect(endpoints: &[Endpoint], per_endpoint: usize) -> Result<Connections, ClientError> {
    let mut by_endpoint = Vec::with_capacity(endpoints.len());
    let mut leader_index = None;
    for (index, endpoint) in endpoints.iter().enumerate() {
        let mut channels = Vec::with_capacity(per_endpoint);
        for _ in 0..per_endpoint {
            // Lazy: a dead endpoint shows as failed requests, counted.
            let channel = Channel::from_shared(endpoint.to_string())
                .map_err(|error| ClientError::invalid(format!("{endpoint}: {error}")))?
                .connect_timeout(SETUP_PATIENCE)
                .tcp_nodelay(true)
                .connect_lazy();
            channels.push(channel);
        }
        if leader_index.is_none() && is_leader(channels[0].clone()).await {
            leader_index = Some(index);
        }
        by_endpoint.push(channels);
    }
    // Connection by connection across the endpoints, so that consecutive
    // clients read from different endpoints.
    let reads: Vec<_> = (0..per_endpoint)
        .flat_map(|round| {
            by_endpoint
                .iter()
                .map(move |channels| channels[round].clone())
        })
        .map(KvClient::new)
        .collect();
    let (writes, leader) = match leader_index {
        Some(index) => (
            by_endpoint[index]
                .iter()
                .cloned()
                .map(KvClient::new)
                .collect(),
            Some(endpoints[index].to_string()),
        ),
        None => (reads.clone(), None),
    };
    Ok(Connections {
        writes,
        reads,
        leader,
    })
}

/// Whether the member behind `channel` says it is the leader; false if it
/// does not answer in time.
async fn is_leader(channel: Channel) -> bool {
    let mut maintenance = MaintenanceClient::new(channel);
    let status = maintenance.status(pb::StatusRequest {});
    match tokio::time::timeout(SETUP_PATIENCE, status).await {
        Ok(Ok(response)) => {
            let response = response.into_inner();
            let member = response.header.map(|header| header.member_id);
            response.leader != 0 && member == Some(response.leader)
        }
        Ok(Err(_)) | Err(_) => false,
    }
}

/// One closed-loop client: one request in flight, on the shared connections.
async fn work(
    mut writes: KvClient<Channel>,
    mut reads: KvClient<Channel>,
    plan: Arc<Plan>,
    progress: Arc<Progress>,
) -> Tally {
    let mut rng = fastrand::Rng::new();
    let mut tally = Tally::new();
    let mut key = String::new();
    let serializable = plan.consistency == Consistency::Stale;
    while Instant::now() < plan.end {
        plan.key_into(rng.u64(..plan.keys), &mut key);
        let is_read = rng.f64() < plan.read_ratio;
        let started = Instant::now();
        let outcome = if is_read {
            let range = reads.range(range_request(&key, serializable));
            match timeout_at(plan.end, range).await {
                Ok(result) => result.map(|answer| OpKind::Read {
                    found: !answer.into_inner().kvs.is_empty(),
                }),
                Err(_cut_off) => break,
            }
        } else {
            let put = writes.put(put_request(&key, &plan.value));
            match timeout_at(plan.end, put).await {
                Ok(result) => result.map(|_| OpKind::Write),
                Err(_cut_off) => break,
            }
        };
        let failed = outcome.is_err();
        let counter = if failed {
            &progress.failed
        } else {
            &progress.done
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if started >= plan.measure_from {
            tally.record_kind(
                outcome.map_err(|status| failure_kind(&status)),
                started.elapsed(),
            );
        }
        if failed {
            tokio::time::sleep(PAUSE_AFTER_FAILURE).await;
        }
    }
    tally
}

/// Why the bench could not start: the first put, to the leader or else to
/// the first endpoint, failed.
fn first_put_failed(
    connections: &Connections,
    endpoints: &[Endpoint],
    status: &tonic::Status,
) -> ClientError {
    let target = connections
        .leader
        .clone()
        .unwrap_or_else(|| endpoints[0].to_string());
    let reason = format!("the first put failed: {status}");
    if status.code() == tonic::Code::Unavailable {
        ClientError::Unreachable {
            attempts: 1,
            last: format!("{target}: {reason}"),
        }
    } else {
        ClientError::bad_response(target, reason)
    }
}

/// The name a failure is counted under: its gRPC code.
fn failure_kind(status: &tonic::Status) -> String {
    format!("grpc:{:?}", status.code())
}

fn put_request(key: &str, value: &Bytes) -> pb::PutRequest {
    pb::PutRequest {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: value.clone(),
        ..Default::default()
    }
}

fn range_request(key: &str, serializable: bool) -> pb::RangeRequest {
    pb::RangeRequest {
        key: Bytes::copy_from_slice(key.as_bytes()),
        serializable,
        ..Default::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_named_by_grpc_code() {
        assert_eq!(
            failure_kind(&tonic::Status::unavailable("down")),
            "grpc:Unavailable"
        );
        assert_eq!(
            failure_kind(&tonic::Status::resource_exhausted("full")),
            "grpc:ResourceExhausted"
        );
    }

    #[test]
    fn stale_ranges_are_serializable_and_others_are_not() {
        assert!(range_request("k", true).serializable);
        let linearizable = range_request("k", false);
        assert!(!linearizable.serializable);
        assert!(linearizable.range_end.is_empty(), "one key, not a range");
    }
}
