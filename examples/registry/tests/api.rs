//! The client API of a live 3-member group on loopback: redirects from
//! followers, the rules' refusals as status codes, `Watch` in log order
//! (and a reset on restore), backups refused when they are not backups.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use ordo_registry::proto::change::Event;
use ordo_registry::proto::registry_client::RegistryClient;
use ordo_registry::proto::{RegisterServiceRequest, WatchRequest};
use ordo_registry::status::{LEADER_ADDRESS_KEY, LEADER_ID_KEY};
use ordo_registry::{Pipeline, RouterStateMachine, Sidecar};
use support::*;
use tokio::time::timeout;
use tonic::Code;
use tonic::transport::Channel;

async fn raw(address: std::net::SocketAddr) -> RegistryClient<Channel> {
    RegistryClient::connect(format!("http://{address}"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_answers_writes_with_the_leader() {
    let group = Group::start(3, RouterStateMachine::new).await;
    let leader = group.leader().await;
    let addresses = group.api_addresses();
    let follower = (1..=3u64).find(|id| *id != leader).unwrap();
    let request = RegisterServiceRequest {
        service: Some(test_service("web").into()),
    };
    let status = raw(addresses[follower as usize - 1])
        .await
        .register_service(request.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let metadata = status.metadata();
    assert_eq!(metadata.get(LEADER_ID_KEY).unwrap(), &leader.to_string());
    let leader_api = addresses[leader as usize - 1].to_string();
    assert_eq!(metadata.get(LEADER_ADDRESS_KEY).unwrap(), &leader_api);

    // The client follows the redirect; the leader applies the write.
    let mut client = ordo_registry::Client::new([addresses[follower as usize - 1]]);
    let reply = client.register_service(test_service("web")).await.unwrap();
    assert!(reply.changed);
    // A repeat is acknowledged and changes nothing.
    let again = client.register_service(test_service("web")).await.unwrap();
    assert!(!again.changed);
    group.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_by_the_rules_reach_the_client_as_status_codes() {
    let group = Group::start(3, RouterStateMachine::new).await;
    let mut client = group.client();
    client.register_service(test_service("web")).await.unwrap();

    let moved = ordo_registry::Service {
        endpoint: "elsewhere:1".into(),
        ..test_service("web")
    };
    let status = client.register_service(moved).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");

    let orphan = Pipeline {
        id: "p".into(),
        sidecar_id: "nobody".into(),
        stages: vec![],
    };
    let status = client.assign_pipeline(orphan).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    client.register_sidecar(edge(&["web"])).await.unwrap();
    let status = client.deregister_service("web").await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    group.stop().await;
}

fn edge(services: &[&str]) -> Sidecar {
    Sidecar {
        id: "edge".into(),
        endpoint: "edge:15000".into(),
        services: services
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_changes_in_log_order_on_any_member() {
    let group = Group::start(3, RouterStateMachine::new).await;
    let leader = group.leader().await;
    let follower = (1..=3u64).find(|id| *id != leader).unwrap();
    let mut changes = raw(group.api_addresses()[follower as usize - 1])
        .await
        .watch(WatchRequest {})
        .await
        .unwrap()
        .into_inner();

    let mut client = group.client();
    client.register_service(test_service("web")).await.unwrap();
    client.register_sidecar(edge(&["web"])).await.unwrap();
    let pipeline = Pipeline {
        id: "ingest".into(),
        sidecar_id: "edge".into(),
        stages: vec!["decode".into()],
    };
    client.assign_pipeline(pipeline).await.unwrap();
    let reply = client.deregister_sidecar("edge").await.unwrap();
    assert_eq!(reply.revoked_pipelines, ["ingest"]);
    let backup = client.backup().await.unwrap();
    client.restore(&backup).await.unwrap();

    let mut seen = Vec::new();
    let mut last_index = 0;
    while seen.len() < 6 {
        let change = timeout(Duration::from_secs(10), changes.message())
            .await
            .expect("a change in time")
            .unwrap()
            .expect("the stream stays open");
        assert!(change.index >= last_index, "out of order: {change:?}");
        last_index = change.index;
        seen.push(describe(change.event.unwrap()));
    }
    assert_eq!(
        seen,
        [
            "service registered web",
            "sidecar registered edge",
            "pipeline assigned ingest",
            "pipeline revoked ingest",
            "sidecar deregistered edge",
            "reset",
        ]
    );
    group.stop().await;
}

fn describe(event: Event) -> String {
    match event {
        Event::ServiceRegistered(s) => format!("service registered {}", s.id),
        Event::ServiceDeregistered(id) => format!("service deregistered {id}"),
        Event::SidecarRegistered(s) => format!("sidecar registered {}", s.id),
        Event::SidecarDeregistered(id) => format!("sidecar deregistered {id}"),
        Event::PipelineAssigned(p) => format!("pipeline assigned {}", p.id),
        Event::PipelineRevoked(id) => format!("pipeline revoked {id}"),
        Event::Reset(_) => "reset".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_refuses_what_is_not_a_consistent_backup() {
    let group = Group::start(1, RouterStateMachine::new).await;
    let mut client = group.client();
    client.register_service(test_service("web")).await.unwrap();

    let status = client.restore(b"not a backup at all").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // A well-formed backup whose pipeline names no sidecar.
    let mut broken = ordo_registry::RegistryState::default();
    broken.pipelines.insert(
        "p".into(),
        Pipeline {
            id: "p".into(),
            sidecar_id: "gone".into(),
            stages: vec![],
        },
    );
    let view = ordo_registry::state_machine::RegistryView {
        applied_index: 1,
        state: std::sync::Arc::new(broken),
    };
    let mut bytes = Vec::new();
    ordo_registry::state_machine::write_view(&view, &mut bytes).unwrap();
    let status = client.restore(&bytes).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // Nothing changed.
    let services = client.list_services().await.unwrap();
    assert_eq!(services, [test_service("web")]);
    group.stop().await;
}
