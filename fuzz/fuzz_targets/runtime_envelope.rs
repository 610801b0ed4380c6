//! What the runtime reads from bytes another node wrote: a command entry's
//! envelope (an application command, member information as JSON, or the
//! older builds' postcard member addresses) and the runtime header at the
//! start of a snapshot's data. Decoding never panics, and member
//! information read re-encodes to bytes that read the same (checked in
//! `ordo::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ordo::fuzzing::{Envelope, open_envelope, read_snapshot_header};

fuzz_target!(|data: &[u8]| {
    if let Envelope::Command(command) = open_envelope(data) {
        assert_eq!(
            command,
            data[1..],
            "a command is not the bytes after its tag"
        );
    }
    if let Ok((_, data_start)) = read_snapshot_header(data) {
        assert!(
            data_start <= data.len(),
            "the header claims bytes past the input"
        );
    }
});
