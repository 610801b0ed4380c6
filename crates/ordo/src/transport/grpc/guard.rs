//! Connection-level defences for the gRPC server, which HTTP/2 alone does not
//! give: a connection must open an authenticated stream within the handshake
//! timeout, counted from its accept and so including its TLS handshake (else
//! it is closed: slow loris, port scanners, idle strangers), at most
//! `max_pending_handshakes` connections may be waiting to do so, and every
//! connection is closed when the transport stops. With peer TLS, the
//! connection carries the node its client certificate names, for the
//! service to hold the caller's hello to.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use ordo_core::NodeId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::transport::server::Connected;
use tracing::warn;

use crate::transport::link::{Counters, PlainOrTls};
use crate::transport::tls::PeerTlsStream;

/// One accepted connection's admission: whether it has opened an
/// authenticated stream yet. The gRPC service finds it in each request's
/// extensions and calls [`Admission::admit`].
#[derive(Clone, Debug)]
pub(super) struct Admission {
    state: Arc<AdmissionState>,
}

#[derive(Debug)]
struct AdmissionState {
    admitted: AtomicBool,
    /// Held until admitted: counts toward `max_pending_handshakes`.
    slot: Mutex<Option<OwnedSemaphorePermit>>,
    remote: SocketAddr,
    /// The node the client certificate names (already checked to be of
    /// this cluster); `None` on a plaintext connection.
    certified: Option<NodeId>,
}

impl Admission {
    /// Marks the connection authenticated: it may stay open for good.
    pub(super) fn admit(&self) {
        self.state.admitted.store(true, Ordering::Release);
        self.state
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// The node the connection's client certificate names; `None` without
    /// peer TLS.
    pub(super) fn certified(&self) -> Option<NodeId> {
        self.state.certified
    }

    fn is_admitted(&self) -> bool {
        self.state.admitted.load(Ordering::Acquire)
    }
}

/// What every guarded connection of one server shares.
#[derive(Clone)]
pub(super) struct GuardRules {
    pub(super) handshake_timeout: Duration,
    /// Cancelled when the transport stops.
    pub(super) cancel: CancellationToken,
    pub(super) counters: Arc<Counters>,
}

/// A connection just accepted, before any TLS.
pub(super) struct Accepted {
    pub(super) remote: SocketAddr,
    /// Its place among the pending handshakes.
    pub(super) slot: OwnedSemaphorePermit,
    /// When it must have opened an authenticated stream: its accept plus
    /// the handshake timeout.
    pub(super) deadline: Instant,
}

/// An accepted connection, plaintext or TLS.
pub(super) type ServerIo = PlainOrTls<TcpStream, Box<PeerTlsStream<TcpStream>>>;

/// A server-side connection under the rules above.
pub(super) struct GuardedStream {
    inner: ServerIo,
    admission: Admission,
    deadline: Pin<Box<Sleep>>,
    handshake_timeout: Duration,
    stopped: Pin<Box<WaitForCancellationFutureOwned>>,
    counters: Arc<Counters>,
    timed_out: bool,
}

impl GuardedStream {
    /// Wraps `inner`, the connection `accepted` (whose client certificate
    /// names `certified`), under `rules`: it holds its handshake slot until
    /// it opens an authenticated stream, which it must do by its deadline.
    pub(super) fn new(
        inner: ServerIo,
        accepted: Accepted,
        certified: Option<NodeId>,
        rules: &GuardRules,
    ) -> Self {
        GuardedStream {
            inner,
            admission: Admission {
                state: Arc::new(AdmissionState {
                    admitted: AtomicBool::new(false),
                    slot: Mutex::new(Some(accepted.slot)),
                    remote: accepted.remote,
                    certified,
                }),
            },
            deadline: Box::pin(tokio::time::sleep_until(accepted.deadline)),
            handshake_timeout: rules.handshake_timeout,
            stopped: Box::pin(rules.cancel.clone().cancelled_owned()),
            counters: Arc::clone(&rules.counters),
            timed_out: false,
        }
    }

    /// An error if the connection must close now; registers wake-ups for
    /// both reasons otherwise.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.stopped.as_mut().poll(cx).is_ready() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the transport stopped",
            ));
        }
        if self.timed_out
            || (!self.admission.is_admitted() && self.deadline.as_mut().poll(cx).is_ready())
        {
            if !self.timed_out {
                self.timed_out = true;
                warn!(
                    remote = %self.admission.state.remote,
                    limit = ?self.handshake_timeout,
                    "no authenticated gRPC stream in time; closing the connection"
                );
                Counters::bump(&self.counters.handshake_timeouts);
            }
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no authenticated stream in time",
            ));
        }
        Ok(())
    }
}

impl Connected for GuardedStream {
    type ConnectInfo = Admission;

    fn connect_info(&self) -> Admission {
        self.admission.clone()
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Err(error) = self.check(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Err(error) = self.check(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Err(error) = self.check(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
