//! The client port under hostile or careless clients, with real `ordo
//! serve` processes (issue 14): slow-loris heads and a body that never
//! arrives are cut off on time while the cluster keeps committing; idle
//! connections past the cap are shed so new clients are served, also
//! under a low descriptor limit; HTTPS with and without client
//! certificates, reloaded on SIGHUP; and a listener other hosts can reach
//! needs TLS or `--insecure`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::path::Path;
use std::time::Duration;

use e2e_support::certs::TestCa;
use e2e_support::{Cluster, EXIT_PATIENCE, Process, free_port, run_ordo, wait_healthy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Writes that must commit while the client port is under attack.
const WRITES: usize = 10;

async fn put_all(cluster: &Cluster, prefix: &str) {
    let client = cluster.client();
    for i in 0..WRITES {
        client
            .put(&format!("{prefix}{i}"), "v", None)
            .await
            .unwrap_or_else(|error| panic!("write {i}: {error}\n{}", cluster.logs()));
    }
}

/// Reads what the server sends until it closes; `None` if it has not
/// closed within `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&answer).into_owned())
}

/// Opens `count` connections to `address` at once; returns those that
/// connected within a second each.
async fn open_idle(address: &str, count: usize) -> Vec<TcpStream> {
    let attempts: Vec<_> = (0..count)
        .map(|_| {
            let address = address.to_owned();
            tokio::spawn(async move {
                tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(address)).await
            })
        })
        .collect();
    let mut open = Vec::new();
    for attempt in attempts {
        if let Ok(Ok(Ok(stream))) = attempt.await {
            open.push(stream);
        }
    }
    open
}

/// How many of `streams` the server has closed (a read sees the end at once).
async fn closed_by_server(streams: &mut [TcpStream]) -> usize {
    let mut closed = 0;
    for stream in streams {
        if read_until_closed(stream, Duration::from_millis(20))
            .await
            .is_some()
        {
            closed += 1;
        }
    }
    closed
}

