//! etcd's Auth service and its scheme against nodes running in the test
//! process: users and roles are made over gRPC while auth is off (as with
//! etcd), `Authenticate` gives a token, each call carries it in the `token`
//! metadata, and every KV, Watch and Lease call is authorized by the HTTP
//! API's rules, with etcd's codes and messages; a refused write changes
//! nothing; a follower forwards a write with its caller's token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use ordo_kv::server::RunningNode;
use ordo_kv::server::etcd::pb::authpb::{Permission, permission::Type as PermissionType};
use ordo_kv::server::etcd::pb::etcdserverpb::{
    self as pb, auth_client::AuthClient, kv_client::KvClient, lease_client::LeaseClient,
    watch_client::WatchClient,
};
use support::free_port;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Request};

const USER_EMPTY: &str = "etcdserver: user name is empty";
const INVALID_TOKEN: &str = "etcdserver: invalid auth token";
const DENIED: &str = "etcdserver: permission denied";
const AUTH_FAILED: &str = "etcdserver: authentication failed, invalid user ID or password";
const NOT_ENABLED: &str = "etcdserver: authentication is not enabled";

async fn start_one(dir: &std::path::Path) -> RunningNode {
    let peers: BTreeMap<u64, u16> = [(1, free_port())].into();
    let node = RunningNode::start(support::settings(1, &peers, dir))
        .await
        .unwrap();
    node.node
        .wait_for_leader(Duration::from_secs(20))
        .await
        .unwrap();
    node
}

async fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn bytes(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

/// `message` as a call carrying `token` (what etcd's clients send).
fn as_user<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("token", token.parse().unwrap());
    request
}

fn get(key: &str) -> pb::RangeRequest {
    pb::RangeRequest {
        key: bytes(key),
        ..Default::default()
    }
}

fn prefix(text: &str) -> pb::RangeRequest {
    let mut end = text.as_bytes().to_vec();
    *end.last_mut().unwrap() += 1;
    pb::RangeRequest {
        key: bytes(text),
        range_end: Bytes::from(end),
        ..Default::default()
    }
}

/// etcd's "every key": from `\0` to the end.
fn every_key() -> pb::RangeRequest {
    pb::RangeRequest {
        key: Bytes::from_static(&[0]),
        range_end: Bytes::from_static(&[0]),
        ..Default::default()
    }
}

fn put(key: &str, value: &str) -> pb::PutRequest {
    pb::PutRequest {
        key: bytes(key),
        value: bytes(value),
        ..Default::default()
    }
}

fn permission(kind: PermissionType, key: &str, range_end: &[u8]) -> Permission {
    Permission {
        perm_type: kind as i32,
        key: bytes(key),
        range_end: Bytes::copy_from_slice(range_end),
    }
}

