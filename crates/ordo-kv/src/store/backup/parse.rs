//! Reading every format version into a [`RestoredState`], checking every
//! invariant the writer keeps before the store is touched.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Read;

use bytes::Bytes;

use super::reader::CheckedReader;
use super::{
    AUTH_TAG, BackupError, BackupSummary, END_TAG, FORMAT_VERSION, FORMAT_VERSION_1,
    FORMAT_VERSION_2, FORMAT_VERSION_3, KEY_TAG, LEASE_TAG, MAGIC, MAX_KEY_BYTES, MAX_VALUE_BYTES,
    NOT_CHECKPOINTED, RECORD_TAG,
};
use crate::auth::{AuthError, AuthState, MAX_AUTH_STATE_BYTES};
use crate::store::keys::{Key, Keys, WrittenKey};
use crate::store::lease_checkpoint::{Checkpointed, ttl_ms};
use crate::store::leases::Lease;
use crate::store::state::KvStore;
use crate::store::version::{Stamp, Version};
use crate::store::{CheckpointStamp, MAX_LEASE_TTL_SECONDS};

/// A whole state read from a backup, checked, not yet installed.
pub(crate) struct RestoredState {
    keys: Keys,
    leases: BTreeMap<i64, Lease>,
    summary: BackupSummary,
    next_lease_id: i64,
    auth: AuthState,
}

/// One record, handed out as soon as it is checked.
enum Item {
    Lease(LeaseRecord),
    Key(ReadHistory),
    Auth(AuthState),
}

/// One key's versions as read: the newest, and the older ones oldest first.
struct ReadHistory {
    current: Version,
    older: Vec<Version>,
}

/// Reads and checks a whole backup into a state to install.
pub(crate) fn parse_backup(input: &mut dyn Read) -> Result<RestoredState, BackupError> {
    // Collected in order, then bulk-built: a map built from sorted input has
    // full nodes, about half the memory of one grown key by key.
    let mut keys = Vec::new();
    let mut leases = BTreeMap::new();
    let mut auth = AuthState::default();
    let (summary, next_lease_id) = parse(input, |item| match item {
        Item::Auth(restored) => auth = restored,
        Item::Lease(LeaseRecord {
            id,
            ttl,
            checkpoint,
        }) => {
            leases.insert(
                id,
                Lease {
                    id,
                    ttl,
                    keys: BTreeSet::new(),
                    checkpoint,
                },
            );
        }
        Item::Key(history) => keys.push((history.current, history.older)),
    })?;
    Ok(RestoredState {
        keys: Keys::from_sorted(keys),
        leases,
        summary,
        next_lease_id,
        auth,
    })
}

/// Reads and checks a whole backup, keeping nothing but the counts.
pub(super) fn summarise(input: &mut dyn Read) -> Result<BackupSummary, BackupError> {
    parse(input, |_| {}).map(|(summary, _)| summary)
}

impl RestoredState {
    /// The store this state is: counters, lease attachments and change log
    /// rebuilt from the keys.
    pub(crate) fn into_store(self) -> KvStore {
        let mut store = KvStore::new();
        store.cluster_revision = self.summary.cluster_revision;
        store.compact_revision = self.summary.compact_revision;
        store.next_lease_id = self.next_lease_id;
        store.leases = self.leases;
        store.auth = std::sync::Arc::new(self.auth);
        let mut changes = Vec::new();
        for history in self.keys.iter() {
            for version in history.versions() {
                store.versions += 1;
                store.bytes += version.bytes();
                if version.mod_revision() > store.compact_revision {
                    changes.push((version.mod_revision(), WrittenKey(version.clone())));
                }
            }
            if let Some(live) = history.live() {
                store.live_keys += 1;
                store.live_bytes += live.bytes();
                store.attach(live.lease(), live.key());
            }
        }
        // A revision's writes in the order they were made; a backup without
        // sub-revisions (version 3 or older) leaves them in key order.
        changes.sort_unstable_by(|(revision, key), (other_revision, other_key)| {
            (revision, key.0.sub_revision(), key).cmp(&(
                other_revision,
                other_key.0.sub_revision(),
                other_key,
            ))
        });
        store.changes = VecDeque::from(changes);
        store.keys = self.keys;
        store
    }
}

