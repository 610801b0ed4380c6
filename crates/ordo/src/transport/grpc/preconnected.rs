//! A tonic connector that hands over one connection opened beforehand. With
//! peer TLS the dialer opens TCP and TLS itself and checks the certificate
//! names the node it dialed before tonic sees the stream, so a channel never
//! speaks HTTP/2 to a peer that has not proved who it is.
//!
//! Invariant: the connection is handed out once. If the channel asks again
//! (it lost the connection), the call fails, the stream on it ends, and the
//! dialer reconnects the usual way, through the same checks.

use std::future::{Ready, ready};
use std::io;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use tonic::codegen::Service;
use tonic::codegen::http::Uri;

/// Yields its connection to the first call, an error to every later one.
pub(super) struct Preconnected<IO> {
    connection: Option<IO>,
}

impl<IO> Preconnected<IO> {
    /// A connector for `connection`.
    pub(super) fn new(connection: IO) -> Self {
        Preconnected {
            connection: Some(connection),
        }
    }
}

impl<IO> Service<Uri> for Preconnected<IO> {
    type Response = TokioIo<IO>;
    type Error = io::Error;
    type Future = Ready<Result<TokioIo<IO>, io::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        ready(self.connection.take().map(TokioIo::new).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotConnected,
                "the peer connection was already used; the dialer reconnects",
            )
        }))
    }
}
