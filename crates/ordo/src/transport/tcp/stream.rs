//! The two halves of a peer connection, plaintext or TLS. An enum rather than
//! a boxed trait object or a generic wire: plaintext connections keep tokio's
//! lock-free owned halves (TLS off costs one branch per read or write), and
//! a TLS stream is split with tokio's shared halves.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::transport::tls::PeerTlsStream;

/// The reading half of a peer connection.
pub(crate) enum PeerReader {
    Plain(OwnedReadHalf),
    Tls(ReadHalf<PeerTlsStream<TcpStream>>),
}

/// The writing half of a peer connection.
pub(crate) enum PeerWriter {
    Plain(OwnedWriteHalf),
    Tls(WriteHalf<PeerTlsStream<TcpStream>>),
}

/// Splits a plaintext connection.
pub(super) fn split_plain(stream: TcpStream) -> (PeerReader, PeerWriter) {
    let (reader, writer) = stream.into_split();
    (PeerReader::Plain(reader), PeerWriter::Plain(writer))
}

/// Splits a TLS connection.
pub(super) fn split_tls(stream: PeerTlsStream<TcpStream>) -> (PeerReader, PeerWriter) {
    let (reader, writer) = tokio::io::split(stream);
    (PeerReader::Tls(reader), PeerWriter::Tls(writer))
}

impl AsyncRead for PeerReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerReader::Plain(reader) => Pin::new(reader).poll_read(cx, buf),
            PeerReader::Tls(reader) => Pin::new(reader).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PeerWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerWriter::Plain(writer) => Pin::new(writer).poll_write(cx, buf),
            PeerWriter::Tls(writer) => Pin::new(writer).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerWriter::Plain(writer) => Pin::new(writer).poll_write_vectored(cx, bufs),
            PeerWriter::Tls(writer) => Pin::new(writer).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            PeerWriter::Plain(writer) => writer.is_write_vectored(),
            PeerWriter::Tls(writer) => writer.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerWriter::Plain(writer) => Pin::new(writer).poll_flush(cx),
            PeerWriter::Tls(writer) => Pin::new(writer).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerWriter::Plain(writer) => Pin::new(writer).poll_shutdown(cx),
            PeerWriter::Tls(writer) => Pin::new(writer).poll_shutdown(cx),
        }
    }
}
