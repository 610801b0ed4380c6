//! The two halves of a peer connection, plaintext or TLS
//! ([`PlainOrTls`](crate::transport::link::PlainOrTls)): plaintext
//! connections keep tokio's lock-free owned halves, and a TLS stream is
//! split with tokio's shared halves.

use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::transport::link::PlainOrTls;
use crate::transport::tls::PeerTlsStream;

/// The reading half of a peer connection.
pub(crate) type PeerReader = PlainOrTls<OwnedReadHalf, ReadHalf<PeerTlsStream<TcpStream>>>;

/// The writing half of a peer connection.
pub(crate) type PeerWriter = PlainOrTls<OwnedWriteHalf, WriteHalf<PeerTlsStream<TcpStream>>>;

/// Splits a plaintext connection.
pub(super) fn split_plain(stream: TcpStream) -> (PeerReader, PeerWriter) {
    let (reader, writer) = stream.into_split();
    (PlainOrTls::Plain(reader), PlainOrTls::Plain(writer))
}

/// Splits a TLS connection.
pub(super) fn split_tls(stream: PeerTlsStream<TcpStream>) -> (PeerReader, PeerWriter) {
    let (reader, writer) = tokio::io::split(stream);
    (PlainOrTls::Tls(reader), PlainOrTls::Tls(writer))
}
