//! What the runtime adds around the application's bytes, so that it can
//! replicate state of its own through the same log and snapshots:
//!
//! ```text
//! command entry   := tag u8 | body
//!                    tag 0: the application's command (postcard)
//!                    tag 1: member addresses as opaque strings, as builds before
//!                           MemberInfo wrote them (postcard; read, never written)
//!                    tag 2: member information (JSON: {"members": {id: MemberInfo}})
//! snapshot data   := magic "ORDORTS1" | header length u32 | SnapshotHeader (JSON)
//!                    | the state machine's bytes, as it streamed them
//! ```
//!
//! Today the runtime's own state is what the group knows of its members
//! ([`MemberInfo`]: addresses and labels; see `addresses.rs`). Member
//! information is JSON so that a later build can add fields an older one
//! skips; the entries are rare (a change of membership or address).
//!
//! A tag or entry this build does not know is skipped on every node alike
//! (like a command that cannot be decoded), so replicas stay identical.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use bytes::{BufMut, Bytes, BytesMut};
use ordo_core::{Entry, EntryPayload, Index, NodeId};
use serde::{Deserialize, Serialize};

use crate::runtime::addresses::{MemberInfo, Members};

/// The tag of an application command.
pub(crate) const COMMAND_TAG: u8 = 0;
/// The tag of member addresses as opaque strings (older builds).
const LEGACY_ADDRESSES_TAG: u8 = 1;
/// The tag of member information.
const MEMBERS_TAG: u8 = 2;

const SNAPSHOT_MAGIC: [u8; 8] = *b"ORDORTS1";
/// The largest snapshot header accepted (it holds a few addresses).
const SNAPSHOT_HEADER_BYTES_MAX: u32 = 16 << 20;

/// What older builds logged: node id to an opaque address string.
#[derive(Debug, Deserialize)]
enum LegacyEntry {
    Addresses(BTreeMap<NodeId, String>),
}

/// A member-information entry: each named member's information is merged
/// into what was logged for it ([`MemberInfo::updated_by`]).
#[derive(Debug, Default, Serialize, Deserialize)]
struct MembersEntry {
    #[serde(default)]
    members: Members,
}

/// What a command entry's bytes hold.
#[derive(Debug)]
pub(crate) enum Payload<'a> {
    /// The application's command, still encoded.
    Command(&'a [u8]),
    /// Member information to learn.
    Members(Members),
    /// Neither (an unknown tag or body): skipped.
    Unknown(String),
}

/// Reads the envelope of a command entry's bytes.
pub(crate) fn open(bytes: &[u8]) -> Payload<'_> {
    match bytes.split_first() {
        Some((&COMMAND_TAG, command)) => Payload::Command(command),
        Some((&MEMBERS_TAG, body)) => match serde_json::from_slice::<MembersEntry>(body) {
            Ok(entry) => Payload::Members(entry.members),
            Err(error) => Payload::Unknown(format!("unreadable member information: {error}")),
        },
        Some((&LEGACY_ADDRESSES_TAG, body)) => match postcard::from_bytes(body) {
            Ok(LegacyEntry::Addresses(addresses)) => Payload::Members(from_legacy(addresses)),
            Err(error) => Payload::Unknown(format!("unreadable runtime entry: {error}")),
        },
        Some((tag, _)) => Payload::Unknown(format!("unknown entry tag {tag}")),
        None => Payload::Unknown("an empty entry".to_string()),
    }
}

/// The bytes of an entry carrying `members`, ready to propose.
pub(crate) fn seal_members(members: &Members) -> Result<Bytes, serde_json::Error> {
    let mut buffer = BytesMut::with_capacity(128);
    buffer.put_u8(MEMBERS_TAG);
    let entry = MembersEntry {
        members: members.clone(),
    };
    serde_json::to_writer((&mut buffer).writer(), &entry)?;
    Ok(buffer.freeze())
}

