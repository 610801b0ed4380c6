//! `ordo status`: every member's own view, side by side with the leader's
//! replication progress.
//!
//! The membership and each member's lag come from `GET /v1/cluster` on the
//! leader (any node's answer is used if the leader cannot be asked); each
//! member's role, term, commit and applied index come from its own
//! `GET /v1/status`, asked concurrently. A member that does not answer is
//! shown as unreachable, not dropped.

use tokio::task::JoinSet;

use super::output::{number_or_dash, render_table};
use super::{Client, ClientError, Endpoint};
use crate::api::{ClusterResponse, MemberInfo, NodeStatusInfo};

/// One member's line in the status table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusRow {
    /// Node id.
    pub id: u64,
    /// Its client address, as the membership records it.
    pub address: Option<String>,
    /// Whether it votes.
    pub voter: bool,
    /// What its own `/v1/status` said, or why it could not be asked.
    pub status: Result<NodeStatusInfo, String>,
    /// Entries behind the leader, when the leader reported it.
    pub lag: Option<u64>,
}

/// The cluster view the table is built from, and one row per member.
#[derive(Clone, Debug)]
pub struct ClusterStatus {
    /// `GET /v1/cluster` from the leader (or the node that answered).
    pub cluster: ClusterResponse,
    /// One row per member, in id order.
    pub rows: Vec<StatusRow>,
}

/// Asks the leader for the membership, then every member for its status.
pub async fn gather(client: &Client) -> Result<ClusterStatus, ClientError> {
    let cluster = leader_view(client).await?;
    let mut members = cluster.members.clone();
    members.sort_by_key(|member| member.id);
    let mut tasks = JoinSet::new();
    for (index, member) in members.iter().enumerate() {
        let Some(endpoint) = member_endpoint(member) else {
            continue;
        };
        let client = client.clone();
        tasks.spawn(async move { (index, client.status_of(&endpoint).await) });
    }
    let mut statuses: Vec<Option<Result<NodeStatusInfo, String>>> = vec![None; members.len()];
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, status)) = joined {
            statuses[index] = Some(status.map_err(|error| unreachable_reason(&error)));
        }
    }
    let rows = members
        .into_iter()
        .zip(statuses)
        .map(|(member, status)| StatusRow {
            id: member.id,
            voter: member.voter,
            lag: cluster
                .replication
                .iter()
                .find(|progress| progress.id == member.id)
                .map(|progress| progress.lag),
            status: status.unwrap_or_else(|| Err(missing_address_reason(&member))),
            address: member.client_addr,
        })
        .collect();
    Ok(ClusterStatus { cluster, rows })
}

/// `/v1/cluster` from the leader when the first answer names one that can
/// be asked; else the first answer.
async fn leader_view(client: &Client) -> Result<ClusterResponse, ClientError> {
    let first = client.cluster().await?;
    if first.node.role == "leader" {
        return Ok(first);
    }
    let leader_endpoint = first
        .leader
        .and_then(|leader| first.members.iter().find(|member| member.id == leader))
        .and_then(member_endpoint);
    match leader_endpoint {
        Some(endpoint) => Ok(client.cluster_at(&endpoint).await.unwrap_or(first)),
        None => Ok(first),
    }
}

fn member_endpoint(member: &MemberInfo) -> Option<Endpoint> {
    member
        .client_addr
        .as_deref()
        .and_then(|address| Endpoint::parse(address).ok())
}

fn missing_address_reason(member: &MemberInfo) -> String {
    match &member.client_addr {
        None => "no client address known".to_owned(),
        Some(address) => format!("bad client address {address:?}"),
    }
}

fn unreachable_reason(error: &ClientError) -> String {
    match error {
        ClientError::Unreachable { .. } => "unreachable".to_owned(),
        ClientError::Timeout { .. } => "timed out".to_owned(),
        other => other.to_string(),
    }
}

/// The status table: a summary line (leader, term, the cluster's name and
/// id), then id, address, role, term,
/// commit, applied and lag for every member; unreachable members say why
/// in the role column.
pub fn render(status: &ClusterStatus) -> String {
    let cluster = &status.cluster;
    let leader = cluster
        .leader
        .map_or_else(|| "unknown".to_owned(), |id| id.to_string());
    let mut text = format!(
        "leader: {leader}  term: {}  (as seen by node {})",
        cluster.term, cluster.node.id
    );
    // Older servers name no cluster.
    if !cluster.cluster.is_empty() {
        text.push_str(&format!("  cluster: {}", cluster.cluster));
        if let Some(id) = &cluster.cluster_id {
            text.push_str(&format!(" (id {id})"));
        }
    }
    text.push('\n');
    let rows: Vec<Vec<String>> = status.rows.iter().map(render_row).collect();
    let header = ["id", "address", "role", "term", "commit", "applied", "lag"];
    text.push_str(&render_table(&header, &rows));
    text
}

fn render_row(row: &StatusRow) -> Vec<String> {
    let id = if row.voter {
        row.id.to_string()
    } else {
        format!("{} (learner)", row.id)
    };
    let address = row.address.clone().unwrap_or_else(|| "-".to_owned());
    let lag = number_or_dash(row.lag);
    match &row.status {
        Ok(node) => vec![
            id,
            address,
            node.role.clone(),
            node.term.to_string(),
            node.commit_index.to_string(),
            node.applied_index.to_string(),
            lag,
        ],
        Err(reason) => vec![
            id,
            address,
            reason.clone(),
            "-".into(),
            "-".into(),
            "-".into(),
            lag,
        ],
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::api::ReplicationInfo;

    fn node(id: u64, role: &str, term: u64, commit: u64, applied: u64) -> NodeStatusInfo {
        NodeStatusInfo {
            id,
            role: role.to_owned(),
            term,
            leader: Some(1),
            commit_index: commit,
            applied_index: applied,
            durable_index: commit,
        }
    }

    #[test]
    fn the_table_shows_every_member_reachable_or_not() {
        let cluster = ClusterResponse {
            cluster: "ordo".into(),
            cluster_id: None,
            node: node(1, "leader", 3, 42, 42),
            leader: Some(1),
            term: 3,
            members: Vec::new(),
            replication: vec![
                ReplicationInfo {
                    id: 1,
                    matched: 42,
                    lag: 0,
                },
                ReplicationInfo {
                    id: 2,
                    matched: 40,
                    lag: 2,
                },
            ],
        };
        let rows = vec![
            StatusRow {
                id: 1,
                address: Some("http://127.0.0.1:8001".into()),
                voter: true,
                status: Ok(node(1, "leader", 3, 42, 42)),
                lag: Some(0),
            },
            StatusRow {
                id: 2,
                address: Some("http://127.0.0.1:8002".into()),
                voter: true,
                status: Ok(node(2, "follower", 3, 42, 40)),
                lag: Some(2),
            },
            StatusRow {
                id: 4,
                address: None,
                voter: false,
                status: Err("unreachable".into()),
                lag: None,
            },
        ];
        let expected = "\
leader: 1  term: 3  (as seen by node 1)  cluster: ordo
id           address                role         term  commit  applied  lag
1            http://127.0.0.1:8001  leader       3     42      42       0
2            http://127.0.0.1:8002  follower     3     42      40       2
4 (learner)  -                      unreachable  -     -       -        -
";
        assert_eq!(render(&ClusterStatus { cluster, rows }), expected);
    }
}
