//! How the identity file records a member's addresses: one string,
//! `peer=HOST:PORT client=URL`, either part optional (see `data_dir.rs`).
//! The log carries them typed ([`ordo::MemberInfo`]); this is only the
//! identity file's text, and the conversions between the two.
//!
//! A node of the initial cluster knows its peers' node addresses from
//! `--initial-cluster` but not their client URLs, until each leader logs its
//! own and each follower reports its own (see `peers.rs`). A member whose
//! client URL is unknown cannot be redirected to: the server answers `503
//! no_leader` instead, and the client retries.

use std::fmt;

/// A member's node-to-node and client addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberAddress {
    /// `HOST:PORT` other nodes dial (TCP transport).
    pub peer: Option<String>,
    /// `http://HOST:PORT` clients use.
    pub client: Option<String>,
}

impl MemberAddress {
    /// Both addresses known.
    pub fn new(peer: impl Into<String>, client: impl Into<String>) -> Self {
        MemberAddress {
            peer: Some(peer.into()),
            client: Some(client.into()),
        }
    }

    /// Only the node address known.
    pub fn peer_only(peer: impl Into<String>) -> Self {
        MemberAddress {
            peer: Some(peer.into()),
            client: None,
        }
    }

    /// Reads the format written by [`Display`](fmt::Display). Unknown parts
    /// are ignored, so a later version can add some.
    pub fn parse(text: &str) -> Self {
        let mut address = MemberAddress::default();
        for part in text.split_whitespace() {
            match part.split_once('=') {
                Some(("peer", value)) if !value.is_empty() => address.peer = Some(value.into()),
                Some(("client", value)) if !value.is_empty() => {
                    address.client = Some(value.into());
                }
                _ => {}
            }
        }
        address
    }
}

impl MemberAddress {
    /// The same, as the runtime carries it through the log.
    pub fn to_info(&self) -> ordo::MemberInfo {
        ordo::MemberInfo {
            address: self.client.clone().unwrap_or_default(),
            peer_address: self.peer.clone(),
            labels: Default::default(),
        }
    }

    /// What `info` says of a member's addresses.
    pub fn from_info(info: &ordo::MemberInfo) -> Self {
        MemberAddress {
            peer: info.peer_address.clone(),
            client: Some(info.address.clone()).filter(|client| !client.is_empty()),
        }
    }
}

impl fmt::Display for MemberAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::with_capacity(2);
        if let Some(peer) = &self.peer {
            parts.push(format!("peer={peer}"));
        }
        if let Some(client) = &self.client {
            parts.push(format!("client={client}"));
        }
        f.write_str(&parts.join(" "))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::MemberAddress;

    #[test]
    fn round_trips_and_tolerates_missing_or_unknown_parts() {
        let both = MemberAddress::new("127.0.0.1:9001", "http://127.0.0.1:8001");
        assert_eq!(MemberAddress::parse(&both.to_string()), both);
        let peer = MemberAddress::peer_only("10.0.0.1:9000");
        assert_eq!(peer.to_string(), "peer=10.0.0.1:9000");
        assert_eq!(MemberAddress::parse(&peer.to_string()), peer);
        assert_eq!(MemberAddress::parse(""), MemberAddress::default());
        assert_eq!(
            MemberAddress::parse("zone=a peer=h:1 garbage client="),
            MemberAddress::peer_only("h:1")
        );
    }

    #[test]
    fn converts_to_and_from_what_the_log_carries() {
        let both = MemberAddress::new("127.0.0.1:9001", "http://127.0.0.1:8001");
        let info = both.to_info();
        assert_eq!(info.address, "http://127.0.0.1:8001");
        assert_eq!(info.peer_address.as_deref(), Some("127.0.0.1:9001"));
        assert_eq!(MemberAddress::from_info(&info), both);
        let peer = MemberAddress::peer_only("10.0.0.1:9000");
        assert_eq!(peer.to_info().address, "");
        assert_eq!(MemberAddress::from_info(&peer.to_info()), peer);
    }
}
