//! The rewriter on byte streams a client could send: etcdctl's own header
//! block (captured from etcdctl 3.4 `endpoint status` with an `http://`
//! endpoint), split at every byte, with CONTINUATION, padding and
//! priority, dynamic-table references to the rewritten entry, and the
//! malformed input that must end a connection. What h2 would read is
//! decoded here with an HPACK decoder of its own, as h2 decodes it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use loona_hpack::Decoder;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use super::AuthorityFix;
use super::frames::{
    FrameRewriter, MAX_EMITTED_PAYLOAD_BYTES, MAX_HEADER_BLOCK_BYTES, RefusedFrames,
};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const PUSH_PROMISE: u8 = 0x5;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// etcdctl 3.4's HEADERS block for Maintenance/Status, dialled as
/// `http://127.0.0.1:18799`: Huffman-coded literals, each added to the
/// dynamic table (`:path`, `:authority`, content-type, user-agent, te and
/// two of gRPC's, in that order: `:authority` is then index 67).
pub(super) const ETCDCTL_STATUS_BLOCK: &[u8] = &[
    0x83, 0x86, 0x45, 0x97, 0x60, 0xa9, 0x24, 0x88, 0x2d, 0x9d, 0xcb, 0x65, //
    0x71, 0xaf, 0xa0, 0x66, 0xa9, 0x25, 0xa8, 0x75, 0x10, 0xac, 0x6e, 0x48, //
    0xd3, 0x6a, 0x3f, 0x41, 0x90, 0x9d, 0x29, 0xae, 0xe3, 0x0c, 0x04, 0x4e, //
    0xae, 0x05, 0xc0, 0xb8, 0x6e, 0x05, 0xe7, 0x5f, 0x7f, 0x5f, 0x8b, 0x1d, //
    0x75, 0xd0, 0x62, 0x0d, 0x26, 0x3d, 0x4c, 0x4d, 0x65, 0x64, 0x7a, 0x8b, //
    0x9a, 0xca, 0xc8, 0xb4, 0xc7, 0x60, 0x2b, 0xb2, 0xca, 0xec, 0xff, 0x40, //
    0x02, 0x74, 0x65, 0x86, 0x4d, 0x83, 0x35, 0x05, 0xb1, 0x1f, 0x40, 0x89, //
    0x9a, 0xca, 0xc8, 0xb2, 0x4d, 0x49, 0x4f, 0x6a, 0x7f, 0x86, 0x69, 0xf7, //
    0x04, 0xf3, 0x60, 0xb7, 0x40, 0x8d, 0x25, 0x06, 0x2d, 0x49, 0x58, 0x75, //
    0x99, 0x6e, 0xe5, 0xb1, 0x06, 0x3d, 0x5f, 0x03, 0x33, 0x2e, 0x34,
];

/// A second request after [`ETCDCTL_STATUS_BLOCK`] on the same connection,
/// as grpc-go sends one: every field a reference to the client's dynamic
/// table (`:authority` as index 67, the URL), plus a new field indexed.
const SECOND_BLOCK: &[u8] = &[
    0x83, 0x86, 0xc4, 0xc3, 0xc2, 0xc1, 0xc0, //
    0x40, 0x08, b'x', b'-', b's', b'e', b'c', b'o', b'n', b'd', 0x01, b'2',
];

/// A third: the field the second added (now index 62) and `:authority`
/// (now index 68).
const THIRD_BLOCK: &[u8] = &[0x83, 0x86, 0xc5, 0xc4, 0xbe];

const URL: &[u8] = b"http://127.0.0.1:18799";
const BARE: &[u8] = b"127.0.0.1:18799";

fn frame(frame_type: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut bytes = length[1..].to_vec();
    bytes.extend([frame_type, flags]);
    bytes.extend(stream_id.to_be_bytes());
    bytes.extend(payload);
    bytes
}

fn connection(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = PREFACE.to_vec();
    bytes.extend(frame(SETTINGS, 0, 0, &[]));
    for frame in frames {
        bytes.extend(frame);
    }
    bytes
}

/// The three requests of one etcdctl connection, each with a body.
fn etcdctl_connection() -> Vec<u8> {
    connection(&[
        frame(HEADERS, END_HEADERS, 1, ETCDCTL_STATUS_BLOCK),
        frame(DATA, END_STREAM, 1, &[0, 0, 0, 0, 0]),
        frame(HEADERS, END_HEADERS, 3, SECOND_BLOCK),
        frame(DATA, END_STREAM, 3, &[0, 0, 0, 0, 0]),
        frame(HEADERS, END_HEADERS | END_STREAM, 5, THIRD_BLOCK),
    ])
}

