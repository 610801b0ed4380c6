//! A cluster's unique id: 128 random bits, as 32 lowercase hex digits,
//! generated once when the cluster is first bootstrapped and kept in every
//! member's identity file.
//!
//! It is the transport's cluster id, so nodes of two clusters refuse each
//! other at the handshake whatever their names (the name, `ordo` by
//! default, is for people and is easily shared by accident). How the first
//! members agree on it, starting independently:
//!
//! - `--cluster-id ID` given to every first member: that one;
//! - otherwise the first member with the lowest id generates it, and every
//!   other first member asks that member for it over HTTP
//!   (`GET /v1/cluster`) before its Raft node starts, retrying until it
//!   answers ([`learn_from_first_member`]);
//! - a node that joins (`--join`) takes the id from the join answer;
//! - `ordo dev` generates one for all its nodes and keeps it in its layout.
//!
//! Identity files written before cluster ids existed (format 1) carry only
//! the name: such a node keeps using its name as the cluster id, which is
//! what its handshake checked before, so a cluster upgrades node by node.

use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use ordo::NodeId;

use crate::api::ClusterResponse;
use crate::client::{Client, ClientConfig, parse_endpoints};

/// Hex digits in a generated id (128 bits).
pub const CLUSTER_ID_HEX_DIGITS: usize = 32;

/// How long a first member waits for the lowest one to tell it the id.
const FIRST_MEMBER_PATIENCE: Duration = Duration::from_secs(120);
/// Pause between two attempts to reach the lowest first member.
const FIRST_MEMBER_RETRY_PAUSE: Duration = Duration::from_millis(250);
/// Attempts between two "still waiting" log lines.
const ATTEMPTS_PER_LOG_LINE: u32 = 20;

/// A new cluster id from the operating system's random source.
///
/// # Errors
/// The random source is unavailable.
pub fn generate() -> anyhow::Result<String> {
    let mut bytes = [0u8; CLUSTER_ID_HEX_DIGITS / 2];
    getrandom::fill(&mut bytes).map_err(|error| anyhow!("no random source: {error}"))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Checks an id given by an operator (`--cluster-id`).
///
/// # Errors
/// Anything but 32 lowercase hex digits.
pub fn check(flag: &str, id: &str) -> anyhow::Result<()> {
    ensure!(
        id.len() == CLUSTER_ID_HEX_DIGITS
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{flag} {id:?} is not {CLUSTER_ID_HEX_DIGITS} lowercase hex digits \
         (e.g. from `openssl rand -hex 16`)"
    );
    Ok(())
}

/// What a first member expects of the lowest first member's answer.
#[derive(Clone, Debug)]
pub struct FirstMember<'a> {
    /// Its client URL.
    pub url: &'a str,
    /// Its node id.
    pub id: NodeId,
    /// The cluster's name, as this node was given it.
    pub cluster: &'a str,
    /// This node's id, which must be one of its members.
    pub asking: NodeId,
}

/// Asks the lowest first member for the new cluster's id, retrying until
/// it answers (it may start after this node) or `FIRST_MEMBER_PATIENCE`
/// passes.
///
/// # Errors
/// No answer in time, or an answer from another node or cluster.
pub async fn learn_from_first_member(first: &FirstMember<'_>) -> anyhow::Result<String> {
    let endpoints = parse_endpoints(first.url)
        .with_context(|| format!("node {}'s client URL {:?}", first.id, first.url))?;
    let client = Client::new(ClientConfig::new(endpoints).with_timeout(Duration::from_secs(2)))
        .context("cannot build an HTTP client")?;
    let deadline = tokio::time::Instant::now() + FIRST_MEMBER_PATIENCE;
    let mut attempts = 0u32;
    loop {
        match client.cluster().await {
            Ok(answer) => return cluster_id_of(&answer, first),
            Err(error) if tokio::time::Instant::now() < deadline => {
                if attempts.is_multiple_of(ATTEMPTS_PER_LOG_LINE) {
                    tracing::info!(
                        node_id = first.asking,
                        first_member = first.id,
                        url = first.url,
                        %error,
                        "waiting for the first member with the lowest id to tell the new \
                         cluster's id"
                    );
                }
                attempts += 1;
                tokio::time::sleep(FIRST_MEMBER_RETRY_PAUSE).await;
            }
            Err(error) => {
                return Err(anyhow!(error).context(format!(
                    "node {} at {} did not tell the new cluster's id within \
                     {FIRST_MEMBER_PATIENCE:?}; start it, or give every first member the same \
                     --cluster-id",
                    first.id, first.url
                )));
            }
        }
    }
}

