//! Writes a handful of valid inputs per fuzz target into
//! `CORPUS_DIR/TARGET/seed-NN` (see `tools/fuzz.sh seeds`). Each is made by
//! the real encoder (or, for formats only older builds wrote, by hand from
//! the documented layout), so the fuzzer starts past the magic numbers and
//! checksums. Deterministic: running it again writes the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::PathBuf;

use bytes::Bytes;
use ordo::StateMachine;
use ordo::storage::{Durability, LogStore, SnapshotStore, WalConfig, WalLogStore};
use ordo::transport::ClusterId;
use ordo::transport::codec::handshake::{
    Hello, LocalIdentity, Refusal, RefusalReason, Reply, Welcome,
};
use ordo::transport::codec::{self, FrameBatch};
use ordo_core::{
    AppendRequest, AppendResponse, Entry, EntryPayload, HardState, Heartbeat,
    InstallSnapshotRequest, Membership, Message, MessageBody, SnapshotContent, SnapshotMeta,
    VoteRequest, VoteResponse,
};
use ordo_kv::store::{KvCommand, KvStore};
use serde::Serialize;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let corpus = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: ordo-fuzz-seeds CORPUS_DIR")?,
    );
    let mut seeds = Seeds { corpus };
    seeds.write(
        "transport_message",
        messages().iter().map(|m| codec::encode(m).to_vec()),
    )?;
    seeds.write("transport_handshake", handshakes()?)?;
    seeds.write("transport_frames_split", frame_streams()?)?;
    seeds.write("runtime_envelope", envelopes()?)?;
    seeds.write("kv_command", commands()?)?;
    seeds.write("wal_records", wal_records()?)?;
    seeds.write("wal_segment", wal_segments()?)?;
    seeds.write("snapshot_files", snapshot_files()?)?;
    seeds.write("kv_backup", backups()?)?;
    seeds.write("member_address", member_addresses())?;
    seeds.write("http_bodies", http_bodies())?;
    seeds.write("auth_token", auth_tokens())?;
    Ok(())
}

struct Seeds {
    corpus: PathBuf,
}

impl Seeds {
    /// Replaces the target's seeds with `inputs`.
    fn write(&mut self, target: &str, inputs: impl IntoIterator<Item = Vec<u8>>) -> Result<()> {
        let dir = self.corpus.join(target);
        fs::create_dir_all(&dir)?;
        for old in fs::read_dir(&dir)? {
            let old = old?.path();
            if old
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"))
            {
                fs::remove_file(old)?;
            }
        }
        for (number, input) in inputs.into_iter().enumerate() {
            fs::write(dir.join(format!("seed-{number:02}")), input)?;
        }
        Ok(())
    }
}

fn membership(voters: &[u64], learners: &[u64]) -> Membership {
    Membership {
        voters: voters.iter().copied().collect(),
        outgoing_voters: BTreeSet::new(),
        learners: learners.iter().copied().collect(),
    }
}

fn entries() -> Vec<Entry> {
    vec![
        Entry::noop(1, 1),
        Entry::command(2, 1, b"\x00put a 1".to_vec()),
        Entry {
            index: 3,
            term: 2,
            payload: EntryPayload::Membership(membership(&[1, 2, 3], &[4])),
        },
        Entry::command(4, 2, vec![7u8; 40]),
    ]
}

fn messages() -> Vec<Message> {
    let message = |body| Message {
        from: 1,
        to: 2,
        term: 3,
        body,
    };
    let vote = VoteRequest {
        last_log_index: 9,
        last_log_term: 2,
        leadership_transfer: true,
    };
    vec![
        message(MessageBody::PreVote(vote.clone())),
        message(MessageBody::VoteResponse(VoteResponse { granted: true })),
        message(MessageBody::Append(AppendRequest {
            prev_log_index: 0,
            prev_log_term: 0,
            entries: entries(),
            leader_commit: 2,
        })),
        message(MessageBody::AppendResponse(AppendResponse::Accepted {
            match_index: 4,
        })),
        message(MessageBody::Heartbeat(Heartbeat {
            commit: 4,
            round: 17,
        })),
        message(MessageBody::InstallSnapshot(InstallSnapshotRequest {
            meta: SnapshotMeta {
                index: 10,
                term: 2,
                membership: membership(&[1, 2, 3], &[]),
            },
            content: SnapshotContent {
                data_bytes: 5,
                crc32c: 0x1234_5678,
            },
            offset: 0,
            data: Bytes::from_static(b"hello"),
            done: true,
        })),
        message(MessageBody::TimeoutNow),
    ]
}

