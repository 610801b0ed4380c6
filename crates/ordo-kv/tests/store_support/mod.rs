//! Shared by the `store_*` tests: a hand-written encoder of the backup format,
//! independent of the crate's, so tests can pin the format byte for byte and
//! build backups that are wrong in exactly one way (with a valid checksum
//! unless the checksum is what is wrong).

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod builders;

use bytes::Bytes;
use ordo::{Entry, StateMachine};
use ordo_kv::store::{KvCommand, KvResponse, KvStore};

/// The header of a version 1 backup at `cluster_revision`.
pub fn header(cluster_revision: u64) -> Vec<u8> {
    header_with(b"ORDOKV01", 1, cluster_revision)
}

/// A header with any magic and version.
pub fn header_with(magic: &[u8; 8], version: u32, cluster_revision: u64) -> Vec<u8> {
    let mut out = magic.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&cluster_revision.to_le_bytes());
    out
}

/// Appends a record whose lengths are the real ones.
pub fn record(out: &mut Vec<u8>, key: &[u8], value: &[u8], revision: u64) {
    out.push(b'R');
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
    out.extend_from_slice(&revision.to_le_bytes());
}

/// Appends an end marker counting `records`, with the right checksum.
pub fn end(out: &mut Vec<u8>, records: u64) {
    out.push(b'E');
    out.extend_from_slice(&records.to_le_bytes());
    let crc = crc32c::crc32c(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// A whole valid backup of `records` (key, value, revision) at `cluster_revision`.
pub fn backup(cluster_revision: u64, records: &[(&[u8], &[u8], u64)]) -> Vec<u8> {
    let mut out = header(cluster_revision);
    for (key, value, revision) in records {
        record(&mut out, key, value, *revision);
    }
    end(&mut out, records.len() as u64);
    out
}

/// The header of a version 2 backup.
pub fn header_v2(cluster_revision: u64, compact_revision: u64, next_lease_id: i64) -> Vec<u8> {
    let mut out = header_with(b"ORDOKV01", 2, cluster_revision);
    out.extend_from_slice(&compact_revision.to_le_bytes());
    out.extend_from_slice(&next_lease_id.to_le_bytes());
    out
}

/// The header of a version 3 backup (read, no longer written).
pub fn header_v3(cluster_revision: u64, compact_revision: u64, next_lease_id: i64) -> Vec<u8> {
    let mut out = header_v2(cluster_revision, compact_revision, next_lease_id);
    out[8..12].copy_from_slice(&3u32.to_le_bytes());
    out
}

/// The header of a version 4 backup (the one this build writes: version 3
/// with a sub-revision in every version of a key record).
pub fn header_v4(cluster_revision: u64, compact_revision: u64, next_lease_id: i64) -> Vec<u8> {
    let mut out = header_v2(cluster_revision, compact_revision, next_lease_id);
    out[8..12].copy_from_slice(&4u32.to_le_bytes());
    out
}

/// Appends a version 3 lease record; `checkpoint` is
/// `(remaining ms, stamp term, stamp sequence)`.
pub fn lease_record_v3(out: &mut Vec<u8>, id: i64, ttl: i64, checkpoint: Option<(u64, u64, u64)>) {
    lease_record(out, id, ttl);
    let (remaining_ms, term, sequence) = checkpoint.unwrap_or((u64::MAX, 0, 0));
    for field in [remaining_ms, term, sequence] {
        out.extend_from_slice(&field.to_le_bytes());
    }
}

/// Appends a version 2 lease record (the start of a version 3 one).
pub fn lease_record(out: &mut Vec<u8>, id: i64, ttl: i64) {
    out.push(b'L');
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&ttl.to_le_bytes());
}

/// One version in a version 2 key record.
#[derive(Clone, Copy)]
pub enum V2 {
    /// A put: mod revision, version, create revision, lease, value.
    Put(u64, u64, u64, i64, &'static [u8]),
    /// A tombstone at a mod revision.
    Tombstone(u64),
}

/// Appends a version 2 (or 3) key record.
pub fn key_record(out: &mut Vec<u8>, key: &[u8], versions: &[V2]) {
    let versions: Vec<(V2, Option<u32>)> =
        versions.iter().map(|version| (*version, None)).collect();
    push_key_record(out, key, &versions);
}

/// Appends a version 4 key record whose versions are each their revision's
/// first write (sub-revision 0).
pub fn key_record_v4(out: &mut Vec<u8>, key: &[u8], versions: &[V2]) {
    let versions: Vec<(V2, u32)> = versions.iter().map(|version| (*version, 0)).collect();
    key_record_v4_subs(out, key, &versions);
}

/// Appends a version 4 key record: each version with its sub-revision.
pub fn key_record_v4_subs(out: &mut Vec<u8>, key: &[u8], versions: &[(V2, u32)]) {
    let versions: Vec<(V2, Option<u32>)> = versions
        .iter()
        .map(|(version, sub_revision)| (*version, Some(*sub_revision)))
        .collect();
    push_key_record(out, key, &versions);
}

/// A key record; a sub-revision follows each mod revision if given.
fn push_key_record(out: &mut Vec<u8>, key: &[u8], versions: &[(V2, Option<u32>)]) {
    out.push(b'K');
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&(versions.len() as u32).to_le_bytes());
    let push_sub = |out: &mut Vec<u8>, sub_revision: &Option<u32>| {
        if let Some(sub_revision) = sub_revision {
            out.extend_from_slice(&sub_revision.to_le_bytes());
        }
    };
    for (version, sub_revision) in versions {
        match version {
            V2::Put(mod_revision, version, create_revision, lease, value) => {
                out.extend_from_slice(&mod_revision.to_le_bytes());
                push_sub(out, sub_revision);
                out.extend_from_slice(&version.to_le_bytes());
                out.extend_from_slice(&create_revision.to_le_bytes());
                out.extend_from_slice(&lease.to_le_bytes());
                out.extend_from_slice(&(value.len() as u32).to_le_bytes());
                out.extend_from_slice(value);
            }
            V2::Tombstone(mod_revision) => {
                out.extend_from_slice(&mod_revision.to_le_bytes());
                push_sub(out, sub_revision);
                out.extend_from_slice(&0u64.to_le_bytes());
            }
        }
    }
}

/// Applies `commands` as one batch of entries.
pub fn apply(store: &mut KvStore, commands: Vec<KvCommand>) -> Vec<KvResponse> {
    let entries = commands
        .into_iter()
        .zip(1..)
        .map(|(command, index)| Entry {
            index,
            term: 1,
            command,
        })
        .collect();
    store.apply(entries)
}

/// A put without a condition.
pub fn put(key: &str, value: &str) -> KvCommand {
    KvCommand::Put {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
        if_revision: None,
    }
}

/// A store that has applied `commands`.
pub fn store_with(commands: Vec<KvCommand>) -> KvStore {
    let mut store = KvStore::new();
    apply(&mut store, commands);
    store
}

/// The backup `store` writes through [`StateMachine::snapshot`].
pub fn snapshot(store: &KvStore) -> Vec<u8> {
    let mut out = Vec::new();
    store.snapshot(&mut out).unwrap();
    out
}
