//! Every transport Ordo ships passes the transport conformance suite
//! (`ordo::transport::conformance`): in-process, TCP and gRPC. Then the
//! suite is shown able to fail: planted transports that break a promise
//! must be caught by the check for that promise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use ordo::transport::conformance::{self, Harness, InProcessHarness, NetworkHarness};
use ordo::transport::{InProcessTransport, Inbox, Transport, TransportError};
use ordo_core::{Message, NodeId};

/// One test per check for a harness, so each runs (and times out) alone.
macro_rules! conformance_tests {
    ($module:ident, $harness:expr) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn delivery_in_order_per_link() {
                conformance::delivery_in_order_per_link(&mut $harness).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn reconnects_after_the_peer_restarts() {
                conformance::reconnects_after_the_peer_restarts(&mut $harness).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_removed_peer_is_cut_off_mid_stream() {
                conformance::a_removed_peer_is_cut_off_mid_stream(&mut $harness).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn oversize_messages_are_refused_without_harm() {
                conformance::oversize_messages_are_refused_without_harm(&mut $harness).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_blocked_receiver_neither_grows_nor_blocks() {
                conformance::a_blocked_receiver_neither_grows_nor_blocks(&mut $harness).await;
            }
        }
    };
}

conformance_tests!(in_process, InProcessHarness::new());
conformance_tests!(tcp, NetworkHarness::<ordo::transport::tcp::TcpWire>::new());
#[cfg(feature = "grpc")]
conformance_tests!(
    grpc,
    NetworkHarness::<ordo::transport::grpc::GrpcWire>::new()
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_passes_on_the_in_process_transport() {
    conformance::run_all(InProcessHarness::new).await;
}

// ------------------------------------------------------------ planted breaks

/// How a planted transport breaks its promise.
#[derive(Clone, Copy, Debug)]
enum Break {
    /// Swaps every two messages it sends.
    Reorder,
    /// Ignores the removal of a peer.
    IgnoreRemoval,
}

/// An in-process transport with a planted break.
#[derive(Clone, Debug)]
struct Planted {
    inner: InProcessTransport,
    plant: Break,
    /// The message held back to be sent after the next one.
    held: Arc<Mutex<Option<Message>>>,
}

impl Transport for Planted {
    fn start(&self, inbox: Inbox) -> Result<(), TransportError> {
        self.inner.start(inbox)
    }

    fn send(&self, message: Message) {
        match self.plant {
            Break::Reorder => {
                let held = self.held.lock().unwrap().take();
                match held {
                    Some(earlier) => {
                        self.inner.send(message);
                        self.inner.send(earlier);
                    }
                    None => *self.held.lock().unwrap() = Some(message),
                }
            }
            Break::IgnoreRemoval => self.inner.send(message),
        }
    }

    fn stop(&self) {
        self.inner.stop();
    }
}

struct PlantedHarness {
    inner: InProcessHarness,
    plant: Break,
}

impl Harness for PlantedHarness {
    type Transport = Planted;

    fn create(&mut self, id: NodeId) -> Planted {
        Planted {
            inner: self.inner.create(id),
            plant: self.plant,
            held: Arc::default(),
        }
    }

    fn add_peer(&mut self, at: &Planted, peer: NodeId, peer_transport: &Planted) {
        self.inner.add_peer(&at.inner, peer, &peer_transport.inner);
    }

    fn remove_peer(&mut self, at: &Planted, peer: NodeId) {
        match self.plant {
            Break::IgnoreRemoval => {}
            Break::Reorder => self.inner.remove_peer(&at.inner, peer),
        }
    }

    async fn shutdown(&mut self, transport: &Planted) {
        self.inner.shutdown(&transport.inner).await;
    }

    fn message_limit_bytes(&self) -> Option<usize> {
        None
    }
}

/// Runs `check` on a planted transport; true if it failed (panicked).
async fn caught<F>(plant: Break, check: impl FnOnce(PlantedHarness) -> F) -> bool
where
    F: Future<Output = ()> + Send + 'static,
{
    let harness = PlantedHarness {
        inner: InProcessHarness::new(),
        plant,
    };
    let outcome = tokio::spawn(check(harness)).await;
    matches!(outcome, Err(error) if error.is_panic())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_check_catches_a_transport_that_reorders() {
    let failed = caught(Break::Reorder, |mut harness| async move {
        conformance::delivery_in_order_per_link(&mut harness).await;
    })
    .await;
    assert!(failed, "reordered messages passed the order check");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_removal_check_catches_a_transport_that_ignores_removal() {
    let failed = caught(Break::IgnoreRemoval, |mut harness| async move {
        conformance::a_removed_peer_is_cut_off_mid_stream(&mut harness).await;
    })
    .await;
    assert!(
        failed,
        "a removed peer kept delivering and passed the check"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faithful_wrapper_passes_both_checks() {
    // The planted harness itself is sound: with the other break planted,
    // each check passes, so the failures above come from the breaks aimed at
    // them.
    let order_ok = !caught(Break::IgnoreRemoval, |mut harness| async move {
        conformance::delivery_in_order_per_link(&mut harness).await;
    })
    .await;
    let removal_ok = !caught(Break::Reorder, |mut harness| async move {
        conformance::a_removed_peer_is_cut_off_mid_stream(&mut harness).await;
    })
    .await;
    assert!(order_ok && removal_ok);
}
