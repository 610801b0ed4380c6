//! Member addresses as they come from outside: the identity file's text
//! (`peer=HOST:PORT client=URL`, `MemberAddress::parse`), the runtime's
//! `MemberInfo` JSON (what the log and snapshots carry), and the checks
//! the server puts on addresses from a request (`is_host_port`,
//! `client_url`). Parsing never panics; parsed text prints back to text
//! that parses the same; every address the server's checks accept survives
//! the identity file and the log unchanged.
//!
//! Input: UTF-8 (lossily), `PEER\nCLIENT` for the checks; the whole as
//! identity-file text and as JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ordo_kv::server::member_address::MemberAddress;
use ordo_kv::server::settings::{client_url, is_host_port};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = MemberAddress::parse(&text);
    assert_eq!(
        MemberAddress::parse(&parsed.to_string()),
        parsed,
        "text does not round-trip"
    );

    let (peer, client) = text.split_once('\n').unwrap_or((&text, ""));
    if is_host_port(peer)
        && let Ok(client) = client_url("client_addr", client)
    {
        let address = MemberAddress::new(peer, client);
        let reparsed = MemberAddress::parse(&address.to_string());
        assert_eq!(
            reparsed, address,
            "an accepted address changes in the identity file"
        );
        let info = address.to_info();
        assert_eq!(
            MemberAddress::from_info(&info),
            address,
            "an accepted address changes in the log"
        );
    }

    if let Ok(info) = serde_json::from_slice::<ordo::MemberInfo>(data) {
        let Ok(json) = serde_json::to_vec(&info) else {
            panic!("member information does not re-encode: {info:?}");
        };
        assert_eq!(
            serde_json::from_slice::<ordo::MemberInfo>(&json).ok(),
            Some(info)
        );
    }
});
