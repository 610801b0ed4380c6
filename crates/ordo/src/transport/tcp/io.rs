//! Reading frames from, and writing frame batches to, a byte stream.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::transport::codec::FRAME_HEADER_BYTES;
use crate::transport::codec::frame::frame_length;

/// Bytes read from the socket at a time. Frames up to this size are parsed
/// out of the shared read buffer (many per read); larger ones are read into a
/// buffer of their own.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// How much of a large frame is received before the whole of it is
/// allocated, so that a length header alone never makes the node allocate
/// the claimed size.
const LARGE_FRAME_STEP_BYTES: usize = 1024 * 1024;

/// Most I/O slices handed to one vectored write.
const MAX_IO_SLICES: usize = 64;

/// Why no frame could be read.
#[derive(Debug, Error)]
pub enum ReadError {
    /// The stream ended cleanly between frames.
    #[error("the connection was closed")]
    Closed,
    /// The stream ended inside a frame.
    #[error("the connection ended inside a frame ({received} of {expected} bytes received)")]
    Truncated {
        /// Bytes of the frame (header included) received.
        received: usize,
        /// Bytes the frame needed.
        expected: usize,
    },
    /// A frame header announced more than the limit.
    #[error("a frame of {bytes} bytes exceeds the limit of {max_bytes} bytes")]
    Oversized {
        /// The length announced.
        bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// Nothing arrived for the idle timeout.
    #[error("nothing received for {0:?}")]
    Idle(Duration),
    /// The socket failed.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
}

/// Reads length-prefixed frames. Each frame returned owns its allocation, so
/// payloads sliced out of it (and kept, say, in the log) pin nothing else.
///
/// Cancel safety: bytes read are kept in the reader, so dropping a pending
/// [`FrameReader::next_frame`] loses nothing — except for a frame larger
/// than the read buffer, which must not be cancelled midway (the transport
/// only cancels such a read when it closes the connection anyway).
pub(crate) struct FrameReader<R> {
    reader: R,
    buffer: BytesMut,
    idle_timeout: Option<Duration>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads frames from `reader`, failing with [`ReadError::Idle`] when a
    /// read waits longer than `idle_timeout`.
    pub(crate) fn new(reader: R, idle_timeout: Option<Duration>) -> Self {
        FrameReader {
            reader,
            buffer: BytesMut::with_capacity(READ_BUFFER_BYTES),
            idle_timeout,
        }
    }

    /// The next frame's payload (empty for a keepalive).
    pub(crate) async fn next_frame(&mut self, max_frame_bytes: usize) -> Result<Bytes, ReadError> {
        loop {
            if let Some(length) = self.buffered_length() {
                if length > max_frame_bytes {
                    return Err(ReadError::Oversized {
                        bytes: length,
                        max_bytes: max_frame_bytes,
                    });
                }
                let frame_bytes = FRAME_HEADER_BYTES + length;
                if self.buffer.len() >= frame_bytes {
                    let frame =
                        Bytes::copy_from_slice(&self.buffer[FRAME_HEADER_BYTES..frame_bytes]);
                    self.buffer.advance(frame_bytes);
                    return Ok(frame);
                }
                if length > READ_BUFFER_BYTES {
                    return self.read_large_frame(length).await;
                }
            }
            self.buffer.reserve(READ_BUFFER_BYTES);
            let expected = self
                .buffered_length()
                .map_or(FRAME_HEADER_BYTES, |length| FRAME_HEADER_BYTES + length);
            if self.read_some().await? == 0 {
                return Err(match self.buffer.len() {
                    0 => ReadError::Closed,
                    received => ReadError::Truncated { received, expected },
                });
            }
        }
    }

    fn buffered_length(&self) -> Option<usize> {
        let header: [u8; FRAME_HEADER_BYTES] =
            self.buffer.get(..FRAME_HEADER_BYTES)?.try_into().ok()?;
        Some(frame_length(header))
    }

    async fn read_some(&mut self) -> Result<usize, ReadError> {
        let read = self.reader.read_buf(&mut self.buffer);
        match self.idle_timeout {
            None => Ok(read.await?),
            Some(limit) => match tokio::time::timeout(limit, read).await {
                Ok(result) => Ok(result?),
                Err(_) => Err(ReadError::Idle(limit)),
            },
        }
    }

