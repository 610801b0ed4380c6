//! Frames: a 4-byte big-endian length, then that many bytes of payload.
//!
//! Outgoing frames are gathered in a [`FrameBatch`] so that many messages go
//! out in one (vectored) write. Small fields are copied into one contiguous
//! buffer; entry payloads of [`ZERO_COPY_MIN_BYTES`] or more are kept as
//! references to the caller's [`Bytes`] and handed to the kernel as their own
//! I/O slices, so a large command is never copied in user space on its way
//! to a peer.

use bytes::{BufMut, Bytes, BytesMut};
use ordo_core::Message;
use thiserror::Error;

use super::message;
use super::wire::Sink;

/// Bytes of a frame's length header.
pub const FRAME_HEADER_BYTES: usize = 4;

/// Entry payloads at least this large are sent by reference rather than
/// copied. Below it a copy is cheaper than another I/O slice.
pub const ZERO_COPY_MIN_BYTES: usize = 4096;

/// A message whose encoding exceeds the frame limit; it is not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("an encoded message of {bytes} bytes exceeds the frame limit of {max_bytes} bytes")]
pub struct FrameTooLarge {
    /// The encoded size.
    pub bytes: usize,
    /// The limit.
    pub max_bytes: usize,
}

/// Frames waiting to be written together, as a list of byte chunks for one
/// vectored write.
#[derive(Debug, Default)]
pub struct FrameBatch {
    chunks: Vec<Bytes>,
    scratch: BytesMut,
    bytes: usize,
    frames: usize,
}

impl FrameBatch {
    /// An empty batch.
    pub fn new() -> Self {
        FrameBatch::default()
    }

    /// Appends `message` as one frame, unless its encoding exceeds
    /// `max_frame_bytes`. Returns the frame's payload size.
    ///
    /// # Errors
    /// [`FrameTooLarge`]; the batch is then unchanged.
    pub fn push_message(
        &mut self,
        message: &Message,
        max_frame_bytes: usize,
    ) -> Result<usize, FrameTooLarge> {
        let length = super::encoded_len(message);
        if length > max_frame_bytes || length > u32::MAX as usize {
            return Err(FrameTooLarge {
                bytes: length,
                max_bytes: max_frame_bytes,
            });
        }
        self.put_header(length);
        message::encode(self, message);
        Ok(length)
    }

    /// Appends an already encoded payload (a handshake) as one frame.
    ///
    /// # Errors
    /// [`FrameTooLarge`] if it is longer than `max_frame_bytes`.
    pub fn push_payload(
        &mut self,
        payload: &Bytes,
        max_frame_bytes: usize,
    ) -> Result<(), FrameTooLarge> {
        if payload.len() > max_frame_bytes || payload.len() > u32::MAX as usize {
            return Err(FrameTooLarge {
                bytes: payload.len(),
                max_bytes: max_frame_bytes,
            });
        }
        self.put_header(payload.len());
        self.put_payload(payload);
        Ok(())
    }

    /// Appends an empty frame: a keepalive, which the receiver skips.
    pub fn push_keepalive(&mut self) {
        self.put_header(0);
    }

    /// Bytes in the batch, headers included.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Frames in the batch.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// Takes the batch's chunks, in order, leaving it empty (its copy buffer
    /// is kept for reuse).
    pub fn take_chunks(&mut self) -> Vec<Bytes> {
        self.flush_scratch();
        self.bytes = 0;
        self.frames = 0;
        std::mem::take(&mut self.chunks)
    }

    fn put_header(&mut self, length: usize) {
        self.frames += 1;
        self.put_slice(&(length as u32).to_be_bytes());
    }

    fn flush_scratch(&mut self) {
        if !self.scratch.is_empty() {
            self.chunks.push(self.scratch.split().freeze());
        }
    }
}

impl Sink for FrameBatch {
    fn put_byte(&mut self, byte: u8) {
        self.bytes += 1;
        self.scratch.put_u8(byte);
    }

    fn put_slice(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len();
        self.scratch.extend_from_slice(bytes);
    }

    fn put_payload(&mut self, payload: &Bytes) {
        if payload.len() < ZERO_COPY_MIN_BYTES {
            self.put_slice(payload);
            return;
        }
        self.flush_scratch();
        self.bytes += payload.len();
        self.chunks.push(payload.clone());
    }
}

/// Reads a frame header: the payload length that follows.
pub fn frame_length(header: [u8; FRAME_HEADER_BYTES]) -> usize {
    u32::from_be_bytes(header) as usize
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::transport::codec::{DecodeLimits, decode};
    use ordo_core::{AppendRequest, Entry, MessageBody};

    fn append(payload_bytes: usize) -> Message {
        Message {
            from: 1,
            to: 2,
            term: 3,
            body: MessageBody::Append(AppendRequest {
                prev_log_index: 0,
                prev_log_term: 0,
                entries: vec![Entry::command(1, 3, vec![7u8; payload_bytes])],
                leader_commit: 0,
            }),
        }
    }

    /// Splits a byte stream into frame payloads.
    fn frames(stream: &[u8]) -> Vec<Bytes> {
        let mut rest = stream;
        let mut out = Vec::new();
        while !rest.is_empty() {
            let length = frame_length(rest[..4].try_into().unwrap());
            out.push(Bytes::copy_from_slice(&rest[4..4 + length]));
            rest = &rest[4 + length..];
        }
        out
    }

    #[test]
    fn large_payloads_are_sent_by_reference_and_frames_reassemble() {
        let big = append(ZERO_COPY_MIN_BYTES);
        let small = append(10);
        let mut batch = FrameBatch::new();
        batch.push_message(&small, 1 << 20).unwrap();
        batch.push_message(&big, 1 << 20).unwrap();
        batch.push_keepalive();
        batch.push_message(&small, 1 << 20).unwrap();
        assert_eq!(batch.frames(), 4);
        let expected_bytes = batch.bytes();
        let chunks = batch.take_chunks();
        assert!(batch.is_empty());
        // header+small+header+big's fields | big's payload | rest
        assert_eq!(chunks.len(), 3);
        let MessageBody::Append(request) = &big.body else {
            unreachable!()
        };
        let ordo_core::EntryPayload::Command(payload) = &request.entries[0].payload else {
            unreachable!()
        };
        assert_eq!(chunks[1].as_ptr(), payload.as_ptr(), "sent by reference");
        let stream: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        assert_eq!(stream.len(), expected_bytes);
        let decoded: Vec<_> = frames(&stream)
            .iter()
            .filter(|frame| !frame.is_empty())
            .map(|frame| decode(frame, &DecodeLimits::default()).unwrap())
            .collect();
        assert_eq!(decoded, vec![small.clone(), big, small]);
    }

    #[test]
    fn an_oversized_message_is_refused_and_leaves_the_batch_unchanged() {
        let mut batch = FrameBatch::new();
        let error = batch.push_message(&append(100), 50).unwrap_err();
        assert_eq!(error.max_bytes, 50);
        assert!(batch.is_empty());
        assert_eq!(batch.bytes(), 0);
    }
}
