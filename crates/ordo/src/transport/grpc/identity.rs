//! The handshake over gRPC: the same [`Hello`], [`Welcome`] and [`Refusal`]
//! as over TCP, carried in request metadata, response headers and the status
//! of a refused stream.

use ordo_core::NodeId;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

use crate::transport::ClusterId;
use crate::transport::codec::handshake::{HandshakeError, Hello, Refusal, RefusalReason, Welcome};

const CLUSTER_ID: &str = "ordo-cluster-id";
const NODE_ID: &str = "ordo-node-id";
const TARGET_NODE_ID: &str = "ordo-target-node-id";
const PROTOCOL_MIN: &str = "ordo-protocol-min";
const PROTOCOL_MAX: &str = "ordo-protocol-max";
const PROTOCOL_VERSION: &str = "ordo-protocol-version";
const REFUSAL: &str = "ordo-refusal";

/// Writes `hello` into a request's metadata.
pub(super) fn put_hello(metadata: &mut MetadataMap, hello: &Hello) {
    put(metadata, CLUSTER_ID, hello.cluster_id.as_str());
    put(metadata, NODE_ID, &hello.from.to_string());
    put(metadata, TARGET_NODE_ID, &hello.to.to_string());
    put(metadata, PROTOCOL_MIN, &hello.min_version.to_string());
    put(metadata, PROTOCOL_MAX, &hello.max_version.to_string());
}

/// Reads a hello from a request's metadata.
pub(super) fn hello(metadata: &MetadataMap) -> Result<Hello, String> {
    Ok(Hello {
        cluster_id: cluster_id(metadata)?,
        from: number(metadata, NODE_ID)?,
        to: number(metadata, TARGET_NODE_ID)?,
        min_version: number(metadata, PROTOCOL_MIN)?,
        max_version: number(metadata, PROTOCOL_MAX)?,
    })
}

/// Writes `welcome` into a response's headers.
pub(super) fn put_welcome(metadata: &mut MetadataMap, welcome: &Welcome) {
    put(metadata, CLUSTER_ID, welcome.cluster_id.as_str());
    put(metadata, NODE_ID, &welcome.node_id.to_string());
    put(metadata, PROTOCOL_VERSION, &welcome.version.to_string());
}

/// Reads a welcome from a response's headers.
pub(super) fn welcome(metadata: &MetadataMap) -> Result<Welcome, HandshakeError> {
    let malformed = |detail: String| {
        HandshakeError::Refused(Refusal {
            reason: RefusalReason::Malformed,
            detail: format!("the peer's response headers: {detail}"),
        })
    };
    Ok(Welcome {
        cluster_id: cluster_id(metadata).map_err(malformed)?,
        node_id: number::<NodeId>(metadata, NODE_ID).map_err(malformed)?,
        version: number(metadata, PROTOCOL_VERSION).map_err(malformed)?,
    })
}

/// The status that refuses a stream, carrying the reason code so that the
/// dialer can tell (and log) exactly why.
pub(super) fn refusal_status(refusal: &Refusal) -> Status {
    let code = match refusal.reason {
        RefusalReason::Malformed => Code::InvalidArgument,
        RefusalReason::UnsupportedVersion => Code::FailedPrecondition,
        _ => Code::PermissionDenied,
    };
    let mut status = Status::new(code, refusal.to_string());
    put(
        status.metadata_mut(),
        REFUSAL,
        &refusal.reason.code().to_string(),
    );
    status
}

/// The refusal a status carries, if it is one.
pub(super) fn refusal(status: &Status) -> Option<Refusal> {
    let code: u8 = number(status.metadata(), REFUSAL).ok()?;
    Some(Refusal {
        reason: RefusalReason::from_code(code),
        detail: status.message().to_owned(),
    })
}

fn put(metadata: &mut MetadataMap, key: &'static str, value: &str) {
    // Every value written here is a cluster id ([A-Za-z0-9._-]) or a decimal
    // number, so it is always a valid header value.
    if let Ok(value) = MetadataValue::try_from(value) {
        metadata.insert(key, value);
    }
}

fn text<'a>(metadata: &'a MetadataMap, key: &'static str) -> Result<&'a str, String> {
    metadata
        .get(key)
        .ok_or_else(|| format!("missing {key}"))?
        .to_str()
        .map_err(|_| format!("{key} is not text"))
}

fn cluster_id(metadata: &MetadataMap) -> Result<ClusterId, String> {
    ClusterId::new(text(metadata, CLUSTER_ID)?).map_err(|error| format!("{CLUSTER_ID}: {error}"))
}

fn number<T: std::str::FromStr>(metadata: &MetadataMap, key: &'static str) -> Result<T, String> {
    text(metadata, key)?
        .parse()
        .map_err(|_| format!("{key} is not a number in range"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::transport::codec::handshake::LocalIdentity;

    #[test]
    fn hellos_welcomes_and_refusals_survive_metadata() {
        let local = LocalIdentity {
            cluster_id: ClusterId::new("c-1").unwrap(),
            node_id: 2,
        };
        let sent = Hello::new(&local, 1);
        let mut metadata = MetadataMap::new();
        put_hello(&mut metadata, &sent);
        assert_eq!(hello(&metadata), Ok(sent));

        let sent = Welcome {
            cluster_id: local.cluster_id.clone(),
            node_id: 1,
            version: 1,
        };
        let mut metadata = MetadataMap::new();
        put_welcome(&mut metadata, &sent);
        assert_eq!(welcome(&metadata), Ok(sent));

        let sent = Refusal {
            reason: RefusalReason::WrongCluster,
            detail: "no".into(),
        };
        let status = refusal_status(&sent);
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(
            refusal(&status).unwrap().reason,
            RefusalReason::WrongCluster
        );
        assert!(refusal(&Status::internal("x")).is_none());
    }

    #[test]
    fn missing_or_bad_metadata_is_named() {
        let mut metadata = MetadataMap::new();
        assert_eq!(hello(&metadata).unwrap_err(), "missing ordo-cluster-id");
        put(&mut metadata, CLUSTER_ID, "c");
        put(&mut metadata, NODE_ID, "-1");
        assert_eq!(
            hello(&metadata).unwrap_err(),
            "ordo-node-id is not a number in range"
        );
    }
}
