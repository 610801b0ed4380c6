//! The client port's accept loop (hyper, HTTP/1.1 and HTTP/2: cleartext
//! HTTP/2 is told by its preface, over TLS by ALPN), in place of
//! `axum::serve`, so that every limit on a client is ours to set
//! ([`ConnectionLimits`]). HTTP/2 carries etcd's gRPC API
//! (`server/etcd/`; `request_gate.rs` routes by content type):
//!
//! - a request head, once its first byte arrived, must be whole within
//!   `header_read_timeout`, and a TLS handshake must finish within it, or
//!   the connection is closed;
//! - its body within `body_read_timeout` (`request_gate.rs`: 408);
//! - a connection idle (no request in flight) for `idle_timeout` is closed;
//!   on HTTP/2 (told by its preface) bytes between requests are frames
//!   (pings, window updates), so only this timeout applies between them;
//! - at most `max_connections` are open ([`ConnectionTable`]: the one idle
//!   the longest makes room for a new one; if all are busy the new one is
//!   closed at once), so descriptors stay for the log, snapshots and peers;
//! - at most `max_in_flight_requests` are handled at once (429 `busy`).
//!
//! An accept error (out of descriptors, EMFILE) pauses the loop briefly
//! instead of spinning on it. On shutdown the loop stops accepting and
//! every connection finishes its request in flight, then closes.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::server::http::cert_name::subject_common_name;
use crate::server::http::connections::{Activity, Admission, ConnectionTable};
use crate::server::http::h2_authority::{AuthorityFix, H2_MAX_HEADER_LIST_BYTES};
use crate::server::http::request_gate::{AuthenticatedUser, RequestGate};
use crate::server::http::tls::TlsAcceptors;

/// How long the loop pauses after a failed accept (out of descriptors).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// At most one warning about failed accepts in this long.
const ACCEPT_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Most HTTP/2 streams (gRPC calls) open at once on one connection; the
/// node-wide `max_in_flight_requests` caps them all together.
const MAX_STREAMS_PER_CONNECTION: u32 = 256;

/// Every limit on client connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Longest wait for a request head (and a TLS handshake).
    pub header_read_timeout: Duration,
    /// Longest wait for a request body, from its head.
    pub body_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// Most client connections open at once.
    pub max_connections: usize,
    /// Most requests handled at once, over all connections.
    pub max_in_flight_requests: usize,
}

/// Default [`ConnectionLimits::header_read_timeout`]: 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ConnectionLimits::body_read_timeout`]: 30 s.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`ConnectionLimits::idle_timeout`]: 60 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`ConnectionLimits::max_connections`] (lowered to what the
/// descriptor limit allows at start).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default [`ConnectionLimits::max_in_flight_requests`].
pub const DEFAULT_MAX_IN_FLIGHT_REQUESTS: usize = 1024;

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_in_flight_requests: DEFAULT_MAX_IN_FLIGHT_REQUESTS,
        }
    }
}

/// What the accept loop needs besides the listener.
pub(super) struct Listening {
    /// The routes.
    pub(super) app: Router,
    /// The gRPC services (etcd's API).
    pub(super) grpc: Router,
    /// The limits.
    pub(super) limits: ConnectionLimits,
    /// HTTPS, when configured.
    pub(super) tls: Option<Arc<TlsAcceptors>>,
    /// The connection table (shared with `/metrics`).
    pub(super) connections: Arc<ConnectionTable>,
}

/// Serves on `listener` until `shutdown` turns true, then waits for the
/// connections to finish their requests.
pub(super) async fn accept_loop(
    listener: TcpListener,
    listening: Listening,
    shutdown: watch::Receiver<bool>,
) {
    let in_flight = Arc::new(Semaphore::new(listening.limits.max_in_flight_requests));
    let mut tasks = JoinSet::new();
    let mut stop = shutdown.clone();
    let mut last_warning: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => accepted,
        };
        while tasks.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                if last_warning.is_none_or(|at| at.elapsed() >= ACCEPT_ERROR_LOG_INTERVAL) {
                    tracing::warn!(%error, "cannot accept a client connection; pausing");
                    last_warning = Some(Instant::now());
                }
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        // Dropped (closed) at once when every connection is busy.
        let Some(admission) = listening.connections.admit() else {
            continue;
        };
        let connection = Connection {
            gate: RequestGate {
                app: listening.app.clone(),
                grpc: listening.grpc.clone(),
                in_flight: Arc::clone(&in_flight),
                body_read_timeout: listening.limits.body_read_timeout,
                activity: Arc::clone(&admission.activity),
                user: None,
            },
            limits: listening.limits,
            admission,
            shutdown: shutdown.clone(),
        };
        tasks.spawn(connection.serve(stream, listening.tls.clone()));
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// One admitted connection.
struct Connection {
    gate: RequestGate,
    limits: ConnectionLimits,
    admission: Admission,
    shutdown: watch::Receiver<bool>,
}

