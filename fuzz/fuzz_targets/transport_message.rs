//! A Raft message as a peer sends it (one frame's payload): decoding never
//! panics, and a decoded message re-encodes to exactly the bytes it came
//! from (the encoding is canonical: minimal varints, 0/1 flags, no trailing
//! bytes), so two nodes never disagree on what a message says.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ordo::transport::codec::{self, DecodeLimits};

fuzz_target!(|data: &[u8]| {
    let input = Bytes::copy_from_slice(data);
    let Ok(message) = codec::decode(&input, &DecodeLimits::default()) else {
        return;
    };
    let encoded = codec::encode(&message);
    assert_eq!(
        encoded.len(),
        codec::encoded_len(&message),
        "encoded_len is wrong"
    );
    assert_eq!(
        &encoded[..],
        data,
        "a decoded message re-encodes to other bytes"
    );
});
