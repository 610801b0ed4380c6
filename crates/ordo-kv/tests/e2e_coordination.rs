//! End-to-end: the coordination endpoints on real `ordo serve` processes.
//! What `http_coordination.rs` pins in process (every bad input, txn
//! semantics, paging) is not repeated; here: a txn sent to a follower is
//! redirected and applied exactly once on every node, the new flags are
//! taken by the binary, the quota alarm shows on every node, and
//! auto-compaction is run by whichever node leads, across a leader kill.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::{Cluster, PATIENCE, http};
use ordo_kv::api::StatusResponse;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn status(url: &str) -> Result<StatusResponse, String> {
    let response = http()
        .get(format!("{url}/v1/status"))
        .send()
        .await
        .map_err(|error| error.to_string())?;
    response.json().await.map_err(|error| error.to_string())
}

/// POSTs `body` to `url`, following one redirect by hand (with the body).
async fn post_following(url: &str, body: &Value) -> (StatusCode, Value, bool) {
    let first = http()
        .post(url)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let (response, redirected) = if first.status() == StatusCode::TEMPORARY_REDIRECT {
        let location = first.headers()["location"].to_str().unwrap().to_owned();
        let again = http()
            .post(location)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (again, true)
    } else {
        (first, false)
    };
    let code = response.status();
    (
        code,
        response.json().await.unwrap_or(Value::Null),
        redirected,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txns_quota_and_auto_compaction_across_a_leader_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-coordination", dir.path(), 3).with_flags(&[
        "--quota-bytes",
        "3000",
        "--auto-compaction-retention",
        "4",
    ]);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let follower = cluster.ids().into_iter().find(|id| *id != leader).unwrap();

    // A txn sent to a follower: redirected, applied once, on every node.
    let claim = json!({
        "compare": [{"key": "lock", "target": "create_revision", "op": "=", "value": 0}],
        "success": [{"put": {"key": "lock", "value": "a"}}, {"put": {"key": "owner", "value": "a"}}]
    });
    let (code, answer, redirected) =
        post_following(&format!("{}/v1/txn", cluster.url(follower)), &claim).await;
    assert!(redirected, "a follower proposes nothing itself");
    assert_eq!(code, StatusCode::OK, "{answer}");
    assert_eq!(
        (answer["succeeded"].as_bool(), answer["revision"].as_u64()),
        (Some(true), Some(1))
    );
    for id in cluster.ids() {
        let url = cluster.url(id);
        cluster
            .eventually("every node applies the txn once", PATIENCE, || async {
                match status(&url).await?.revision {
                    Some(1) => Ok(()),
                    other => Err(format!("node {id}: revision {other:?}")),
                }
            })
            .await;
    }

    // Writes through the leader until the quota stops them: the alarm shows
    // on every node, which all apply the same bytes.
    let mut written = 0;
    loop {
        let put = http()
            .put(format!("{}/v1/kv/fill/{written}", cluster.url(leader)))
            .body("v".repeat(400))
            .send()
            .await
            .unwrap();
        if put.status() == StatusCode::INSUFFICIENT_STORAGE {
            break;
        }
        assert_eq!(put.status(), StatusCode::OK);
        written += 1;
        assert!(written < 20, "the quota never stopped a put");
    }
    for id in cluster.ids() {
        let url = cluster.url(id);
        cluster
            .eventually("the alarm on every node", PATIENCE, || async {
                let alarms = status(&url).await?.alarms;
                if alarms == ["quota_exceeded"] {
                    Ok(())
                } else {
                    Err(format!("{alarms:?}"))
                }
            })
            .await;
    }

    // The leader compacts by itself, keeping 4 revisions; kill it, and
    // the next leader carries on.
    let revision = status(&cluster.url(leader))
        .await
        .unwrap()
        .revision
        .unwrap();
    let leader_url = cluster.url(leader);
    cluster
        .eventually("the leader compacts", PATIENCE, || async {
            match status(&leader_url).await?.compact_revision {
                Some(compacted) if compacted == revision - 4 => Ok(()),
                other => Err(format!("compact revision {other:?}, revision {revision}")),
            }
        })
        .await;
    cluster.kill(leader);
    let new_leader = cluster.wait_for_leader().await;
    let url = cluster.url(new_leader);
    let deleted = http()
        .delete(format!("{url}/v1/kv?prefix=fill/"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    // Deletes keep the history's bytes until it is compacted.
    let compact = http()
        .post(format!("{url}/v1/compact"))
        .body(json!({"revision": revision + 1}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(compact.status(), StatusCode::OK);
    for id in cluster.running_ids() {
        let node_url = cluster.url(id);
        cluster
            .eventually("the alarm clears on every node", PATIENCE, || async {
                let alarms = status(&node_url).await?.alarms;
                if alarms.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{alarms:?}"))
                }
            })
            .await;
    }
    for index in 0..6 {
        let put = http()
            .put(format!("{url}/v1/kv/after/{index}"))
            .body("fits")
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), StatusCode::OK);
    }
    let last = revision + 1 + 6;
    cluster
        .eventually("the new leader compacts by itself", PATIENCE, || async {
            match status(&url).await?.compact_revision {
                Some(compacted) if compacted == last - 4 => Ok(()),
                other => Err(format!("compact revision {other:?}, revision {last}")),
            }
        })
        .await;
}
