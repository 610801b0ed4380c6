//! etcd's gRPC API behind TLS, on `ordo dev --tls` (three nodes in a real
//! process, HTTPS client ports), through tonic stubs over TLS 1.3: Lock and
//! Election work on a TLS port and with auth on (a user may lock a name
//! only with permission on the keys under it), and a follower forwards
//! writes, lease grants, locks and campaigns to its leader over TLS, also
//! to a leader that requires client certificates (`ordo serve` processes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use e2e_support::dev::{DEV_NODES, Dev};
use e2e_support::{Cluster, eventually};
use ordo_kv::pki::{Overwrite, write_dev_pki};
use ordo_kv::server::etcd::pb::authpb::{Permission, permission::Type as PermissionType};
use ordo_kv::server::etcd::pb::etcdserverpb::{
    self as pb, auth_client::AuthClient, kv_client::KvClient, lease_client::LeaseClient,
    maintenance_client::MaintenanceClient,
};
use ordo_kv::server::etcd::pb::v3electionpb::{
    CampaignRequest, LeaderRequest, ResignRequest, election_client::ElectionClient,
};
use ordo_kv::server::etcd::pb::v3lockpb::{LockRequest, UnlockRequest, lock_client::LockClient};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request};

/// Longest wait for a lock or a campaign that should be granted.
const GRANT_PATIENCE: Duration = Duration::from_secs(10);

/// A running `ordo dev --tls` and how to reach it.
struct DevTls {
    _dir: tempfile::TempDir,
    _dev: Dev,
    ca: PathBuf,
    urls: Vec<String>,
}

async fn start_dev_tls() -> DevTls {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::spawn(dir.path(), &["--tls"]).await;
    DevTls {
        ca: dev.data().join("pki").join("ca.crt"),
        urls: (1..=DEV_NODES)
            .map(|id| format!("https://127.0.0.1:{}", dev.client_port(id)))
            .collect(),
        _dir: dir,
        _dev: dev,
    }
}

/// A channel over TLS 1.3 to `url`, trusting `ca` (what an etcd client
/// with `--cacert` does), presenting `identity` (certificate and key files)
/// if given.
fn tls_channel(url: &str, ca: &Path, identity: Option<&(PathBuf, PathBuf)>) -> Channel {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            builder
                .with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(key).unwrap())
                .unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http2()
        .build();
    Endpoint::from_shared(url.to_owned())
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .connect_with_connector_lazy(connector)
}

/// The URLs of the leader and of a follower among `urls`, once a node
/// names a leader.
async fn leader_and_follower(
    urls: &[String],
    connect: impl Fn(&str) -> Channel,
) -> (String, String) {
    let connect = &connect;
    eventually(
        "a node of the TLS cluster to name its leader",
        || async move {
            let mut roles = (None, None);
            for url in urls {
                let status = MaintenanceClient::new(connect(url))
                    .status(pb::StatusRequest {})
                    .await
                    .map_err(|status| format!("{url}: {status}"))?
                    .into_inner();
                let member = status.header.map(|header| header.member_id);
                if status.leader == 0 {
                    return Err(format!("{url} knows no leader"));
                }
                if member == Some(status.leader) {
                    roles.0 = Some(url.clone());
                } else {
                    roles.1 = Some(url.clone());
                }
            }
            match roles {
                (Some(leader), Some(follower)) => Ok((leader, follower)),
                other => Err(format!("leader and follower seen: {other:?}")),
            }
        },
    )
    .await
}

fn bytes(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

/// `message` as a call carrying `token` (what etcd's clients send).
fn as_user<T>(token: Option<&str>, message: T) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("token", token.parse().unwrap());
    }
    request
}

/// A lease granted through `channel` (retried while the cluster's first
/// election settles: a grant whose outcome is unknown is harmless here).
async fn grant(channel: &Channel, token: Option<&str>) -> i64 {
    eventually("a lease grant", || async {
        LeaseClient::new(channel.clone())
            .lease_grant(as_user(token, pb::LeaseGrantRequest { ttl: 60, id: 0 }))
            .await
            .map(|answer| answer.into_inner().id)
            .map_err(|status| status.to_string())
    })
    .await
}

