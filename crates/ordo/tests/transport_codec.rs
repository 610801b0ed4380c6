//! Properties of the message codec and handshake encoding: every message
//! round-trips, sizes are predicted exactly, and no input — random, truncated
//! or corrupted — makes decoding panic or allocate beyond its limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use bytes::Bytes;
use ordo::transport::codec::frame::frame_length;
use ordo::transport::codec::handshake::{Hello, Reply};
use ordo::transport::codec::{
    DecodeError, DecodeLimits, FrameBatch, VERSION, decode, encode, encoded_len,
};
use ordo_core::{
    AppendRequest, AppendResponse, Entry, EntryPayload, Heartbeat, HeartbeatResponse,
    InstallSnapshotRequest, InstallSnapshotResponse, Membership, Message, MessageBody,
    ReadIndexRequest, ReadIndexResponse, RemovalNotice, SnapshotContent, SnapshotMeta, VoteRequest,
    VoteResponse,
};
use proptest::prelude::*;

fn id_set() -> impl Strategy<Value = BTreeSet<u64>> {
    prop::collection::btree_set(any::<u64>(), 0..5)
}

fn membership() -> impl Strategy<Value = Membership> {
    (id_set(), id_set(), id_set()).prop_map(|(voters, outgoing_voters, learners)| Membership {
        voters,
        outgoing_voters,
        learners,
    })
}

fn chunk() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from),
        (4090usize..4200).prop_map(|n| Bytes::from(vec![0xcd; n])),
    ]
}

fn payload() -> impl Strategy<Value = EntryPayload> {
    prop_oneof![
        Just(EntryPayload::Noop),
        prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|data| EntryPayload::Command(Bytes::from(data))),
        // Now and then one above the zero-copy threshold.
        (4090usize..4200).prop_map(|n| EntryPayload::Command(Bytes::from(vec![0xab; n]))),
        membership().prop_map(EntryPayload::Membership),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    (any::<u64>(), any::<u64>(), payload()).prop_map(|(index, term, payload)| Entry {
        index,
        term,
        payload,
    })
}

fn vote_request() -> impl Strategy<Value = VoteRequest> {
    (any::<u64>(), any::<u64>(), any::<bool>()).prop_map(|(index, term, transfer)| VoteRequest {
        last_log_index: index,
        last_log_term: term,
        leadership_transfer: transfer,
    })
}

fn body() -> impl Strategy<Value = MessageBody> {
    prop_oneof![
        vote_request().prop_map(MessageBody::PreVote),
        vote_request().prop_map(MessageBody::Vote),
        any::<bool>().prop_map(|granted| MessageBody::PreVoteResponse(VoteResponse { granted })),
        any::<bool>().prop_map(|granted| MessageBody::VoteResponse(VoteResponse { granted })),
        (
            any::<u64>(),
            any::<u64>(),
            prop::collection::vec(entry(), 0..6),
            any::<u64>()
        )
            .prop_map(|(prev_log_index, prev_log_term, entries, leader_commit)| {
                MessageBody::Append(AppendRequest {
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit,
                })
            }),
        any::<u64>().prop_map(|match_index| MessageBody::AppendResponse(
            AppendResponse::Accepted { match_index }
        )),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(r, i, t)| {
            MessageBody::AppendResponse(AppendResponse::Rejected {
                rejected_index: r,
                hint_index: i,
                hint_term: t,
            })
        }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(commit, round)| MessageBody::Heartbeat(Heartbeat { commit, round })),
        any::<u64>().prop_map(|round| MessageBody::HeartbeatResponse(HeartbeatResponse { round })),
        prop::collection::vec(any::<u64>(), 0..8)
            .prop_map(|request_ids| MessageBody::ReadIndex(ReadIndexRequest { request_ids })),
        (
            prop::collection::vec(any::<u64>(), 0..8),
            any::<Option<u64>>()
        )
            .prop_map(|(request_ids, read_index)| {
                MessageBody::ReadIndexResponse(ReadIndexResponse {
                    request_ids,
                    read_index,
                })
            }),
        Just(MessageBody::TimeoutNow),
        (
            any::<u64>(),
            any::<u64>(),
            membership(),
            (any::<u64>(), any::<u32>()),
            any::<u64>(),
            chunk(),
            any::<bool>()
        )
            .prop_map(
                |(index, term, membership, (data_bytes, crc32c), offset, data, done)| {
                    MessageBody::InstallSnapshot(InstallSnapshotRequest {
                        meta: SnapshotMeta {
                            index,
                            term,
                            membership,
                        },
                        content: SnapshotContent { data_bytes, crc32c },
                        offset,
                        data,
                        done,
                    })
                }
            ),
        (any::<u64>(), any::<u64>(), any::<bool>()).prop_map(
            |(snapshot_index, next_offset, installed)| {
                MessageBody::InstallSnapshotResponse(InstallSnapshotResponse {
                    snapshot_index,
                    next_offset,
                    installed,
                })
            }
        ),
        (any::<u64>(), any::<u64>(), prop::option::of(1..u64::MAX)).prop_map(
            |(committed_index, committed_term, leader)| {
                MessageBody::Removed(RemovalNotice {
                    committed_index,
                    committed_term,
                    leader,
                })
            }
        ),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (any::<u64>(), any::<u64>(), any::<u64>(), body()).prop_map(|(from, to, term, body)| Message {
        from,
        to,
        term,
        body,
    })
}