/// Runs `bytes` through one rewriter in reads of the given sizes (the
/// last size repeats).
fn rewrite_in_reads(bytes: &[u8], read_sizes: &[usize]) -> Result<Vec<u8>, RefusedFrames> {
    let mut rewriter = FrameRewriter::new();
    let mut incoming = BytesMut::new();
    let mut outgoing = BytesMut::new();
    let mut rest = bytes;
    let mut sizes = read_sizes.iter().copied();
    let mut size = 1;
    while !rest.is_empty() {
        size = sizes.next().unwrap_or(size).max(1);
        let (read, after) = rest.split_at(size.min(rest.len()));
        incoming.extend_from_slice(read);
        rewriter.process(&mut incoming, &mut outgoing)?;
        rest = after;
    }
    assert!(incoming.is_empty(), "bytes left unparsed: {incoming:?}");
    Ok(outgoing.to_vec())
}

fn rewrite(bytes: &[u8]) -> Vec<u8> {
    rewrite_in_reads(bytes, &[bytes.len()]).unwrap()
}

/// One frame as h2 reads it.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// A whole header block, decoded.
    Headers {
        stream_id: u32,
        flags: u8,
        priority: Option<Vec<u8>>,
        fields: Vec<(String, String)>,
    },
    Other {
        frame_type: u8,
        flags: u8,
        stream_id: u32,
        payload: Vec<u8>,
    },
}

/// Reads a connection's frames as h2 would (one HPACK table for the whole
/// connection); checks no frame is over the size any server accepts.
fn as_h2_reads(bytes: &[u8]) -> Vec<Seen> {
    assert_eq!(&bytes[..PREFACE.len()], PREFACE);
    let mut rest = &bytes[PREFACE.len()..];
    let mut table = Decoder::new();
    let mut seen = Vec::new();
    // A header block being read: what h2 will see of it, and its bytes.
    let mut open: Option<(Seen, Vec<u8>)> = None;
    while !rest.is_empty() {
        let length = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        let (frame_type, flags) = (rest[3], rest[4]);
        let stream_id = u32::from_be_bytes(rest[5..9].try_into().unwrap());
        assert!(
            length <= MAX_EMITTED_PAYLOAD_BYTES,
            "frame of {length} bytes"
        );
        let payload = &rest[9..9 + length];
        rest = &rest[9 + length..];
        match frame_type {
            HEADERS => {
                assert!(open.is_none());
                assert_eq!(flags & PADDED, 0, "padding is dropped");
                let (priority, fragment) = if flags & PRIORITY != 0 {
                    (Some(payload[..5].to_vec()), &payload[5..])
                } else {
                    (None, payload)
                };
                let headers = Seen::Headers {
                    stream_id,
                    flags: flags & !END_HEADERS,
                    priority,
                    fields: Vec::new(),
                };
                open = Some((headers, fragment.to_vec()));
            }
            CONTINUATION => {
                let (Seen::Headers { stream_id: of, .. }, block) = open.as_mut().unwrap() else {
                    unreachable!();
                };
                assert_eq!(*of, stream_id);
                block.extend(payload);
            }
            _ => {
                assert!(open.is_none());
                seen.push(Seen::Other {
                    frame_type,
                    flags,
                    stream_id,
                    payload: payload.to_vec(),
                });
            }
        }
        if !matches!(frame_type, HEADERS | CONTINUATION) || flags & END_HEADERS == 0 {
            continue;
        }
        let (mut headers, block) = open.take().unwrap();
        let Seen::Headers { fields, .. } = &mut headers else {
            unreachable!();
        };
        *fields = table
            .decode(&block)
            .unwrap()
            .into_iter()
            .map(|(name, value)| {
                (
                    String::from_utf8(name).unwrap(),
                    String::from_utf8(value).unwrap(),
                )
            })
            .collect();
        seen.push(headers);
    }
    assert!(open.is_none(), "a header block never ended");
    seen
}

/// The header lists of a connection as the client meant them (its bytes
/// read as they are), with every URL `:authority` made bare.
fn as_client_meant_them_made_bare(bytes: &[u8]) -> Vec<Seen> {
    let mut seen = as_h2_reads(bytes);
    for frame in &mut seen {
        if let Seen::Headers { fields, .. } = frame {
            for (name, value) in fields {
                if name == ":authority" && value.as_bytes() == URL {
                    *value = String::from_utf8(BARE.to_vec()).unwrap();
                }
            }
        }
    }
    seen
}

