//! [`Version`]: one version of one key, packed into a single allocation.
//!
//! A version is what one write left under one key: the key, the value, and
//! etcd's `create_revision`, `mod_revision`, `version` and `lease`. The store
//! holds millions of them, so each is one reference-counted byte buffer
//! (`Arc<[u8]>`): one allocation holding the key, the value and the numbers,
//! shared by the key index and the change log without copying. Laid out as
//! separate fields (a `Bytes` value, a key allocation, four `u64`s) a version
//! cost about three times its key and value bytes; packed it costs its bytes
//! plus about 25.
//!
//! # Layout
//! `varint(key length) · key · varint(mod_revision) · shape · [varint(sub_revision)]
//! · [fields] · value`, varints being unsigned LEB128. `shape`'s high bit
//! ([`WITH_SUB_REVISION`]) says a sub-revision follows (absent: 0, the
//! only write of most revisions); its other bits name what the fields are:
//! - [`TOMBSTONE`]: a delete; no fields, no value (`create_revision`,
//!   `version` and `lease` are 0);
//! - [`CREATED`]: a generation's first put without a lease (`create_revision`
//!   = `mod_revision`, `version` 1, `lease` 0); no fields (the common version);
//! - [`GENERAL`]: fields `varint(create_revision) · varint(version) ·
//!   varint(zigzag(lease))`.
//!
//! # Invariants
//! - The encoding is canonical: [`Version::put`] picks the shortest shape, so
//!   two versions are equal exactly when their bytes are.
//! - A buffer is only ever built by this module, so decoding it cannot fail;
//!   a malformed one is a bug and panics.

use std::sync::Arc;

use bytes::Bytes;

use super::KeyValue;

/// The shape byte of a delete.
const TOMBSTONE: u8 = 0;
/// The shape byte of a generation's first put without a lease.
const CREATED: u8 = 1;
/// The shape byte of any other put: the fields follow.
const GENERAL: u8 = 2;
/// Set in the shape byte when a sub-revision (not 0) follows it.
const WITH_SUB_REVISION: u8 = 0x80;

/// Values up to this many bytes are copied out on a read; longer ones are
/// handed out sharing the version's buffer (a small allocation, no copy).
const LONGEST_COPIED_VALUE_BYTES: usize = 256;

/// What a put records besides the key and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stamp {
    /// The revision of the generation's first put.
    pub(super) create_revision: u64,
    /// The revision of this write.
    pub(super) mod_revision: u64,
    /// Writes since creation, from 1.
    pub(super) version: u64,
    /// The lease; 0: none.
    pub(super) lease: i64,
    /// The write's place among its revision's writes, from 0 (etcd's
    /// sub-revision): a revision's events are listed in this order, the
    /// order its command's operations ran in.
    pub(super) sub_revision: u32,
}

/// One version of one key (see the module docs for the layout).
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Version(Arc<[u8]>);

/// A decoded view of a version's buffer: where the parts are.
struct Parts<'a> {
    key: &'a [u8],
    stamp: Stamp,
    value: &'a [u8],
}

impl Version {
    /// The version a put of `value` under `key` leaves.
    ///
    /// # Panics
    /// If `stamp.version` is 0 (that is a tombstone: use [`Version::tombstone`]).
    pub(super) fn put(key: &[u8], value: &[u8], stamp: Stamp) -> Self {
        assert!(stamp.version > 0, "a put's version starts at 1");
        let created =
            stamp.version == 1 && stamp.create_revision == stamp.mod_revision && stamp.lease == 0;
        let mut buf = start(key, stamp.mod_revision, value.len() + 4 * 10 + 1);
        if created {
            push_shape(&mut buf, CREATED, stamp.sub_revision);
        } else {
            push_shape(&mut buf, GENERAL, stamp.sub_revision);
            push_varint(&mut buf, stamp.create_revision);
            push_varint(&mut buf, stamp.version);
            push_varint(&mut buf, zigzag(stamp.lease));
        }
        buf.extend_from_slice(value);
        Self(Arc::from(buf))
    }