/// Reads the whole backup, handing each checked record to `visit`; returns
/// the summary and the lease counter.
fn parse(
    input: &mut dyn Read,
    mut visit: impl FnMut(Item),
) -> Result<(BackupSummary, i64), BackupError> {
    let mut reader = CheckedReader::new(input);
    let (mut summary, next_lease_id) = read_header(&mut reader)?;
    let mut lease_ids = BTreeSet::new();
    let mut previous_key: Option<Key> = None;
    let mut records = 0u64;
    let mut auth_read = false;
    loop {
        let offset = reader.offset;
        let tag = reader.u8("record tag")?;
        match (summary.format_version, tag) {
            (_, END_TAG) => {
                // The auth record is optional: a store that never used auth
                // writes none, and restores with auth off.
                read_end(&mut reader, records)?;
                summary.leases = lease_ids.len() as u64;
                return Ok((summary, next_lease_id));
            }
            (FORMAT_VERSION_1, RECORD_TAG) => {
                let (key, history) = read_v1_record(&mut reader, records, &summary)?;
                check_order(previous_key.as_deref(), &key, records)?;
                count(&mut summary, &history);
                previous_key = Some(key);
                records += 1;
                visit(Item::Key(history));
            }
            (FORMAT_VERSION_3 | FORMAT_VERSION, AUTH_TAG) => {
                if auth_read || previous_key.is_some() {
                    return Err(bad_auth(
                        offset,
                        AuthError::BadField("auth record position".into()),
                    ));
                }
                let auth = read_auth(&mut reader, offset)?;
                summary.users = auth.users().len() as u64;
                summary.auth_enabled = auth.enabled();
                auth_read = true;
                visit(Item::Auth(auth));
            }
            (FORMAT_VERSION_2 | FORMAT_VERSION_3 | FORMAT_VERSION, LEASE_TAG) => {
                if auth_read || previous_key.is_some() {
                    return Err(bad_lease(
                        offset,
                        "a lease record follows a key or auth record",
                    ));
                }
                let lease = read_lease(&mut reader, offset, next_lease_id, &lease_ids)?;
                let lease = match summary.format_version {
                    FORMAT_VERSION_2 => lease,
                    _ => read_lease_checkpoint(&mut reader, offset, lease)?,
                };
                lease_ids.insert(lease.id);
                summary.checkpointed_leases += u64::from(lease.checkpoint.is_some());
                visit(Item::Lease(lease));
            }
            (FORMAT_VERSION_2 | FORMAT_VERSION_3 | FORMAT_VERSION, KEY_TAG) => {
                let (key, history) = read_key(&mut reader, records, &summary, &lease_ids)?;
                check_order(previous_key.as_deref(), &key, records)?;
                count(&mut summary, &history);
                previous_key = Some(key);
                records += 1;
                visit(Item::Key(history));
            }
            (_, tag) => return Err(BackupError::UnknownTag { tag, offset }),
        }
    }
}

fn count(summary: &mut BackupSummary, history: &ReadHistory) {
    summary.versions += history.older.len() as u64 + 1;
    if !history.current.is_tombstone() {
        summary.keys += 1;
        summary.bytes += history.current.bytes();
    }
}

fn bad_lease(offset: u64, reason: &'static str) -> BackupError {
    BackupError::BadLease { offset, reason }
}

fn bad_auth(offset: u64, reason: AuthError) -> BackupError {
    BackupError::BadAuth { offset, reason }
}

/// Reads the auth record after its tag.
fn read_auth(reader: &mut CheckedReader<'_>, offset: u64) -> Result<AuthState, BackupError> {
    let len = reader.u32("auth record")?;
    if len as usize > MAX_AUTH_STATE_BYTES {
        return Err(bad_auth(
            offset,
            AuthError::TooMany("bytes of auth state".into()),
        ));
    }
    let bytes = reader.bytes(len, "auth record")?;
    AuthState::decode(&bytes).map_err(|reason| bad_auth(offset, reason))
}

fn bad_history(record: u64, reason: &'static str) -> BackupError {
    BackupError::BadHistory { record, reason }
}

/// Reads the header; returns a summary with the header's fields and the
/// lease counter (1 for version 1).
fn read_header(reader: &mut CheckedReader<'_>) -> Result<(BackupSummary, i64), BackupError> {
    let mut magic = [0; MAGIC.len()];
    reader.exact(&mut magic, "header")?;
    if magic != MAGIC {
        return Err(BackupError::BadMagic);
    }
    let format_version = reader.u32("header")?;
    if !(FORMAT_VERSION_1..=FORMAT_VERSION).contains(&format_version) {
        return Err(BackupError::UnsupportedVersion {
            found: format_version,
            supported: FORMAT_VERSION,
        });
    }
    let cluster_revision = reader.u64("header")?;
    let mut summary = BackupSummary {
        format_version,
        keys: 0,
        bytes: 0,
        versions: 0,
        leases: 0,
        cluster_revision,
        compact_revision: 0,
        checkpointed_leases: 0,
        users: 0,
        auth_enabled: false,
    };
    if format_version == FORMAT_VERSION_1 {
        return Ok((summary, 1));
    }
    summary.compact_revision = reader.u64("header")?;
    let next_lease_id = reader.u64("header")? as i64;
    if summary.compact_revision > cluster_revision {
        return Err(BackupError::BadHeader {
            reason: "the compact revision is above the cluster revision",
        });
    }
    if next_lease_id < 1 {
        return Err(BackupError::BadHeader {
            reason: "the next lease id is not positive",
        });
    }
    Ok((summary, next_lease_id))
}