/// The member information carried by `entries`, by entry index. Cheap on
/// the hot path: one byte compared per command entry.
pub(crate) fn members_in(entries: &[Entry]) -> Vec<(Index, Members)> {
    let mut found = Vec::new();
    for entry in entries {
        let EntryPayload::Command(bytes) = &entry.payload else {
            continue;
        };
        if !matches!(bytes.first(), Some(&(MEMBERS_TAG | LEGACY_ADDRESSES_TAG))) {
            continue;
        }
        if let Payload::Members(members) = open(bytes) {
            found.push((entry.index, members));
        }
    }
    found
}

/// Member information from the opaque strings older builds logged. `ordo
/// serve` wrote `peer=HOST:PORT client=URL` (either part optional); any
/// other string was a client address.
fn from_legacy(addresses: BTreeMap<NodeId, String>) -> Members {
    addresses
        .into_iter()
        .map(|(id, text)| (id, legacy_info(&text)))
        .collect()
}

fn legacy_info(text: &str) -> MemberInfo {
    let parts: Vec<(&str, &str)> = text
        .split_whitespace()
        .filter_map(|part| part.split_once('='))
        .collect();
    if !parts
        .iter()
        .any(|(key, _)| matches!(*key, "peer" | "client"))
    {
        return MemberInfo::new(text);
    }
    let mut info = MemberInfo::default();
    for (key, value) in parts {
        match key {
            "peer" if !value.is_empty() => info.peer_address = Some(value.to_string()),
            "client" => info.address = value.to_string(),
            _ => {}
        }
    }
    info
}

/// The runtime's state at a snapshot's index, stored before the state
/// machine's bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SnapshotHeader {
    /// Member information logged up to the snapshot's index.
    #[serde(default)]
    pub(crate) members: Members,
    /// What older builds wrote instead: opaque address strings. Read, never
    /// written.
    #[serde(default, skip_serializing)]
    addresses: BTreeMap<NodeId, String>,
}

impl SnapshotHeader {
    /// A header carrying `members`.
    pub(crate) fn new(members: Members) -> Self {
        SnapshotHeader {
            members,
            addresses: BTreeMap::new(),
        }
    }

    /// The member information it carries, whichever build wrote it.
    pub(crate) fn into_members(self) -> Members {
        let mut members = from_legacy(self.addresses);
        members.extend(self.members);
        members
    }
}

/// Writes `header` at the start of a snapshot's data.
pub(crate) fn write_snapshot_header(
    out: &mut dyn Write,
    header: &SnapshotHeader,
) -> io::Result<()> {
    let json = serde_json::to_vec(header).map_err(io::Error::other)?;
    let len = u32::try_from(json.len()).map_err(io::Error::other)?;
    out.write_all(&SNAPSHOT_MAGIC)?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(&json)
}