fn authorities(seen: &[Seen]) -> Vec<&str> {
    seen.iter()
        .filter_map(|frame| match frame {
            Seen::Headers { fields, .. } => fields
                .iter()
                .find(|(name, _)| name == ":authority")
                .map(|(_, value)| value.as_str()),
            Seen::Other { .. } => None,
        })
        .collect()
}

#[test]
fn the_fixture_is_what_etcdctl_means() {
    let seen = as_h2_reads(&etcdctl_connection());
    assert_eq!(authorities(&seen), [std::str::from_utf8(URL).unwrap(); 3]);
    let Seen::Headers { fields, .. } = &seen[1] else {
        panic!("{seen:?}");
    };
    assert!(fields.contains(&(":path".into(), "/etcdserverpb.Maintenance/Status".into())));
}

#[test]
fn etcdctls_url_authority_is_made_bare_in_every_block_that_refers_to_it() {
    let input = etcdctl_connection();
    let output = rewrite(&input);
    let seen = as_h2_reads(&output);
    assert_eq!(authorities(&seen), [std::str::from_utf8(BARE).unwrap(); 3]);
    assert_eq!(seen, as_client_meant_them_made_bare(&input));
}

#[test]
fn reads_split_at_any_byte_give_the_same_bytes() {
    let input = etcdctl_connection();
    let whole = rewrite(&input);
    for split in 0..=input.len() {
        let split_output = rewrite_in_reads(&input, &[split, input.len()]).unwrap();
        assert!(split_output == whole, "split at {split}");
    }
    assert_eq!(
        rewrite_in_reads(&input, &[1]).unwrap(),
        whole,
        "byte by byte"
    );
}

#[test]
fn continuation_padding_and_priority_are_read_and_the_priority_kept() {
    let (first, rest) = ETCDCTL_STATUS_BLOCK.split_at(30);
    let (second, third) = rest.split_at(50);
    let padding = [0u8; 7];
    let mut headers_payload = vec![u8::try_from(padding.len()).unwrap()];
    let priority = [0x80, 0, 0, 0, 0x10];
    headers_payload.extend(priority);
    headers_payload.extend(first);
    headers_payload.extend(padding);
    let input = connection(&[
        frame(HEADERS, PADDED | PRIORITY | END_STREAM, 1, &headers_payload),
        frame(CONTINUATION, 0, 1, second),
        frame(CONTINUATION, END_HEADERS, 1, third),
    ]);
    let seen = as_h2_reads(&rewrite(&input));
    let Seen::Headers {
        stream_id,
        flags,
        priority: kept,
        fields,
    } = &seen[1]
    else {
        panic!("{seen:?}");
    };
    assert_eq!((*stream_id, *flags), (1, END_STREAM | PRIORITY));
    assert_eq!(kept.as_deref(), Some(&priority[..]));
    assert!(fields.contains(&(":authority".into(), "127.0.0.1:18799".into())));
    let unpadded = connection(&[frame(HEADERS, END_HEADERS, 1, ETCDCTL_STATUS_BLOCK)]);
    let Seen::Headers { fields: meant, .. } = &as_client_meant_them_made_bare(&unpadded)[1] else {
        panic!();
    };
    assert_eq!(fields, meant);
}

#[test]
fn blocks_without_a_url_authority_pass_byte_for_byte() {
    // h2's own encoding of a request (indexed :authority name, a bare value).
    let block = [
        0x83, 0x86, 0x44, 0x02, b'/', b'x', 0x41, 0x06, b'h', b':', b'8', b'0', b'0', b'1',
    ];
    let input = connection(&[
        frame(HEADERS, END_HEADERS, 1, &block),
        frame(DATA, END_STREAM, 1, b"body"),
        frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            3,
            &[0x83, 0x86, 0xbf, 0xbe],
        ),
    ]);
    assert_eq!(rewrite(&input), input);
    let http1 = b"GET /v1/kv/a HTTP/1.1\r\nHost: http://x\r\n\r\n";
    assert_eq!(rewrite(http1), http1);
}

