//! The handshake that opens every connection: who is calling, in which
//! cluster, and which protocol versions it speaks. Both sides check the
//! other; only then does a byte of Raft traffic flow.
//!
//! ```text
//! dialer                                   acceptor
//!   | Hello { cluster, from, to, versions } -->|  checks cluster, that `from` is a
//!   |                                          |  known peer, that `to` is itself,
//!   |<-- Welcome { cluster, node, version }    |  and picks the highest common version
//!   |    or Refusal (withheld: no reason)      |  (a refusal closes the connection)
//!   | checks cluster, that `node` is the peer  |
//!   | it meant to reach, and the version       |
//! ```
//!
//! Layout (each is the payload of one frame; see [`super`] for framing):
//!
//! ```text
//! Hello:   "ORDO" 0x01 min_version:u8 max_version:u8 from:varint to:varint
//!          cluster_len:u8 cluster:bytes [fields of later versions]
//! Welcome: "ORDO" 0x02 version:u8 node:varint cluster_len:u8 cluster:bytes
//!          [fields of later versions]
//! Refusal: "ORDO" 0x03 reason:u8 detail_len:u8 detail:UTF-8
//! ```
//!
//! The magic, the type and the version range come first and never move, so a
//! node of any version can read what a newer one offers and answer with the
//! version they share. Bytes after the known fields are ignored for the same
//! reason. The cluster id is limited to 64 bytes of `[A-Za-z0-9._-]` so that it
//! is also a valid HTTP/2 header value (the gRPC transport sends it as one).

use std::fmt;

use bytes::{Bytes, BytesMut};
use ordo_core::NodeId;
use thiserror::Error;

use super::DecodeError;
use super::wire::{Reader, Sink, put_varint};
use crate::transport::cluster_id::{CLUSTER_ID_MAX_BYTES, ClusterId};

/// The version of the transport protocol this build speaks: handshake,
/// framing and message encoding ([`super::VERSION`]) together.
pub const PROTOCOL_VERSION: u8 = 2;

/// Oldest protocol version this build still speaks. Version 1's snapshot
/// chunks did not say which snapshot content they belong to (see
/// [`super`]), so it is no longer spoken.
pub const MIN_PROTOCOL_VERSION: u8 = 2;

/// Largest handshake payload either side accepts. A handshake is a few dozen
/// bytes; the limit keeps an unauthenticated caller from making the node
/// allocate more.
pub const MAX_HANDSHAKE_BYTES: usize = 512;

/// Opens every handshake message, so a stray client (an HTTP probe, a port
/// scanner) is recognised at once.
pub const HANDSHAKE_MAGIC: [u8; 4] = *b"ORDO";

const HELLO: u8 = 1;
const WELCOME: u8 = 2;
const REFUSAL: u8 = 3;

/// Longest refusal detail, in bytes (longer text is cut at a character
/// boundary).
const REFUSAL_DETAIL_MAX_BYTES: usize = 200;

/// Who this node is, as both sides of a handshake present it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalIdentity {
    /// The cluster this node belongs to.
    pub cluster_id: ClusterId,
    /// This node's id.
    pub node_id: NodeId,
}

/// The dialer's opening: who it is, whom it means to reach, and the protocol
/// versions it speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The dialer's cluster.
    pub cluster_id: ClusterId,
    /// The dialer's node id; every message on the connection must come from it.
    pub from: NodeId,
    /// The node the dialer means to reach.
    pub to: NodeId,
    /// Oldest protocol version the dialer speaks.
    pub min_version: u8,
    /// Newest protocol version the dialer speaks.
    pub max_version: u8,
}

/// The acceptor's answer to a [`Hello`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The connection is accepted.
    Welcome(Welcome),
    /// The connection is refused and will be closed.
    Refusal(Refusal),
}

/// An accepted handshake: the acceptor's identity and the version chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Welcome {
    /// The acceptor's cluster.
    pub cluster_id: ClusterId,
    /// The acceptor's node id.
    pub node_id: NodeId,
    /// The protocol version both sides will speak.
    pub version: u8,
}

/// A refused handshake, with a reason a program can match and a detail an
/// operator can read.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{reason}: {detail}")]
pub struct Refusal {
    /// Why, as a code.
    pub reason: RefusalReason,
    /// Why, in words.
    pub detail: String,
}

impl Refusal {
    /// What an acceptor tells every refused caller: no reason and no detail,
    /// so that probing cannot learn the cluster's name or its node ids.
    pub fn withheld() -> Self {
        Refusal {
            reason: RefusalReason::Withheld,
            detail: String::new(),
        }
    }
}

