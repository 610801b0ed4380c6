//! The handshake that opens every peer connection, the first bytes a
//! stranger on the network can send: a hello (read by the acceptor) or a
//! reply (read by the dialer). Decoding never panics; what decodes
//! re-encodes to a prefix of the input (later versions may append fields)
//! that decodes the same; the acceptor's answer and the dialer's check run
//! on whatever decoded.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ordo::transport::ClusterId;
use ordo::transport::codec::handshake::{Hello, LocalIdentity, Reply};

fuzz_target!(|data: &[u8]| {
    let input = Bytes::copy_from_slice(data);
    let Ok(cluster_id) = ClusterId::new("ordo") else {
        unreachable!("\"ordo\" is a valid cluster id");
    };
    let local = LocalIdentity {
        cluster_id,
        node_id: 1,
    };
    if let Ok(hello) = Hello::decode(&input) {
        let encoded = hello.encode();
        assert!(
            data.starts_with(&encoded),
            "a hello re-encodes to other bytes"
        );
        assert_eq!(Hello::decode(&encoded).as_ref(), Ok(&hello));
        if let Ok(welcome) = hello.answer(&local, |id| id == 2 || id == 3) {
            let reply = Reply::decode(&Reply::Welcome(welcome.clone()).encode());
            assert_eq!(reply, Ok(Reply::Welcome(welcome)));
        }
    }
    match Reply::decode(&input) {
        Ok(Reply::Welcome(welcome)) => {
            let encoded = Reply::Welcome(welcome.clone()).encode();
            assert!(
                data.starts_with(&encoded),
                "a welcome re-encodes to other bytes"
            );
            let _ = welcome.check(&local, 2);
        }
        Ok(Reply::Refusal(refusal)) => {
            // The detail was read lossily (invalid UTF-8 becomes U+FFFD) and
            // is cut to 200 bytes when sent; the reason survives unchanged.
            let again = Reply::decode(&Reply::Refusal(refusal.clone()).encode());
            let Ok(Reply::Refusal(again)) = again else {
                panic!("a refusal does not survive a round trip: {again:?}");
            };
            assert_eq!(again.reason, refusal.reason);
            assert!(refusal.detail.starts_with(&again.detail));
        }
        Err(_) => {}
    }
});
