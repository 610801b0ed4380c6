//! [`AuthorityFix`]: a client connection's bytes on their way to hyper,
//! with an HTTP/2 `:authority` that is a URL made bare (`HOST:PORT`).
//!
//! Why: etcdctl 3.4 dials `endpoint status`, `endpoint hashkv`,
//! `move-leader` and `defrag` with the endpoint as given, so
//! `--endpoints http://127.0.0.1:2379` sends `:authority:
//! http://127.0.0.1:2379`. Go's HTTP/2 server takes it; h2 (under hyper
//! and tonic) parses `:authority` as an `http::uri::Authority` and resets
//! the stream as malformed before any of ordo's code runs, and offers no
//! hook before that. So the fix sits between the socket (after TLS) and
//! hyper, on the read side only; what the server writes is untouched.
//!
//! How: [`frames`] cuts the client's bytes into frames, streams every
//! frame but a header block through untouched (only its 9-byte head is
//! parsed), and holds a header block whole; [`header_block`] decodes it
//! with the client's HPACK table. The connection's first block decides:
//! if its `:authority` needs nothing (every client but etcdctl's
//! maintenance calls), the rest of the connection passes unparsed, so such
//! a client pays one HPACK decode per connection, not per request; if it
//! does, every block of the connection is re-encoded, with a size-0 HPACK
//! table on both sides (see `header_block.rs` for why the tables then
//! always agree). A later URL-valued `:authority` on a connection that
//! began bare is refused by h2, as without this fix; clients keep one
//! authority per connection (a gRPC channel's is fixed).
//!
//! A same-length rewrite (keep HPACK's table sizes equal by padding the
//! bare value) would avoid re-encoding but cannot be done in general: the
//! padded value must still be a valid authority meaning the same host.
//!
//! Hostile input: a malformed frame or header block ends the connection
//! with one warning naming why, never a panic; what is held is bounded (a
//! header block at most `frames::MAX_HEADER_BLOCK_BYTES`, a decoded list at
//! most `header_block::MAX_HEADER_LIST_BYTES`, HPACK's table at most h2's
//! 4 KiB).

mod frames;
mod header_block;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod served_tests;

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use frames::{FrameRewriter, Passthrough};
pub(crate) use header_block::H2_MAX_HEADER_LIST_BYTES;

/// Bytes asked of the socket at a time while frames are parsed.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// A client connection's stream with [`FrameRewriter`] on its read side.
pub(crate) struct AuthorityFix<S> {
    inner: S,
    frames: FrameRewriter,
    /// Read from `inner`, not yet parsed (an incomplete frame head or
    /// header frame).
    incoming: BytesMut,
    /// Parsed, for hyper to read; read from `inner` only once it is empty.
    outgoing: BytesMut,
    /// `inner` ended or the frames were refused: reads end.
    ended: bool,
}

impl<S> AuthorityFix<S> {
    pub(crate) fn new(inner: S) -> Self {
        AuthorityFix {
            inner,
            frames: FrameRewriter::new(),
            incoming: BytesMut::new(),
            outgoing: BytesMut::new(),
            ended: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityFix<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        loop {
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            if !this.outgoing.is_empty() {
                let copied = buf.remaining().min(this.outgoing.len());
                buf.put_slice(&this.outgoing[..copied]);
                this.outgoing.advance(copied);
                return Poll::Ready(Ok(()));
            }
            if this.ended {
                return Poll::Ready(Ok(()));
            }
            // Bytes that pass untouched go straight into hyper's buffer.
            if this.incoming.is_empty() {
                match this.frames.passthrough() {
                    Some(Passthrough::All) => return Pin::new(&mut this.inner).poll_read(cx, buf),
                    Some(Passthrough::Upto(budget)) => return this.read_through(cx, buf, budget),
                    None => {}
                }
            }
            this.incoming.reserve(READ_CHUNK_BYTES);
            let read = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut this.inner),
                cx,
                &mut this.incoming
            ))?;
            if read == 0 {
                // An incomplete frame at the end goes nowhere: h2 would
                // have found it incomplete too.
                this.ended = true;
                continue;
            }
            if let Err(refused) = this.frames.process(&mut this.incoming, &mut this.outgoing) {
                tracing::warn!(error = %refused, "ending a client's HTTP/2 connection: bad frames");
                this.ended = true;
                this.incoming.clear();
                this.outgoing.clear();
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    refused,
                )));
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AuthorityFix<S> {
    /// Reads at most `budget` untouched bytes from `inner` into `buf` (the
    /// rest of a frame's payload).
    fn read_through(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        budget: usize,
    ) -> Poll<std::io::Result<()>> {
        let wanted = budget.min(buf.remaining());
        // Initialized (zeroed where it was not yet) so that what `inner`
        // fills can be claimed without unsafe code.
        let mut limited = ReadBuf::new(buf.initialize_unfilled_to(wanted));
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut limited))?;
        let read = limited.filled().len();
        buf.advance(read);
        if read == 0 {
            self.ended = true;
        } else {
            self.frames.passed(read);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityFix<S> {
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