/// Over gRPC with auth off, as etcdctl would: root (`rootpw`) with the role
/// root; alice (`alicepw`) with `reader`: read on `app/`, readwrite on the
/// key `app/w`; keys `app/a` and `other`; then auth on.
async fn set_up(channel: &Channel) {
    let mut auth = AuthClient::new(channel.clone());
    for (name, password) in [("root", "rootpw"), ("alice", "alicepw")] {
        auth.user_add(pb::AuthUserAddRequest {
            name: name.into(),
            password: password.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let refused = auth
        .auth_enable(pb::AuthEnableRequest {})
        .await
        .unwrap_err();
    assert_eq!(
        refused.message(),
        "etcdserver: root user does not have root role"
    );
    let grant = |user: &str, role: &str| pb::AuthUserGrantRoleRequest {
        user: user.into(),
        role: role.into(),
    };
    auth.user_grant_role(grant("root", "root")).await.unwrap();
    auth.role_add(pb::AuthRoleAddRequest {
        name: "reader".into(),
    })
    .await
    .unwrap();
    for perm in [
        permission(PermissionType::Read, "app/", b"app0"),
        permission(PermissionType::Readwrite, "app/w", b""),
    ] {
        auth.role_grant_permission(pb::AuthRoleGrantPermissionRequest {
            name: "reader".into(),
            perm: Some(perm),
        })
        .await
        .unwrap();
    }
    auth.user_grant_role(grant("alice", "reader"))
        .await
        .unwrap();
    let mut kv = KvClient::new(channel.clone());
    kv.put(put("app/a", "1")).await.unwrap();
    kv.put(put("other", "2")).await.unwrap();
    auth.auth_enable(pb::AuthEnableRequest {}).await.unwrap();
}

async fn token(channel: &Channel, name: &str, password: &str) -> String {
    AuthClient::new(channel.clone())
        .authenticate(pb::AuthenticateRequest {
            name: name.into(),
            password: password.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .token
}

fn assert_refused(status: &tonic::Status, code: Code, message: &str) {
    assert_eq!(
        (status.code(), status.message()),
        (code, message),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_off_the_auth_service_answers_as_an_etcd_without_auth() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_one(dir.path()).await;
    let channel = channel(&node.client_url).await;
    let mut auth = AuthClient::new(channel.clone());
    let status = auth.auth_status(pb::AuthStatusRequest {}).await.unwrap();
    assert!(!status.into_inner().enabled);
    let refused = auth
        .authenticate(pb::AuthenticateRequest {
            name: "root".into(),
            password: "x".into(),
        })
        .await
        .unwrap_err();
    assert_refused(&refused, Code::FailedPrecondition, NOT_ENABLED);
    auth.auth_disable(pb::AuthDisableRequest {}).await.unwrap();
    let refused = auth
        .auth_enable(pb::AuthEnableRequest {})
        .await
        .unwrap_err();
    assert_refused(
        &refused,
        Code::FailedPrecondition,
        "etcdserver: root user does not exist",
    );
    let refused = auth
        .user_add(pb::AuthUserAddRequest::default())
        .await
        .unwrap_err();
    assert_refused(&refused, Code::InvalidArgument, USER_EMPTY);
    let users = auth.user_list(pb::AuthUserListRequest {}).await.unwrap();
    assert!(users.into_inner().users.is_empty());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_needs_a_valid_token_and_is_held_to_the_users_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_one(dir.path()).await;
    let channel = channel(&node.client_url).await;
    set_up(&channel).await;
    let mut kv = KvClient::new(channel.clone());

    let refused = kv.range(get("app/a")).await.unwrap_err();
    assert_refused(&refused, Code::InvalidArgument, USER_EMPTY);
    let refused = kv
        .range(as_user("v1.bad.token", get("app/a")))
        .await
        .unwrap_err();
    assert_refused(&refused, Code::Unauthenticated, INVALID_TOKEN);
    let wrong = AuthClient::new(channel.clone())
        .authenticate(pb::AuthenticateRequest {
            name: "alice".into(),
            password: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_refused(&wrong, Code::InvalidArgument, AUTH_FAILED);

    let alice = token(&channel, "alice", "alicepw").await;
    let read = kv.range(as_user(&alice, get("app/a"))).await.unwrap();
    assert_eq!(read.into_inner().kvs[0].value, bytes("1"));
    kv.range(as_user(&alice, prefix("app/"))).await.unwrap();
    kv.put(as_user(&alice, put("app/w", "mine"))).await.unwrap();
    let denied = [
        kv.range(as_user(&alice, get("other"))).await.map(drop),
        kv.range(as_user(&alice, prefix("a"))).await.map(drop),
        kv.put(as_user(&alice, put("app/a", "changed")))
            .await
            .map(drop),
        kv.delete_range(as_user(
            &alice,
            pb::DeleteRangeRequest {
                key: bytes("other"),
                ..Default::default()
            },
        ))
        .await
        .map(drop),
        kv.txn(as_user(&alice, txn_putting("other")))
            .await
            .map(drop),
        kv.compact(as_user(
            &alice,
            pb::CompactionRequest {
                revision: 1,
                ..Default::default()
            },
        ))
        .await
        .map(drop),
        AuthClient::new(channel.clone())
            .user_add(as_user(
                &alice,
                pb::AuthUserAddRequest {
                    name: "mallory".into(),
                    password: "x".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
    ];
    for (index, outcome) in denied.into_iter().enumerate() {
        let refused = outcome.expect_err(&format!("call {index} must be refused"));
        assert_refused(&refused, Code::PermissionDenied, DENIED);
    }

    let root = token(&channel, "root", "rootpw").await;
    let kvs = kv
        .range(as_user(&root, every_key()))
        .await
        .map(|answer| answer.into_inner().kvs);
    let kvs = kvs.expect("root reads everything");
    let values: Vec<(Bytes, Bytes)> = kvs.into_iter().map(|kv| (kv.key, kv.value)).collect();
    assert_eq!(
        values,
        [
            (bytes("app/a"), bytes("1")),
            (bytes("app/w"), bytes("mine")),
            (bytes("other"), bytes("2")),
        ],
        "the refused writes changed nothing"
    );
    let users = AuthClient::new(channel.clone())
        .user_list(as_user(&root, pb::AuthUserListRequest {}))
        .await
        .unwrap();
    assert_eq!(users.into_inner().users, ["alice", "root"]);
    let role = AuthClient::new(channel.clone())
        .role_get(as_user(
            &root,
            pb::AuthRoleGetRequest {
                role: "reader".into(),
            },
        ))
        .await
        .unwrap();
    assert_eq!(role.into_inner().perm.len(), 2);
    node.stop().await;
}

async fn next(responses: &mut tonic::Streaming<pb::WatchResponse>) -> pb::WatchResponse {
    tokio::time::timeout(Duration::from_secs(10), responses.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
}

fn txn_putting(key: &str) -> pb::TxnRequest {
    pb::TxnRequest {
        success: vec![pb::RequestOp {
            request: Some(pb::request_op::Request::RequestPut(put(key, "x"))),
        }],
        ..Default::default()
    }
}

/// A watch outside the user's permission is created and canceled at once
/// (etcd's way); one inside it sees its events. Leases need only a user,
/// but a revoke needs write on every key it would delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_and_lease_revokes_are_held_to_the_users_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_one(dir.path()).await;
    let channel = channel(&node.client_url).await;
    set_up(&channel).await;
    let alice = token(&channel, "alice", "alicepw").await;
    let root = token(&channel, "root", "rootpw").await;

    let (requests, outbox) = mpsc::channel(4);
    let mut responses = WatchClient::new(channel.clone())
        .watch(as_user(&alice, ReceiverStream::new(outbox)))
        .await
        .unwrap()
        .into_inner();
    for key in ["other", "app/w"] {
        let create = pb::WatchCreateRequest {
            key: bytes(key),
            ..Default::default()
        };
        let request = pb::WatchRequest {
            request_union: Some(pb::watch_request::RequestUnion::CreateRequest(create)),
        };
        requests.send(request).await.unwrap();
    }
    let first = next(&mut responses).await;
    assert!(first.created && first.canceled, "{first:?}");
    assert_eq!(first.cancel_reason, DENIED);
    let second = next(&mut responses).await;
    assert!(second.created && !second.canceled, "{second:?}");
    let mut kv = KvClient::new(channel.clone());
    kv.put(as_user(&alice, put("app/w", "seen"))).await.unwrap();
    let event = next(&mut responses).await;
    assert_eq!(event.events[0].kv.as_ref().unwrap().value, bytes("seen"));

    let mut leases = LeaseClient::new(channel.clone());
    let refused = leases
        .lease_grant(pb::LeaseGrantRequest { ttl: 60, id: 0 })
        .await
        .unwrap_err();
    assert_refused(&refused, Code::InvalidArgument, USER_EMPTY);
    let lease = leases
        .lease_grant(as_user(&alice, pb::LeaseGrantRequest { ttl: 60, id: 0 }))
        .await
        .unwrap()
        .into_inner()
        .id;
    let on_other = pb::PutRequest {
        lease,
        ..put("other", "leased")
    };
    kv.put(as_user(&root, on_other)).await.unwrap();
    let refused = leases
        .lease_revoke(as_user(&alice, pb::LeaseRevokeRequest { id: lease }))
        .await
        .unwrap_err();
    assert_refused(&refused, Code::PermissionDenied, DENIED);
    let still = kv.range(as_user(&root, get("other"))).await.unwrap();
    assert_eq!(still.into_inner().kvs[0].value, bytes("leased"));
    leases
        .lease_revoke(as_user(&root, pb::LeaseRevokeRequest { id: lease }))
        .await
        .unwrap();
    node.stop().await;
}

/// A follower forwards a write to the leader with the caller's token (the
/// leader checks it again); without one the follower refuses it itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_forwards_a_write_with_its_callers_token() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = support::start_cluster(3, dir.path()).await;
    let leader = support::leader_of(&nodes).await;
    let follower = (leader + 1) % nodes.len();
    let to_leader = channel(&nodes[leader].client_url).await;
    set_up(&to_leader).await;
    let to_follower = channel(&nodes[follower].client_url).await;
    let alice = support::eventually(
        "the follower to apply auth enable",
        support::PATIENCE,
        Duration::from_millis(20),
        || {
            let channel = to_follower.clone();
            async move {
                AuthClient::new(channel)
                    .authenticate(pb::AuthenticateRequest {
                        name: "alice".into(),
                        password: "alicepw".into(),
                    })
                    .await
                    .map(|answer| answer.into_inner().token)
                    .map_err(|status| status.to_string())
            }
        },
    )
    .await;
    let mut kv = KvClient::new(to_follower);
    kv.put(as_user(&alice, put("app/w", "via follower")))
        .await
        .unwrap();
    let refused = kv.put(put("app/w", "anonymous")).await.unwrap_err();
    assert_refused(&refused, Code::InvalidArgument, USER_EMPTY);
    let read = KvClient::new(to_leader)
        .range(as_user(&alice, get("app/w")))
        .await
        .unwrap();
    assert_eq!(read.into_inner().kvs[0].value, bytes("via follower"));
    for node in nodes {
        node.stop().await;
    }
}