/// Why an acceptor refused a handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalReason {
    /// The dialer belongs to another cluster.
    WrongCluster,
    /// The two sides share no protocol version.
    UnsupportedVersion,
    /// The dialer's node id is not one of the acceptor's peers.
    UnknownNode,
    /// The dialer meant to reach another node (a stale address).
    WrongNode,
    /// The handshake could not be read.
    Malformed,
    /// Over TLS: the hello claims a node the caller's certificate does not
    /// name.
    CertificateMismatch,
    /// The acceptor does not say why. Acceptors of this version always send
    /// this, so that a refused caller learns nothing about the cluster.
    Withheld,
    /// A reason this build does not know (sent by a newer node).
    Other(u8),
}

impl RefusalReason {
    /// The reason's code on the wire.
    pub fn code(self) -> u8 {
        match self {
            RefusalReason::WrongCluster => 1,
            RefusalReason::UnsupportedVersion => 2,
            RefusalReason::UnknownNode => 3,
            RefusalReason::WrongNode => 4,
            RefusalReason::Malformed => 5,
            RefusalReason::CertificateMismatch => 6,
            RefusalReason::Withheld => 0,
            RefusalReason::Other(code) => code,
        }
    }

    /// The reason a code stands for.
    pub fn from_code(code: u8) -> Self {
        match code {
            1 => RefusalReason::WrongCluster,
            2 => RefusalReason::UnsupportedVersion,
            3 => RefusalReason::UnknownNode,
            4 => RefusalReason::WrongNode,
            5 => RefusalReason::Malformed,
            6 => RefusalReason::CertificateMismatch,
            0 => RefusalReason::Withheld,
            code => RefusalReason::Other(code),
        }
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefusalReason::WrongCluster => f.write_str("wrong cluster"),
            RefusalReason::UnsupportedVersion => f.write_str("no common protocol version"),
            RefusalReason::UnknownNode => f.write_str("unknown node"),
            RefusalReason::WrongNode => f.write_str("wrong node"),
            RefusalReason::Malformed => f.write_str("malformed handshake"),
            RefusalReason::CertificateMismatch => {
                f.write_str("the hello claims a node the certificate does not name")
            }
            RefusalReason::Withheld => f.write_str("refused"),
            RefusalReason::Other(code) => write!(f, "refusal code {code}"),
        }
    }
}

/// Why the dialer gave up on a handshake.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum HandshakeError {
    /// The acceptor refused.
    #[error("the peer refused the handshake ({0})")]
    Refused(Refusal),
    /// The acceptor belongs to another cluster.
    #[error("the peer belongs to cluster {got:?}, not {expected:?}")]
    WrongCluster {
        /// Our cluster.
        expected: ClusterId,
        /// Theirs.
        got: ClusterId,
    },
    /// Another node answers at the peer's address.
    #[error("node {got} answered at the address of node {expected}")]
    WrongNode {
        /// The node we meant to reach.
        expected: NodeId,
        /// The node that answered.
        got: NodeId,
    },
    /// The acceptor chose a version we did not offer.
    #[error("the peer chose protocol version {version}, which this node did not offer")]
    UnsupportedVersion {
        /// The version chosen.
        version: u8,
    },
    /// The answer could not be read.
    #[error("malformed handshake answer: {0}")]
    Malformed(#[from] DecodeError),
}

impl Hello {
    /// The hello `local` sends to reach `peer`, offering every version this
    /// build speaks.
    pub fn new(local: &LocalIdentity, peer: NodeId) -> Self {
        Hello {
            cluster_id: local.cluster_id.clone(),
            from: local.node_id,
            to: peer,
            min_version: MIN_PROTOCOL_VERSION,
            max_version: PROTOCOL_VERSION,
        }
    }

    /// Encodes the hello (without the frame header).
    pub fn encode(&self) -> Bytes {
        let mut out = start(HELLO);
        out.put_byte(self.min_version);
        out.put_byte(self.max_version);
        put_varint(&mut out, self.from);
        put_varint(&mut out, self.to);
        put_cluster_id(&mut out, &self.cluster_id);
        out.freeze()
    }

