//! The gRPC server's accept loop: each connection takes a pending-handshake
//! slot (or is shed), opens TLS first when the transport has peer TLS (so
//! tonic only ever reads HTTP/2 from a caller whose certificate chains to the
//! cluster CA and names a node of this cluster), and is then handed to tonic
//! as a [`GuardedStream`].
//!
//! TLS handshakes run in a task each, so one slow caller never holds up the
//! next; all of them end by the connection's deadline.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};
use tracing::warn;

use super::dial::GrpcWire;
use super::guard::{Accepted, GuardRules, GuardedStream, ServerIo};
use crate::transport::ClusterId;
use crate::transport::link::{Counters, HandshakeSlots, Links};
use crate::transport::tls::PeerTls;

/// Pause after a failed `accept` (say, out of file descriptors), so the loop
/// does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Accepts connections for one gRPC server.
pub(super) struct AcceptLoop {
    pub(super) links: Arc<Links<GrpcWire>>,
    pub(super) peer_tls: Option<PeerTls>,
    pub(super) cluster_id: ClusterId,
    pub(super) slots: HandshakeSlots,
    pub(super) rules: GuardRules,
}

impl AcceptLoop {
    /// Accepts on `listener` until the transport stops, sending each
    /// connection ready for HTTP/2 to `ready`.
    pub(super) async fn run(self, listener: TcpListener, ready: mpsc::Sender<GuardedStream>) {
        let cancel = self.links.cancellation().clone();
        let this = Arc::new(self);
        loop {
            let accepted = tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, remote)) => {
                    let Some(slot) = this.slots.take(remote) else {
                        continue;
                    };
                    // Best effort: a socket without it still works, with more latency.
                    let _ = stream.set_nodelay(true);
                    let accepted = Accepted {
                        remote,
                        slot,
                        deadline: Instant::now() + this.rules.handshake_timeout,
                    };
                    let secure = Arc::clone(&this).secure(stream, accepted, ready.clone());
                    this.links.spawn(secure);
                }
                Err(error) => {
                    warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            }
        }
    }

    /// Opens TLS on `stream` when the transport has peer TLS, then hands the
    /// connection to tonic; a refused or late caller is closed (logged and
    /// counted).
    async fn secure(
        self: Arc<Self>,
        stream: TcpStream,
        accepted: Accepted,
        ready: mpsc::Sender<GuardedStream>,
    ) {
        let (io, certified) = match &self.peer_tls {
            None => (ServerIo::Plain(stream), None),
            Some(tls) => {
                let remote = accepted.remote;
                let handshake = self.links.accept_tls(tls, stream, remote, &self.cluster_id);
                match timeout_at(accepted.deadline, handshake).await {
                    Ok(Some((stream, certified))) => {
                        (ServerIo::Tls(Box::new(stream)), Some(certified))
                    }
                    Ok(None) => return,
                    Err(_) => {
                        warn!(%remote, "no TLS handshake in time; closing the connection");
                        Counters::bump(&self.rules.counters.handshake_timeouts);
                        return;
                    }
                }
            }
        };
        let guarded = GuardedStream::new(io, accepted, certified, &self.rules);
        // Closed only when the server stopped: the connection just closes.
        let _ = ready.send(guarded).await;
    }
}