/// Before: a follower behind TLS answered "not leader" to every write, and
/// Lock and Election answered UNIMPLEMENTED on a TLS port. Now a put, lease
/// grants, locks and a campaign sent to a follower are carried out by the
/// leader, and the lock and election recipes work as they do in cleartext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_behind_tls_forwards_writes_and_serves_lock_and_election() {
    let dev = start_dev_tls().await;
    let connect = |url: &str| tls_channel(url, &dev.ca, None);
    let (_, follower) = leader_and_follower(&dev.urls, connect).await;
    let channel = connect(&follower);

    let put = pb::PutRequest {
        key: bytes("greeting"),
        value: bytes("through a follower"),
        ..Default::default()
    };
    let mut kv = KvClient::new(channel.clone());
    let put = kv.put(put).await.expect("a put through a TLS follower");
    assert!(put.into_inner().header.unwrap().revision > 0);
    let read = kv
        .range(pb::RangeRequest {
            key: bytes("greeting"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.kvs[0].value, bytes("through a follower"));

    let (first, second) = (grant(&channel, None).await, grant(&channel, None).await);
    let lock = |lease| LockRequest {
        name: bytes("job"),
        lease,
    };
    let mut locks = LockClient::new(channel.clone());
    let held = locks.lock(lock(first)).await.unwrap().into_inner();
    assert_eq!(held.key, bytes(&format!("job/{first:x}")));
    let mut waiter = LockClient::new(channel.clone());
    let waiting = tokio::spawn(async move { waiter.lock(lock(second)).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "a second lease took a held lock");
    locks.unlock(UnlockRequest { key: held.key }).await.unwrap();
    let next = tokio::time::timeout(GRANT_PATIENCE, waiting)
        .await
        .expect("the waiter was not granted the lock once it was free")
        .unwrap()
        .unwrap()
        .into_inner();
    assert_eq!(next.key, bytes(&format!("job/{second:x}")));

    let mut election = ElectionClient::new(channel);
    let office = || LeaderRequest {
        name: bytes("office"),
    };
    let alice = election
        .campaign(CampaignRequest {
            name: bytes("office"),
            lease: first,
            value: bytes("alice"),
        })
        .await
        .unwrap()
        .into_inner()
        .leader
        .unwrap();
    assert_eq!(alice.key, bytes(&format!("office/{first:x}")));
    let leader = election.leader(office()).await.unwrap().into_inner();
    assert_eq!(leader.kv.unwrap().value, bytes("alice"));
    election
        .resign(ResignRequest {
            leader: Some(alice),
        })
        .await
        .unwrap();
    let none = election.leader(office()).await.unwrap_err();
    assert_eq!(
        (none.code(), none.message()),
        (Code::FailedPrecondition, "etcdserver: election: no leader")
    );
}

fn permission(kind: PermissionType, key: &str, range_end: &str) -> Permission {
    Permission {
        perm_type: kind as i32,
        key: bytes(key),
        range_end: bytes(range_end),
    }
}

/// Over TLS, as etcdctl would with auth off: root (`rootpw`) with the role
/// root; alice (`alicepw`) with readwrite on `job/`; bob (`bobpw`) with no
/// role; then auth on.
async fn set_up_auth(channel: &Channel) {
    let mut auth = AuthClient::new(channel.clone());
    for (name, password) in [("root", "rootpw"), ("alice", "alicepw"), ("bob", "bobpw")] {
        auth.user_add(pb::AuthUserAddRequest {
            name: name.into(),
            password: password.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let grant = |user: &str, role: &str| pb::AuthUserGrantRoleRequest {
        user: user.into(),
        role: role.into(),
    };
    auth.user_grant_role(grant("root", "root")).await.unwrap();
    auth.role_add(pb::AuthRoleAddRequest {
        name: "jobs".into(),
    })
    .await
    .unwrap();
    auth.role_grant_permission(pb::AuthRoleGrantPermissionRequest {
        name: "jobs".into(),
        perm: Some(permission(PermissionType::Readwrite, "job/", "job0")),
    })
    .await
    .unwrap();
    auth.user_grant_role(grant("alice", "jobs")).await.unwrap();
    auth.auth_enable(pb::AuthEnableRequest {}).await.unwrap();
}

/// `name`'s token from `channel`, once that node has applied auth enable.
async fn token(channel: &Channel, name: &str, password: &str) -> String {
    eventually(&format!("a token for {name}"), || async {
        AuthClient::new(channel.clone())
            .authenticate(pb::AuthenticateRequest {
                name: name.into(),
                password: password.into(),
            })
            .await
            .map(|answer| answer.into_inner().token)
            .map_err(|status| status.to_string())
    })
    .await
}

/// Before: with auth on, Lock was root's alone at the gate (and root's own
/// Lock UNIMPLEMENTED: its loopback client had no user), and a follower
/// behind TLS forwarded nothing. Now Lock runs as its caller, through a
/// follower behind TLS (the token is carried to the leader): bob, without
/// permission on `job/`, is refused and changes nothing; alice locks and
/// unlocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_on_a_lock_needs_permission_on_the_keys_under_its_name() {
    let dev = start_dev_tls().await;
    let connect = |url: &str| tls_channel(url, &dev.ca, None);
    let (leader, follower) = leader_and_follower(&dev.urls, connect).await;
    set_up_auth(&connect(&leader)).await;
    let channel = connect(&follower);
    let alice = token(&channel, "alice", "alicepw").await;
    let bob = token(&channel, "bob", "bobpw").await;
    let mut locks = LockClient::new(channel.clone());
    let lock = |token: &str, lease| {
        as_user(
            Some(token),
            LockRequest {
                name: bytes("job"),
                lease,
            },
        )
    };

    let bobs_lease = grant(&channel, Some(&bob)).await;
    let refused = locks.lock(lock(&bob, bobs_lease)).await.unwrap_err();
    assert_eq!(
        (refused.code(), refused.message()),
        (Code::PermissionDenied, "etcdserver: permission denied")
    );
    let anonymous = locks
        .lock(as_user(
            None,
            LockRequest {
                name: bytes("job"),
                lease: bobs_lease,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::InvalidArgument, "{anonymous:?}");

    let alices_lease = grant(&channel, Some(&alice)).await;
    let held = tokio::time::timeout(GRANT_PATIENCE, locks.lock(lock(&alice, alices_lease)))
        .await
        .expect("alice waited for a lock no one holds (bob's refused call left a key?)")
        .unwrap()
        .into_inner();
    assert_eq!(held.key, bytes(&format!("job/{alices_lease:x}")));
    let bobs_unlock = locks
        .unlock(as_user(
            Some(&bob),
            UnlockRequest {
                key: held.key.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(bobs_unlock.code(), Code::PermissionDenied);
    locks
        .unlock(as_user(Some(&alice), UnlockRequest { key: held.key }))
        .await
        .unwrap();
}

/// Three `ordo serve` processes whose client ports require a client
/// certificate (`--client-cert-auth`), each serving its `ordo dev` PKI node
/// certificate. Before, a follower answered "not leader" to a put; now it
/// forwards it over TLS presenting its own certificate, which the leader
/// accepts. With auth on, that certificate names no user at the leader: a
/// caller known only by its certificate (root's) is answered "not leader"
/// by the follower, and a call marked forwarded sent straight to the
/// leader with root's certificate and no token is "user name is empty";
/// root's token is forwarded and accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_client_cert_auth_a_follower_forwards_with_its_node_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    let cluster_name = ordo::transport::ClusterId::new("cert-auth").unwrap();
    let pki = write_dev_pki(&pki_dir, &cluster_name, &[1, 2, 3], Overwrite::Keep).unwrap();
    let ca = pki.ca_certificate.clone();
    let mut cluster = Cluster::new("cert-auth", dir.path(), 3).with_flags(&[
        "--cluster-id",
        "0123456789abcdef0123456789abcdef",
        "--trusted-ca",
        ca.to_str().unwrap(),
        "--client-cert-auth",
    ]);
    for (id, cert, key) in &pki.nodes {
        let flags = [
            "--cert".to_owned(),
            cert.to_str().unwrap().to_owned(),
            "--key".to_owned(),
            key.to_str().unwrap().to_owned(),
        ];
        cluster.start_with_flags(*id, &flags);
    }
    let urls: Vec<String> = cluster
        .ids()
        .into_iter()
        .map(|id| format!("https://127.0.0.1:{}", cluster.spec(id).client_port))
        .collect();
    let root = pki.root_client.clone();
    let connect = |url: &str| tls_channel(url, &ca, Some(&root));
    let (leader, follower) = leader_and_follower(&urls, connect).await;

    let put = |value: &str| pb::PutRequest {
        key: bytes("greeting"),
        value: bytes(value),
        ..Default::default()
    };
    let mut through_follower = KvClient::new(connect(&follower));
    through_follower
        .put(put("forwarded"))
        .await
        .expect("a put through a follower under --client-cert-auth");

    set_up_root(&connect(&leader)).await;
    let root_token = token(&connect(&follower), "root", "rootpw").await;
    let by_certificate = through_follower
        .put(put("by certificate"))
        .await
        .unwrap_err();
    assert_eq!(
        (by_certificate.code(), by_certificate.message()),
        (Code::Unavailable, "etcdserver: not leader")
    );
    let mut marked = Request::new(put("marked forwarded"));
    marked
        .metadata_mut()
        .insert("ordo-forwarded", "1".parse().unwrap());
    let unnamed = KvClient::new(connect(&leader))
        .put(marked)
        .await
        .unwrap_err();
    assert_eq!(
        (unnamed.code(), unnamed.message()),
        (Code::InvalidArgument, "etcdserver: user name is empty")
    );
    through_follower
        .put(as_user(Some(&root_token), put("by token")))
        .await
        .unwrap();
    let read = KvClient::new(connect(&leader))
        .range(as_user(
            Some(&root_token),
            pb::RangeRequest {
                key: bytes("greeting"),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.kvs[0].value, bytes("by token"));
}

/// root (`rootpw`) with the role root, then auth on.
async fn set_up_root(channel: &Channel) {
    let mut auth = AuthClient::new(channel.clone());
    auth.user_add(pb::AuthUserAddRequest {
        name: "root".into(),
        password: "rootpw".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    auth.user_grant_role(pb::AuthUserGrantRoleRequest {
        user: "root".into(),
        role: "root".into(),
    })
    .await
    .unwrap();
    auth.auth_enable(pb::AuthEnableRequest {}).await.unwrap();
}