#[test]
fn a_connection_whose_first_block_is_bare_is_left_alone_after_it() {
    // The first block adds "x-first: 1" to both tables, unchanged; what
    // follows is not even parsed: a URL authority referring to that entry
    // and a block no HPACK decoder reads both pass byte for byte.
    let first = [
        0x83, 0x86, 0x41, 0x01, b'h', 0x40, 0x07, b'x', b'-', b'f', b'i', b'r', b's', b't', 0x01,
        b'1',
    ];
    let mut second = vec![0x83, 0x86, 0xbe, 0x41, u8::try_from(URL.len()).unwrap()];
    second.extend(URL);
    let input = connection(&[
        frame(HEADERS, END_HEADERS | END_STREAM, 1, &first),
        frame(HEADERS, END_HEADERS | END_STREAM, 3, &second),
        frame(HEADERS, END_HEADERS | END_STREAM, 5, &[0xff, 0xff]),
        frame(CONTINUATION, END_HEADERS, 9, &[0x83]),
    ]);
    assert_eq!(rewrite(&input), input);
}

#[test]
fn after_a_first_rewrite_every_block_is_reencoded_and_h2s_table_kept_empty() {
    // The first block needs the rewrite and adds "x-first: 1" to the
    // client's table; the second refers to it and to the URL entry.
    let mut first = vec![0x83, 0x86, 0x41, u8::try_from(URL.len()).unwrap()];
    first.extend(URL);
    first.extend([
        0x40, 0x07, b'x', b'-', b'f', b'i', b'r', b's', b't', 0x01, b'1',
    ]);
    let second = [0x83, 0x86, 0xbf, 0xbe];
    let input = connection(&[
        frame(HEADERS, END_HEADERS | END_STREAM, 1, &first),
        frame(HEADERS, END_HEADERS | END_STREAM, 3, &second),
    ]);
    let output = rewrite(&input);
    let seen = as_h2_reads(&output);
    assert_eq!(seen, as_client_meant_them_made_bare(&input));
    assert_eq!(authorities(&seen), ["127.0.0.1:18799"; 2]);
    // The first block sent on begins by emptying h2's table (so a block
    // referring to a dynamic entry would have failed to decode above).
    let first_sent = &output[PREFACE.len() + 9 + 9..];
    assert_eq!(first_sent[0], 0x20, "a table size update to 0");
}

#[test]
fn a_large_rewritten_block_is_split_into_frames_any_server_takes() {
    let mut block = vec![0x83, 0x86, 0x41, u8::try_from(URL.len()).unwrap()];
    block.extend(URL);
    let value = vec![b'v'; 40_000];
    block.extend([0x00, 0x01, b'x', 0x7f]);
    // The length 40,000 as an HPACK integer with a 7-bit prefix.
    let mut length = 40_000 - 127;
    while length >= 128 {
        block.push(u8::try_from(length % 128).unwrap() | 0x80);
        length /= 128;
    }
    block.push(u8::try_from(length).unwrap());
    block.extend(&value);
    let input = connection(&[
        frame(HEADERS, 0, 1, &block[..10_000]),
        frame(CONTINUATION, 0, 1, &block[10_000..25_000]),
        frame(CONTINUATION, END_HEADERS, 1, &block[25_000..]),
    ]);
    let seen = as_h2_reads(&rewrite(&input));
    assert_eq!(authorities(&seen), ["127.0.0.1:18799"]);
    assert_eq!(seen, as_client_meant_them_made_bare(&input));
}

#[test]
fn malformed_frames_and_blocks_are_refused() {
    let refused = |frames: &[Vec<u8>]| {
        let input = connection(frames);
        match rewrite_in_reads(&input, &[input.len()]) {
            Err(refused) => refused,
            Ok(output) => panic!("passed: {output:?}"),
        }
    };
    let not_hpack = refused(&[frame(
        HEADERS,
        END_HEADERS,
        1,
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
    )]);
    assert!(
        matches!(not_hpack, RefusedFrames::HeaderBlock(_)),
        "{not_hpack}"
    );
    let no_such_entry = refused(&[frame(HEADERS, END_HEADERS, 1, &[0xbe])]);
    assert!(
        matches!(no_such_entry, RefusedFrames::HeaderBlock(_)),
        "{no_such_entry}"
    );
    let stray = refused(&[frame(CONTINUATION, END_HEADERS, 1, &[0x83])]);
    assert!(matches!(
        stray,
        RefusedFrames::StrayContinuation { stream_id: 1 }
    ));
    let other_stream = refused(&[
        frame(HEADERS, 0, 1, &[0x83]),
        frame(CONTINUATION, END_HEADERS, 3, &[0x86]),
    ]);
    assert!(matches!(
        other_stream,
        RefusedFrames::StrayContinuation { stream_id: 3 }
    ));
    let interrupted = refused(&[frame(HEADERS, 0, 1, &[0x83]), frame(DATA, 0, 1, b"x")]);
    assert!(matches!(
        interrupted,
        RefusedFrames::InterruptedHeaderBlock {
            stream_id: 1,
            frame_type: DATA
        }
    ));
    let push = refused(&[frame(PUSH_PROMISE, END_HEADERS, 1, &[0, 0, 0, 2, 0x83])]);
    assert!(matches!(push, RefusedFrames::PushPromise));
    let padding = refused(&[frame(HEADERS, END_HEADERS | PADDED, 1, &[5, 0x83, 0x86])]);
    assert!(matches!(
        padding,
        RefusedFrames::MalformedHeaders { stream_id: 1 }
    ));
    let priority = refused(&[frame(HEADERS, END_HEADERS | PRIORITY, 1, &[0, 0, 0])]);
    assert!(matches!(
        priority,
        RefusedFrames::MalformedHeaders { stream_id: 1 }
    ));
}

