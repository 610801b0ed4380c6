//! [`KvStore`]: the multi-version keys, leases and change log every node
//! applies, and the dispatch of commands and queries.
//!
//! # Invariants
//! - Every version's `mod_revision` is in `1..=cluster_revision`; every key
//!   written by one applied command carries that command's one revision.
//! - Every version with `mod_revision > compact_revision` is retained, and so
//!   is, per key, the newest version at or below it unless it is a tombstone:
//!   exactly what a read at any revision `>= compact_revision` needs.
//! - `changes` holds one `(revision, key)` per retained version with
//!   `mod_revision > compact_revision`, ordered by revision, then
//!   sub-revision (the order written), then key (sub-revisions tie only in
//!   a store restored from a backup without them).
//! - A live key's lease is 0 or a lease in `leases` whose `keys` holds it;
//!   every key in a lease's `keys` is live and attached to it.
//! - `next_lease_id` is above every lease id ever granted.
//! - The counters (`live_keys`, `versions`, `bytes`, `live_bytes`) are the
//!   sums they name over the maps.
//! - Every key is at most [`MAX_KEY_BYTES`] and every value at most
//!   [`MAX_VALUE_BYTES`] long, so every state can be backed up and restored.
//! - `auth` passes [`AuthState::validate`]; auth commands change nothing
//!   else.
//! - Applying the same commands to the same state gives the same state and
//!   responses: maps are ordered and nothing reads clocks or randomness. The
//!   observer only receives.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io::{self, Read, Write};
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use ordo::{Entry, StateMachine};

use crate::auth::{AuthCommand, AuthState};

use super::backup::{BackupEncoder, MAX_KEY_BYTES, MAX_VALUE_BYTES, RestoredState, parse_backup};
use super::changes::{BothObservers, ChangeObserver};
use super::keys::{Keys, WrittenKey};
use super::leases::Lease;
use super::{KvAnswer, KvCommand, KvError, KvQuery, KvResponse, KvStats, StoredValue};

/// The replicated key-value state machine: etcd v3's multi-version model
/// (see the [module docs](super) for the model).
///
/// # Rules
/// - **Put** (legacy, [`KvCommand::Put`]) without a condition: the cluster
///   revision goes up by one and the key gets the value (and no lease),
///   stamped with it; the answer is [`KvResponse::Written`] with that
///   revision. With `if_revision: Some(n)`: only if the key's `mod_revision`
///   is `n` (`0`: the key must not exist); otherwise nothing changes and the
///   answer is [`KvResponse::CompareFailed`] with the key's current
///   `mod_revision` (`0` if absent).
/// - **Delete** (legacy): if the key exists, it is removed at the next
///   revision: `{ deleted: true, revision }`. If not, nothing changes:
///   `{ deleted: false, revision }` with the current revision.
/// - **Txn**: etcd's rules; see [`TxnRequest`](super::TxnRequest).
/// - **Leases**: see [`KvCommand::LeaseGrant`] and [`KvCommand::LeaseRevoke`].
/// - **Compact**: see [`KvCommand::Compact`] and `compaction.rs`.
/// - **Lease checkpoints**: see [`KvCommand::LeaseCheckpoint`] and
///   `lease_checkpoint.rs`.
/// - **Refused puts**: a key over [`MAX_KEY_BYTES`] or a value over
///   [`MAX_VALUE_BYTES`] could not be backed up: a legacy put answers
///   [`KvResponse::CompareFailed`], a txn [`KvError::KeyTooLong`] or
///   [`KvError::ValueTooLong`], and nothing changes. The server is expected
///   to refuse oversized writes before proposing them; this is the backstop.
/// - **Empty keys**: a put, a delete or a txn with a compare, put or
///   delete of the empty key is refused whole with [`KvError::EmptyKey`]
///   (etcd's "key is not provided"); the server refuses them first.
/// - **Exhausted revisions**: once the cluster revision is `u64::MAX`, no
///   write changes anything (a put answers `CompareFailed`, a delete
///   `deleted: false`, a txn that writes [`KvError::RevisionsExhausted`]).
///
/// Queries read without changing anything. [`KvQuery::Get`] and
/// [`KvQuery::List`] read the current state; [`KvQuery::Range`] any retained
/// revision; [`KvQuery::Changes`] the events since a revision;
/// [`KvQuery::Stats`] the counters. The whole state is never a query (it
/// would hold the apply stage and copy the store): [`snapshot`](Self::snapshot)
/// streams it in the backup format, which [`restore`](Self::restore) and
/// [`read_backup_summary`](super::read_backup_summary) read, and a node's
/// backups are its snapshot files (`server/backup.rs`).
///
/// Equality compares the state only, not the observer.
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvStore {
    /// Every key with a retained version, in byte order.
    pub(super) keys: Keys,
    /// `(revision, key)` of every retained version after the compact
    /// revision, in revision then sub-revision order.
    pub(super) changes: VecDeque<(u64, WrittenKey)>,
    /// Leases by id.
    pub(super) leases: BTreeMap<i64, Lease>,
    /// The id the store assigns to the next grant asking for id 0.
    pub(super) next_lease_id: i64,
    /// The revision of the last write; 0 before any.
    pub(super) cluster_revision: u64,
    /// Reads below this revision are refused; 0 if never compacted.
    pub(super) compact_revision: u64,
    /// Keys whose newest version is live.
    pub(super) live_keys: u64,
    /// Versions retained.
    pub(super) versions: u64,
    /// Key and value bytes of every retained version.
    pub(super) bytes: u64,
    /// Key and value bytes of the live versions.
    pub(super) live_bytes: u64,
    /// Users, roles and the auth switch; shared with the observer, copied
    /// on change.
    pub(super) auth: Arc<AuthState>,
    /// Who hears about applied changes; not state.
    pub(super) observer: ObserverSlot,
}

