//! WAL records and segment headers as recovery reads them from disk. With
//! bit 0 of the first byte set, each record's checksum is recomputed before
//! it is read, so the fuzzer explores the body decoders rather than the
//! checksum. Decoding never panics, and every record and header decoded
//! re-encodes to one that decodes the same (checked in `ordo::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ordo::fuzzing::{check_wal_records, check_wal_segment_header};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    check_wal_segment_header(rest);
    check_wal_records(rest, flags & 1 == 1);
});