    /// Decodes a hello.
    ///
    /// # Errors
    /// [`DecodeError`] if `input` is not a hello.
    pub fn decode(input: &Bytes) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(input);
        expect_type(&mut reader, HELLO)?;
        let min_version = reader.byte("min version")?;
        let max_version = reader.byte("max version")?;
        let from = reader.varint("from")?;
        let to = reader.varint("to")?;
        let cluster_id = cluster_id(&mut reader)?;
        Ok(Hello {
            cluster_id,
            from,
            to,
            min_version,
            max_version,
        })
    }

    /// The acceptor's decision: a [`Welcome`] if the hello comes from a known
    /// peer (`is_peer`) of `local`'s cluster, addressed to `local`, speaking a
    /// common version; otherwise the [`Refusal`] to send back.
    ///
    /// # Errors
    /// The [`Refusal`], when the handshake is refused.
    pub fn answer(
        &self,
        local: &LocalIdentity,
        is_peer: impl FnOnce(NodeId) -> bool,
    ) -> Result<Welcome, Refusal> {
        if self.cluster_id != local.cluster_id {
            return Err(Refusal {
                reason: RefusalReason::WrongCluster,
                detail: format!(
                    "this is cluster {:?}, the caller is in {:?}",
                    local.cluster_id.as_str(),
                    self.cluster_id.as_str()
                ),
            });
        }
        let Some(version) = common_version(self.min_version, self.max_version) else {
            return Err(Refusal {
                reason: RefusalReason::UnsupportedVersion,
                detail: format!(
                    "this node speaks versions {MIN_PROTOCOL_VERSION}..={PROTOCOL_VERSION}, the caller {}..={}",
                    self.min_version, self.max_version
                ),
            });
        };
        if self.to != local.node_id {
            return Err(Refusal {
                reason: RefusalReason::WrongNode,
                detail: format!("this is node {}, not node {}", local.node_id, self.to),
            });
        }
        if self.from == local.node_id || !is_peer(self.from) {
            return Err(Refusal {
                reason: RefusalReason::UnknownNode,
                detail: format!("node {} is not a peer of node {}", self.from, local.node_id),
            });
        }
        Ok(Welcome {
            cluster_id: local.cluster_id.clone(),
            node_id: local.node_id,
            version,
        })
    }
}

/// The highest version in both `min..=max` and what this build speaks.
fn common_version(min: u8, max: u8) -> Option<u8> {
    let version = max.min(PROTOCOL_VERSION);
    (version >= min.max(MIN_PROTOCOL_VERSION)).then_some(version)
}

impl Welcome {
    /// The dialer's check of the answer: the same cluster, the node it meant
    /// to reach, and a version it offered. Returns the version to speak.
    ///
    /// # Errors
    /// [`HandshakeError`] naming the mismatch.
    pub fn check(&self, local: &LocalIdentity, peer: NodeId) -> Result<u8, HandshakeError> {
        if self.cluster_id != local.cluster_id {
            return Err(HandshakeError::WrongCluster {
                expected: local.cluster_id.clone(),
                got: self.cluster_id.clone(),
            });
        }
        if self.node_id != peer {
            return Err(HandshakeError::WrongNode {
                expected: peer,
                got: self.node_id,
            });
        }
        if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&self.version) {
            return Err(HandshakeError::UnsupportedVersion {
                version: self.version,
            });
        }
        Ok(self.version)
    }
}

impl Reply {
    /// Encodes the reply (without the frame header).
    pub fn encode(&self) -> Bytes {
        match self {
            Reply::Welcome(welcome) => {
                let mut out = start(WELCOME);
                out.put_byte(welcome.version);
                put_varint(&mut out, welcome.node_id);
                put_cluster_id(&mut out, &welcome.cluster_id);
                out.freeze()
            }
            Reply::Refusal(refusal) => {
                let mut out = start(REFUSAL);
                out.put_byte(refusal.reason.code());
                let detail = truncate_at_char(&refusal.detail, REFUSAL_DETAIL_MAX_BYTES);
                out.put_byte(detail.len() as u8);
                out.put_slice(detail.as_bytes());
                out.freeze()
            }
        }
    }

    /// Decodes a reply.
    ///
    /// # Errors
    /// [`DecodeError`] if `input` is not a reply.
    pub fn decode(input: &Bytes) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(input);
        expect_magic(&mut reader)?;
        match reader.byte("handshake type")? {
            WELCOME => {
                let version = reader.byte("version")?;
                let node_id = reader.varint("node id")?;
                let cluster_id = cluster_id(&mut reader)?;
                Ok(Reply::Welcome(Welcome {
                    cluster_id,
                    node_id,
                    version,
                }))
            }
            REFUSAL => {
                let reason = RefusalReason::from_code(reader.byte("refusal reason")?);
                let length = reader.byte("refusal detail")?;
                let mut detail = Vec::with_capacity(usize::from(length));
                for _ in 0..length {
                    detail.push(reader.byte("refusal detail")?);
                }
                Ok(Reply::Refusal(Refusal {
                    reason,
                    detail: String::from_utf8_lossy(&detail).into_owned(),
                }))
            }
            tag => Err(DecodeError::UnknownTag {
                what: "handshake type",
                tag,
            }),
        }
    }
}

