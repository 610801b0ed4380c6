//! Auth across real `ordo serve` processes, set up with the `ordo` CLI as
//! the README shows: root and a user with read on `app/`; that user gets
//! 403 on a write and on a list of the whole keyspace and sees only its
//! keys; its token still works after the leader is killed (the signing key
//! is replicated); a changed password invalidates older tokens; the CLI's
//! `--user` authenticates every verb. With `--client-cert-auth`, the
//! certificate's name is the user, no token needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::time::Duration;

use e2e_support::certs::{CertFiles, TestCa};
use e2e_support::{CliOutput, Cluster, http, run_ordo};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CLI_PATIENCE: Duration = Duration::from_secs(20);

async fn ordo(endpoints: &str, args: &[&str]) -> CliOutput {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--endpoints", endpoints]);
    run_ordo(&all, CLI_PATIENCE).await
}

async fn ordo_ok(endpoints: &str, args: &[&str]) -> String {
    let output = ordo(endpoints, args).await;
    assert_eq!(output.code, Some(0), "ordo {args:?}: {output}");
    output.stdout
}

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

async fn get_status(url: &str, path: &str, token: &str) -> (StatusCode, Value) {
    let response = http()
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_sees_only_its_keys_and_its_token_outlives_the_leader() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-auth", dir.path(), 3);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let endpoints = cluster
        .ids()
        .iter()
        .map(|&id| cluster.url(id))
        .collect::<Vec<_>>()
        .join(",");
    let e = endpoints.as_str();

    for args in [
        &["put", "app/config", "blue"][..],
        &["put", "secret", "hidden"],
        &["user", "add", "root:rootpw"],
        &["user", "grant-role", "root", "root"],
        &["role", "add", "app-reader"],
        &["role", "grant", "app-reader", "read", "app/", "--prefix"],
        &["user", "add", "alice:alicepw"],
        &["user", "grant-role", "alice", "app-reader"],
        &["auth", "enable"],
    ] {
        ordo_ok(e, args).await;
    }
    let refused = ordo(e, &["get", "app/config"]).await;
    assert_ne!(refused.code, Some(0), "no user, auth on: {refused}");
    assert!(refused.stderr.contains("unauthenticated"), "{refused}");
    let value = ordo_ok(e, &["get", "app/config", "--user", "alice:alicepw"]).await;
    assert_eq!(value.trim_end(), "blue");
    let write = ordo(e, &["put", "app/config", "red", "--user", "alice:alicepw"]).await;
    assert!(write.stderr.contains("permission_denied"), "{write}");
    let roles = ordo_ok(e, &["user", "get", "alice", "--user", "root:rootpw"]).await;
    assert!(roles.contains("app-reader"), "{roles}");

    let url = cluster.url(leader);
    let alice = token(&url, "alice", "alicepw").await;
    let (status, _) = get_status(&url, "/v1/kv?prefix=", &alice).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the whole keyspace");
    let (status, page) = get_status(&url, "/v1/kv?prefix=app/", &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    let put = http()
        .put(format!("{url}/v1/kv/app/config"))
        .bearer_auth(&alice)
        .body("red")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::FORBIDDEN);

    cluster.kill(leader);
    let new_leader = cluster.wait_for_leader().await;
    let url = cluster.url(new_leader);
    let (status, _) = get_status(&url, "/v1/kv/app/config", &alice).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the token outlives its issuer's leadership"
    );

    let live = cluster
        .running_ids()
        .iter()
        .map(|&id| cluster.url(id))
        .collect::<Vec<_>>()
        .join(",");
    ordo_ok(
        &live,
        &["user", "passwd", "alice:changed", "--user", "root:rootpw"],
    )
    .await;
    let (status, answer) = get_status(&url, "/v1/kv/app/config", &alice).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    let value = ordo_ok(&live, &["get", "app/config", "--user", "alice:changed"]).await;
    assert_eq!(value.trim_end(), "blue");
    let root = token(&url, "root", "rootpw").await;
    let (status, secret) = get_status(&url, "/v1/kv?prefix=secret", &root).await;
    assert_eq!(
        (status, secret["items"][0]["value"].clone()),
        (StatusCode::OK, json!("hidden")),
        "unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_client_cert_auth_the_certificate_names_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    let ca = TestCa::new(&pki, "auth-ca");
    let server = ca.server(&pki, "server");
    let [root, alice, mallory] = ["root", "alice", "mallory"].map(|user| ca.client(&pki, user));
    let flags = [
        "--cert",
        server.cert.to_str().unwrap(),
        "--key",
        server.key.to_str().unwrap(),
        "--trusted-ca",
        ca.cert.to_str().unwrap(),
        "--client-cert-auth",
    ];
    let mut cluster = Cluster::new("e2e-auth-certs", dir.path(), 1).with_flags(&flags);
    cluster.start_all();
    let url = format!("https://127.0.0.1:{}", cluster.spec(1).client_port);
    let as_user = |who: &CertFiles, verb: &[&str]| {
        let mut args: Vec<String> = verb.iter().map(|arg| (*arg).to_owned()).collect();
        for (flag, path) in [
            ("--cacert", &ca.cert),
            ("--cert", &who.cert),
            ("--key", &who.key),
        ] {
            args.extend([flag.to_owned(), path.to_str().unwrap().to_owned()]);
        }
        args.extend(["--endpoints".to_owned(), url.clone()]);
        args
    };
    let run = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_ordo(&args, CLI_PATIENCE).await
    };
    cluster
        .eventually("a write over HTTPS", CLI_PATIENCE, || {
            let args = as_user(&root, &["put", "app/config", "blue"]);
            async move {
                let output = run(args).await;
                (output.code == Some(0))
                    .then_some(())
                    .ok_or(output.to_string())
            }
        })
        .await;
    for verb in [
        &["user", "add", "root", "--no-password"][..],
        &["user", "grant-role", "root", "root"],
        &["role", "add", "app-reader"],
        &["role", "grant", "app-reader", "read", "app/", "--prefix"],
        &["user", "add", "alice", "--no-password"],
        &["user", "grant-role", "alice", "app-reader"],
        &["auth", "enable"],
    ] {
        let output = run(as_user(&root, verb)).await;
        assert_eq!(output.code, Some(0), "{verb:?}: {output}");
    }
    let read = run(as_user(&alice, &["get", "app/config"])).await;
    assert_eq!(read.stdout.trim_end(), "blue", "{read}");
    let write = run(as_user(&alice, &["put", "app/config", "red"])).await;
    assert!(write.stderr.contains("permission_denied"), "{write}");
    let stranger = run(as_user(&mallory, &["get", "app/config"])).await;
    assert!(
        stranger.stderr.contains("permission_denied"),
        "not a user: {stranger}"
    );
    let root_write = run(as_user(&root, &["put", "other", "x"])).await;
    assert_eq!(root_write.code, Some(0), "{root_write}");
}
