//! [`KvStore`]: the keys, values and revisions every node applies.
//!
//! The rules each command follows are on [`KvStore`], where users read
//! them; this states what the code keeps true.
//!
//! # Invariants
//! - Every key's revision is in `1..=cluster_revision`. Distinct keys have
//!   distinct revisions in every state `apply` builds (each write takes a
//!   fresh one); a restored backup is not checked for this, and nothing here
//!   relies on it.
//! - Every key is at most [`MAX_KEY_BYTES`] and every value at most
//!   [`MAX_VALUE_BYTES`] long, so every state can be backed up and restored.
//! - `bytes` is the sum of the lengths of every key and value.
//! - Applying the same commands to the same state gives the same state and
//!   responses: the map is ordered and nothing reads clocks or randomness.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::ops::Bound;

use bytes::Bytes;
use ordo::{Entry, StateMachine};

use super::backup::{BackupEncoder, MAX_KEY_BYTES, MAX_VALUE_BYTES, parse_backup};
use super::{KvAnswer, KvCommand, KvQuery, KvResponse, StoredValue};

/// The replicated key-value state machine: keys and values are bytes, kept in
/// byte order, each stamped with the revision of the write that set it.
///
/// # Rules
/// - **Put** without a condition: the cluster revision goes up by one and the
///   key gets the value, stamped with the new cluster revision; the answer is
///   [`KvResponse::Written`] with that revision.
/// - **Put** with `if_revision: Some(n)`: as above only if the key's current
///   revision is `n` (`0`: the key must not exist). Otherwise nothing changes
///   and the answer is [`KvResponse::CompareFailed`] with the key's current
///   revision (`0` if absent).
/// - **Delete**: if the key exists, it is removed and the cluster revision
///   goes up by one: [`KvResponse::Deleted`] `{ deleted: true, revision }`
///   with the new revision. If it does not, nothing changes:
///   `{ deleted: false, revision }` with the current cluster revision.
/// - **Refused puts**: a key over [`MAX_KEY_BYTES`] or a value over
///   [`MAX_VALUE_BYTES`] could not be backed up, so such a put changes nothing
///   and answers [`KvResponse::CompareFailed`] with the key's current revision.
///   The server is expected to refuse oversized writes before proposing them;
///   this is the backstop that keeps every state restorable.
/// - **Exhausted revisions**: once the cluster revision is `u64::MAX`, no
///   write changes anything (a put answers `CompareFailed`, a delete
///   `deleted: false`) rather than overflow.
///
/// Queries read without changing anything: [`KvQuery::Get`] answers the
/// value and the cluster revision; [`KvQuery::List`] up to `limit` keys with
/// the prefix in byte order, and whether more follow; [`KvQuery::Stats`] the
/// key count, key and value bytes and cluster revision; [`KvQuery::Backup`]
/// the whole state in the backup format, which [`snapshot`](Self::snapshot)
/// also writes and [`restore`](Self::restore) and
/// [`read_backup_summary`](super::read_backup_summary) read.
///
/// # Example
/// ```
/// use bytes::Bytes;
/// use ordo::{Entry, StateMachine};
/// use ordo_kv::store::{KvAnswer, KvCommand, KvQuery, KvResponse, KvStore, StoredValue};
///
/// let mut store = KvStore::new();
/// let put = |value: &'static str, if_revision| KvCommand::Put {
///     key: Bytes::from_static(b"color"),
///     value: Bytes::from_static(value.as_bytes()),
///     if_revision,
/// };
/// let entries = [put("red", None), put("blue", Some(7)), put("green", Some(1))]
///     .into_iter()
///     .zip(1..)
///     .map(|(command, index)| Entry { index, term: 1, command })
///     .collect();
/// assert_eq!(
///     store.apply(entries),
///     [
///         KvResponse::Written { revision: 1 },
///         KvResponse::CompareFailed { current: 1 },
///         KvResponse::Written { revision: 2 },
///     ]
/// );
/// assert_eq!(
///     store.query(KvQuery::Get { key: Bytes::from_static(b"color") }),
///     KvAnswer::Get {
///         value: Some(StoredValue { value: Bytes::from_static(b"green"), revision: 2 }),
///         cluster_revision: 2,
///     }
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvStore {
    /// Every key, in byte order. Keys and values are within the backup
    /// limits; revisions are in `1..=cluster_revision`.
    entries: BTreeMap<Bytes, StoredValue>,
    /// The revision of the last write; 0 before any.
    cluster_revision: u64,
    /// Sum of the lengths of every key and value in `entries`.
    bytes: u64,
}

