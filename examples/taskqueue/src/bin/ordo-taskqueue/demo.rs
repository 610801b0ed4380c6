//! `ordo-taskqueue demo`: three nodes in this process on loopback TCP, a
//! producer, workers that ack (one nacks a task, one abandons a claim so it
//! expires), and the leader killed half-way and restarted. Prints what
//! happens, then checks the queue's contract on what the workers saw.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use ordo_taskqueue::checker::History;
use ordo_taskqueue::command::{Answer, Query};
use ordo_taskqueue::local::LocalCluster;
use ordo_taskqueue::{Client, ClientError};

const QUEUE: &str = "jobs";
const VISIBILITY_TIMEOUT: Duration = Duration::from_millis(1_500);

/// `demo`'s options.
#[derive(clap::Args)]
pub(crate) struct DemoArgs {
    /// Tasks to enqueue.
    #[arg(long, default_value_t = 30)]
    tasks: usize,
    /// Workers claiming them.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Keep the nodes' data here (default: a temporary directory).
    #[arg(long)]
    data: Option<PathBuf>,
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let temporary = tempfile::tempdir().context("creating a data directory")?;
    let data = args.data.unwrap_or_else(|| temporary.path().to_owned());
    let mut cluster = LocalCluster::start(3, &data, |_| {}).await?;
    let addresses = cluster.client_addresses();
    println!(
        "3 nodes, clients on {}, data in {}",
        addresses.join(" "),
        data.display()
    );
    let Some(leader) = cluster.wait_for_leader(Duration::from_secs(10)).await else {
        bail!("no leader elected in 10 s");
    };
    println!("node {} leads", leader + 1);

    let history = Arc::new(History::new());
    let mut producer = Client::new(addresses.clone());
    for number in 1..=args.tasks {
        let payload = format!("photo-{number}").into_bytes();
        let id = producer.enqueue(QUEUE, payload.clone()).await?;
        history.enqueued(id, payload);
    }
    println!("enqueued {} tasks on {QUEUE:?}", args.tasks);

    let workers: Vec<_> = (1..=args.workers)
        .map(|number| {
            tokio::spawn(work(
                format!("worker-{number}"),
                addresses.clone(),
                history.clone(),
            ))
        })
        .collect();
    while history.ack_count() < args.tasks / 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let leader = cluster
        .wait_for_leader(Duration::from_secs(10))
        .await
        .context("no leader")?;
    cluster.kill(leader).await;
    println!(
        "── killed the leader, node {}: workers follow the new one ──",
        leader + 1
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.restart(leader).await?;
    println!(
        "── node {} restarted from its log and snapshots ──",
        leader + 1
    );

    for worker in workers {
        worker.await.context("a worker failed")??;
    }
    let stats = Client::new(addresses).stats(Some(QUEUE)).await?;
    println!(
        "queue {QUEUE:?}: ready {} claimed {} acked {} dead-lettered {}",
        stats.ready, stats.claimed, stats.acked, stats.dead_lettered
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    for node in cluster.running() {
        if let Ok(Answer::Stats(stats)) = node.queue().raft().read_stale(Query::Stats(None)).await {
            println!("node {} has applied {} acks", node.id(), stats.acked);
        }
    }
    cluster.stop().await;

    let intended = (1..=args.tasks).map(|number| format!("photo-{number}").into_bytes());
    let report = history.check(intended);
    println!(
        "{} tasks, {} deliveries ({} again after a nack or an expired claim), {} acks",
        report.tasks, report.deliveries, report.duplicate_deliveries, report.acks
    );
    if !report.violations.is_empty() {
        bail!("the queue broke its contract: {:?}", report.violations);
    }
    println!("every task acked exactly once; nothing acked was delivered again");
    Ok(())
}

/// Claims and acks until the queue is empty. Task 3's first delivery is
/// nacked, task 5's abandoned (its claim expires).
async fn work(name: String, addresses: Vec<String>, history: Arc<History>) -> anyhow::Result<()> {
    let mut client = Client::new(addresses);
    let mut idle_rounds = 0;
    // Empty for 2.5 s (longer than a claim lasts): nothing is left.
    while idle_rounds < 50 {
        let sent = history.now();
        let Some(task) = client.claim(QUEUE, &name, VISIBILITY_TIMEOUT).await? else {
            idle_rounds += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        idle_rounds = 0;
        history.delivered(&task, sent);
        let payload = String::from_utf8_lossy(&task.payload).into_owned();
        let first = task.attempt == 1;
        if first && task.id == 3 {
            client.nack(task.id, task.token).await?;
            println!(
                "{name}: task {} {payload:?} nacked: back in the queue",
                task.id
            );
        } else if first && task.id == 5 {
            println!(
                "{name}: task {} {payload:?} abandoned: its claim will expire",
                task.id
            );
        } else {
            match client.ack(task.id, task.token).await {
                Ok(()) => {
                    history.acked(task.id, task.token);
                    println!(
                        "{name}: task {} {payload:?} done (attempt {})",
                        task.id, task.attempt
                    );
                }
                Err(ClientError::Refused(why)) => {
                    println!("{name}: task {} not acked: {why}", task.id)
                }
                Err(error) => return Err(error.into()),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}
