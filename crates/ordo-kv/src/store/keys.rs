//! [`Keys`]: the key index, every retained [`Version`] of every key.
//!
//! Laid out for memory, since the store holds millions of keys and most have
//! one version: the newest version of each key sits in an ordered set of
//! one-word-pair handles (the version's buffer holds the key, so the set
//! costs 16 bytes a key plus B-tree slack); the older versions of the few
//! keys that have any sit in a second set of lists, found by the key their
//! versions hold. [`History`] shows the two halves as one key's history.
//!
//! # Invariants
//! - A key's versions are in strictly increasing `mod_revision` order, newest
//!   last; the newest is in `newest`, the others (oldest first) in `older`.
//!   A key in `older` is in `newest`, and its list is never empty (it is
//!   found by its first version's key).
//! - A *tombstone* (a delete) is a version with `version == 0`, an empty
//!   value, `create_revision == 0` and no lease. Between tombstones, puts
//!   count `version` up from 1 and share one `create_revision` (the revision
//!   of the generation's first put).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::Arc;

use super::version::Version;

/// A key on its own, where one is kept apart from its versions (lease sets,
/// backup parsing).
pub(super) type Key = Arc<[u8]>;

/// A key's newest version, ordered and found by the key alone.
#[derive(Clone, Debug)]
struct Newest(Version);

impl Borrow<[u8]> for Newest {
    fn borrow(&self) -> &[u8] {
        self.0.key()
    }
}

impl PartialEq for Newest {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}

impl Eq for Newest {}

impl PartialOrd for Newest {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Newest {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.key().cmp(other.0.key())
    }
}

/// The older versions of one key, oldest first, never empty; ordered and
/// found by their key alone.
#[derive(Clone, Debug)]
struct Older(Vec<Version>);

impl Older {
    fn key(&self) -> &[u8] {
        let Some(first) = self.0.first() else {
            panic!("an empty list of older versions was kept");
        };
        first.key()
    }
}

impl Borrow<[u8]> for Older {
    fn borrow(&self) -> &[u8] {
        self.key()
    }
}

impl PartialEq for Older {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Older {}

impl PartialOrd for Older {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Older {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(other.key())
    }
}

/// A key as the change log names it: the version written, which holds the
/// key's bytes, so a log entry costs no allocation of its own. Equal and
/// ordered by the key alone.
#[derive(Clone, Debug)]
pub(super) struct WrittenKey(pub(super) Version);

impl std::ops::Deref for WrittenKey {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.0.key()
    }
}

impl PartialEq for WrittenKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}

impl Eq for WrittenKey {}

impl PartialOrd for WrittenKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for WrittenKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.key().cmp(other.0.key())
    }
}

/// Every retained version of every key.
#[derive(Clone, Debug, Default)]
pub(super) struct Keys {
    /// The newest version of every key with a retained version.
    newest: BTreeSet<Newest>,
    /// The older versions, oldest first, of the keys that have any.
    older: BTreeSet<Older>,
}

impl PartialEq for Keys {
    /// Equal when every version is (the set alone compares keys only).
    fn eq(&self, other: &Self) -> bool {
        let same_newest = self.newest.len() == other.newest.len()
            && self
                .newest
                .iter()
                .zip(&other.newest)
                .all(|(mine, theirs)| mine.0 == theirs.0);
        let same_older = self.older.len() == other.older.len()
            && self
                .older
                .iter()
                .zip(&other.older)
                .all(|(mine, theirs)| mine.0 == theirs.0);
        same_newest && same_older
    }
}

impl Eq for Keys {}

/// What compacting one key freed.
#[derive(Default)]
pub(super) struct Freed {
    /// Versions dropped.
    pub(super) versions: u64,
    /// Their key and value bytes.
    pub(super) bytes: u64,
}

impl Freed {
    fn count(&mut self, version: &Version) {
        self.versions += 1;
        self.bytes += version.bytes();
    }
}

impl Keys {
    /// The index of `histories` — `(newest, older oldest first)` in strictly
    /// increasing key order, as a backup holds them — built in bulk, so the
    /// B-tree nodes are full.
    ///
    /// # Panics
    /// If the keys are not strictly increasing.
    pub(super) fn from_sorted(histories: Vec<(Version, Vec<Version>)>) -> Self {
        assert!(
            histories
                .windows(2)
                .all(|pair| pair[0].0.key() < pair[1].0.key()),
            "keys must come in strictly increasing order"
        );
        let mut newest = Vec::with_capacity(histories.len());
        let mut older = Vec::new();
        for (current, before) in histories {
            if !before.is_empty() {
                older.push(Older(before));
            }
            newest.push(Newest(current));
        }
        Self {
            newest: BTreeSet::from_iter(newest),
            older: BTreeSet::from_iter(older),
        }
    }