/// The optional observer, left out of equality and shown by presence only.
#[derive(Clone, Default)]
pub(super) struct ObserverSlot(pub(super) Option<Arc<dyn ChangeObserver>>);

impl fmt::Debug for ObserverSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let present = if self.0.is_some() { "Some(..)" } else { "None" };
        f.write_str(present)
    }
}

impl PartialEq for ObserverSlot {
    /// Always equal: the observer is not state.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for ObserverSlot {}

impl Default for KvStore {
    /// An empty store at cluster revision 0 (the same as [`KvStore::new`]).
    fn default() -> Self {
        Self::new()
    }
}

impl KvStore {
    /// An empty store at cluster revision 0.
    pub fn new() -> Self {
        Self {
            keys: Keys::default(),
            changes: VecDeque::new(),
            leases: BTreeMap::new(),
            next_lease_id: 1,
            cluster_revision: 0,
            compact_revision: 0,
            live_keys: 0,
            versions: 0,
            bytes: 0,
            live_bytes: 0,
            auth: Arc::default(),
            observer: ObserverSlot::default(),
        }
    }

    /// This store, telling `observer` about every change it applies from now
    /// on (a clone of the store shares the observer). Observers given by
    /// earlier calls keep listening: each is told, in the order given.
    pub fn with_observer(mut self, observer: Arc<dyn ChangeObserver>) -> Self {
        let composed: Arc<dyn ChangeObserver> = match self.observer.0.take() {
            Some(first) => Arc::new(BothObservers {
                first,
                second: observer,
            }),
            None => observer,
        };
        self.observer = ObserverSlot(Some(composed));
        self
    }

    /// Tells the observer the counters as they are now.
    fn report_stats(&self) {
        if let Some(observer) = &self.observer.0 {
            observer.stats(&self.stats());
        }
    }

    /// Applies one command and answers it.
    pub fn apply_command(&mut self, command: KvCommand) -> KvResponse {
        match command {
            KvCommand::Put {
                key,
                value,
                if_revision,
            } => self.legacy_put(key, value, if_revision),
            KvCommand::Delete { key } => self.legacy_delete(key),
            KvCommand::Txn(request) => match self.txn(&request) {
                Ok(response) => KvResponse::Txn(response),
                Err(error) => KvResponse::Refused(error),
            },
            KvCommand::LeaseGrant { id, ttl } => match self.lease_grant(id, ttl) {
                Ok(id) => KvResponse::LeaseGranted { id, ttl },
                Err(error) => KvResponse::Refused(error),
            },
            KvCommand::LeaseRevoke { id } => match self.lease_revoke(id) {
                Ok(deleted) => KvResponse::LeaseRevoked {
                    deleted,
                    revision: self.cluster_revision,
                },
                Err(error) => KvResponse::Refused(error),
            },
            KvCommand::Compact { revision } => match self.compact(revision) {
                Ok(()) => KvResponse::Compacted { revision },
                Err(error) => KvResponse::Refused(error),
            },
            KvCommand::Auth(command) => self.apply_auth(command),
            KvCommand::LeaseCheckpoint(checkpoint) => KvResponse::LeaseCheckpointed {
                recorded: self.lease_checkpoint(&checkpoint),
            },
        }
    }