fn leader_address(cluster: &Cluster, leader: u64) -> String {
    format!("127.0.0.1:{}", cluster.spec(leader).client_port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_heads_and_a_body_that_never_arrives_are_cut_off_while_writes_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-loris", dir.path(), 3).with_flags(&[
        "--http-header-timeout-ms",
        "1000",
        "--http-body-timeout-ms",
        "1000",
    ]);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let address = leader_address(&cluster, leader);
    let mut lorises = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        stream
            .write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        lorises.push(stream);
    }
    let mut stalled = TcpStream::connect(&address).await.unwrap();
    stalled
        .write_all(b"PUT /v1/kv/stalled HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        .await
        .unwrap();

    put_all(&cluster, "during-").await;

    let answer = read_until_closed(&mut stalled, Duration::from_secs(5))
        .await
        .expect("the stalled body's connection must be closed");
    assert!(
        answer.starts_with("HTTP/1.1 408") && answer.contains("request_timeout"),
        "{answer:?}"
    );
    for (i, loris) in lorises.iter_mut().enumerate() {
        assert!(
            read_until_closed(loris, Duration::from_secs(5))
                .await
                .is_some(),
            "slow-loris connection {i} still open after the header timeout"
        );
    }
    let stalled_value = cluster
        .client()
        .get("stalled", ordo_kv::client::Consistency::Linearizable)
        .await
        .unwrap();
    assert!(stalled_value.is_none(), "half a body was written");
    put_all(&cluster, "after-").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_the_cap_are_shed_and_new_clients_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster =
        Cluster::new("e2e-idle", dir.path(), 3).with_flags(&["--max-client-connections", "20"]);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let mut idle = open_idle(&leader_address(&cluster, leader), 100).await;
    assert_eq!(idle.len(), 100, "every idle connection opens");

    put_all(&cluster, "k").await;

    let closed = closed_by_server(&mut idle).await;
    assert!(
        closed >= 80,
        "only {closed} of 100 idle connections were shed at a cap of 20"
    );
    let endpoint = ordo_kv::client::Endpoint::parse(&cluster.url(leader)).unwrap();
    let metrics = cluster.client().metrics(&endpoint).await.unwrap();
    assert!(
        metrics.contains("ordo_client_connections_evicted_total "),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_connections_under_a_low_descriptor_limit_leaves_the_leader_writable() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("e2e-fds", dir.path(), 3).with_descriptor_limit(512);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    // Three times the descriptors the leader may have open.
    let idle = open_idle(&leader_address(&cluster, leader), 1500).await;
    put_all(&cluster, "k").await;
    assert!(cluster.is_running(leader), "{}", cluster.logs());
    let view = cluster.view(leader).await.expect("the leader answers");
    assert_eq!(view.leader, Some(leader), "{}", cluster.logs());
    drop(idle);
}

fn tls_flags(ca: &Path, server: &e2e_support::certs::CertFiles) -> Vec<String> {
    [
        "--cert",
        server.cert.to_str().unwrap(),
        "--key",
        server.key.to_str().unwrap(),
        "--trusted-ca",
        ca.to_str().unwrap(),
        "--client-cert-auth",
    ]
    .iter()
    .map(|flag| (*flag).to_owned())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_requires_a_client_certificate_and_reloads_its_own_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    let ca = TestCa::new(&pki, "first");
    let server = ca.server(&pki, "server");
    let alice = ca.client(&pki, "alice");
    let flags = tls_flags(&ca.cert, &server);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut cluster = Cluster::new("e2e-https", dir.path(), 1).with_flags(&flags);
    cluster.start_all();
    let url = format!("https://127.0.0.1:{}", cluster.spec(1).client_port);
    let with = |ca: &Path, client: Option<&e2e_support::certs::CertFiles>, verb: &[&str]| {
        let mut args: Vec<String> = verb.iter().map(|arg| (*arg).to_owned()).collect();
        args.extend([
            "--endpoints".into(),
            url.clone(),
            "--timeout".into(),
            "3s".into(),
        ]);
        args.extend(["--cacert".into(), ca.to_str().unwrap().to_owned()]);
        if let Some(client) = client {
            args.extend(["--cert".into(), client.cert.to_str().unwrap().to_owned()]);
            args.extend(["--key".into(), client.key.to_str().unwrap().to_owned()]);
        }
        args
    };
    let run = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_ordo(&args, Duration::from_secs(15)).await
    };
    cluster
        .eventually("a write over HTTPS", Duration::from_secs(20), || {
            let args = with(&ca.cert, Some(&alice), &["put", "k", "v"]);
            async move {
                let output = run(args).await;
                (output.code == Some(0))
                    .then_some(())
                    .ok_or(output.to_string())
            }
        })
        .await;
    let view = run(with(&ca.cert, Some(&alice), &["member", "list"])).await;
    assert!(
        view.code == Some(0) && view.stdout.contains("https://127.0.0.1:"),
        "member addresses must be https://\n{view}"
    );

    let anonymous = run(with(&ca.cert, None, &["put", "k", "stranger"])).await;
    assert_ne!(anonymous.code, Some(0), "{anonymous}");
    let no_ca = run_ordo(
        &["get", "k", "--endpoints", &url, "--timeout", "2s"],
        Duration::from_secs(10),
    )
    .await;
    assert!(no_ca.stderr.contains("--cacert"), "{no_ca}");
    let plain = run_ordo(
        &[
            "get",
            "k",
            "--endpoints",
            &url.replace("https", "http"),
            "--timeout",
            "2s",
        ],
        Duration::from_secs(10),
    )
    .await;
    assert_ne!(plain.code, Some(0), "{plain}");
    let read = run(with(&ca.cert, Some(&alice), &["get", "k"])).await;
    assert_eq!(read.stdout.trim_end(), "v", "{read}");

    // A new CA and certificate in place of the files; SIGHUP reloads them.
    let second = TestCa::new(&pki, "second");
    let renewed = second.server(&pki, "renewed");
    std::fs::copy(&renewed.cert, &server.cert).unwrap();
    std::fs::copy(&renewed.key, &server.key).unwrap();
    cluster.process(1).signal("HUP");
    cluster
        .eventually("the renewed certificate", Duration::from_secs(20), || {
            let args = with(&second.cert, Some(&alice), &["get", "k"]);
            async move {
                let output = run(args).await;
                (output.code == Some(0))
                    .then_some(())
                    .ok_or(output.to_string())
            }
        })
        .await;
    let old_ca = run(with(&ca.cert, Some(&alice), &["get", "k"])).await;
    assert_ne!(old_ca.code, Some(0), "{old_ca}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_other_hosts_can_reach_needs_tls_unless_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::new("e2e-exposed", dir.path(), 1);
    let port = free_port();
    let mut args = cluster.serve_args(1);
    let at = args
        .iter()
        .position(|arg| arg == "--client-listen")
        .unwrap();
    args[at + 1] = format!("0.0.0.0:{port}");
    args.extend([
        "--advertise-client".into(),
        format!("http://127.0.0.1:{port}"),
    ]);
    let logs = dir.path().join("logs");
    let mut refused = Process::spawn("refused", &args, &logs);
    let status = refused.wait_exit(EXIT_PATIENCE).await;
    assert!(
        status.is_some_and(|status| !status.success()),
        "{}",
        refused.logs()
    );
    let stderr = refused.stderr();
    assert!(
        stderr.contains("without TLS") && stderr.contains("--insecure"),
        "{stderr}"
    );
    assert!(
        !cluster.spec(1).data.join("wal").exists(),
        "nothing may be written before the refusal"
    );
    args.push("--insecure".into());
    let mut insecure = Process::spawn("insecure", &args, &logs);
    wait_healthy(&format!("http://127.0.0.1:{port}"), &mut insecure).await;
}