    /// `key`'s history, if it has a retained version.
    pub(super) fn get(&self, key: &[u8]) -> Option<History<'_>> {
        let newest = self.newest.get(key)?;
        Some(self.history(newest))
    }

    /// The histories of the keys within `bounds`, in key order.
    pub(super) fn range<'a>(
        &'a self,
        bounds: (Bound<&[u8]>, Bound<&[u8]>),
    ) -> impl Iterator<Item = History<'a>> + 'a {
        self.newest
            .range::<[u8], _>(bounds)
            .map(|newest| self.history(newest))
    }

    /// Every history, in key order.
    pub(super) fn iter(&self) -> impl Iterator<Item = History<'_>> {
        self.newest.iter().map(|newest| self.history(newest))
    }

    fn history<'a>(&'a self, newest: &'a Newest) -> History<'a> {
        History {
            current: &newest.0,
            older: &self.older,
        }
    }

    /// Makes `newer` its key's newest version.
    ///
    /// # Panics
    /// If the key's newest version is not older than it.
    pub(super) fn push(&mut self, newer: Version) {
        let revision = newer.mod_revision();
        let Some(Newest(previous)) = self.newest.replace(Newest(newer)) else {
            return;
        };
        assert!(
            revision > previous.mod_revision(),
            "a key's versions must be written in revision order"
        );
        let mut older = self.older.take(previous.key()).unwrap_or(Older(Vec::new()));
        older.0.push(previous);
        self.older.insert(older);
    }

    /// Drops `key`'s versions that no read at `revision` or later needs: all
    /// but the newest at or below it, and that one too if it is a tombstone
    /// (then the key is forgotten).
    pub(super) fn compact(&mut self, key: &[u8], revision: u64) -> Freed {
        let mut freed = Freed::default();
        let Some(Newest(current)) = self.newest.get(key) else {
            return freed; // Forgotten by an earlier compaction entry.
        };
        let current_is_newer = current.mod_revision() > revision;
        let forget = !current_is_newer && current.is_tombstone();
        if let Some(Older(mut older)) = self.older.take(key) {
            let at_or_below = older.partition_point(|version| version.mod_revision() <= revision);
            let keeps_newest_below =
                current_is_newer && at_or_below > 0 && !older[at_or_below - 1].is_tombstone();
            let dropped = at_or_below - usize::from(keeps_newest_below);
            older
                .drain(..dropped)
                .for_each(|version| freed.count(&version));
            if !older.is_empty() {
                if older.capacity() > 2 * older.len() {
                    older.shrink_to_fit();
                }
                self.older.insert(Older(older));
            }
        }
        if forget {
            if let Some(Newest(current)) = self.newest.take(key) {
                freed.count(&current);
            }
            assert!(
                !self.older.contains(key),
                "a forgotten key kept older versions"
            );
        }
        freed
    }
}

/// One key's retained versions, oldest first, `current` last.
#[derive(Clone, Copy)]
pub(super) struct History<'a> {
    /// The newest version.
    current: &'a Version,
    /// Where the older versions are (looked up only when needed: most reads
    /// want the newest).
    older: &'a BTreeSet<Older>,
}

impl<'a> History<'a> {
    /// The key.
    pub(super) fn key(&self) -> &'a [u8] {
        self.current.key()
    }

    /// The versions before `current`, oldest first.
    pub(super) fn older(&self) -> &'a [Version] {
        if self.older.is_empty() {
            return &[];
        }
        self.older
            .get(self.key())
            .map_or(&[], |older| older.0.as_slice())
    }

    /// The live version, if the key exists now.
    pub(super) fn live(&self) -> Option<&'a Version> {
        (!self.current.is_tombstone()).then_some(self.current)
    }

    /// The newest version with `mod_revision <= revision`, if any.
    pub(super) fn at(&self, revision: u64) -> Option<&'a Version> {
        if self.current.mod_revision() <= revision {
            return Some(self.current);
        }
        let older = self.older();
        let newer = older.partition_point(|version| version.mod_revision() <= revision);
        newer.checked_sub(1).map(|index| &older[index])
    }

    /// The live version at `revision`, if the key existed then.
    pub(super) fn live_at(&self, revision: u64) -> Option<&'a Version> {
        self.at(revision).filter(|version| !version.is_tombstone())
    }

    /// The version written at exactly `revision` and the one before it.
    pub(super) fn written_at(&self, revision: u64) -> Option<(&'a Version, Option<&'a Version>)> {
        let older = self.older();
        if self.current.mod_revision() == revision {
            return Some((self.current, older.last()));
        }
        let index = older
            .binary_search_by_key(&revision, Version::mod_revision)
            .ok()?;
        let before = index.checked_sub(1).map(|before| &older[before]);
        Some((&older[index], before))
    }

    /// Every version, oldest first.
    pub(super) fn versions(&self) -> impl Iterator<Item = &'a Version> + use<'a> {
        self.older().iter().chain(std::iter::once(self.current))
    }

    /// Versions retained.
    pub(super) fn len(&self) -> usize {
        self.older().len() + 1
    }
}