    /// The auth state (users, roles, the auth switch).
    pub fn auth(&self) -> &Arc<AuthState> {
        &self.auth
    }

    fn apply_auth(&mut self, command: AuthCommand) -> KvResponse {
        match Arc::make_mut(&mut self.auth).apply(command) {
            Ok(auth_revision) => {
                self.report_auth();
                KvResponse::AuthChanged { auth_revision }
            }
            Err(error) => KvResponse::Refused(KvError::Auth(error)),
        }
    }

    /// Tells the observer the auth state as it is now.
    fn report_auth(&self) {
        if let Some(observer) = &self.observer.0 {
            observer.auth_changed(&self.auth);
        }
    }

    /// The current value of `key`, if it exists.
    pub fn get(&self, key: &[u8]) -> Option<StoredValue> {
        let live = self.keys.get(key)?.live()?;
        Some(StoredValue {
            value: live.value_bytes(),
            revision: live.mod_revision(),
        })
    }

    /// The revision of the last write; 0 before any.
    pub fn cluster_revision(&self) -> u64 {
        self.cluster_revision
    }

    /// The compact revision: reads below it are refused; 0 if never compacted.
    pub fn compact_revision(&self) -> u64 {
        self.compact_revision
    }

    /// Live keys.
    pub fn len(&self) -> usize {
        self.live_keys as usize
    }

    /// Whether no key is live.
    pub fn is_empty(&self) -> bool {
        self.live_keys == 0
    }

    /// Key and value bytes of the live keys.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    /// The counters for metrics and the quota.
    pub fn stats(&self) -> KvStats {
        KvStats {
            keys: self.live_keys,
            versions: self.versions,
            bytes: self.bytes,
            live_bytes: self.live_bytes,
            cluster_revision: self.cluster_revision,
            compact_revision: self.compact_revision,
            leases: self.leases.len() as u64,
        }
    }

    /// The whole state in the backup format, in one buffer: for tests and
    /// tools holding a store of their own. A node never calls it (its
    /// backups stream from its snapshot files).
    pub fn backup(&self) -> Bytes {
        let mut out = Vec::new();
        self.write_backup(&mut out)
            .unwrap_or_else(|error| unreachable!("writing to a Vec cannot fail: {error}"));
        Bytes::from(out)
    }

    /// Checks that `revision` (0: the current one) can be read, and resolves it.
    pub(super) fn readable_revision(&self, revision: u64) -> Result<u64, KvError> {
        if revision == 0 {
            return Ok(self.cluster_revision);
        }
        if revision > self.cluster_revision {
            return Err(KvError::FutureRevision {
                revision,
                current_revision: self.cluster_revision,
            });
        }
        if revision < self.compact_revision {
            return Err(KvError::Compacted {
                revision,
                compact_revision: self.compact_revision,
            });
        }
        Ok(revision)
    }

    fn write_backup(&self, out: &mut dyn Write) -> io::Result<()> {
        let with_auth = !self.auth.is_pristine();
        let mut encoder = BackupEncoder::new(
            self.cluster_revision,
            self.compact_revision,
            self.next_lease_id,
        );
        for lease in self.leases.values() {
            encoder.lease(lease.id, lease.ttl, lease.checkpoint);
        }
        if with_auth {
            encoder.auth(&self.auth);
        }
        encoder.drain_to(out)?;
        for history in self.keys.iter() {
            encoder.key(&history);
            encoder.drain_to(out)?;
        }
        out.write_all(&encoder.finish())
    }

    fn legacy_put(&mut self, key: Bytes, value: Bytes, if_revision: Option<u64>) -> KvResponse {
        if key.is_empty() {
            return KvResponse::Refused(KvError::EmptyKey);
        }
        let current = self.get(&key).map_or(0, |stored| stored.revision);
        let condition_holds = if_revision.is_none_or(|expected| expected == current);
        let fits = key.len() <= MAX_KEY_BYTES as usize && value.len() <= MAX_VALUE_BYTES as usize;
        if !condition_holds || !fits || self.cluster_revision == u64::MAX {
            return KvResponse::CompareFailed { current };
        }
        let mut write = self.begin_write();
        write.put(self, &key, value, 0, false);
        KvResponse::Written {
            revision: self.finish_write(write),
        }
    }

