//! [`PlainOrTls`]: a peer connection, or one half of it, that is plaintext
//! or TLS, for both wires (TCP's split halves, gRPC's accepted streams).
//!
//! An enum rather than a boxed trait object or a generic wire: each side
//! keeps its concrete type (plaintext TCP keeps tokio's lock-free owned
//! halves), and TLS off costs one branch per read or write.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection (or half) that is `P` in plaintext or `T` over TLS; reads
/// and writes go to whichever it is.
pub(crate) enum PlainOrTls<P, T> {
    Plain(P),
    Tls(T),
}

impl<P, T> AsyncRead for PlainOrTls<P, T>
where
    P: AsyncRead + Unpin,
    T: AsyncRead + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PlainOrTls::Plain(plain) => Pin::new(plain).poll_read(cx, buf),
            PlainOrTls::Tls(tls) => Pin::new(tls).poll_read(cx, buf),
        }
    }
}

impl<P, T> AsyncWrite for PlainOrTls<P, T>
where
    P: AsyncWrite + Unpin,
    T: AsyncWrite + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PlainOrTls::Plain(plain) => Pin::new(plain).poll_write(cx, buf),
            PlainOrTls::Tls(tls) => Pin::new(tls).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PlainOrTls::Plain(plain) => Pin::new(plain).poll_write_vectored(cx, bufs),
            PlainOrTls::Tls(tls) => Pin::new(tls).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            PlainOrTls::Plain(plain) => plain.is_write_vectored(),
            PlainOrTls::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PlainOrTls::Plain(plain) => Pin::new(plain).poll_flush(cx),
            PlainOrTls::Tls(tls) => Pin::new(tls).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PlainOrTls::Plain(plain) => Pin::new(plain).poll_shutdown(cx),
            PlainOrTls::Tls(tls) => Pin::new(tls).poll_shutdown(cx),
        }
    }
}