/// Reads the header at the start of a snapshot's data, leaving `input` at
/// the state machine's bytes.
pub(crate) fn read_snapshot_header(input: &mut dyn Read) -> io::Result<SnapshotHeader> {
    let mut magic = [0u8; 8];
    input.read_exact(&mut magic)?;
    if magic != SNAPSHOT_MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the snapshot was not written by this runtime (no runtime header)",
        ));
    }
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len > SNAPSHOT_HEADER_BYTES_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a snapshot header of {len} bytes is implausible"),
        ));
    }
    let mut json = vec![0u8; len as usize];
    input.read_exact(&mut json)?;
    serde_json::from_slice(&json).map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(pairs: &[(NodeId, &str)]) -> Members {
        pairs
            .iter()
            .map(|&(id, a)| (id, MemberInfo::new(a).with_peer_address(format!("{a}:9"))))
            .collect()
    }

    fn legacy(addresses: &[(NodeId, &str)]) -> Bytes {
        #[derive(Serialize)]
        enum Written {
            Addresses(BTreeMap<NodeId, String>),
        }
        let map = addresses
            .iter()
            .map(|&(id, a)| (id, a.to_string()))
            .collect();
        let mut bytes = vec![LEGACY_ADDRESSES_TAG];
        bytes.extend(postcard::to_stdvec(&Written::Addresses(map)).unwrap_or_default());
        Bytes::from(bytes)
    }

    #[test]
    fn entries_are_told_apart_by_their_tag() {
        let carried = members(&[(4, "node-4")]);
        let sealed = seal_members(&carried).unwrap_or_default();
        assert!(matches!(open(&sealed), Payload::Members(found) if found == carried));
        assert!(matches!(
            open(&[COMMAND_TAG, 7, 8]),
            Payload::Command(&[7, 8])
        ));
        assert!(matches!(open(&[9, 1]), Payload::Unknown(_)));
        assert!(matches!(
            open(&[LEGACY_ADDRESSES_TAG, 200]),
            Payload::Unknown(_)
        ));
        assert!(matches!(open(&[MEMBERS_TAG, b'{']), Payload::Unknown(_)));
        assert!(matches!(open(&[]), Payload::Unknown(_)));
    }

    #[test]
    fn entries_of_older_builds_are_read_as_member_information() {
        let bytes = legacy(&[
            (1, "peer=10.0.0.1:9000 client=http://10.0.0.1:8000"),
            (2, "peer=10.0.0.2:9000"),
            (3, "node-3:7000"),
        ]);
        let Payload::Members(found) = open(&bytes) else {
            panic!("a legacy entry must be read");
        };
        let expected: Members = [
            (
                1,
                MemberInfo::new("http://10.0.0.1:8000").with_peer_address("10.0.0.1:9000"),
            ),
            (2, MemberInfo::default().with_peer_address("10.0.0.2:9000")),
            (3, MemberInfo::new("node-3:7000")),
        ]
        .into_iter()
        .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn member_information_is_found_with_its_index() {
        let first = members(&[(4, "old"), (5, "five")]);
        let second = members(&[(4, "new")]);
        let entries = vec![
            Entry::command(1, 1, seal_members(&first).unwrap_or_default()),
            Entry::command(2, 1, Bytes::from_static(&[COMMAND_TAG, 1])),
            Entry::command(3, 1, seal_members(&second).unwrap_or_default()),
            Entry::command(4, 1, legacy(&[(6, "peer=h:6")])),
        ];
        let found = members_in(&entries);
        let indexes: Vec<Index> = found.iter().map(|(index, _)| *index).collect();
        assert_eq!(indexes, [1, 3, 4]);
        assert_eq!(found[0].1, first);
        assert_eq!(found[1].1, second);
        let legacy = found[2]
            .1
            .get(&6)
            .and_then(|info| info.peer_address.as_deref());
        assert_eq!(legacy, Some("h:6"));
        assert!(members_in(&entries[1..2]).is_empty());
    }

    #[test]
    fn a_snapshot_header_round_trips_and_leaves_the_data() {
        let header = SnapshotHeader::new(members(&[(4, "node-4")]));
        let mut bytes = Vec::new();
        write_snapshot_header(&mut bytes, &header).unwrap_or_default();
        bytes.extend_from_slice(b"state");
        let mut input = bytes.as_slice();
        assert_eq!(read_snapshot_header(&mut input).ok(), Some(header));
        assert_eq!(input, b"state");
        let mut foreign: &[u8] = b"not a runtime snapshot";
        assert!(read_snapshot_header(&mut foreign).is_err());
    }

    #[test]
    fn a_snapshot_header_of_an_older_build_is_read() {
        let json = br#"{"addresses":{"2":"peer=h:2 client=http://h:3"}}"#;
        let mut bytes = SNAPSHOT_MAGIC.to_vec();
        bytes.extend_from_slice(&(json.len() as u32).to_le_bytes());
        bytes.extend_from_slice(json);
        let header = read_snapshot_header(&mut bytes.as_slice()).unwrap_or_default();
        let members = header.into_members();
        assert_eq!(
            members.get(&2),
            Some(&MemberInfo::new("http://h:3").with_peer_address("h:2"))
        );
    }
}
