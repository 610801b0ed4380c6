//! Clients recording a history through etcd's API while a test injects
//! faults, and the verdict on what they recorded.
//!
//! Every instant in a history is nanoseconds since [`Traffic::start`]'s
//! clock started, so the fault driver's marks ([`Traffic::elapsed_ns`]) and
//! the operations' call and return times compare directly.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use ordo_sim::linearizability::{Budget, KvModel, KvOperation, Verdict, check};
use tokio::task::JoinHandle;

use super::history::{self, Recorded, Targets};
use crate::e2e_support::Cluster;

/// Concurrent clients, each running [`history::run_client`] until stopped.
pub struct Traffic {
    start: Instant,
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<Vec<Recorded>>>,
}

impl Traffic {
    /// Starts clients `1..=clients`, sending to `targets`.
    pub fn start(targets: &Targets, clients: u64) -> Traffic {
        let start = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (1..=clients)
            .map(|client| {
                let run = history::run_client(client, targets.clone(), start, Arc::clone(&stop));
                tokio::spawn(run)
            })
            .collect();
        Traffic {
            start,
            stop,
            clients,
        }
    }

    /// The instant the history's times count from.
    pub fn clock(&self) -> Instant {
        self.start
    }

    /// Now, in the history's time.
    pub fn elapsed_ns(&self) -> u64 {
        history::elapsed_ns(self.start)
    }

    /// Stops the clients; every operation they recorded.
    pub async fn stop(self) -> Vec<Recorded> {
        self.stop.store(true, Ordering::Relaxed);
        let mut recorded = Vec::new();
        for client in self.clients {
            recorded.extend(client.await.unwrap());
        }
        recorded
    }
}

/// Panics unless `history` is linearizable, with the violation and the
/// cluster's logs.
pub fn assert_linearizable(history: &[KvOperation], cluster: &Cluster) {
    match check(&KvModel, history, &Budget::default()).unwrap() {
        Verdict::Linearizable => {}
        Verdict::Illegal(violation) => {
            panic!("not linearizable:\n{violation}\n{}", cluster.logs())
        }
        Verdict::Unknown(undecided) => panic!("undecided within the budget: {undecided:?}"),
    }
}

/// Panics unless `history`, which holds a planted fault (`planted` says
/// which), is refused; prints the checker's explanation.
pub fn assert_refused(history: &[KvOperation], planted: &str) {
    let verdict = check(&KvModel, history, &Budget::default()).unwrap();
    let Verdict::Illegal(violation) = verdict else {
        panic!("{planted} went unseen: {verdict:?}");
    };
    println!("{planted}, refused:\n{violation}");
}