    /// Reads a frame too large for the shared buffer into a buffer of its
    /// own. The first [`LARGE_FRAME_STEP_BYTES`] go into a buffer of that
    /// size; only once the sender has delivered them is the whole frame
    /// allocated, exactly (so a header alone never costs the full size, and
    /// the frame never costs more than its size plus one step).
    async fn read_large_frame(&mut self, length: usize) -> Result<Bytes, ReadError> {
        self.buffer.advance(FRAME_HEADER_BYTES);
        let mut frame = BytesMut::with_capacity(length.min(LARGE_FRAME_STEP_BYTES));
        frame.extend_from_slice(&self.buffer);
        self.buffer.clear();
        while frame.len() < length {
            if frame.len() == frame.capacity() {
                let mut whole = BytesMut::with_capacity(length);
                whole.extend_from_slice(&frame);
                frame = whole;
            }
            let room = (length - frame.len()).min(frame.capacity() - frame.len());
            let mut limited = (&mut self.reader).take(room as u64);
            let read = limited.read_buf(&mut frame);
            let count = match self.idle_timeout {
                None => read.await?,
                Some(limit) => tokio::time::timeout(limit, read)
                    .await
                    .map_err(|_| ReadError::Idle(limit))??,
            };
            if count == 0 {
                return Err(ReadError::Truncated {
                    received: FRAME_HEADER_BYTES + frame.len(),
                    expected: FRAME_HEADER_BYTES + length,
                });
            }
        }
        Ok(frame.freeze())
    }
}

/// Writes `chunks` in order with as few (vectored) writes as the socket
/// allows.
pub(crate) async fn write_chunks<W: AsyncWrite + Unpin>(
    writer: &mut W,
    chunks: Vec<Bytes>,
) -> io::Result<()> {
    let mut chunks: VecDeque<Bytes> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
    while !chunks.is_empty() {
        let mut written = {
            let slices: Vec<IoSlice<'_>> = chunks
                .iter()
                .take(MAX_IO_SLICES)
                .map(|chunk| IoSlice::new(chunk))
                .collect();
            writer.write_vectored(&slices).await?
        };
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let Some(front) = chunks.front_mut() else {
                break;
            };
            if written >= front.len() {
                written -= front.len();
                chunks.pop_front();
            } else {
                front.advance(written);
                written = 0;
            }
        }
    }
    writer.flush().await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for payload in payloads {
            out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            out.extend_from_slice(payload);
        }
        out
    }

    #[tokio::test]
    async fn frames_small_and_large_are_read_in_order() {
        let large = vec![9u8; READ_BUFFER_BYTES * 3 + 5];
        let stream = framed(&[b"a", b"", &large, b"bc"]);
        let mut reader = FrameReader::new(&stream[..], None);
        assert_eq!(&reader.next_frame(1 << 20).await.unwrap()[..], b"a");
        assert_eq!(&reader.next_frame(1 << 20).await.unwrap()[..], b"");
        assert_eq!(reader.next_frame(1 << 20).await.unwrap().len(), large.len());
        assert_eq!(&reader.next_frame(1 << 20).await.unwrap()[..], b"bc");
        assert!(matches!(
            reader.next_frame(1 << 20).await,
            Err(ReadError::Closed)
        ));
    }

    #[tokio::test]
    async fn a_frame_many_steps_long_is_read_whole() {
        let large: Vec<u8> = (0..LARGE_FRAME_STEP_BYTES * 3 + 17)
            .map(|i| i as u8)
            .collect();
        let stream = framed(&[&large, b"z"]);
        let mut reader = FrameReader::new(&stream[..], None);
        assert_eq!(&reader.next_frame(1 << 23).await.unwrap()[..], &large[..]);
        assert_eq!(&reader.next_frame(1 << 23).await.unwrap()[..], b"z");
    }

    #[tokio::test]
    async fn oversized_and_truncated_frames_are_errors() {
        let stream = framed(&[&[1u8; 100]]);
        let mut reader = FrameReader::new(&stream[..], None);
        assert!(matches!(
            reader.next_frame(99).await,
            Err(ReadError::Oversized {
                bytes: 100,
                max_bytes: 99
            })
        ));
        let mut reader = FrameReader::new(&stream[..50], None);
        assert!(matches!(
            reader.next_frame(100).await,
            Err(ReadError::Truncated {
                received: 50,
                expected: 104
            })
        ));
        let big = framed(&[&vec![1u8; READ_BUFFER_BYTES * 2]]);
        let mut reader = FrameReader::new(&big[..READ_BUFFER_BYTES + 10], None);
        assert!(matches!(
            reader.next_frame(1 << 20).await,
            Err(ReadError::Truncated { .. })
        ));
        let mut reader = FrameReader::new(&[0u8, 0][..], None);
        assert!(matches!(
            reader.next_frame(100).await,
            Err(ReadError::Truncated {
                received: 2,
                expected: 4
            })
        ));
    }

    #[tokio::test]
    async fn chunks_are_written_whole_even_through_short_writes() {
        let (mut client, mut server) = tokio::io::duplex(7);
        let chunks: Vec<Bytes> = (0..20u8).map(|i| Bytes::from(vec![i; 13])).collect();
        let expected: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let writer = tokio::spawn(async move { write_chunks(&mut client, chunks).await });
        let mut received = Vec::new();
        server.read_to_end(&mut received).await.unwrap();
        writer.await.unwrap().unwrap();
        assert_eq!(received, expected);
    }
}
