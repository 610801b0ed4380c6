//! Connection-level defences for the gRPC server, which HTTP/2 alone does not
//! give: a connection must open an authenticated stream within the handshake
//! timeout (else it is closed: slow loris, port scanners, idle strangers),
//! at most `max_pending_handshakes` connections may be waiting to do so, and
//! every connection is closed when the transport stops.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Sleep;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::transport::server::Connected;
use tracing::warn;

use crate::transport::link::Counters;

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

    fn is_admitted(&self) -> bool {
        self.state.admitted.load(Ordering::Acquire)
    }
}

/// A server-side TCP stream under the rules above.
pub(super) struct GuardedStream {
    inner: TcpStream,
    admission: Admission,
    deadline: Pin<Box<Sleep>>,
    handshake_timeout: Duration,
    stopped: Pin<Box<WaitForCancellationFutureOwned>>,
    counters: Arc<Counters>,
    timed_out: bool,
}

impl GuardedStream {
    /// Wraps an accepted stream holding one handshake slot.
    pub(super) fn new(
        inner: TcpStream,
        remote: SocketAddr,
        slot: OwnedSemaphorePermit,
        handshake_timeout: Duration,
        cancel: CancellationToken,
        counters: Arc<Counters>,
    ) -> Self {
        GuardedStream {
            inner,
            admission: Admission {
                state: Arc::new(AdmissionState {
                    admitted: AtomicBool::new(false),
                    slot: Mutex::new(Some(slot)),
                    remote,
                }),
            },
            deadline: Box::pin(tokio::time::sleep(handshake_timeout)),
            handshake_timeout,
            stopped: Box::pin(cancel.cancelled_owned()),
            counters,
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
