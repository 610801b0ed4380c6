//! The coordination verbs of the `ordo` binary against the fake
//! coordination store: `ordo lock` runs its command under the lock and
//! passes its exit code on (also when its final revoke fails: retried, then
//! left to expire with a warning), `ordo txn` reads stdin, `ordo watch` prints one
//! line per event, `ordo elect NAME` prints each leader, and `ordo get`
//! into a pipe adds no newline.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod coordination_fake;

use std::process::Stdio;
use std::time::Duration;

use coordination_fake::{FakeStore, serve};
use ordo_kv::client::recipes::{Election, Session};
use ordo_kv::client::{Client, ClientConfig, Op, Txn};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

const STEP: Duration = Duration::from_secs(10);

fn ordo(endpoint: &ordo_kv::client::Endpoint) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ordo"));
    command
        .env("ORDO_ENDPOINTS", endpoint.to_string())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// The command runs while `jobs/<lease>` exists, its exit code becomes
/// ordo's, and the lock and its session are gone afterwards.
#[tokio::test]
async fn lock_runs_the_command_holding_the_lock_and_passes_its_exit_code() {
    let store = FakeStore::new();
    let endpoint = serve(store.router()).await;
    let output = timeout(
        STEP,
        ordo(&endpoint)
            .args(["lock", "jobs", "--", "sh", "-c", "echo running; exit 3"])
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "running\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("locked jobs/1"), "{stderr}");
    assert!(store.keys().is_empty(), "{:?}", store.keys());
}

/// The fake, with its first `failures` lease revokes answered 503
/// `unavailable` (the outcome unknown, as when the leader dies mid-request).
fn failing_revokes(store: &std::sync::Arc<FakeStore>, failures: usize) -> axum::Router {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let left = std::sync::Arc::new(AtomicUsize::new(failures));
    store.router().layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let left = std::sync::Arc::clone(&left);
            async move {
                let revoke = request.method() == axum::http::Method::DELETE
                    && request.uri().path().starts_with("/v1/leases/");
                let fail = revoke
                    && left
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                if fail {
                    let body = axum::Json(serde_json::json!({
                        "error": "unavailable",
                        "message": "the leader changed: outcome unknown",
                    }));
                    return axum::response::IntoResponse::into_response((
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        body,
                    ));
                }
                next.run(request).await
            }
        },
    ))
}

/// A final revoke that fails once is retried: the exit code is the
/// command's, the lease is gone and nothing is said about it (before: ordo
/// exited 1 with the revoke's error).
#[tokio::test]
async fn lock_retries_a_failed_final_revoke() {
    let store = FakeStore::new();
    let endpoint = serve(failing_revokes(&store, 1)).await;
    let output = timeout(
        STEP,
        ordo(&endpoint)
            .args(["lock", "jobs", "--", "sh", "-c", "exit 4"])
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(store.keys().is_empty(), "{:?}", store.keys());
}

/// When every revoke fails, ordo still exits with the command's code and
/// says the lock goes when the lease expires.
#[tokio::test]
async fn lock_leaves_an_unrevokable_lease_to_expire_with_a_warning() {
    let store = FakeStore::new();
    let endpoint = serve(failing_revokes(&store, usize::MAX)).await;
    let output = timeout(
        STEP,
        ordo(&endpoint)
            .args(["lock", "jobs", "--ttl", "7", "--", "true"])
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("could not revoke lease 1")
            && stderr.contains("released when the lease expires, within 7 s"),
        "{stderr}"
    );
}

/// When the session's lease is lost, the command is killed and ordo
/// fails, rather than letting it run unprotected.
#[tokio::test]
async fn a_lost_lock_kills_the_command() {
    let store = FakeStore::new();
    let endpoint = serve(store.router()).await;
    let started = tokio::time::Instant::now();
    let mut locker = ordo(&endpoint)
        .args(["lock", "jobs", "--ttl", "3", "--", "sleep", "30"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(locker.stderr.take().unwrap()).lines();
    // Lost once the command runs under the lock (a lease lost while
    // waiting for the lock fails the wait instead).
    let locked = timeout(STEP, stderr.next_line()).await.unwrap().unwrap();
    assert!(
        locked
            .as_deref()
            .is_some_and(|line| line.starts_with("locked jobs/1")),
        "{locked:?}"
    );
    store.expire_lease(1);
    let status = timeout(STEP, locker.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(1));
    let said = timeout(STEP, stderr.next_line()).await.unwrap().unwrap();
    assert!(
        said.as_deref()
            .is_some_and(|line| line.contains("sleep was killed")),
        "{said:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// `ordo get` into a pipe writes the value exactly as stored (the newline
/// is for terminals only).
#[tokio::test]
async fn get_into_a_pipe_adds_no_newline() {
    let router = axum::Router::new().route(
        "/v1/kv/{key}",
        axum::routing::get(|| async {
            (
                [("x-ordo-revision", "1"), ("x-ordo-cluster-revision", "1")],
                "value",
            )
        }),
    );
    let endpoint = serve(router).await;
    let output = timeout(STEP, ordo(&endpoint).args(["get", "k"]).output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout, b"value");
}

#[tokio::test]
async fn txn_reads_its_body_from_stdin_and_watch_prints_each_event() {
    let store = FakeStore::new();
    let endpoint = serve(store.router()).await;
    let mut watcher = ordo(&endpoint)
        .args(["watch", "--prefix", "k/"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watcher.stdout.take().unwrap()).lines();
    // The watch is open once the store has seen it.
    timeout(STEP, async {
        while store.watched().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();

    let mut txn = ordo(&endpoint)
        .arg("txn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let body = r#"{"success": [{"put": {"key": "k/a", "value": "one"}}, {"put": {"key": "other", "value": "x"}}]}"#;
    let mut stdin = txn.stdin.take().unwrap();
    stdin.write_all(body.as_bytes()).await.unwrap();
    drop(stdin);
    let output = timeout(STEP, txn.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["succeeded"], true);

    store.apply(&Txn::new().then([Op::delete("k/a")]).build());
    let first = timeout(STEP, lines.next_line()).await.unwrap().unwrap();
    let second = timeout(STEP, lines.next_line()).await.unwrap().unwrap();
    assert_eq!(first.as_deref(), Some("1\tPUT\tk/a\tone"));
    assert_eq!(second.as_deref(), Some("2\tDELETE\tk/a\t"));
}

/// `ordo elect NAME` prints each leader's value as leadership moves.
#[tokio::test]
async fn elect_without_a_proposal_prints_each_leader() {
    let store = FakeStore::new();
    let endpoint = serve(store.router()).await;
    let mut observer = ordo(&endpoint)
        .args(["elect", "svc"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(observer.stdout.take().unwrap()).lines();
    timeout(STEP, async {
        while store.watched().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    let client = Client::new(ClientConfig::new(vec![endpoint])).unwrap();
    let first = Election::new(&Session::new(&client, 10).await.unwrap(), "svc");
    let second = Election::new(&Session::new(&client, 10).await.unwrap(), "svc");
    first.campaign("one").await.unwrap();
    let line = timeout(STEP, lines.next_line()).await.unwrap().unwrap();
    assert_eq!(line.as_deref(), Some("one"));
    let campaign = tokio::spawn(async move { second.campaign("two").await });
    first.resign().await.unwrap();
    timeout(STEP, campaign).await.unwrap().unwrap().unwrap();
    let line = timeout(STEP, lines.next_line()).await.unwrap().unwrap();
    assert_eq!(line.as_deref(), Some("two"));
}
