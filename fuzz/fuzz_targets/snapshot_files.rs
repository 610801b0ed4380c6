//! Snapshot files as a restarting node finds them: a finished snapshot
//! (header, metadata, data, trailer) and an incoming transfer (the partial
//! data file and its progress record). Input: `flags:u8`, the snapshot
//! file's length `u16` LE, the partial file's length `u16` LE, then the
//! snapshot file, the partial file and the progress record; bit 0 of flags
//! writes the snapshot, bit 1 the transfer's two files; bit 2 appends a
//! chunk to a reopened transfer, at an offset bits 3-4 choose.
//!
//! Nothing panics; a snapshot that verified reads through to its announced
//! length; a transfer that reopened reopens the same again, never claims
//! more than its file holds, and if it finishes, is published with the
//! metadata and length it received.
#![no_main]

use std::io::{self, Read};
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ordo::storage::{IncomingSnapshotFile, SnapshotStore};

const SNAPSHOT_NAME: &str = "snap-00000000000000000005-00000000000000000002.snap";
const PARTIAL_NAME: &str = "incoming.snap.partial";
const PROGRESS_NAME: &str = "incoming.snap.progress";

fuzz_target!(|data: &[u8]| {
    let [flags, a0, a1, b0, b1, rest @ ..] = data else {
        return;
    };
    let snapshot_bytes = usize::from(u16::from_le_bytes([*a0, *a1])).min(rest.len());
    let (snapshot, rest) = rest.split_at(snapshot_bytes);
    let partial_bytes = usize::from(u16::from_le_bytes([*b0, *b1])).min(rest.len());
    let (partial, progress) = rest.split_at(partial_bytes);
    let dir = scratch_dir();
    if flags & 1 == 1 {
        write(dir.path(), SNAPSHOT_NAME, snapshot);
    }
    if flags & 2 == 2 {
        write(dir.path(), PARTIAL_NAME, partial);
        write(dir.path(), PROGRESS_NAME, progress);
    }
    let Ok(store) = SnapshotStore::open(dir.path()) else {
        return;
    };
    let _ = store.latest();
    check_newest_verified(&store);

    let Ok(Some(incoming)) = store.open_incoming() else {
        return;
    };
    let received = incoming.received_bytes();
    let meta = incoming.meta().clone();
    assert!(
        received <= partial.len() as u64,
        "a transfer claims more than its file holds"
    );
    drop(incoming);
    let Ok(Some(incoming)) = store.open_incoming() else {
        panic!("a transfer that reopened once does not reopen");
    };
    assert_eq!(
        incoming.received_bytes(),
        received,
        "reopening changes a transfer"
    );
    assert_eq!(incoming.meta(), &meta, "reopening changes a transfer");
    let (incoming, received) = match flags & 4 {
        0 => (incoming, received),
        _ => append_chunk(&store, incoming, *flags, progress),
    };
    if incoming.finish().is_ok() {
        // Published under its own name, with the metadata and length
        // received. (Its data may still fail the checksum when read: the
        // fuzzer also damages bytes that the progress record calls durable,
        // which reopening does not re-read; the reader catches that.)
        let Ok(published) = store.open_snapshot(meta.index, meta.term) else {
            panic!("a finished transfer is not published");
        };
        assert_eq!(published.meta(), &meta);
        assert_eq!(published.remaining_bytes(), received);
    }
});

/// Appends a chunk (the progress record's last bytes, whatever they are) at
/// an offset a leader's message could carry (bits 3-4 of flags): only the
/// offset received so far is taken, and a reopened transfer then holds it.
fn append_chunk<'a>(
    store: &'a SnapshotStore,
    mut incoming: IncomingSnapshotFile<'a>,
    flags: u8,
    chunk_source: &[u8],
) -> (IncomingSnapshotFile<'a>, u64) {
    let received = incoming.received_bytes();
    let offset = match (flags >> 3) & 3 {
        0 => received,
        1 => received + 1,
        2 => received.saturating_sub(1),
        _ => u64::MAX,
    };
    let chunk = &chunk_source[chunk_source.len().saturating_sub(32)..];
    let appended = incoming.append(offset, chunk);
    assert_eq!(
        appended.is_ok(),
        offset == received,
        "append at {offset} of {received}: {appended:?}"
    );
    let expected = match appended {
        Ok(()) => received + chunk.len() as u64,
        Err(_) => received,
    };
    assert_eq!(incoming.received_bytes(), expected);
    drop(incoming);
    let Ok(Some(reopened)) = store.open_incoming() else {
        panic!("a transfer does not reopen after an append");
    };
    assert_eq!(
        reopened.received_bytes(),
        expected,
        "an append is not durable"
    );
    (reopened, expected)
}

fn check_newest_verified(store: &SnapshotStore) {
    let Ok(Some(mut reader)) = store.open_newest_verified() else {
        return;
    };
    let announced = reader.remaining_bytes();
    match io::copy(&mut reader.by_ref(), &mut io::sink()) {
        Ok(read) => assert_eq!(read, announced, "a verified snapshot reads short"),
        Err(error) => panic!("a verified snapshot does not read: {error}"),
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    if let Err(error) = std::fs::write(dir.join(name), bytes) {
        panic!("cannot write {name} into the scratch directory: {error}");
    }
}

/// A fresh, empty directory, in memory where the machine has one.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let made = match shm.is_dir() {
        true => tempfile::tempdir_in(shm),
        false => tempfile::tempdir(),
    };
    match made {
        Ok(dir) => dir,
        Err(error) => panic!("cannot make a scratch directory: {error}"),
    }
}
