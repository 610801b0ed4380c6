//! The fan-out against a member behind HTTPS: asked through the cluster CA,
//! not asked without one.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use ordo::transport::ClusterId;
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::{MemberAnswer, MemberAsker};
use crate::api::{ClusterResponse, MemberInfo, NodeStatusInfo};
use crate::pki::{DevPki, Overwrite, write_dev_pki};
use crate::server::http::tls::ClientTls;

/// Node `id`'s answer to `/v1/cluster`, naming `members`.
fn cluster_seen_by(id: u64, members: Vec<MemberInfo>) -> ClusterResponse {
    ClusterResponse {
        cluster: "test".into(),
        cluster_id: None,
        node: NodeStatusInfo {
            id,
            role: "follower".into(),
            term: 3,
            leader: Some(1),
            commit_index: 7,
            applied_index: 7,
            durable_index: 7,
        },
        leader: Some(1),
        term: 3,
        members,
        replication: Vec::new(),
    }
}

fn member(id: u64, client_addr: String) -> MemberInfo {
    MemberInfo {
        id,
        voter: true,
        peer_addr: None,
        client_addr: Some(client_addr),
    }
}

fn dev_pki(dir: &Path) -> DevPki {
    let cluster = ClusterId::new("test").unwrap();
    write_dev_pki(dir, &cluster, &[1, 2], Overwrite::Keep).unwrap()
}

/// Serves `answer` at `/v1/cluster` over HTTPS with node 2's certificate.
async fn serve_member_over_https(pki: &DevPki, answer: ClusterResponse) -> SocketAddr {
    let (_, cert, key) = pki.nodes[1].clone();
    let files = ClientTls {
        cert,
        key,
        trusted_ca: None,
        client_cert_auth: false,
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(files.server_config().unwrap());
    let app = Router::new().route(
        "/v1/cluster",
        get(move || std::future::ready(axum::Json(answer.clone()))),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service =
                    hyper::service::service_fn(move |request| app.clone().oneshot(request));
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    address
}

#[tokio::test]
async fn a_member_behind_https_is_asked_through_the_cluster_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dev_pki(dir.path());
    let address = serve_member_over_https(&pki, cluster_seen_by(2, Vec::new())).await;
    let members = vec![
        member(1, "http://127.0.0.1:1".into()),
        member(2, format!("https://{address}")),
    ];
    let view = cluster_seen_by(1, members);

    let mut asker = MemberAsker::new(Some(pki.ca_certificate.clone()));
    let answers = asker.ask(&view).await;
    let Some(MemberAnswer::Answered(answer)) = answers.get(&2) else {
        panic!("member 2 over HTTPS: {answers:?}");
    };
    assert_eq!((answer.node.id, answer.node.applied_index), (2, 7));

    let mut without_ca = MemberAsker::new(None);
    let answers = without_ca.ask(&view).await;
    assert!(
        matches!(answers.get(&2), Some(MemberAnswer::NotAsked)),
        "without a CA, HTTPS members are not asked: {answers:?}"
    );
}