/// Reads a key (length checked) after its tag.
fn read_key_bytes(reader: &mut CheckedReader<'_>, record: u64) -> Result<Key, BackupError> {
    let len = reader.u32("key length")?;
    if len > MAX_KEY_BYTES {
        return Err(BackupError::KeyTooLong { record, len });
    }
    Ok(Key::from(&reader.bytes(len, "key")?[..]))
}

fn read_value(reader: &mut CheckedReader<'_>, record: u64) -> Result<Bytes, BackupError> {
    let len = reader.u32("value length")?;
    if len > MAX_VALUE_BYTES {
        return Err(BackupError::ValueTooLong { record, len });
    }
    reader.bytes(len, "value")
}

fn check_revision(record: u64, revision: u64, summary: &BackupSummary) -> Result<(), BackupError> {
    if revision == 0 || revision > summary.cluster_revision {
        return Err(BackupError::BadRevision {
            record,
            revision,
            cluster_revision: summary.cluster_revision,
        });
    }
    Ok(())
}

/// Reads one version 1 record after its tag.
fn read_v1_record(
    reader: &mut CheckedReader<'_>,
    record: u64,
    summary: &BackupSummary,
) -> Result<(Key, ReadHistory), BackupError> {
    let key = read_key_bytes(reader, record)?;
    let value = read_value(reader, record)?;
    let revision = reader.u64("revision")?;
    check_revision(record, revision, summary)?;
    let stamp = Stamp {
        create_revision: revision,
        mod_revision: revision,
        version: 1,
        lease: 0,
        sub_revision: 0,
    };
    let current = Version::put(&key, &value, stamp);
    let older = Vec::new();
    Ok((key, ReadHistory { current, older }))
}

/// A lease as a backup records it.
struct LeaseRecord {
    id: i64,
    ttl: i64,
    checkpoint: Option<Checkpointed>,
}

/// Reads the fields every lease record has (all of a version 2 one) after
/// its tag.
fn read_lease(
    reader: &mut CheckedReader<'_>,
    offset: u64,
    next_lease_id: i64,
    seen: &BTreeSet<i64>,
) -> Result<LeaseRecord, BackupError> {
    let id = reader.u64("lease")? as i64;
    let ttl = reader.u64("lease")? as i64;
    if !(1..next_lease_id).contains(&id) {
        return Err(bad_lease(offset, "the id is not in 1..next lease id"));
    }
    if seen.last().is_some_and(|last| *last >= id) {
        return Err(bad_lease(offset, "lease ids are not increasing"));
    }
    if !(1..=MAX_LEASE_TTL_SECONDS).contains(&ttl) {
        return Err(bad_lease(
            offset,
            "the ttl is outside 1..=MAX_LEASE_TTL_SECONDS",
        ));
    }
    Ok(LeaseRecord {
        id,
        ttl,
        checkpoint: None,
    })
}

/// Reads the checkpoint a version 3 lease record ends with.
fn read_lease_checkpoint(
    reader: &mut CheckedReader<'_>,
    offset: u64,
    lease: LeaseRecord,
) -> Result<LeaseRecord, BackupError> {
    let remaining_ms = reader.u64("lease")?;
    let stamp = CheckpointStamp {
        term: reader.u64("lease")?,
        sequence: reader.u64("lease")?,
    };
    if remaining_ms == NOT_CHECKPOINTED {
        if stamp != CheckpointStamp::default() {
            return Err(bad_lease(offset, "a lease never checkpointed has a stamp"));
        }
        return Ok(lease);
    }
    if remaining_ms > ttl_ms(lease.ttl) {
        return Err(bad_lease(offset, "the remaining time is above the ttl"));
    }
    let checkpoint = Some(Checkpointed {
        remaining_ms,
        stamp,
    });
    Ok(LeaseRecord {
        checkpoint,
        ..lease
    })
}