fn limits() -> DecodeLimits {
    DecodeLimits::default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_message_round_trips(message in message()) {
        let bytes = encode(&message);
        prop_assert_eq!(bytes.len(), encoded_len(&message));
        prop_assert_eq!(decode(&bytes, &limits()), Ok(message));
    }

    #[test]
    fn batches_of_frames_carry_the_same_bytes(messages in prop::collection::vec(message(), 1..6)) {
        let mut batch = FrameBatch::new();
        for message in &messages {
            batch.push_message(message, usize::MAX).unwrap();
        }
        let total = batch.bytes();
        let stream: Vec<u8> = batch.take_chunks().iter().flat_map(|c| c.to_vec()).collect();
        prop_assert_eq!(stream.len(), total);
        let mut rest = &stream[..];
        for message in &messages {
            let length = frame_length(rest[..4].try_into().unwrap());
            let payload = Bytes::copy_from_slice(&rest[4..4 + length]);
            prop_assert_eq!(&payload, &encode(message));
            rest = &rest[4 + length..];
        }
        prop_assert!(rest.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let bytes = Bytes::from(bytes);
        let _ = decode(&bytes, &limits());
        let _ = Hello::decode(&bytes);
        let _ = Reply::decode(&bytes);
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(
        kind in 0u8..16,
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut input = vec![VERSION, kind];
        input.extend(bytes);
        let _ = decode(&Bytes::from(input), &limits());
    }

    #[test]
    fn corrupted_and_truncated_messages_never_panic(
        message in message(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = encode(&message).to_vec();
        let mut corrupted = bytes.clone();
        for (at, value) in flips {
            let at = at.index(corrupted.len());
            corrupted[at] = value;
        }
        let _ = decode(&Bytes::from(corrupted), &limits());
        let cut = cut.index(bytes.len());
        prop_assert!(decode(&Bytes::copy_from_slice(&bytes[..cut]), &limits()).is_err());
    }

    #[test]
    fn decoded_payloads_are_slices_of_the_input(data in prop::collection::vec(any::<u8>(), 1..100)) {
        let message = Message {
            from: 1,
            to: 2,
            term: 3,
            body: MessageBody::Append(AppendRequest {
                prev_log_index: 0,
                prev_log_term: 0,
                entries: vec![Entry::command(1, 3, data)],
                leader_commit: 0,
            }),
        };
        let input = encode(&message);
        let decoded = decode(&input, &limits()).unwrap();
        let MessageBody::Append(request) = decoded.body else { unreachable!() };
        let EntryPayload::Command(payload) = &request.entries[0].payload else { unreachable!() };
        let input_range = input.as_ptr() as usize..input.as_ptr() as usize + input.len();
        prop_assert!(input_range.contains(&(payload.as_ptr() as usize)));
    }
}

fn heartbeat() -> Message {
    Message {
        from: 1,
        to: 2,
        term: 3,
        body: MessageBody::Heartbeat(Heartbeat {
            commit: 4,
            round: 5,
        }),
    }
}

#[test]
fn an_unknown_version_is_refused_by_name() {
    for version in [1, VERSION + 1] {
        let mut bytes = encode(&heartbeat()).to_vec();
        bytes[0] = version;
        assert_eq!(
            decode(&Bytes::from(bytes), &limits()),
            Err(DecodeError::UnsupportedVersion {
                version,
                supported: VERSION
            }),
            "version 1 chunks did not carry the snapshot content"
        );
    }
}

/// A snapshot chunk: index 7, term 2, no members, content (10 bytes,
/// CRC32C `crc32c` as a varint), offset 0, two bytes, last.
fn install_snapshot_bytes(crc32c: &[u8]) -> Vec<u8> {
    let mut bytes = vec![VERSION, 12, 1, 2, 3, 7, 2, 0, 0, 0, 10];
    bytes.extend_from_slice(crc32c);
    bytes.extend_from_slice(&[0, 2, b'a', b'b', 1]);
    bytes
}

#[test]
fn a_snapshot_chunk_carries_its_snapshots_content() {
    let decoded = decode(&Bytes::from(install_snapshot_bytes(&[0x05])), &limits());
    let Ok(Message {
        body: MessageBody::InstallSnapshot(request),
        ..
    }) = decoded
    else {
        panic!("a valid chunk: {decoded:?}");
    };
    assert_eq!(
        request.content,
        SnapshotContent {
            data_bytes: 10,
            crc32c: 5
        }
    );
    // 2^32 as a varint: no CRC32C.
    let too_big = install_snapshot_bytes(&[0x80, 0x80, 0x80, 0x80, 0x10]);
    assert_eq!(
        decode(&Bytes::from(too_big), &limits()),
        Err(DecodeError::InvalidValue {
            field: "snapshot CRC32C",
            value: 1 << 32
        })
    );
}

#[test]
fn an_unknown_message_kind_is_refused_by_name() {
    let mut bytes = encode(&heartbeat()).to_vec();
    bytes[1] = 200;
    assert_eq!(
        decode(&Bytes::from(bytes), &limits()),
        Err(DecodeError::UnknownTag {
            what: "message kind",
            tag: 200
        })
    );
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = encode(&heartbeat()).to_vec();
    bytes.push(0);
    assert_eq!(
        decode(&Bytes::from(bytes), &limits()),
        Err(DecodeError::TrailingBytes { bytes: 1 })
    );
}

#[test]
fn a_huge_entry_count_is_refused_before_anything_is_reserved() {
    // An Append claiming 2^63 entries in a 20-byte message.
    let mut bytes = vec![VERSION, 5, 1, 2, 3, 0, 0, 0];
    bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert!(matches!(
        decode(&Bytes::from(bytes.clone()), &limits()),
        Err(DecodeError::TooManyItems { .. })
    ));
    let generous = DecodeLimits {
        max_items_per_message: usize::MAX,
    };
    assert_eq!(
        decode(&Bytes::from(bytes), &generous),
        Err(DecodeError::Truncated { field: "entries" })
    );
}

#[test]
fn the_item_budget_is_shared_by_every_repeated_field() {
    let entries = (1..=10).map(|i| Entry::noop(i, 1)).collect();
    let message = Message {
        body: MessageBody::Append(AppendRequest {
            prev_log_index: 0,
            prev_log_term: 0,
            entries,
            leader_commit: 0,
        }),
        ..heartbeat()
    };
    let bytes = encode(&message);
    let tight = DecodeLimits {
        max_items_per_message: 9,
    };
    assert!(matches!(
        decode(&bytes, &tight),
        Err(DecodeError::TooManyItems { .. })
    ));
    let exact = DecodeLimits {
        max_items_per_message: 10,
    };
    assert_eq!(decode(&bytes, &exact), Ok(message));
}

#[test]
fn a_membership_set_out_of_order_is_refused() {
    let message = Message {
        body: MessageBody::Append(AppendRequest {
            prev_log_index: 0,
            prev_log_term: 0,
            entries: vec![Entry {
                index: 1,
                term: 1,
                payload: EntryPayload::Membership(Membership::with_voters([1, 2])),
            }],
            leader_commit: 0,
        }),
        ..heartbeat()
    };
    let mut bytes = encode(&message).to_vec();
    // ... 2:u8 (membership) 2 (count) 1 2 -> swap the two ids.
    let len = bytes.len();
    bytes.swap(len - 3, len - 4);
    assert_eq!(
        decode(&Bytes::from(bytes), &limits()),
        Err(DecodeError::NotAscending { field: "voters" })
    );
}
