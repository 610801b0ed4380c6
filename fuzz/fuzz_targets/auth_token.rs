//! Bearer tokens and the auth state as they come from outside: the token
//! parser (`auth::token::parse`, what every request's `Authorization`
//! header reaches when auth is enabled) and the auth record of a backup
//! (`AuthState::decode`). Neither ever panics; a token that parses
//! re-signs to one that parses the same; a token signed with another key
//! never parses; an auth state that decodes passes its own checks and
//! round-trips.
//!
//! Input: the bytes, lossily as UTF-8 for the token, as they are for the
//! auth record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ordo_kv::auth::AuthState;
use ordo_kv::auth::token::{parse, sign};

/// The key the seeds are signed with (`fuzz/seeds`).
const KEY: [u8; 32] = [0x5a; 32];
const OTHER_KEY: [u8; 32] = [0xa5; 32];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(claims) = parse(&text, &KEY) {
        let resigned = sign(&KEY, &claims);
        assert_eq!(parse(&resigned, &KEY).ok(), Some(claims.clone()));
        assert!(
            parse(&sign(&OTHER_KEY, &claims), &KEY).is_err(),
            "a token signed with another key parsed"
        );
    }
    let _ = parse(&text, &[]);

    if let Ok(state) = AuthState::decode(data) {
        assert!(state.validate().is_ok(), "a decoded state fails its checks");
        assert_eq!(AuthState::decode(&state.encode()).ok(), Some(state));
    }
});
