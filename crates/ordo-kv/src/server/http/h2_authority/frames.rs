//! [`FrameRewriter`]: the bytes a client sends, cut into HTTP/2 frames
//! (RFC 9113 §4.1) as they arrive, however the reads split them.
//!
//! The connection's first header block decides. Until it ends, every
//! other frame passes untouched (its 9-byte head is looked at, its payload
//! streamed through without being held) and the block (HEADERS and its
//! CONTINUATION frames) is held whole, at most [`MAX_HEADER_BLOCK_BYTES`],
//! and given to [`HeaderBlocks`]. If its `:authority` needs nothing, the
//! rest of the connection passes untouched, unparsed ([`Passthrough::All`]):
//! a client keeps one authority per connection (a gRPC channel's is
//! fixed), so a client that begins bare stays bare, and it pays for one
//! HPACK decode, not one per request. If it needs the rewrite, so does
//! every block after it: each is held, given to [`HeaderBlocks`], and sent
//! on as one HEADERS frame with the client's flags (END_STREAM, PRIORITY
//! and its fields) followed by CONTINUATION frames, each at most
//! [`MAX_EMITTED_PAYLOAD_BYTES`]; padding is dropped (it carries nothing
//! and counts against no window).
//!
//! A connection that does not begin with the HTTP/2 preface (HTTP/1.1)
//! passes untouched to its end.
//!
//! Refused, ending the connection (h2 would end it too), in a block that
//! is parsed: PUSH_PROMISE (a client must not send one), a CONTINUATION
//! that follows no open header block or belongs to another stream, any
//! other frame inside a header block, padding or priority fields longer
//! than the frame, a block too large, or a malformed HPACK block.

use bytes::{Buf, BufMut, BytesMut};

use super::header_block::{BadHeaderBlock, HeaderBlocks, MAX_HEADER_LIST_BYTES, Passed};

/// The client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Length of a frame head: length (24 bits), type, flags, stream id.
const FRAME_HEAD_BYTES: usize = 9;

/// The largest frame payload sent on to h2: the smallest
/// `SETTINGS_MAX_FRAME_SIZE` there is (RFC 9113 §6.5.2), so any server
/// accepts it.
pub(super) const MAX_EMITTED_PAYLOAD_BYTES: usize = 16_384;

/// The most header block bytes (all fragments, as encoded) held for one
/// block: the decoded limit, as a well-formed encoding is never larger.
pub(super) const MAX_HEADER_BLOCK_BYTES: usize = MAX_HEADER_LIST_BYTES;

const HEADERS: u8 = 0x1;
const PUSH_PROMISE: u8 = 0x5;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// Length of a HEADERS frame's priority fields (dependency and weight).
const PRIORITY_BYTES: usize = 5;

/// Why a client's frames end its connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RefusedFrames {
    /// A client sent PUSH_PROMISE (only servers push).
    #[error("PUSH_PROMISE from a client")]
    PushPromise,
    /// CONTINUATION with no header block open on its stream.
    #[error("CONTINUATION on stream {stream_id} follows no HEADERS of that stream")]
    StrayContinuation {
        /// The frame's stream.
        stream_id: u32,
    },
    /// Another frame where a header block's CONTINUATION must come.
    #[error("frame of type {frame_type} inside the header block of stream {stream_id}")]
    InterruptedHeaderBlock {
        /// The open block's stream.
        stream_id: u32,
        /// The frame that came instead.
        frame_type: u8,
    },
    /// Padding or priority fields longer than the HEADERS frame.
    #[error("HEADERS frame on stream {stream_id} too short for its padding or priority")]
    MalformedHeaders {
        /// The frame's stream.
        stream_id: u32,
    },
    /// A header block over [`MAX_HEADER_BLOCK_BYTES`].
    #[error("header block over {limit} bytes")]
    HeaderBlockTooLarge {
        /// [`MAX_HEADER_BLOCK_BYTES`].
        limit: usize,
    },
    /// The block's HPACK could not be read.
    #[error(transparent)]
    HeaderBlock(#[from] BadHeaderBlock),
}

/// What may pass from the client to h2 without being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Passthrough {
    /// Everything, to the connection's end.
    All,
    /// This many bytes (the rest of a frame's payload).
    Upto(usize),
}

/// Where the byte stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Matching the preface; `matched` bytes of it seen.
    Preface { matched: usize },
    /// Not HTTP/2, or its first header block needed no rewrite: everything
    /// passes, unparsed.
    Untouched,
    /// At the start of a frame.
    FrameHead,
    /// Inside a frame that passes untouched, `remaining` payload bytes to go.
    Passing { remaining: usize },
}

/// A header block whose END_HEADERS has not come yet.
struct OpenBlock {
    stream_id: u32,
    /// END_STREAM and PRIORITY of its HEADERS frame.
    flags: u8,
    /// Its priority fields, when PRIORITY is set.
    priority: Option<[u8; PRIORITY_BYTES]>,
    /// The fragments so far; never over [`MAX_HEADER_BLOCK_BYTES`].
    fragments: Vec<u8>,
}