/// Reads one version 2 key record after its tag and checks its history.
fn read_key(
    reader: &mut CheckedReader<'_>,
    record: u64,
    summary: &BackupSummary,
    lease_ids: &BTreeSet<i64>,
) -> Result<(Key, ReadHistory), BackupError> {
    let key = read_key_bytes(reader, record)?;
    let count = reader.u32("version count")?;
    if count == 0 {
        return Err(bad_history(record, "a key with no version"));
    }
    let mut versions: Vec<Version> = Vec::new();
    for _ in 0..count {
        let version = read_version(reader, record, summary, &key)?;
        check_successor(record, versions.last(), &version, summary.compact_revision)?;
        versions.push(version);
    }
    let Some(current) = versions.pop() else {
        unreachable!("count >= 1 versions were read");
    };
    if current.lease() != 0 && !current.is_tombstone() && !lease_ids.contains(&current.lease()) {
        return Err(bad_history(
            record,
            "the live version names a lease not in the backup",
        ));
    }
    Ok((
        key,
        ReadHistory {
            current,
            older: versions,
        },
    ))
}

fn read_version(
    reader: &mut CheckedReader<'_>,
    record: u64,
    summary: &BackupSummary,
    key: &[u8],
) -> Result<Version, BackupError> {
    let mod_revision = reader.u64("version")?;
    check_revision(record, mod_revision, summary)?;
    let sub_revision = match summary.format_version {
        FORMAT_VERSION_2 | FORMAT_VERSION_3 => 0,
        _ => reader.u32("version")?,
    };
    let version = reader.u64("version")?;
    if version == 0 {
        return Ok(Version::tombstone(key, mod_revision, sub_revision));
    }
    let create_revision = reader.u64("version")?;
    let lease = reader.u64("version")? as i64;
    let value = read_value(reader, record)?;
    if create_revision == 0 || create_revision > mod_revision {
        return Err(bad_history(
            record,
            "create revision outside 1..=mod revision",
        ));
    }
    if lease < 0 {
        return Err(bad_history(record, "a negative lease"));
    }
    let stamp = Stamp {
        create_revision,
        mod_revision,
        version,
        lease,
        sub_revision,
    };
    Ok(Version::put(key, &value, stamp))
}

/// Checks that `next` can follow `previous` (`None`: it is the oldest).
fn check_successor(
    record: u64,
    previous: Option<&Version>,
    next: &Version,
    compact_revision: u64,
) -> Result<(), BackupError> {
    let Some(previous) = previous else {
        if next.mod_revision() <= compact_revision && next.is_tombstone() {
            return Err(bad_history(
                record,
                "a tombstone at or below the compact revision",
            ));
        }
        let fresh = next.version() == 1 && next.create_revision() != next.mod_revision();
        if fresh || (next.version() > 1 && next.create_revision() == next.mod_revision()) {
            return Err(bad_history(record, "version and create revision disagree"));
        }
        return Ok(());
    };
    if next.mod_revision() <= previous.mod_revision() {
        return Err(bad_history(record, "versions are not in revision order"));
    }
    if next.mod_revision() <= compact_revision {
        return Err(bad_history(
            record,
            "two versions at or below the compact revision",
        ));
    }
    let follows = match (previous.is_tombstone(), next.is_tombstone()) {
        (true, true) => false,
        (false, true) => true,
        (true, false) => next.version() == 1 && next.create_revision() == next.mod_revision(),
        (false, false) => {
            next.version() == previous.version() + 1
                && next.create_revision() == previous.create_revision()
        }
    };
    if !follows {
        return Err(bad_history(
            record,
            "a version does not follow the one before it",
        ));
    }
    Ok(())
}

/// Checks that `key` sorts strictly after the previous record's key.
fn check_order(previous: Option<&[u8]>, key: &[u8], record: u64) -> Result<(), BackupError> {
    match previous.map(|previous| previous.cmp(key)) {
        None | Some(std::cmp::Ordering::Less) => Ok(()),
        Some(std::cmp::Ordering::Equal) => Err(BackupError::DuplicateKey { record }),
        Some(std::cmp::Ordering::Greater) => Err(BackupError::KeyOutOfOrder { record }),
    }
}

/// Reads the end marker after its tag, then checks that the input ends.
fn read_end(reader: &mut CheckedReader<'_>, records_read: u64) -> Result<(), BackupError> {
    let declared = reader.u64("end marker")?;
    let computed = reader.crc;
    let stored = reader.u32("checksum")?;
    if stored != computed {
        return Err(BackupError::ChecksumMismatch { stored, computed });
    }
    if declared != records_read {
        return Err(BackupError::RecordCountMismatch {
            declared,
            found: records_read,
        });
    }
    reader.expect_end()
}