#[test]
fn oversized_blocks_are_refused_before_they_are_held() {
    // A frame head announcing more than the cap is refused from its head.
    let mut head = PREFACE.to_vec();
    head.extend(&frame(HEADERS, 0, 1, &vec![0; MAX_HEADER_BLOCK_BYTES + 1])[..9]);
    assert!(matches!(
        rewrite_in_reads(&head, &[head.len()]),
        Err(RefusedFrames::HeaderBlockTooLarge { .. })
    ));
    // So is a block of CONTINUATIONs growing past it.
    let chunk = vec![0u8; 10_000];
    let mut frames = vec![frame(HEADERS, 0, 1, &chunk)];
    frames.extend(std::iter::repeat_n(frame(CONTINUATION, 0, 1, &chunk), 7));
    let input = connection(&frames);
    assert!(matches!(
        rewrite_in_reads(&input, &[input.len()]),
        Err(RefusedFrames::HeaderBlockTooLarge { .. })
    ));
    // And a small block that decodes to a huge list: one 4,000-byte entry
    // referred to 20 times.
    let mut block = vec![0x40, 0x01, b'x', 0x7f];
    let mut length = 4_000 - 127;
    while length >= 128 {
        block.push(u8::try_from(length % 128).unwrap() | 0x80);
        length /= 128;
    }
    block.push(u8::try_from(length).unwrap());
    block.extend(vec![b'v'; 4_000]);
    block.extend([0xbe; 20]);
    let input = connection(&[frame(HEADERS, END_HEADERS, 1, &block)]);
    let refused = rewrite_in_reads(&input, &[input.len()]).unwrap_err();
    assert!(
        matches!(refused, RefusedFrames::HeaderBlock(_)),
        "{refused}"
    );
}

/// Gives its chunks one read each.
struct Chunks(VecDeque<Vec<u8>>);

impl AsyncRead for Chunks {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(mut chunk) = self.0.pop_front() {
            let taken = chunk.len().min(buf.remaining());
            buf.put_slice(&chunk[..taken]);
            if taken < chunk.len() {
                self.0.push_front(chunk.split_off(taken));
            }
        }
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn the_stream_gives_hyper_the_rewritten_bytes_through_small_reads() {
    let mut rewritten = etcdctl_connection();
    // A DATA frame larger than a read, streamed through.
    rewritten.extend(frame(DATA, END_STREAM, 7, &vec![7; 40_000]));
    let mut untouched = connection(&[frame(HEADERS, END_HEADERS, 1, &[0x83, 0x86, 0x84])]);
    untouched.extend(frame(DATA, END_STREAM, 1, &vec![7; 40_000]));
    for (input, chunk_bytes) in [rewritten, untouched]
        .iter()
        .flat_map(|input| [1, 9, 1000, 100_000].map(|chunk_bytes| (input, chunk_bytes)))
    {
        let expected = rewrite(input);
        let chunks = input.chunks(chunk_bytes).map(<[u8]>::to_vec).collect();
        let mut stream = AuthorityFix::new(Chunks(chunks));
        let mut read: Vec<u8> = Vec::new();
        let mut buf = [0u8; 13];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            read.extend(&buf[..n]);
        }
        assert!(read == expected, "chunks of {chunk_bytes}");
    }
}

#[tokio::test]
async fn refused_frames_end_the_stream_with_an_error() {
    let input = connection(&[frame(PUSH_PROMISE, END_HEADERS, 1, &[0, 0, 0, 2, 0x83])]);
    let mut stream = AuthorityFix::new(Chunks(VecDeque::from([input])));
    let mut read = Vec::new();
    let error = stream.read_to_end(&mut read).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
}
