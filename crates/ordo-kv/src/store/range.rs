//! Key ranges in etcd's convention, and range reads at a revision.

use std::ops::Bound;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::state::KvStore;
use super::{KeyValue, KvError};

/// A set of keys as etcd names it: `range_end` empty means the single key
/// `key`; `range_end == [0]` means every key `>= key`; otherwise the keys in
/// `[key, range_end)` (none if `range_end <= key`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRange {
    /// The first key.
    pub key: Bytes,
    /// The end, in etcd's convention (see the type's docs).
    pub range_end: Bytes,
}

impl KeyRange {
    /// Just `key`.
    pub fn single(key: impl Into<Bytes>) -> Self {
        Self {
            key: key.into(),
            range_end: Bytes::new(),
        }
    }

    /// Every key starting with `prefix` (every key, for an empty prefix).
    pub fn prefix(prefix: impl Into<Bytes>) -> Self {
        let key = prefix.into();
        let range_end = prefix_end(&key);
        Self { key, range_end }
    }

    /// Every key `>= key`.
    pub fn from_key(key: impl Into<Bytes>) -> Self {
        Self {
            key: key.into(),
            range_end: Bytes::from_static(&[0]),
        }
    }

    /// Whether `key` is in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        if self.range_end.is_empty() {
            return key == &self.key[..];
        }
        key >= &self.key[..] && (self.is_to_end() || key < &self.range_end[..])
    }

    /// The range as map bounds; `None` if it holds no key.
    pub(super) fn bounds(&self) -> Option<KeyBounds<'_>> {
        let start = Bound::Included(&self.key[..]);
        if self.range_end.is_empty() {
            return Some((start, Bound::Included(&self.key[..])));
        }
        if self.is_to_end() {
            return Some((start, Bound::Unbounded));
        }
        (self.range_end[..] > self.key[..]).then_some((start, Bound::Excluded(&self.range_end[..])))
    }

    fn is_to_end(&self) -> bool {
        self.range_end[..] == [0]
    }
}

/// A range as the bounds of a map over byte-string keys.
pub(super) type KeyBounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// etcd's prefix end: the prefix with its last non-0xff byte incremented and
/// what follows it dropped; `[0]` (to the end) if there is no such byte.
fn prefix_end(prefix: &[u8]) -> Bytes {
    match prefix.iter().rposition(|byte| *byte < 0xff) {
        Some(last) => {
            let mut end = prefix[..=last].to_vec();
            end[last] += 1;
            Bytes::from(end)
        }
        None => Bytes::from_static(&[0]),
    }
}

/// How a range answer is sorted, as etcd's `SortOrder`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortOrder {
    /// Key order, unless `sort_target` is not `Key` (then ascending).
    #[default]
    None,
    /// Ascending by the target.
    Ascend,
    /// Descending by the target.
    Descend,
}

/// What a range answer is sorted by, as etcd's `SortTarget`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortTarget {
    /// The key.
    #[default]
    Key,
    /// `version`.
    Version,
    /// `create_revision`.
    Create,
    /// `mod_revision`.
    Mod,
    /// The value.
    Value,
}

/// A range read, as etcd's `RangeRequest` (plus `max_bytes`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeRequest {
    /// The first key.
    pub key: Bytes,
    /// The end, as in [`KeyRange`].
    pub range_end: Bytes,
    /// The revision to read at; 0: the current one.
    pub revision: u64,
    /// Most keys answered; 0: no limit.
    pub limit: u64,
    /// Most key and value bytes answered; 0: no limit. The answer stops
    /// before the kv that would pass it, but always holds at least one.
    pub max_bytes: u64,
    /// Answer keys without values.
    pub keys_only: bool,
    /// Answer only the count.
    pub count_only: bool,
    /// Keep only kvs with `mod_revision >=` this (0: no bound).
    pub min_mod_revision: u64,
    /// Keep only kvs with `mod_revision <=` this (0: no bound).
    pub max_mod_revision: u64,
    /// Keep only kvs with `create_revision >=` this (0: no bound).
    pub min_create_revision: u64,
    /// Keep only kvs with `create_revision <=` this (0: no bound).
    pub max_create_revision: u64,
    /// The order of the answer.
    pub sort_order: SortOrder,
    /// What the answer is sorted by.
    pub sort_target: SortTarget,
}

impl RangeRequest {
    /// A read of every key in `range` at the current revision.
    pub fn new(range: KeyRange) -> Self {
        Self {
            key: range.key,
            range_end: range.range_end,
            ..Self::default()
        }
    }

    /// The keys it reads.
    pub fn range(&self) -> KeyRange {
        KeyRange {
            key: self.key.clone(),
            range_end: self.range_end.clone(),
        }
    }

