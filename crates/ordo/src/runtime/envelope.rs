//! What the runtime adds around the application's bytes, so that it can
//! replicate state of its own through the same log and snapshots:
//!
//! ```text
//! command entry   := tag u8 | body
//!                    tag 0: the application's command (postcard)
//!                    tag 1: a RuntimeEntry (postcard)
//! snapshot data   := magic "ORDORTS1" | header length u32 | SnapshotHeader (JSON)
//!                    | the state machine's bytes, as it streamed them
//! ```
//!
//! Today the runtime's own state is one map: where each member can be
//! reached ([`RaftConfig::address`](crate::RaftConfig::address)), for
//! redirects. See the runtime's module docs for why it travels this way.
//!
//! A tag or entry this build does not know is skipped on every node alike
//! (like a command that cannot be decoded), so replicas stay identical.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use bytes::{BufMut, Bytes, BytesMut};
use ordo_core::{Entry, EntryPayload, NodeId};
use serde::{Deserialize, Serialize};

/// The tag of an application command.
pub(crate) const COMMAND_TAG: u8 = 0;
/// The tag of a [`RuntimeEntry`].
const RUNTIME_TAG: u8 = 1;

const SNAPSHOT_MAGIC: [u8; 8] = *b"ORDORTS1";
/// The largest snapshot header accepted (it holds a few addresses).
const SNAPSHOT_HEADER_BYTES_MAX: u32 = 16 << 20;

/// Member addresses: node id to where clients reach it.
pub(crate) type Addresses = BTreeMap<NodeId, String>;

/// An entry the runtime logs for itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum RuntimeEntry {
    /// These members are reached at these addresses (added to, or
    /// replacing, what was known).
    Addresses(Addresses),
}

/// What a command entry's bytes hold.
#[derive(Debug)]
pub(crate) enum Payload<'a> {
    /// The application's command, still encoded.
    Command(&'a [u8]),
    /// The runtime's own.
    Runtime(RuntimeEntry),
    /// Neither (an unknown tag or body): skipped.
    Unknown(String),
}

/// Reads the envelope of a command entry's bytes.
pub(crate) fn open(bytes: &[u8]) -> Payload<'_> {
    match bytes.split_first() {
        Some((&COMMAND_TAG, command)) => Payload::Command(command),
        Some((&RUNTIME_TAG, body)) => match postcard::from_bytes(body) {
            Ok(entry) => Payload::Runtime(entry),
            Err(error) => Payload::Unknown(format!("unreadable runtime entry: {error}")),
        },
        Some((tag, _)) => Payload::Unknown(format!("unknown entry tag {tag}")),
        None => Payload::Unknown("an empty entry".to_string()),
    }
}

/// The bytes of a runtime entry, ready to propose.
pub(crate) fn seal_runtime(entry: &RuntimeEntry) -> Result<Bytes, postcard::Error> {
    let mut buffer = BytesMut::with_capacity(64);
    buffer.put_u8(RUNTIME_TAG);
    postcard::to_io(entry, (&mut buffer).writer())?;
    Ok(buffer.freeze())
}

/// The addresses carried by `entries`, in log order (later ones win).
/// Cheap on the hot path: one byte compared per command entry.
pub(crate) fn addresses_in(entries: &[Entry]) -> Option<Addresses> {
    let mut found: Option<Addresses> = None;
    for entry in entries {
        let EntryPayload::Command(bytes) = &entry.payload else {
            continue;
        };
        if bytes.first() != Some(&RUNTIME_TAG) {
            continue;
        }
        if let Payload::Runtime(RuntimeEntry::Addresses(addresses)) = open(bytes) {
            found.get_or_insert_with(Addresses::new).extend(addresses);
        }
    }
    found
}

/// The runtime's state at a snapshot's index, stored before the state
/// machine's bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SnapshotHeader {
    /// Member addresses logged up to the snapshot's index.
    #[serde(default)]
    pub(crate) addresses: Addresses,
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

    fn addresses(pairs: &[(NodeId, &str)]) -> Addresses {
        pairs.iter().map(|&(id, a)| (id, a.to_string())).collect()
    }

    #[test]
    fn entries_are_told_apart_by_their_tag() {
        let runtime = RuntimeEntry::Addresses(addresses(&[(4, "node-4:7000")]));
        let sealed = seal_runtime(&runtime).unwrap_or_default();
        assert!(matches!(open(&sealed), Payload::Runtime(entry) if entry == runtime));
        assert!(matches!(
            open(&[COMMAND_TAG, 7, 8]),
            Payload::Command(&[7, 8])
        ));
        assert!(matches!(open(&[9, 1]), Payload::Unknown(_)));
        assert!(matches!(open(&[RUNTIME_TAG, 200]), Payload::Unknown(_)));
        assert!(matches!(open(&[]), Payload::Unknown(_)));
    }

    #[test]
    fn addresses_are_found_in_log_order() {
        let first = RuntimeEntry::Addresses(addresses(&[(4, "old"), (5, "five")]));
        let second = RuntimeEntry::Addresses(addresses(&[(4, "new")]));
        let entries = vec![
            Entry::command(1, 1, seal_runtime(&first).unwrap_or_default()),
            Entry::command(2, 1, Bytes::from_static(&[COMMAND_TAG, 1])),
            Entry::command(3, 1, seal_runtime(&second).unwrap_or_default()),
        ];
        let found = addresses_in(&entries);
        assert_eq!(found, Some(addresses(&[(4, "new"), (5, "five")])));
        assert_eq!(addresses_in(&entries[1..2]), None);
    }

    #[test]
    fn a_snapshot_header_round_trips_and_leaves_the_data() {
        let header = SnapshotHeader {
            addresses: addresses(&[(4, "node-4:7000")]),
        };
        let mut bytes = Vec::new();
        write_snapshot_header(&mut bytes, &header).unwrap_or_default();
        bytes.extend_from_slice(b"state");
        let mut input = bytes.as_slice();
        assert_eq!(read_snapshot_header(&mut input).ok(), Some(header));
        assert_eq!(input, b"state");
        let mut foreign: &[u8] = b"not a runtime snapshot";
        assert!(read_snapshot_header(&mut foreign).is_err());
    }
}
