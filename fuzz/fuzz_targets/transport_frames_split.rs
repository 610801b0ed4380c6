//! The TCP transport's frame reader on a byte stream that arrives in
//! fuzzer-chosen pieces (a socket may split anything anywhere): the frames
//! it returns, and how it says the stream ended, must be exactly those of
//! the stream read whole; it never waits for bytes it already has; and each
//! frame then decodes (as a hello first, then as messages) without panic.
//!
//! Input: `count:u8`, `count % 8` read sizes as `u16` LE, `flags:u8`, then
//! (if bit 0 of flags) a large frame's extra length `u16`, position `u16`
//! and cut `u16`, then the stream. A large frame (more than the reader's
//! 64 KiB buffer, which it reads another way) is too big for the fuzzer to
//! write out, so it is described and spliced in. Bits 2-3 of flags choose
//! the frame limit.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ordo::fuzzing::{FrameStreamEnd, read_frames_split};
use ordo::transport::codec::frame::frame_length;
use ordo::transport::codec::handshake::Hello;
use ordo::transport::codec::{self, DecodeLimits, FRAME_HEADER_BYTES};

const FRAME_LIMITS: [usize; 4] = [1 << 20, 16, (64 << 10) + 100, 300 << 10];

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let read_sizes: Vec<usize> = (0..input.byte() % 8).map(|_| input.u16()).collect();
    let flags = input.byte();
    let max_frame_bytes = FRAME_LIMITS[usize::from(flags >> 2) & 3];
    let mut stream = Vec::new();
    if flags & 1 == 1 {
        let length = (64 << 10) + input.u16() * 4;
        let position = input.u16();
        let cut = input.u16();
        let rest = input.0;
        let position = position.min(rest.len());
        stream.extend_from_slice(&rest[..position]);
        stream.extend_from_slice(&(length as u32).to_be_bytes());
        stream.extend((0..length.saturating_sub(cut)).map(|i| i as u8));
        stream.extend_from_slice(&rest[position..]);
    } else {
        stream.extend_from_slice(input.0);
    }

    let (frames, end) = read_frames_split(&stream, &read_sizes, max_frame_bytes);
    let (expected_frames, expected_end) = split_whole(&stream, max_frame_bytes);
    assert_eq!(
        frames, expected_frames,
        "frames differ from the whole stream's"
    );
    assert_eq!(end, expected_end, "the stream's end is told otherwise");

    let limits = DecodeLimits::default();
    for (number, frame) in frames.iter().enumerate() {
        if number == 0 {
            let _ = Hello::decode(frame);
        } else if !frame.is_empty() {
            let _ = codec::decode(frame, &limits);
        }
    }
});

/// The reference: the frames of `stream` read as one buffer.
fn split_whole(stream: &[u8], max_frame_bytes: usize) -> (Vec<Bytes>, FrameStreamEnd) {
    let mut frames = Vec::new();
    let mut rest = stream;
    loop {
        if rest.is_empty() {
            return (frames, FrameStreamEnd::Closed);
        }
        let Some((header, body)) = rest.split_first_chunk::<FRAME_HEADER_BYTES>() else {
            let truncated = FrameStreamEnd::Truncated {
                received: rest.len(),
                expected: FRAME_HEADER_BYTES,
            };
            return (frames, truncated);
        };
        let length = frame_length(*header);
        if length > max_frame_bytes {
            return (frames, FrameStreamEnd::Oversized { bytes: length });
        }
        if body.len() < length {
            let truncated = FrameStreamEnd::Truncated {
                received: rest.len(),
                expected: FRAME_HEADER_BYTES + length,
            };
            return (frames, truncated);
        }
        frames.push(Bytes::copy_from_slice(&body[..length]));
        rest = &body[length..];
    }
}

/// Reads the input's leading fields; missing bytes read as zero.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&first, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        first
    }

    fn u16(&mut self) -> usize {
        usize::from(u16::from_le_bytes([self.byte(), self.byte()]))
    }
}