    fn keeps(&self, kv: &KeyValue) -> bool {
        let at_least = |bound: u64, value: u64| bound == 0 || value >= bound;
        let at_most = |bound: u64, value: u64| bound == 0 || value <= bound;
        at_least(self.min_mod_revision, kv.mod_revision)
            && at_most(self.max_mod_revision, kv.mod_revision)
            && at_least(self.min_create_revision, kv.create_revision)
            && at_most(self.max_create_revision, kv.create_revision)
    }

    fn sorts(&self) -> bool {
        !(self.sort_target == SortTarget::Key && self.sort_order != SortOrder::Descend)
    }
}

/// The answer to a range read, as etcd's `RangeResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeResponse {
    /// The kvs, in the order asked for (none for `count_only`).
    pub kvs: Vec<KeyValue>,
    /// More kvs matched than were answered (a limit or `max_bytes` cut).
    pub more: bool,
    /// Keys in the range at the revision, before filters and limits (etcd's count).
    pub count: u64,
    /// The revision the read saw.
    pub revision: u64,
}

/// Answers `request` from `live`: the kvs in the range at the revision read,
/// in key order. `revision` is the one reported.
pub(super) fn answer_range<'a>(
    request: &RangeRequest,
    live: impl Iterator<Item = KeyValue> + 'a,
    revision: u64,
) -> RangeResponse {
    let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
    let early_stop = !request.sorts()
        && request.limit > 0
        && request.max_bytes == 0
        && request.min_mod_revision == 0
        && request.max_mod_revision == 0
        && request.min_create_revision == 0
        && request.max_create_revision == 0;
    let mut count = 0u64;
    let mut kvs = Vec::new();
    for kv in live {
        count += 1;
        if request.count_only || !request.keeps(&kv) {
            continue;
        }
        if early_stop && kvs.len() > limit {
            continue;
        }
        kvs.push(kv);
    }
    if request.count_only {
        return RangeResponse {
            kvs: Vec::new(),
            more: false,
            count,
            revision,
        };
    }
    sort(&mut kvs, request);
    let mut more = false;
    if request.limit > 0 && kvs.len() > limit {
        kvs.truncate(limit);
        more = true;
    }
    if request.max_bytes > 0 {
        let fit = fitting(&kvs, request.max_bytes, request.keys_only);
        more |= fit < kvs.len();
        kvs.truncate(fit);
    }
    if request.keys_only {
        for kv in &mut kvs {
            kv.value = Bytes::new();
        }
    }
    RangeResponse {
        kvs,
        more,
        count,
        revision,
    }
}

/// How many leading kvs fit in `max_bytes` (at least one, if any).
fn fitting(kvs: &[KeyValue], max_bytes: u64, keys_only: bool) -> usize {
    let mut total = 0u64;
    for (index, kv) in kvs.iter().enumerate() {
        let size = kv.key.len() as u64 + if keys_only { 0 } else { kv.value.len() as u64 };
        total = total.saturating_add(size);
        if total > max_bytes {
            return index.max(1);
        }
    }
    kvs.len()
}

fn sort(kvs: &mut [KeyValue], request: &RangeRequest) {
    if !request.sorts() {
        if request.sort_order == SortOrder::Descend {
            kvs.reverse();
        }
        return;
    }
    match request.sort_target {
        SortTarget::Key => {}
        SortTarget::Version => kvs.sort_by_key(|kv| kv.version),
        SortTarget::Create => kvs.sort_by_key(|kv| kv.create_revision),
        SortTarget::Mod => kvs.sort_by_key(|kv| kv.mod_revision),
        SortTarget::Value => kvs.sort_by(|a, b| a.value.cmp(&b.value)),
    }
    if request.sort_order == SortOrder::Descend {
        kvs.reverse();
    }
}

impl KvStore {
    /// Answers a range read outside a txn.
    pub(super) fn range(&self, request: &RangeRequest) -> Result<RangeResponse, KvError> {
        let revision = self.readable_revision(request.revision)?;
        Ok(self.range_at(request, revision, revision))
    }

    /// Answers `request` from the view at `view`, reporting `reported`.
    pub(super) fn range_at(
        &self,
        request: &RangeRequest,
        view: u64,
        reported: u64,
    ) -> RangeResponse {
        answer_range(request, self.live_in(&request.range(), view), reported)
    }

    /// The live kvs in `range` at `revision`, in key order.
    pub(super) fn live_in<'a>(
        &'a self,
        range: &KeyRange,
        revision: u64,
    ) -> impl Iterator<Item = KeyValue> + 'a {
        let keys = range.bounds().map(|bounds| self.keys.range(bounds));
        keys.into_iter()
            .flatten()
            .filter_map(move |history| history.live_at(revision).map(|live| live.key_value()))
    }
}