fn start(kind: u8) -> BytesMut {
    let mut out = BytesMut::with_capacity(96);
    out.put_slice(&HANDSHAKE_MAGIC);
    out.put_byte(kind);
    out
}

fn put_cluster_id(out: &mut BytesMut, id: &ClusterId) {
    // A ClusterId has at most 64 bytes, so its length fits one byte.
    out.put_byte(id.as_str().len() as u8);
    out.put_slice(id.as_str().as_bytes());
}

fn expect_magic(reader: &mut Reader<'_>) -> Result<(), DecodeError> {
    for expected in HANDSHAKE_MAGIC {
        if reader.byte("handshake magic")? != expected {
            return Err(DecodeError::BadMagic);
        }
    }
    Ok(())
}

fn expect_type(reader: &mut Reader<'_>, expected: u8) -> Result<(), DecodeError> {
    expect_magic(reader)?;
    match reader.byte("handshake type")? {
        tag if tag == expected => Ok(()),
        tag => Err(DecodeError::UnknownTag {
            what: "handshake type",
            tag,
        }),
    }
}

fn cluster_id(reader: &mut Reader<'_>) -> Result<ClusterId, DecodeError> {
    let length = usize::from(reader.byte("cluster id")?);
    if length > CLUSTER_ID_MAX_BYTES {
        return Err(DecodeError::InvalidValue {
            field: "cluster id length",
            value: length as u64,
        });
    }
    let mut bytes = Vec::with_capacity(length);
    for _ in 0..length {
        bytes.push(reader.byte("cluster id")?);
    }
    let text = String::from_utf8(bytes).map_err(|_| DecodeError::InvalidValue {
        field: "cluster id",
        value: length as u64,
    })?;
    ClusterId::new(text).map_err(|_| DecodeError::InvalidValue {
        field: "cluster id",
        value: length as u64,
    })
}

fn truncate_at_char(text: &str, max_bytes: usize) -> &str {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn local(node_id: NodeId) -> LocalIdentity {
        LocalIdentity {
            cluster_id: ClusterId::new("test").unwrap(),
            node_id,
        }
    }

    #[test]
    fn a_good_hello_is_welcomed_and_the_welcome_checks_out() {
        let hello = Hello::new(&local(2), 1);
        let decoded = Hello::decode(&hello.encode()).unwrap();
        assert_eq!(decoded, hello);
        let welcome = decoded.answer(&local(1), |id| id == 2).unwrap();
        let reply = Reply::decode(&Reply::Welcome(welcome).encode()).unwrap();
        let Reply::Welcome(welcome) = reply else {
            panic!("not a welcome: {reply:?}");
        };
        assert_eq!(welcome.check(&local(2), 1), Ok(PROTOCOL_VERSION));
        assert_eq!(
            welcome.check(&local(2), 3),
            Err(HandshakeError::WrongNode {
                expected: 3,
                got: 1
            })
        );
    }

    #[test]
    fn every_mismatch_is_refused_with_its_reason() {
        let me = local(1);
        let good = Hello::new(&local(2), 1);
        let reason = |hello: Hello| hello.answer(&me, |id| id == 2).unwrap_err().reason;
        let other_cluster = Hello {
            cluster_id: ClusterId::new("other").unwrap(),
            ..good.clone()
        };
        assert_eq!(reason(other_cluster), RefusalReason::WrongCluster);
        let future = Hello {
            min_version: 9,
            max_version: 9,
            ..good.clone()
        };
        assert_eq!(reason(future), RefusalReason::UnsupportedVersion);
        let stranger = Hello {
            from: 7,
            ..good.clone()
        };
        assert_eq!(reason(stranger), RefusalReason::UnknownNode);
        let misdialed = Hello { to: 3, ..good };
        assert_eq!(reason(misdialed), RefusalReason::WrongNode);
    }

    #[test]
    fn a_newer_dialer_gets_the_highest_common_version() {
        let hello = Hello {
            max_version: 200,
            ..Hello::new(&local(2), 1)
        };
        assert_eq!(
            hello.answer(&local(1), |_| true).unwrap().version,
            PROTOCOL_VERSION
        );
    }

    #[test]
    fn refusals_round_trip_and_long_details_are_cut() {
        let refusal = Refusal {
            reason: RefusalReason::Other(77),
            detail: "é".repeat(300),
        };
        let Reply::Refusal(decoded) = Reply::decode(&Reply::Refusal(refusal).encode()).unwrap()
        else {
            panic!("not a refusal");
        };
        assert_eq!(decoded.reason, RefusalReason::Other(77));
        assert_eq!(decoded.detail, "é".repeat(100));
    }
}
