//! Producers and workers against a cluster, recording what they see in a
//! [`History`]. Workers ack most tasks, nack some first deliveries and
//! abandon others (their claims expire), so every path back to the queue
//! is taken.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ordo_taskqueue::checker::History;
use ordo_taskqueue::{ClaimedTask, Client, ClientError};

/// The queue every task goes to.
pub const QUEUE: &str = "jobs";

/// What to run.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Tasks to enqueue (payloads `task-0`, `task-1`, …).
    pub tasks: usize,
    /// Concurrent enqueuers.
    pub producers: usize,
    /// Concurrent workers.
    pub workers: usize,
    /// A first delivery of a task whose id is a multiple of this is nacked.
    pub nack_every: u64,
    /// A first delivery of a task whose id is a multiple of this is
    /// abandoned (its claim expires).
    pub abandon_every: u64,
    /// Each claim's visibility timeout.
    pub visibility_timeout: Duration,
    /// The run stops here even if the queue has not drained.
    pub deadline: Duration,
}

/// How the run ended.
#[derive(Debug)]
pub struct Ending {
    /// True if every task was settled (nothing ready or claimed) before the deadline.
    pub drained: bool,
    /// Acks and nacks the queue refused (an expired claim).
    pub refusals: usize,
    /// How long it ran.
    pub elapsed: Duration,
}

/// The payloads `workload` enqueues.
pub fn payloads(workload: &Workload) -> Vec<Vec<u8>> {
    (0..workload.tasks)
        .map(|i| format!("task-{i}").into_bytes())
        .collect()
}

/// Runs `workload` against the nodes at `addresses`.
pub async fn run(workload: &Workload, addresses: &[String], history: &Arc<History>) -> Ending {
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let refusals = Arc::new(AtomicUsize::new(0));
    let all = payloads(workload);
    let mut producers = Vec::new();
    for share in all.chunks(workload.tasks.div_ceil(workload.producers).max(1)) {
        let (share, addresses, history) = (share.to_vec(), addresses.to_vec(), history.clone());
        producers.push(tokio::spawn(produce(share, addresses, history)));
    }
    let mut workers = Vec::new();
    for number in 0..workload.workers {
        let worker = Worker {
            name: format!("worker-{number}"),
            workload: workload.clone(),
            client: Client::new(addresses.to_vec()),
            history: history.clone(),
            stop: stop.clone(),
            refusals: refusals.clone(),
        };
        workers.push(tokio::spawn(worker.run()));
    }
    for producer in producers {
        producer.await.unwrap();
    }
    let drained = wait_drained(addresses, started + workload.deadline).await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }
    Ending {
        drained,
        refusals: refusals.load(Ordering::SeqCst),
        elapsed: started.elapsed(),
    }
}

async fn produce(payloads: Vec<Vec<u8>>, addresses: Vec<String>, history: Arc<History>) {
    let mut client = Client::new(addresses);
    for payload in payloads {
        match client.enqueue(QUEUE, payload.clone()).await {
            Ok(task) => history.enqueued(task, payload),
            Err(error) => panic!("enqueue failed for good: {error}"),
        }
    }
}

/// True once the queue has nothing ready or claimed; false at `deadline`.
async fn wait_drained(addresses: &[String], deadline: Instant) -> bool {
    let mut client = Client::new(addresses.to_vec()).with_patience(Duration::from_secs(2));
    while Instant::now() < deadline {
        if let Ok(stats) = client.stats(Some(QUEUE)).await
            && stats.ready == 0
            && stats.claimed == 0
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

struct Worker {
    name: String,
    workload: Workload,
    client: Client,
    history: Arc<History>,
    stop: Arc<AtomicBool>,
    refusals: Arc<AtomicUsize>,
}

impl Worker {
    async fn run(mut self) {
        while !self.stop.load(Ordering::SeqCst) {
            let sent = self.history.now();
            let timeout = self.workload.visibility_timeout;
            match self.client.claim(QUEUE, &self.name, timeout).await {
                Ok(Some(task)) => {
                    self.history.delivered(&task, sent);
                    self.handle(task).await;
                }
                Ok(None) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    async fn handle(&mut self, task: ClaimedTask) {
        let first = task.attempt == 1;
        let result = if first && task.id.is_multiple_of(self.workload.nack_every) {
            self.client.nack(task.id, task.token).await
        } else if first && task.id.is_multiple_of(self.workload.abandon_every) {
            return; // the claim expires and the task comes back
        } else {
            let acked = self.client.ack(task.id, task.token).await;
            if acked.is_ok() {
                self.history.acked(task.id, task.token);
            }
            acked
        };
        match result {
            Ok(()) => {}
            Err(ClientError::Refused(_)) => {
                self.refusals.fetch_add(1, Ordering::SeqCst);
            }
            Err(error) => panic!("{}: {error}", self.name),
        }
    }
}