    /// The tombstone a delete of `key` at `revision`, as its command's
    /// `sub_revision`th write, leaves.
    pub(super) fn tombstone(key: &[u8], revision: u64, sub_revision: u32) -> Self {
        let mut buf = start(key, revision, 1 + 5);
        push_shape(&mut buf, TOMBSTONE, sub_revision);
        Self(Arc::from(buf))
    }

    /// The key.
    pub(super) fn key(&self) -> &[u8] {
        let mut at = 0;
        let len = usize_from(read_varint(&self.0, &mut at));
        &self.0[at..at + len]
    }

    /// The value; empty in a tombstone.
    pub(super) fn value(&self) -> &[u8] {
        self.parts().value
    }

    /// The value as [`Bytes`]: copied if short, sharing this version's
    /// buffer if long.
    pub(super) fn value_bytes(&self) -> Bytes {
        let value = self.value();
        if value.len() <= LONGEST_COPIED_VALUE_BYTES {
            return Bytes::copy_from_slice(value);
        }
        Bytes::from_owner(SharedValue(self.clone()))
    }

    /// The revision of the write that made this version.
    pub(super) fn mod_revision(&self) -> u64 {
        let mut at = 0;
        let len = usize_from(read_varint(&self.0, &mut at));
        at += len;
        read_varint(&self.0, &mut at)
    }

    /// The write's place among its revision's writes (see [`Stamp`]).
    pub(super) fn sub_revision(&self) -> u32 {
        self.parts().stamp.sub_revision
    }

    /// The revision of the generation's first put; 0 in a tombstone.
    pub(super) fn create_revision(&self) -> u64 {
        self.parts().stamp.create_revision
    }

    /// Writes since creation; 0 marks a tombstone.
    pub(super) fn version(&self) -> u64 {
        self.parts().stamp.version
    }

    /// The lease; 0: none (always 0 in a tombstone).
    pub(super) fn lease(&self) -> i64 {
        self.parts().stamp.lease
    }

    /// Whether this version is a delete.
    pub(super) fn is_tombstone(&self) -> bool {
        self.parts().stamp.version == 0
    }

    /// The version as etcd shows it.
    pub(super) fn key_value(&self) -> KeyValue {
        let Parts { key, stamp, .. } = self.parts();
        KeyValue {
            key: Bytes::copy_from_slice(key),
            value: self.value_bytes(),
            create_revision: stamp.create_revision,
            mod_revision: stamp.mod_revision,
            version: stamp.version,
            lease: stamp.lease,
        }
    }

    /// Key and value bytes this version costs (what the quota counts).
    pub(super) fn bytes(&self) -> u64 {
        let parts = self.parts();
        (parts.key.len() + parts.value.len()) as u64
    }

    fn parts(&self) -> Parts<'_> {
        let buf = &self.0[..];
        let mut at = 0;
        let key_len = usize_from(read_varint(buf, &mut at));
        let key = &buf[at..at + key_len];
        at += key_len;
        let mod_revision = read_varint(buf, &mut at);
        let shape = buf[at];
        at += 1;
        let sub_revision = if shape & WITH_SUB_REVISION == 0 {
            0
        } else {
            let sub_revision = read_varint(buf, &mut at);
            u32::try_from(sub_revision)
                .unwrap_or_else(|_| panic!("a version's sub-revision {sub_revision} is over u32"))
        };
        let stamp = match shape & !WITH_SUB_REVISION {
            TOMBSTONE => Stamp {
                create_revision: 0,
                mod_revision,
                version: 0,
                lease: 0,
                sub_revision,
            },
            CREATED => Stamp {
                create_revision: mod_revision,
                mod_revision,
                version: 1,
                lease: 0,
                sub_revision,
            },
            GENERAL => Stamp {
                create_revision: read_varint(buf, &mut at),
                mod_revision,
                version: read_varint(buf, &mut at),
                lease: unzigzag(read_varint(buf, &mut at)),
                sub_revision,
            },
            other => panic!("a version buffer has shape {other}: it was not built here"),
        };
        Parts {
            key,
            stamp,
            value: &buf[at..],
        }
    }
}

impl std::fmt::Debug for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Parts { key, stamp, value } = self.parts();
        f.debug_struct("Version")
            .field("key", &Bytes::copy_from_slice(key))
            .field("value", &Bytes::copy_from_slice(value))
            .field("create_revision", &stamp.create_revision)
            .field("mod_revision", &stamp.mod_revision)
            .field("version", &stamp.version)
            .field("lease", &stamp.lease)
            .field("sub_revision", &stamp.sub_revision)
            .finish()
    }
}