/// The id in `answer`, if it comes from the member and cluster expected.
fn cluster_id_of(answer: &ClusterResponse, first: &FirstMember<'_>) -> anyhow::Result<String> {
    if answer.node.id != first.id {
        bail!(
            "{} is node {}, not node {} (the first member with the lowest id)",
            first.url,
            answer.node.id,
            first.id
        );
    }
    if answer.cluster != first.cluster {
        bail!(
            "node {} at {} belongs to cluster {:?}, not {:?}",
            first.id,
            first.url,
            answer.cluster,
            first.cluster
        );
    }
    if !answer
        .members
        .iter()
        .any(|member| member.id == first.asking)
    {
        bail!(
            "node {} at {} does not list node {} among its members: it was started with \
             another --initial-cluster",
            first.id,
            first.url,
            first.asking
        );
    }
    let Some(id) = answer.cluster_id.clone() else {
        bail!(
            "node {} at {} does not report a cluster id (an older ordo?)",
            first.id,
            first.url
        );
    };
    // It goes into this node's identity and handshake: the same rule as an
    // operator's --cluster-id, whatever the answer says.
    check(&format!("the cluster id node {} reported", first.id), &id)?;
    Ok(id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_and_differ() {
        let one = generate().unwrap();
        let two = generate().unwrap();
        check("--cluster-id", &one).unwrap();
        assert_ne!(one, two);
        for bad in ["", "ordo", &one.to_uppercase(), &format!("{one}0")] {
            assert!(check("--cluster-id", bad).is_err(), "{bad:?}");
        }
    }

    fn answer(node: u64, cluster: &str, members: &[u64], id: Option<&str>) -> ClusterResponse {
        serde_json::from_value(serde_json::json!({
            "cluster": cluster,
            "cluster_id": id,
            "node": {"id": node, "role": "leader", "term": 1, "leader": node,
                     "commit_index": 1, "applied_index": 1, "durable_index": 1},
            "leader": node,
            "term": 1,
            "members": members.iter().map(|id| serde_json::json!({
                "id": id, "voter": true, "peer_addr": null, "client_addr": null
            })).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    /// Every kind of wrong answer from the lowest first member is refused,
    /// and nothing but a well-formed id is taken.
    #[test]
    fn a_first_members_answer_is_checked_before_its_id_is_taken() {
        let first = FirstMember {
            url: "http://127.0.0.1:1",
            id: 1,
            cluster: "ordo",
            asking: 2,
        };
        let good = "0123456789abcdef0123456789abcdef";
        let taken = |answer: ClusterResponse| cluster_id_of(&answer, &first);
        assert_eq!(taken(answer(1, "ordo", &[1, 2], Some(good))).unwrap(), good);
        for (wrong, why) in [
            (answer(3, "ordo", &[1, 2], Some(good)), "another node"),
            (answer(1, "other", &[1, 2], Some(good)), "another cluster"),
            (answer(1, "ordo", &[1, 3], Some(good)), "not a member"),
            (answer(1, "ordo", &[1, 2], None), "no id"),
            (
                answer(1, "ordo", &[1, 2], Some("ordo")),
                "a name, not an id",
            ),
            (answer(1, "ordo", &[1, 2], Some("../../etc")), "garbage"),
            (
                answer(1, "ordo", &[1, 2], Some(&"a".repeat(4096))),
                "too long",
            ),
        ] {
            assert!(taken(wrong).is_err(), "{why}");
        }
    }
}