fn local(node_id: u64) -> Result<LocalIdentity> {
    Ok(LocalIdentity {
        cluster_id: ClusterId::new("ordo")?,
        node_id,
    })
}

fn handshakes() -> Result<Vec<Vec<u8>>> {
    let hello = Hello::new(&local(2)?, 1);
    let welcome = Welcome {
        cluster_id: ClusterId::new("ordo")?,
        node_id: 2,
        version: codec::PROTOCOL_VERSION,
    };
    let refusal = Refusal {
        reason: RefusalReason::UnknownNode,
        detail: "node 9 is not a peer of node 1".to_string(),
    };
    Ok(vec![
        hello.encode().to_vec(),
        Reply::Welcome(welcome).encode().to_vec(),
        Reply::Refusal(refusal).encode().to_vec(),
    ])
}

/// `count` read sizes, `flags`, then a stream: a hello frame, a keepalive
/// and every message frame.
fn frame_streams() -> Result<Vec<Vec<u8>>> {
    let mut batch = FrameBatch::new();
    batch.push_payload(&Hello::new(&local(2)?, 1).encode(), 512)?;
    batch.push_keepalive();
    for message in messages() {
        batch.push_message(&message, 1 << 20)?;
    }
    let stream: Vec<u8> = batch
        .take_chunks()
        .iter()
        .flat_map(|c| c.to_vec())
        .collect();
    let mut seeds = Vec::new();
    for (sizes, flags) in [(&[][..], 0u8), (&[1u16, 3, 7][..], 0), (&[5u16][..], 4)] {
        let mut input = vec![sizes.len() as u8];
        sizes
            .iter()
            .for_each(|size| input.extend_from_slice(&size.to_le_bytes()));
        input.push(flags);
        input.extend_from_slice(&stream);
        seeds.push(input);
    }
    // A large frame (64 KiB + 40) spliced in after 4 bytes, then cut by 9.
    let mut large = vec![2, 0xff, 0x0f, 0x00, 0x10, 1];
    for field in [10u16, 4, 9] {
        large.extend_from_slice(&field.to_le_bytes());
    }
    large.extend_from_slice(&stream[..stream.len().min(200)]);
    seeds.push(large);
    Ok(seeds)
}

/// What builds before member information logged (tag 1, postcard).
#[derive(Serialize)]
enum LegacyEntry {
    Addresses(BTreeMap<u64, String>),
}

fn members_json() -> serde_json::Value {
    let info = ordo::MemberInfo::new("http://10.0.0.1:8001")
        .with_peer_address("10.0.0.1:9001")
        .with_label("zone", "a");
    serde_json::json!({ "members": { "1": info, "2": ordo::MemberInfo::new("http://h2:8002") } })
}

fn envelopes() -> Result<Vec<Vec<u8>>> {
    let mut members = vec![2u8];
    members.extend(serde_json::to_vec(&members_json())?);
    let legacy = LegacyEntry::Addresses(BTreeMap::from([
        (
            1,
            "peer=10.0.0.1:9001 client=http://10.0.0.1:8001".to_string(),
        ),
        (2, "http://h2:8002".to_string()),
    ]));
    let mut legacy_entry = vec![1u8];
    legacy_entry.extend(postcard::to_allocvec(&legacy)?);
    let mut command = vec![0u8];
    command.extend(postcard::to_allocvec(&put(b"k", b"v"))?);
    // The snapshot data header: magic, JSON length u32 LE, JSON, then data.
    let header_json = serde_json::to_vec(&members_json())?;
    let mut snapshot = b"ORDORTS1".to_vec();
    snapshot.extend_from_slice(&(header_json.len() as u32).to_le_bytes());
    snapshot.extend_from_slice(&header_json);
    snapshot.extend_from_slice(b"state machine bytes");
    Ok(vec![members, legacy_entry, command, snapshot])
}

fn put(key: &[u8], value: &[u8]) -> KvCommand {
    KvCommand::Put {
        key: Bytes::copy_from_slice(key),
        value: Bytes::copy_from_slice(value),
        if_revision: None,
    }
}

fn kv_commands() -> Vec<KvCommand> {
    vec![
        put(b"a", b"1"),
        KvCommand::Put {
            key: Bytes::from_static(b"a"),
            value: Bytes::from_static(b"2"),
            if_revision: Some(2),
        },
        KvCommand::Delete {
            key: Bytes::from_static(b"b"),
        },
        KvCommand::LeaseGrant { id: 7, ttl: 30 },
        KvCommand::LeaseRevoke { id: 7 },
        KvCommand::Compact { revision: 2 },
        KvCommand::Txn(Default::default()),
    ]
}

