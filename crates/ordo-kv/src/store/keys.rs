//! [`KeyHistory`]: every retained version of one key.
//!
//! # Invariants
//! - Versions are in strictly increasing `mod_revision` order, newest last;
//!   `current` is the newest. A history is never empty.
//! - A *tombstone* (a delete) is a version with `version == 0`, an empty
//!   value, `create_revision == 0` and no lease. Between tombstones, puts
//!   count `version` up from 1 and share one `create_revision` (the revision
//!   of the generation's first put).
//! - The common key has one version and no history: `older` is then `None`
//!   (one word, no allocation).
//! - Keys are [`Key`]s (`Arc<[u8]>`): the map, the change log and the lease
//!   sets share one allocation per key.

use std::sync::Arc;

use bytes::Bytes;

use super::KeyValue;

/// A key as the store keeps it: one allocation shared by the map, the change
/// log and lease sets. (A `Bytes` made from a `Vec` allocates a second time
/// on its first clone, and takes two words more in every map entry.)
pub(super) type Key = Arc<[u8]>;

/// One version of a key: what a write left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Version {
    /// The value; empty in a tombstone.
    pub(super) value: Bytes,
    /// The revision of the generation's first put; 0 in a tombstone.
    pub(super) create_revision: u64,
    /// The revision of the write that made this version.
    pub(super) mod_revision: u64,
    /// Writes since creation; 0 marks a tombstone.
    pub(super) version: u64,
    /// The lease; 0: none (always 0 in a tombstone).
    pub(super) lease: i64,
}

impl Version {
    /// The tombstone a delete at `revision` leaves.
    pub(super) fn tombstone(revision: u64) -> Self {
        Self {
            value: Bytes::new(),
            create_revision: 0,
            mod_revision: revision,
            version: 0,
            lease: 0,
        }
    }

    /// Whether this version is a delete.
    pub(super) fn is_tombstone(&self) -> bool {
        self.version == 0
    }

    /// The version as etcd shows it under `key`.
    pub(super) fn key_value(&self, key: &[u8]) -> KeyValue {
        KeyValue {
            key: Bytes::copy_from_slice(key),
            value: self.value.clone(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
            lease: self.lease,
        }
    }

    /// Key and value bytes this version costs under a key of `key_len` bytes.
    pub(super) fn bytes(&self, key_len: usize) -> u64 {
        (key_len + self.value.len()) as u64
    }
}

/// Every retained version of one key, oldest first, `current` last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct KeyHistory {
    /// Older versions, oldest first; `None` rather than an empty list, so a
    /// key without history costs one pointer (most keys) instead of a
    /// `Vec`'s three words in every map entry. Boxing the `Vec` (not a
    /// slice) keeps pushes amortized O(1) for keys written often.
    #[allow(clippy::box_collection)]
    older: Option<Box<Vec<Version>>>,
    /// The newest version.
    pub(super) current: Version,
}

/// What compacting one key freed.
pub(super) struct Freed {
    /// Versions dropped.
    pub(super) versions: u64,
    /// Their key and value bytes.
    pub(super) bytes: u64,
    /// Nothing is left: the key must be forgotten.
    pub(super) empty: bool,
}

impl KeyHistory {
    /// A history of one version.
    pub(super) fn new(current: Version) -> Self {
        Self {
            older: None,
            current,
        }
    }

    /// A history of `older` versions (oldest first) then `current`.
    pub(super) fn with_older(older: Vec<Version>, current: Version) -> Self {
        let older = (!older.is_empty()).then(|| Box::new(older));
        Self { older, current }
    }

    /// The versions before `current`, oldest first.
    pub(super) fn older(&self) -> &[Version] {
        self.older.as_deref().map_or(&[], Vec::as_slice)
    }

    /// The live version, if the key exists now.
    pub(super) fn live(&self) -> Option<&Version> {
        (!self.current.is_tombstone()).then_some(&self.current)
    }

    /// Adds a newer version.
    pub(super) fn push(&mut self, newer: Version) {
        assert!(
            newer.mod_revision > self.current.mod_revision,
            "a key's versions must be written in revision order"
        );
        let previous = std::mem::replace(&mut self.current, newer);
        self.older.get_or_insert_with(Box::default).push(previous);
    }

    /// The newest version with `mod_revision <= revision`, if any.
    pub(super) fn at(&self, revision: u64) -> Option<&Version> {
        if self.current.mod_revision <= revision {
            return Some(&self.current);
        }
        let older = self.older();
        let newer = older.partition_point(|version| version.mod_revision <= revision);
        newer.checked_sub(1).map(|index| &older[index])
    }

    /// The live version at `revision`, if the key existed then.
    pub(super) fn live_at(&self, revision: u64) -> Option<&Version> {
        self.at(revision).filter(|version| !version.is_tombstone())
    }

    /// The version written at exactly `revision` and the one before it.
    pub(super) fn written_at(&self, revision: u64) -> Option<(&Version, Option<&Version>)> {
        let older = self.older();
        if self.current.mod_revision == revision {
            return Some((&self.current, older.last()));
        }
        let index = older
            .binary_search_by_key(&revision, |version| version.mod_revision)
            .ok()?;
        let before = index.checked_sub(1).map(|before| &older[before]);
        Some((&older[index], before))
    }

    /// Every version, oldest first.
    pub(super) fn versions(&self) -> impl Iterator<Item = &Version> {
        self.older().iter().chain(std::iter::once(&self.current))
    }

    /// Versions retained.
    pub(super) fn len(&self) -> usize {
        self.older().len() + 1
    }

    /// Drops the versions no read at `revision` or later needs: all but the
    /// newest at or below it, and that one too if it is a tombstone.
    pub(super) fn compact(&mut self, revision: u64, key_len: usize) -> Freed {
        let mut freed = Freed {
            versions: 0,
            bytes: 0,
            empty: false,
        };
        let mut drop = |version: &Version| {
            freed.versions += 1;
            freed.bytes += version.bytes(key_len);
        };
        let older = self.older.take().map_or_else(Vec::new, |older| *older);
        let at_or_below = older.partition_point(|version| version.mod_revision <= revision);
        let mut kept = Vec::new();
        for (index, version) in older.into_iter().enumerate() {
            let newest_at_or_below =
                index + 1 == at_or_below && self.current.mod_revision > revision;
            if index >= at_or_below || (newest_at_or_below && !version.is_tombstone()) {
                kept.push(version);
            } else {
                drop(&version);
            }
        }
        if self.current.mod_revision <= revision && self.current.is_tombstone() {
            drop(&self.current);
            freed.empty = true;
        }
        self.older = (!kept.is_empty()).then(|| Box::new(kept));
        freed
    }
}