/// The head of one frame.
#[derive(Debug, Clone, Copy)]
struct FrameHead {
    payload_bytes: usize,
    frame_type: u8,
    flags: u8,
    stream_id: u32,
}

impl FrameHead {
    fn parse(bytes: &[u8]) -> FrameHead {
        assert!(bytes.len() >= FRAME_HEAD_BYTES, "a frame head is 9 bytes");
        FrameHead {
            payload_bytes: usize::from(bytes[0]) << 16
                | usize::from(bytes[1]) << 8
                | usize::from(bytes[2]),
            frame_type: bytes[3],
            flags: bytes[4],
            stream_id: u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & 0x7fff_ffff,
        }
    }
}

/// The frame layer of one client connection.
pub(super) struct FrameRewriter {
    stage: Stage,
    open_block: Option<OpenBlock>,
    header_blocks: HeaderBlocks,
}

impl FrameRewriter {
    pub(super) fn new() -> Self {
        FrameRewriter {
            stage: Stage::Preface { matched: 0 },
            open_block: None,
            header_blocks: HeaderBlocks::new(),
        }
    }

    /// How many bytes may go from the client to h2 untouched right now
    /// (`None`: none until more is parsed); the caller that sends some of a
    /// [`Passthrough::Upto`] reports it with [`FrameRewriter::passed`].
    pub(super) fn passthrough(&self) -> Option<Passthrough> {
        match self.stage {
            Stage::Untouched => Some(Passthrough::All),
            Stage::Passing { remaining } if remaining > 0 => Some(Passthrough::Upto(remaining)),
            _ => None,
        }
    }

    /// Notes `bytes` sent untouched within [`FrameRewriter::passthrough`].
    pub(super) fn passed(&mut self, bytes: usize) {
        match &mut self.stage {
            Stage::Untouched => {}
            Stage::Passing { remaining } => {
                assert!(bytes <= *remaining, "passed more than the frame holds");
                *remaining -= bytes;
                if *remaining == 0 {
                    self.stage = Stage::FrameHead;
                }
            }
            stage => panic!("bytes passed untouched at {stage:?}"),
        }
    }