impl Connection {
    async fn serve(mut self, stream: TcpStream, tls: Option<Arc<TlsAcceptors>>) {
        // Without TCP_NODELAY, a response whose head and body go out in two
        // writes waits for the client's delayed ACK (~40 ms).
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let Some(tls) = tls else {
            return self.drive(stream).await;
        };
        let handshake = tls.current().accept(stream);
        let stream = match tokio::time::timeout(self.limits.header_read_timeout, handshake).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::debug!(%error, "TLS handshake refused");
                return;
            }
            Err(_) => return,
        };
        self.gate.user = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|certificate| subject_common_name(certificate))
            .map(AuthenticatedUser);
        self.drive(stream).await;
    }

    /// Serves requests until the client closes, a timeout, eviction, or
    /// shutdown (which lets the request in flight finish).
    async fn drive<S>(mut self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::clone(&self.admission.activity);
        // Activity sees the client's bytes as they arrive; hyper sees them
        // with etcdctl's URL-valued `:authority` made bare (h2 refuses it).
        let stream = AuthorityFix::new(ActivityIo {
            inner: stream,
            activity: Arc::clone(&activity),
            preface: PrefaceSniffer::default(),
        });
        // hyper's own header timeout would start as soon as it waits for a
        // request, so an idle keep-alive connection could not outlive it;
        // `Activity::time_left` tells a begun head from an idle wait.
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(None);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
            // What `AuthorityFix` assumes of h2 (its HPACK table is h2's
            // default, which hyper-util's builder cannot change).
            .max_header_list_size(H2_MAX_HEADER_LIST_BYTES);
        let connection = builder.serve_connection(TokioIo::new(stream), self.gate);
        tokio::pin!(connection);
        let mut closing = false;
        let time_left =
            || activity.time_left(self.limits.header_read_timeout, self.limits.idle_timeout);
        loop {
            let check_in = time_left().unwrap_or_default();
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "client connection ended");
                    }
                    return;
                }
                // Only an idle connection is evicted: closing it cuts no request.
                () = activity.evicted() => return,
                changed = self.shutdown.changed(), if !closing => {
                    let _ = changed;
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                // Its deadline moved up: the loop computes it again.
                () = activity.head_began() => {}
                () = tokio::time::sleep(check_in) => {
                    if time_left().is_none() {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "accept_tests.rs"]
mod tests;

/// The connection's stream, telling its [`Activity`] when bytes arrive
/// and whether the connection speaks HTTP/2.
struct ActivityIo<S> {
    inner: S,
    activity: Arc<Activity>,
    preface: PrefaceSniffer,
}

/// What every HTTP/2 connection begins with, cleartext or inside TLS
/// (RFC 9113 §3.4); no HTTP/1.1 request can (`PRI` is reserved for it).
const HTTP2_PREFACE_START: &[u8] = b"PRI * HTTP/2.0";

/// Tells an HTTP/2 connection from its first bytes, however they are split
/// across reads.
#[derive(Debug, Default)]
struct PrefaceSniffer {
    /// Bytes of [`HTTP2_PREFACE_START`] matched so far.
    matched: usize,
    /// Set once the answer is known.
    decided: Option<bool>,
}

impl PrefaceSniffer {
    /// Feeds the next bytes received; answers whether the connection is
    /// HTTP/2 once that is known.
    fn feed(&mut self, bytes: &[u8]) -> Option<bool> {
        if self.decided.is_none() {
            let wanted = &HTTP2_PREFACE_START[self.matched..];
            let compared = wanted.len().min(bytes.len());
            if bytes[..compared] != wanted[..compared] {
                self.decided = Some(false);
            } else {
                self.matched += compared;
                if self.matched == HTTP2_PREFACE_START.len() {
                    self.decided = Some(true);
                }
            }
        }
        self.decided
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ActivityIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            let this = &mut *self;
            let undecided = this.preface.decided.is_none();
            if this.preface.feed(&buf.filled()[before..]) == Some(true) && undecided {
                this.activity.speaks_http2();
            }
            this.activity.bytes_received();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ActivityIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, data)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