    fn legacy_delete(&mut self, key: Bytes) -> KvResponse {
        if key.is_empty() {
            return KvResponse::Refused(KvError::EmptyKey);
        }
        if self.cluster_revision == u64::MAX {
            return KvResponse::Deleted {
                deleted: false,
                revision: self.cluster_revision,
            };
        }
        let mut write = self.begin_write();
        let deleted = write.delete(self, &key, None);
        KvResponse::Deleted {
            deleted,
            revision: self.finish_write(write),
        }
    }

    fn list(&self, prefix: &[u8], limit: usize) -> KvAnswer {
        let mut matching = self
            .keys
            .range((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|history| history.key().starts_with(prefix))
            .filter_map(|history| history.live());
        let items = matching
            .by_ref()
            .take(limit)
            .map(|live| {
                let stored = StoredValue {
                    value: live.value_bytes(),
                    revision: live.mod_revision(),
                };
                (Bytes::copy_from_slice(live.key()), stored)
            })
            .collect();
        KvAnswer::List {
            items,
            more: matching.next().is_some(),
            cluster_revision: self.cluster_revision,
        }
    }

    fn lease_answer(&self, id: i64) -> KvAnswer {
        match self.lease_info(id) {
            Ok(info) => KvAnswer::Lease(info),
            Err(error) => KvAnswer::Refused(error),
        }
    }

    /// Replaces the whole state with a restored one, keeping the observer.
    fn install(&mut self, restored: RestoredState) {
        let observer = std::mem::take(&mut self.observer);
        *self = restored.into_store();
        self.observer = observer;
        if let Some(observer) = &self.observer.0 {
            observer.restored(self.cluster_revision, self.compact_revision);
        }
        self.report_stats();
        self.report_auth();
    }
}

impl StateMachine for KvStore {
    type Command = KvCommand;
    type Response = KvResponse;
    type Query = KvQuery;
    type Answer = KvAnswer;

    fn apply(&mut self, entries: Vec<Entry<KvCommand>>) -> Vec<KvResponse> {
        let responses = entries
            .into_iter()
            .map(|entry| self.apply_command(entry.command))
            .collect();
        self.report_stats();
        responses
    }

    fn query(&self, query: KvQuery) -> KvAnswer {
        match query {
            KvQuery::Get { key } => KvAnswer::Get {
                value: self.get(&key),
                cluster_revision: self.cluster_revision,
            },
            KvQuery::List { prefix, limit } => self.list(&prefix, limit),
            KvQuery::Range(request) => match self.range(&request) {
                Ok(response) => KvAnswer::Range(response),
                Err(error) => KvAnswer::Refused(error),
            },
            KvQuery::Changes {
                range,
                from_revision,
                max_events,
            } => match self.changes_since(&range, from_revision, max_events) {
                Ok(changes) => KvAnswer::Changes(changes),
                Err(error) => KvAnswer::Refused(error),
            },
            KvQuery::Lease { id } => self.lease_answer(id),
            KvQuery::Leases => KvAnswer::Leases(self.lease_list()),
            KvQuery::LeaseTimes => KvAnswer::LeaseTimes(self.lease_times()),
            KvQuery::Stats => KvAnswer::Stats(self.stats()),
            KvQuery::Auth => KvAnswer::Auth(Arc::clone(&self.auth)),
            KvQuery::ReadTxn(txn) => match self.read_txn(&txn) {
                Ok(response) => KvAnswer::Txn(response),
                Err(error) => KvAnswer::Refused(error),
            },
            KvQuery::Hash { revision } => match self.hash_at(revision) {
                Ok(hash) => KvAnswer::Hash(hash),
                Err(error) => KvAnswer::Refused(error),
            },
        }
    }

    /// Writes the backup format to `out`, one key at a time.
    fn snapshot(&self, out: &mut dyn Write) -> io::Result<()> {
        self.write_backup(out)
    }

    /// Reads the backup format from `input` and replaces the whole state with
    /// it. On any error the state is unchanged.
    fn restore(&mut self, input: &mut dyn Read) -> io::Result<()> {
        let restored = parse_backup(input)?;
        self.install(restored);
        Ok(())
    }
}
