//! Members' addresses with auth on, across real `ordo serve` processes: a
//! member restarted on a new client port has its new address logged (it
//! reports it to the leader with a member token, since the route is
//! root's); a user who is not root cannot re-point a member (403, nothing
//! logged) and root can.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::time::Duration;

use e2e_support::{Cluster, http, run_ordo, url};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CLI_PATIENCE: Duration = Duration::from_secs(20);
/// A restarted member catching up, then reporting (its first try may meet
/// a leader it has not applied auth from: it retries after a back-off).
const REPORT_PATIENCE: Duration = Duration::from_secs(30);

async fn token(url: &str, name: &str, password: &str) -> String {
    let response = http()
        .post(format!("{url}/v1/auth/authenticate"))
        .json(&json!({"name": name, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// `PUT /v1/cluster/members/ID/address` on `url` as the holder of `token`.
async fn set_address(url: &str, token: &str, id: u64, peer: &str, client: &str) -> StatusCode {
    http()
        .put(format!("{url}/v1/cluster/members/{id}/address"))
        .bearer_auth(token)
        .json(&json!({"peer_addr": peer, "client_addr": client}))
        .send()
        .await
        .unwrap()
        .status()
}

/// Member `id`'s client address as node `at` reports it.
async fn client_addr(cluster: &Cluster, at: u64, id: u64) -> Option<String> {
    let view = cluster.view(at).await?;
    let member = view.members.into_iter().find(|member| member.id == id)?;
    member.client_addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_on_a_moved_member_reports_itself_and_only_root_moves_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-member-address", dir.path(), 3);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let endpoints = cluster.endpoints();
    for args in [
        &["user", "add", "root:rootpw"][..],
        &["user", "grant-role", "root", "root"],
        &["user", "add", "alice:alicepw"],
        &["auth", "enable"],
    ] {
        let mut all = args.to_vec();
        all.extend(["--endpoints", &endpoints]);
        let output = run_ordo(&all, CLI_PATIENCE).await;
        assert_eq!(output.code, Some(0), "ordo {args:?}: {output}");
    }

    // Not node 1: its client URL is in every node's --initial-cluster.
    let moved = cluster
        .ids()
        .into_iter()
        .filter(|&id| id != leader)
        .max()
        .unwrap();
    cluster.terminate(moved).await;
    let new_url = url(cluster.move_client_port(moved));
    cluster.start(moved);
    let (cluster_ref, new_url_ref) = (&cluster, new_url.as_str());
    cluster
        .eventually(
            "the leader to log the moved member's new client address",
            REPORT_PATIENCE,
            || async move {
                let leader = cluster_ref.wait_for_leader().await;
                match client_addr(cluster_ref, leader, moved).await {
                    Some(seen) if seen == new_url_ref => Ok(()),
                    seen => Err(format!("node {leader} says node {moved} is at {seen:?}")),
                }
            },
        )
        .await;

    let leader = cluster.wait_for_leader().await;
    let leader_url = cluster.url(leader);
    let peer = cluster.peer_addr(moved);
    let alice = token(&leader_url, "alice", "alicepw").await;
    let hijack = "http://127.0.0.1:1";
    assert_eq!(
        set_address(&leader_url, &alice, moved, &peer, hijack).await,
        StatusCode::FORBIDDEN,
        "a user who is not root re-pointed a member"
    );
    assert_eq!(
        client_addr(&cluster, leader, moved).await,
        Some(new_url.clone())
    );

    let root = token(&leader_url, "root", "rootpw").await;
    let renamed = new_url.replace("127.0.0.1", "localhost");
    assert_eq!(
        set_address(&leader_url, &root, moved, &peer, &renamed).await,
        StatusCode::OK,
        "root may move any member"
    );
    cluster.terminate_all().await;
}