/// A version's value, for [`Bytes::from_owner`]: keeps the buffer alive.
struct SharedValue(Version);

impl AsRef<[u8]> for SharedValue {
    fn as_ref(&self) -> &[u8] {
        self.0.value()
    }
}

/// A buffer holding the key and mod revision, with room for `rest` more bytes.
fn start(key: &[u8], mod_revision: u64, rest: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(10 + key.len() + 10 + rest);
    push_varint(&mut buf, key.len() as u64);
    buf.extend_from_slice(key);
    push_varint(&mut buf, mod_revision);
    buf
}

/// Pushes the shape byte, and the sub-revision after it unless it is 0.
fn push_shape(buf: &mut Vec<u8>, shape: u8, sub_revision: u32) {
    if sub_revision == 0 {
        buf.push(shape);
    } else {
        buf.push(shape | WITH_SUB_REVISION);
        push_varint(buf, u64::from(sub_revision));
    }
}

fn push_varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

fn read_varint(buf: &[u8], at: &mut usize) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = buf[*at];
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return value;
        }
    }
    panic!("a varint in a version buffer runs past 64 bits");
}

fn usize_from(value: u64) -> usize {
    usize::try_from(value).unwrap_or_else(|_| panic!("a key length {value} overflows usize"))
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(create_revision: u64, mod_revision: u64, version: u64, lease: i64) -> Stamp {
        Stamp {
            create_revision,
            mod_revision,
            version,
            lease,
            sub_revision: 0,
        }
    }

    fn nth_write(stamp: Stamp, sub_revision: u32) -> Stamp {
        Stamp {
            sub_revision,
            ..stamp
        }
    }

    #[test]
    fn every_shape_reads_back_what_was_written() {
        let long_value = vec![7u8; 1000];
        let cases = [
            (b"k".as_slice(), b"v".as_slice(), stamp(5, 5, 1, 0)),
            (b"key", b"", stamp(3, 9, 4, 0)),
            (b"", b"value", stamp(1, 1, 1, 7)),
            (
                b"k",
                &long_value,
                stamp(u64::MAX - 1, u64::MAX, u64::MAX, i64::MAX),
            ),
            (b"k", b"v", stamp(2, 2, 1, i64::MIN)),
            (b"k", b"v", stamp(2, 2, 1, -1)),
            (b"k", b"v", nth_write(stamp(2, 2, 1, 0), 1)),
            (b"k", b"v", nth_write(stamp(2, 7, 3, 5), u32::MAX)),
        ];
        for (key, value, stamp) in cases {
            let version = Version::put(key, value, stamp);
            assert_eq!(version.key(), key);
            assert_eq!(version.value(), value);
            assert_eq!(&version.value_bytes()[..], value);
            assert_eq!(version.parts().stamp, stamp);
            assert_eq!(version.mod_revision(), stamp.mod_revision);
            assert_eq!(version.sub_revision(), stamp.sub_revision);
            assert!(!version.is_tombstone());
            assert_eq!(version.bytes(), (key.len() + value.len()) as u64);
        }
        for sub_revision in [0, 1, 300, u32::MAX] {
            let tombstone = Version::tombstone(b"gone", 12, sub_revision);
            assert_eq!(tombstone.key(), b"gone");
            assert_eq!(
                tombstone.parts().stamp,
                nth_write(stamp(0, 12, 0, 0), sub_revision)
            );
            assert!(tombstone.is_tombstone() && tombstone.value().is_empty());
        }
    }

    #[test]
    fn the_common_version_costs_six_bytes_beyond_key_and_value() {
        // key length 1 + revision 3 + shape 1 (+ 1 for a 4-byte revision):
        // with `Arc`'s 16 it keeps a 14-byte key and a 100-byte value inside
        // 144 bytes of allocation.
        let version = Version::put(&[b'k'; 14], &[b'v'; 100], stamp(1_000_000, 1_000_000, 1, 0));
        assert_eq!(version.0.len(), 14 + 100 + 5);
    }
}
