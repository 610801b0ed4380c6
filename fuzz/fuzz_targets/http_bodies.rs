//! The JSON bodies the HTTP API accepts (the first byte picks which): each
//! parses without panic, and what parses serializes to JSON that parses
//! the same. An add-member request also goes through the server's address
//! checks. (`TxnRequest` is parsed only: this build has no HTTP route that
//! converts it into a store transaction yet.)
#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use ordo_kv::api::{
    AddMemberRequest, CompactRequest, KeepAliveRequest, LeaseGrantRequest, MemberAddressRequest,
    TransferLeaderRequest, TxnRequest,
};
use ordo_kv::server::settings::{client_url, is_host_port};
use serde::Serialize;
use serde::de::DeserializeOwned;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 7 {
        0 => drop(round_trip::<TxnRequest>(body)),
        1 => {
            if let Some(request) = round_trip::<AddMemberRequest>(body) {
                let _ = is_host_port(&request.peer_addr);
                let _ = client_url("client_addr", &request.client_addr);
            }
        }
        2 => {
            if let Some(request) = round_trip::<MemberAddressRequest>(body) {
                let _ = is_host_port(&request.peer_addr);
                let _ = client_url("client_addr", &request.client_addr);
            }
        }
        3 => drop(round_trip::<TransferLeaderRequest>(body)),
        4 => drop(round_trip::<CompactRequest>(body)),
        5 => drop(round_trip::<LeaseGrantRequest>(body)),
        _ => drop(round_trip::<KeepAliveRequest>(body)),
    }
});

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(body: &[u8]) -> Option<T> {
    let parsed: T = serde_json::from_slice(body).ok()?;
    let Ok(json) = serde_json::to_vec(&parsed) else {
        panic!("a parsed body does not serialize: {parsed:?}");
    };
    match serde_json::from_slice::<T>(&json) {
        Ok(again) => assert_eq!(again, parsed, "a body changes in a round trip"),
        Err(error) => panic!("a serialized body does not parse: {error}: {parsed:?}"),
    }
    Some(parsed)
}