    /// Moves what can be decided of `incoming` to `outgoing` (rewritten
    /// where needed); what stays in `incoming` waits for more bytes.
    ///
    /// # Errors
    /// The connection cannot go on ([`RefusedFrames`]).
    pub(super) fn process(
        &mut self,
        incoming: &mut BytesMut,
        outgoing: &mut BytesMut,
    ) -> Result<(), RefusedFrames> {
        loop {
            match self.stage {
                Stage::Preface { matched } => {
                    let compared = (PREFACE.len() - matched).min(incoming.len());
                    if compared == 0 {
                        return Ok(());
                    }
                    self.stage = if incoming[..compared] != PREFACE[matched..matched + compared] {
                        Stage::Untouched
                    } else if matched + compared == PREFACE.len() {
                        Stage::FrameHead
                    } else {
                        Stage::Preface {
                            matched: matched + compared,
                        }
                    };
                    if self.stage != Stage::Untouched {
                        outgoing.extend_from_slice(&incoming[..compared]);
                        incoming.advance(compared);
                    }
                }
                Stage::Untouched => {
                    outgoing.extend_from_slice(incoming);
                    incoming.clear();
                    return Ok(());
                }
                Stage::Passing { remaining } => {
                    let passing = remaining.min(incoming.len());
                    outgoing.extend_from_slice(&incoming[..passing]);
                    incoming.advance(passing);
                    self.passed(passing);
                    if incoming.is_empty() {
                        return Ok(());
                    }
                }
                Stage::FrameHead => {
                    if incoming.len() < FRAME_HEAD_BYTES {
                        return Ok(());
                    }
                    let head = FrameHead::parse(incoming);
                    if !self.frame(head, incoming, outgoing)? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Handles the frame whose head starts `incoming`; `false` when it
    /// must wait for more bytes.
    fn frame(
        &mut self,
        head: FrameHead,
        incoming: &mut BytesMut,
        outgoing: &mut BytesMut,
    ) -> Result<bool, RefusedFrames> {
        match head.frame_type {
            HEADERS | CONTINUATION => {
                if head.payload_bytes > MAX_HEADER_BLOCK_BYTES {
                    return Err(RefusedFrames::HeaderBlockTooLarge {
                        limit: MAX_HEADER_BLOCK_BYTES,
                    });
                }
                let frame_bytes = FRAME_HEAD_BYTES + head.payload_bytes;
                if incoming.len() < frame_bytes {
                    incoming.reserve(frame_bytes - incoming.len());
                    return Ok(false);
                }
                let frame = incoming.split_to(frame_bytes);
                self.header_frame(head, &frame[FRAME_HEAD_BYTES..], outgoing)?;
            }
            PUSH_PROMISE => return Err(RefusedFrames::PushPromise),
            frame_type => {
                if let Some(open) = &self.open_block {
                    return Err(RefusedFrames::InterruptedHeaderBlock {
                        stream_id: open.stream_id,
                        frame_type,
                    });
                }
                outgoing.extend_from_slice(&incoming[..FRAME_HEAD_BYTES]);
                incoming.advance(FRAME_HEAD_BYTES);
                self.stage = if head.payload_bytes == 0 {
                    Stage::FrameHead
                } else {
                    Stage::Passing {
                        remaining: head.payload_bytes,
                    }
                };
            }
        }
        Ok(true)
    }

    /// Adds one HEADERS or CONTINUATION frame to the open block; sends the
    /// block on once it ends.
    fn header_frame(
        &mut self,
        head: FrameHead,
        payload: &[u8],
        outgoing: &mut BytesMut,
    ) -> Result<(), RefusedFrames> {
        let fragment = if head.frame_type == HEADERS {
            if let Some(open) = &self.open_block {
                return Err(RefusedFrames::InterruptedHeaderBlock {
                    stream_id: open.stream_id,
                    frame_type: HEADERS,
                });
            }
            let (priority, fragment) = headers_payload(head, payload)?;
            self.open_block = Some(OpenBlock {
                stream_id: head.stream_id,
                flags: head.flags & (END_STREAM | PRIORITY),
                priority,
                fragments: Vec::new(),
            });
            fragment
        } else {
            payload
        };
        let open = match self.open_block.as_mut() {
            Some(open) if open.stream_id == head.stream_id => open,
            _ => {
                return Err(RefusedFrames::StrayContinuation {
                    stream_id: head.stream_id,
                });
            }
        };
        if open.fragments.len() + fragment.len() > MAX_HEADER_BLOCK_BYTES {
            return Err(RefusedFrames::HeaderBlockTooLarge {
                limit: MAX_HEADER_BLOCK_BYTES,
            });
        }
        open.fragments.extend_from_slice(fragment);
        if head.flags & END_HEADERS == 0 {
            return Ok(());
        }
        match self.header_blocks.pass(&open.fragments)? {
            Passed::Unchanged => {
                emit_header_block(open, &open.fragments, outgoing);
                self.stage = Stage::Untouched;
            }
            Passed::Rewritten(encoded) => emit_header_block(open, &encoded, outgoing),
        }
        self.open_block = None;
        Ok(())
    }
}

/// A HEADERS payload's priority fields and block fragment, padding dropped.
fn headers_payload(
    head: FrameHead,
    payload: &[u8],
) -> Result<(Option<[u8; PRIORITY_BYTES]>, &[u8]), RefusedFrames> {
    let malformed = || RefusedFrames::MalformedHeaders {
        stream_id: head.stream_id,
    };
    let mut rest = payload;
    let mut padding = 0;
    if head.flags & PADDED != 0 {
        let (&length, after) = rest.split_first().ok_or_else(malformed)?;
        padding = usize::from(length);
        rest = after;
    }
    let mut priority = None;
    if head.flags & PRIORITY != 0 {
        let (fields, after) = rest
            .split_first_chunk::<PRIORITY_BYTES>()
            .ok_or_else(malformed)?;
        priority = Some(*fields);
        rest = after;
    }
    let fragment_bytes = rest.len().checked_sub(padding).ok_or_else(malformed)?;
    Ok((priority, &rest[..fragment_bytes]))
}

/// Sends `encoded` as the header block of `block`'s stream: one HEADERS
/// frame, then CONTINUATION frames, none over [`MAX_EMITTED_PAYLOAD_BYTES`].
fn emit_header_block(block: &OpenBlock, encoded: &[u8], outgoing: &mut BytesMut) {
    let priority: &[u8] = block.priority.as_ref().map_or(&[], |fields| fields);
    let first_bytes = encoded
        .len()
        .min(MAX_EMITTED_PAYLOAD_BYTES - priority.len());
    let (first, mut rest) = encoded.split_at(first_bytes);
    let end_headers = if rest.is_empty() { END_HEADERS } else { 0 };
    put_frame_head(
        outgoing,
        priority.len() + first.len(),
        HEADERS,
        block.flags | end_headers,
        block.stream_id,
    );
    outgoing.extend_from_slice(priority);
    outgoing.extend_from_slice(first);
    while !rest.is_empty() {
        let (chunk, after) = rest.split_at(rest.len().min(MAX_EMITTED_PAYLOAD_BYTES));
        let end_headers = if after.is_empty() { END_HEADERS } else { 0 };
        put_frame_head(
            outgoing,
            chunk.len(),
            CONTINUATION,
            end_headers,
            block.stream_id,
        );
        outgoing.extend_from_slice(chunk);
        rest = after;
    }
}

fn put_frame_head(
    outgoing: &mut BytesMut,
    payload_bytes: usize,
    frame_type: u8,
    flags: u8,
    stream_id: u32,
) {
    assert!(
        payload_bytes <= MAX_EMITTED_PAYLOAD_BYTES,
        "an emitted frame fits any server's frame size"
    );
    let length = u32::try_from(payload_bytes)
        .unwrap_or(u32::MAX)
        .to_be_bytes();
    outgoing.put_slice(&length[1..]);
    outgoing.put_u8(frame_type);
    outgoing.put_u8(flags);
    outgoing.put_u32(stream_id);
}