fn commands() -> Result<Vec<Vec<u8>>> {
    kv_commands()
        .iter()
        .map(|command| Ok(postcard::to_allocvec(command)?))
        .collect()
}

fn wal_config() -> WalConfig {
    WalConfig {
        segment_size_bytes: 4 << 10,
        durability: Durability::Never,
        ..WalConfig::default()
    }
}

/// The segment files of a small log: entries, a hard state, a truncation
/// and (with `cluster_id`) a version 2 header.
fn wal_files(cluster_id: Option<&str>) -> Result<Vec<Vec<u8>>> {
    let dir = tempfile::tempdir()?;
    {
        let config = WalConfig {
            cluster_id: cluster_id.map(str::to_string),
            ..wal_config()
        };
        let store = WalLogStore::open(dir.path(), config)?;
        store.append(&entries())?;
        store.save_hard_state(HardState {
            term: 2,
            voted_for: Some(1),
        })?;
        store.truncate(4)?;
        store.append(&[Entry::command(4, 3, b"again".to_vec())])?;
        store.sync()?;
    }
    let mut paths: Vec<PathBuf> = fs::read_dir(dir.path())?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<std::io::Result<_>>()?;
    paths.retain(|path| path.extension().is_some_and(|ext| ext == "wal"));
    paths.sort();
    paths.iter().map(|path| Ok(fs::read(path)?)).collect()
}

fn wal_records() -> Result<Vec<Vec<u8>>> {
    let mut seeds = Vec::new();
    for segment in wal_files(Some("ordo"))?.into_iter().chain(wal_files(None)?) {
        for flags in [0u8, 1] {
            let mut input = vec![flags];
            input.extend_from_slice(&segment);
            seeds.push(input);
        }
    }
    seeds.truncate(4);
    Ok(seeds)
}

fn wal_segments() -> Result<Vec<Vec<u8>>> {
    let mut seeds = Vec::new();
    for cluster_id in [Some("ordo"), None] {
        let files = wal_files(cluster_id)?;
        let Some(first) = files.first() else {
            return Err("the log wrote no segment".into());
        };
        let mut one = vec![0u8];
        one.extend_from_slice(first);
        seeds.push(one);
        if let [first, second, ..] = &files[..] {
            let mut two = vec![1u8];
            two.extend_from_slice(&(first.len() as u16).to_le_bytes());
            two.extend_from_slice(first);
            two.extend_from_slice(second);
            seeds.push(two);
        }
    }
    Ok(seeds)
}

/// `flags`, snapshot length u16, partial length u16, then the files.
fn snapshot_files() -> Result<Vec<Vec<u8>>> {
    let dir = tempfile::tempdir()?;
    let meta = SnapshotMeta {
        index: 5,
        term: 2,
        membership: membership(&[1, 2, 3], &[]),
    };
    let data = b"the state machine's bytes".to_vec();
    let store = SnapshotStore::open(dir.path())?;
    let mut writer = store.create(meta.clone())?;
    writer.write_all(&data)?;
    writer.finish()?;
    let snapshot = fs::read(
        dir.path()
            .join("snap-00000000000000000005-00000000000000000002.snap"),
    )?;
    let content = SnapshotContent {
        data_bytes: data.len() as u64,
        crc32c: crc32c(&data),
    };
    let newer = SnapshotMeta { index: 9, ..meta };
    let mut incoming = store.create_incoming(newer, content)?;
    incoming.append(0, &data[..10])?;
    incoming.append(10, &data[10..])?;
    drop(incoming);
    let partial = fs::read(dir.path().join("incoming.snap.partial"))?;
    let progress = fs::read(dir.path().join("incoming.snap.progress"))?;
    let input = |flags: u8| {
        let mut input = vec![flags];
        input.extend_from_slice(&(snapshot.len() as u16).to_le_bytes());
        input.extend_from_slice(&(partial.len() as u16).to_le_bytes());
        input.extend_from_slice(&snapshot);
        input.extend_from_slice(&partial);
        input.extend_from_slice(&progress);
        input
    };
    Ok(vec![input(1), input(2), input(3), input(7)])
}