impl KvStore {
    /// An empty store at cluster revision 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one command and answers it.
    pub fn apply_command(&mut self, command: KvCommand) -> KvResponse {
        match command {
            KvCommand::Put {
                key,
                value,
                if_revision,
            } => self.put(key, value, if_revision),
            KvCommand::Delete { key } => self.delete(&key),
        }
    }

    /// The value of `key`, if it exists.
    pub fn get(&self, key: &[u8]) -> Option<&StoredValue> {
        self.entries.get(key)
    }

    /// The revision of the last write; 0 before any.
    pub fn cluster_revision(&self) -> u64 {
        self.cluster_revision
    }

    /// Keys stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sum of the lengths of every key and value stored.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The whole state in the backup format, in one buffer.
    pub fn backup(&self) -> Bytes {
        let mut encoder = BackupEncoder::new(self.cluster_revision);
        for (key, versioned) in &self.entries {
            encoder.record(key, versioned);
        }
        Bytes::from(encoder.finish())
    }

    fn put(&mut self, key: Bytes, value: Bytes, if_revision: Option<u64>) -> KvResponse {
        let current = self
            .entries
            .get(&key)
            .map_or(0, |versioned| versioned.revision);
        let condition_holds = if_revision.is_none_or(|expected| expected == current);
        let fits = key.len() <= MAX_KEY_BYTES as usize && value.len() <= MAX_VALUE_BYTES as usize;
        let revision = match self.cluster_revision.checked_add(1) {
            Some(revision) if condition_holds && fits => revision,
            _ => return KvResponse::CompareFailed { current },
        };
        self.cluster_revision = revision;
        self.bytes += value.len() as u64;
        let key_len = key.len() as u64;
        match self.entries.insert(key, StoredValue { value, revision }) {
            Some(old) => self.bytes -= old.value.len() as u64,
            None => self.bytes += key_len,
        }
        KvResponse::Written { revision }
    }

    fn delete(&mut self, key: &[u8]) -> KvResponse {
        let Some(revision) = self.cluster_revision.checked_add(1) else {
            return KvResponse::Deleted {
                deleted: false,
                revision: self.cluster_revision,
            };
        };
        let Some(old) = self.entries.remove(key) else {
            return KvResponse::Deleted {
                deleted: false,
                revision: self.cluster_revision,
            };
        };
        self.cluster_revision = revision;
        self.bytes -= key.len() as u64 + old.value.len() as u64;
        KvResponse::Deleted {
            deleted: true,
            revision,
        }
    }

    fn list(&self, prefix: &[u8], limit: usize) -> KvAnswer {
        let mut matching = self
            .entries
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix));
        let items = matching
            .by_ref()
            .take(limit)
            .map(|(key, versioned)| (key.clone(), versioned.clone()))
            .collect();
        KvAnswer::List {
            items,
            more: matching.next().is_some(),
            cluster_revision: self.cluster_revision,
        }
    }

    fn stats(&self) -> KvAnswer {
        KvAnswer::Stats {
            keys: self.entries.len() as u64,
            bytes: self.bytes,
            cluster_revision: self.cluster_revision,
        }
    }
}

impl StateMachine for KvStore {
    type Command = KvCommand;
    type Response = KvResponse;
    type Query = KvQuery;
    type Answer = KvAnswer;

    fn apply(&mut self, entries: Vec<Entry<KvCommand>>) -> Vec<KvResponse> {
        entries
            .into_iter()
            .map(|entry| self.apply_command(entry.command))
            .collect()
    }

    fn query(&self, query: KvQuery) -> KvAnswer {
        match query {
            KvQuery::Get { key } => KvAnswer::Get {
                value: self.entries.get(&key).cloned(),
                cluster_revision: self.cluster_revision,
            },
            KvQuery::List { prefix, limit } => self.list(&prefix, limit),
            KvQuery::Backup => KvAnswer::Backup(self.backup()),
            KvQuery::Stats => self.stats(),
        }
    }

    /// Writes the backup format to `out`, one record at a time.
    fn snapshot(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut encoder = BackupEncoder::new(self.cluster_revision);
        for (key, versioned) in &self.entries {
            encoder.record(key, versioned);
            encoder.drain_to(out)?;
        }
        out.write_all(&encoder.finish())
    }

    /// Reads the backup format from `input` and replaces the whole state with
    /// it. On any error the state is unchanged.
    fn restore(&mut self, input: &mut dyn Read) -> io::Result<()> {
        let mut entries = BTreeMap::new();
        let summary = parse_backup(input, |key, versioned| {
            entries.insert(key, versioned);
        })?;
        *self = Self {
            entries,
            cluster_revision: summary.cluster_revision,
            bytes: summary.bytes,
        };
        Ok(())
    }
}
