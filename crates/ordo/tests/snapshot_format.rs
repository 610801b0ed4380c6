//! The snapshot file format does not change under a rename: the header's
//! metadata is JSON with `last_index` and `last_term`, as older builds wrote
//! and read it, though `SnapshotMeta` (the core's) names them `index` and
//! `term`. The file here is built byte by byte from the format in
//! `storage/snapshot.rs`'s module docs, not through the store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;

use ordo::storage::{SnapshotMeta, SnapshotStore};
use ordo_core::Membership;

/// The metadata exactly as the build before the rename serialized it.
const OLDER_BUILD_META_JSON: &str = r#"{"last_index":7,"last_term":2,"membership":{"voters":[1,2,3],"outgoing_voters":[],"learners":[]}}"#;

const FILE_NAME: &str = "snap-00000000000000000007-00000000000000000002.snap";
const DATA: &[u8] = b"state as of index 7";

fn meta() -> SnapshotMeta {
    SnapshotMeta {
        index: 7,
        term: 2,
        membership: Membership::with_voters([1, 2, 3]),
    }
}

/// A whole snapshot file as the build before the rename wrote it: header,
/// metadata, data, trailer.
fn older_build_file() -> Vec<u8> {
    let meta_json = OLDER_BUILD_META_JSON.as_bytes();
    let mut file = Vec::new();
    file.extend_from_slice(b"ORDOSNAP");
    file.extend_from_slice(&1u32.to_le_bytes());
    file.extend_from_slice(&(meta_json.len() as u32).to_le_bytes());
    file.extend_from_slice(&crc32c::crc32c(meta_json).to_le_bytes());
    file.extend_from_slice(meta_json);
    file.extend_from_slice(DATA);
    file.extend_from_slice(&(DATA.len() as u64).to_le_bytes());
    file.extend_from_slice(&crc32c::crc32c(DATA).to_le_bytes());
    file.extend_from_slice(b"ORDOSEND");
    file
}

#[test]
fn a_snapshot_written_by_the_older_build_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(FILE_NAME), older_build_file()).unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();

    assert_eq!(store.latest().unwrap(), Some(meta()));
    let mut reader = store.open_newest_verified().unwrap().unwrap();
    assert_eq!(reader.meta(), &meta());
    let mut data = Vec::new();
    reader.read_to_end(&mut data).unwrap();
    assert_eq!(data, DATA);
}

#[test]
fn a_snapshot_written_now_is_byte_for_byte_what_the_older_build_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    let mut writer = store.create(meta()).unwrap();
    std::io::Write::write_all(&mut writer, DATA).unwrap();
    writer.finish().unwrap();

    let written = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
    let meta_json = written.get(20..20 + OLDER_BUILD_META_JSON.len());
    assert_eq!(
        meta_json.map(String::from_utf8_lossy),
        Some(OLDER_BUILD_META_JSON.into()),
        "the header keeps the older build's field names"
    );
    assert_eq!(written, older_build_file());
}