fn crc32c(bytes: &[u8]) -> u32 {
    // CRC32C (Castagnoli), bitwise: seeds only, so speed does not matter.
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn backups() -> Result<Vec<Vec<u8>>> {
    let mut store = KvStore::new();
    let empty = store.backup().to_vec();
    for command in [
        KvCommand::LeaseGrant { id: 7, ttl: 30 },
        put(b"a", b"1"),
        put(b"b", b"2"),
        put(b"a", b"3"),
        KvCommand::Delete {
            key: Bytes::from_static(b"b"),
        },
        put(b"c", b"4"),
        KvCommand::Compact { revision: 2 },
    ] {
        let _ = store.apply_command(command);
    }
    let full = store.backup().to_vec();
    // Restore what we wrote, to be sure the seed is valid.
    KvStore::new().restore(&mut &full[..])?;
    Ok(vec![empty, full, version_1_backup()])
}

/// A version 1 backup, from the layout documented on `read_backup_summary`:
/// magic, version u32, cluster revision u64, then records and the end.
fn version_1_backup() -> Vec<u8> {
    let mut out = b"ORDOKV01".to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&3u64.to_le_bytes());
    let mut records = 0u64;
    for (key, value, revision) in [(&b"a"[..], &b"1"[..], 1u64), (b"b", b"22", 3)] {
        out.push(b'R');
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
        out.extend_from_slice(&revision.to_le_bytes());
        records += 1;
    }
    out.push(b'E');
    out.extend_from_slice(&records.to_le_bytes());
    let crc = crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn member_addresses() -> Vec<Vec<u8>> {
    let info = ordo::MemberInfo::new("http://10.0.0.1:8001").with_peer_address("10.0.0.1:9001");
    vec![
        b"peer=10.0.0.1:9001 client=http://10.0.0.1:8001".to_vec(),
        b"10.0.0.2:9002\nhttp://10.0.0.2:8002/".to_vec(),
        b"[::1]:9003\nhttp://[::1]:8003".to_vec(),
        serde_json::to_vec(&info).unwrap_or_default(),
    ]
}

fn http_bodies() -> Vec<Vec<u8>> {
    let bodies: [(u8, &str); 8] = [
        (
            0,
            r#"{"compare":[{"key":"jobs/7","target":"version","op":"=","value":0}],"success":[{"put":{"key":"jobs/7","value":"x"}}],"failure":[{"get":{"key":"jobs/7"}}]}"#,
        ),
        (
            0,
            r#"{"success":[{"range":{"prefix":"jobs/","limit":10}},{"delete":{"key":"a"}}]}"#,
        ),
        (
            1,
            r#"{"id":4,"peer_addr":"10.0.0.4:9004","client_addr":"http://10.0.0.4:8004","voter":false}"#,
        ),
        (
            2,
            r#"{"peer_addr":"10.0.0.4:9004","client_addr":"http://10.0.0.4:8004"}"#,
        ),
        (3, r#"{"to":2}"#),
        (4, r#"{"revision":12}"#),
        (5, r#"{"ttl":30}"#),
        (6, r#"{"id":7}"#),
    ];
    bodies
        .iter()
        .map(|(which, body)| {
            let mut input = vec![*which];
            input.extend_from_slice(body.as_bytes());
            input
        })
        .collect()
}

/// Tokens signed with the target's key, a forged one, and an auth state as
/// a backup carries it.
fn auth_tokens() -> Vec<Vec<u8>> {
    use ordo_kv::auth::token::{TokenClaims, sign};
    let claims = TokenClaims {
        user: "alice".into(),
        auth_revision: 7,
        expires_at_unix_seconds: 1_900_000_000,
    };
    let mut state = ordo_kv::auth::AuthState::default();
    let commands = [
        ordo_kv::auth::AuthCommand::UserAdd {
            name: "root".into(),
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        },
        ordo_kv::auth::AuthCommand::UserGrantRole {
            user: "root".into(),
            role: "root".into(),
        },
        ordo_kv::auth::AuthCommand::RoleAdd {
            name: "reader".into(),
        },
        ordo_kv::auth::AuthCommand::RoleGrantPermission {
            role: "reader".into(),
            permission: ordo_kv::auth::Permission {
                kind: ordo_kv::auth::PermissionKind::Read,
                range: ordo_kv::store::KeyRange::prefix("app/"),
            },
        },
        ordo_kv::auth::AuthCommand::Enable {
            signing_key: bytes::Bytes::from_static(&[0x5a; 32]),
        },
    ];
    for command in commands {
        let _ = state.apply(command);
    }
    vec![
        sign(&[0x5a; 32], &claims).into_bytes(),
        sign(&[0xa5; 32], &claims).into_bytes(),
        b"v1.eyJ1IjoiYSIsInIiOjEsImUiOjF9.AAAA".to_vec(),
        state.encode(),
    ]
}
