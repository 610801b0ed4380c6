//! Peer mutual TLS end to end, with real `ordo serve` processes and a PKI
//! made by `ordo cert` as the README shows it: a cluster over mTLS elects
//! and replicates; a node holding another node's certificate is refused by
//! every peer and never joins; `ordo dev --tls` runs a local cluster with
//! both ports secured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::path::Path;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use e2e_support::dev::Dev;
use e2e_support::pki::{self, tls_flags};
use e2e_support::{Cluster, eventually, run_ordo};
use ordo_kv::client::Consistency;

const CLUSTER: &str = "secure";
const CLI_PATIENCE: Duration = Duration::from_secs(20);

/// `ordo cert ca`, then `ordo cert node` for each of `ids`, into `dir`;
/// a second `ordo cert ca` there is refused.
async fn make_pki(dir: &Path, ids: &[u64]) {
    pki::make_pki(dir, CLUSTER, ids).await;
    let dir = dir.to_str().unwrap();
    let again = run_ordo(&["cert", "ca", "--out", dir], CLI_PATIENCE).await;
    assert_ne!(
        again.code,
        Some(0),
        "the CA was overwritten without --force"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_with_peer_mtls_elects_and_replicates() {
    let root = tempfile::tempdir().unwrap();
    let pki = root.path().join("pki");
    make_pki(&pki, &[1, 2, 3]).await;
    let mut cluster = Cluster::new(CLUSTER, root.path(), 3);
    for id in cluster.ids() {
        cluster.start_with_flags(id, &tls_flags(&pki, id));
    }
    let leader = cluster.wait_for_leader().await;
    cluster.client().put("secret", "kept", None).await.unwrap();
    for follower in cluster.ids().into_iter().filter(|&id| id != leader) {
        cluster.wait_caught_up(leader, follower).await;
    }
    let read = cluster
        .client()
        .get("secret", Consistency::Linearizable)
        .await
        .unwrap();
    assert_eq!(
        read.map(|entry| entry.value),
        Some(bytes::Bytes::from("kept"))
    );
    cluster.terminate_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_nodes_certificate_is_refused_and_never_joins() {
    let root = tempfile::tempdir().unwrap();
    let pki = root.path().join("pki");
    make_pki(&pki, &[1, 2, 3]).await;
    let mut cluster = Cluster::new(CLUSTER, root.path(), 3);
    cluster.start_with_flags(1, &tls_flags(&pki, 1));
    cluster.start_with_flags(2, &tls_flags(&pki, 2));
    // Node 3 holds node 2's (valid) certificate.
    cluster.start_with_flags(3, &tls_flags(&pki, 2));

    let leader = cluster
        .eventually(
            "nodes 1 and 2 to elect a leader",
            Duration::from_secs(30),
            || async {
                let one = cluster.view(1).await.and_then(|view| view.leader);
                let two = cluster.view(2).await.and_then(|view| view.leader);
                match (one, two) {
                    (Some(one), Some(two)) if one == two => Ok(one),
                    seen => Err(format!("leaders seen: {seen:?}")),
                }
            },
        )
        .await;
    assert_ne!(leader, 3);
    cluster.client_of(leader).put("k", "v", None).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    let three = cluster.view(3).await;
    let three_status = three
        .as_ref()
        .map(|view| (view.leader, view.node.commit_index));
    assert!(
        matches!(three_status, None | Some((None, 0))),
        "node 3 joined: {three_status:?}\n{}",
        cluster.logs()
    );
    let peers_logs = format!(
        "{}{}",
        cluster.process(1).stderr(),
        cluster.process(2).stderr()
    );
    assert!(
        peers_logs.contains("the certificate names node 2"),
        "node 3's claim was not refused for its certificate:\n{peers_logs}"
    );
    cluster.terminate_all().await;
}

/// `ordo ARGS` with `--endpoints` and, when given, `--cacert`.
async fn ordo_at(args: &[&str], endpoints: &str, ca: Option<&Path>) -> e2e_support::CliOutput {
    let mut all = args.to_vec();
    all.extend(["--endpoints", endpoints]);
    if let Some(ca) = ca {
        all.extend(["--cacert", ca.to_str().unwrap()]);
    }
    run_ordo(&all, CLI_PATIENCE).await
}

/// The first `event: frame` of `/v1/ui/stream` on the HTTPS client port
/// `port`, trusting `ca`.
// ring, as the crate's own provider (`src/tls.rs`).
#[allow(deprecated)]
async fn dashboard_frame(port: u16, ca: &Path) -> Result<serde_json::Value, String> {
    use rustls_pki_types::pem::PemObject;
    use tokio::io::AsyncReadExt;

    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|error| error.to_string())?;
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|error| error.to_string())?;
    let request =
        "GET /v1/ui/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut seen = String::new();
    let read = async {
        let mut buffer = [0u8; 8192];
        loop {
            let read = tls
                .read(&mut buffer)
                .await
                .map_err(|error| error.to_string())?;
            if read == 0 {
                return Err(format!("the stream ended: {seen}"));
            }
            seen.push_str(&String::from_utf8_lossy(&buffer[..read]));
            // A frame's data is one line; a chunk boundary inside it makes
            // it fail to parse, and the next frame is read instead.
            let frames = seen.split("event: frame\ndata: ").skip(1);
            for data in frames.filter_map(|rest| rest.split_once('\n')) {
                if let Ok(frame) = serde_json::from_str(data.0) {
                    return Ok(frame);
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .map_err(|_| "no frame within 5 s".to_owned())?
}

/// `ordo dev --tls`: certificates are made in DATA/pki, the welcome says how
/// to reach the cluster, the client port speaks only HTTPS (the CLI with
/// `--cacert` writes and reads, without it fails; the dashboard shows every
/// member healthy, asked over HTTPS), the peer port only TLS (a
/// plaintext caller is refused), and a restart reuses the certificates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_tls_runs_a_local_cluster_on_https_and_peer_mtls() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Dev::spawn(dir.path(), &["--tls"]).await;
    let ca = dev.data().join("pki").join("ca.crt");
    let endpoints: Vec<String> = (1..=3)
        .map(|id| format!("https://127.0.0.1:{}", dev.client_port(id)))
        .collect();
    let endpoints = endpoints.join(",");
    let welcome = dev.welcome();
    assert!(welcome.contains(&endpoints), "{welcome}");
    assert!(
        welcome.contains(&format!("--cacert {}", ca.display())),
        "{welcome}"
    );
    // The first write may meet the cluster's first election still settling
    // (a 503 whose outcome is unknown, on a loaded machine): it is sent
    // again, so the revision it lands at is 1 or, after a retry, a little
    // more.
    let (endpoints_ref, ca_ref) = (endpoints.as_str(), ca.as_path());
    let put = eventually("the first put over HTTPS", || async move {
        let put = ordo_at(&["put", "greeting", "hello"], endpoints_ref, Some(ca_ref)).await;
        if put.code == Some(0) {
            Ok(put)
        } else {
            Err(put.to_string())
        }
    })
    .await;
    assert!(put.stdout.starts_with("OK revision="), "{put}");
    // The dashboard of node 1 shows every member's own state: its fan-out
    // asks the other members' HTTPS client ports through the cluster CA.
    let every_member_answered = || async {
        let frame = dashboard_frame(dev.client_port(1), &ca).await?;
        let health: Vec<String> = frame["members"]
            .as_array()
            .map(|members| {
                members
                    .iter()
                    .map(|member| member["health"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        if health.len() == 3 && health.iter().all(|health| health == "healthy") {
            Ok(())
        } else {
            Err(format!(
                "members' health: {health:?} in {}",
                frame["members"]
            ))
        }
    };
    eventually(
        "node 1's dashboard to show every member healthy",
        every_member_answered,
    )
    .await;
    let untrusted = ordo_at(&["get", "greeting"], &endpoints, None).await;
    assert_ne!(
        untrusted.code,
        Some(0),
        "read without trusting the CA: {untrusted}"
    );

    let peer_port = format!("127.0.0.1:{}", dev.peer_port(1));
    let mut plaintext = tokio::net::TcpStream::connect(&peer_port).await.unwrap();
    plaintext.write_all(b"\0\0\0\x05hello").await.unwrap();
    eventually("node 1 to refuse a plaintext peer", || {
        let refused = dev.process().stderr().contains("TLS handshake refused");
        std::future::ready(if refused {
            Ok(())
        } else {
            Err("not yet".to_owned())
        })
    })
    .await;

    dev.interrupt().await;
    dev.restart().await;
    let get = ordo_at(&["get", "greeting"], &endpoints, Some(&ca)).await;
    assert_eq!((get.code, get.stdout.as_str()), (Some(0), "hello"), "{get}");
    dev.interrupt().await;
}
