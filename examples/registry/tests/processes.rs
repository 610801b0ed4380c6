//! The binary, as users run it: three `ordo-registry serve` processes on
//! loopback, the leader's process killed (SIGKILL) between two batches of
//! registrations and started again on its data directory; then every
//! member holds every acknowledged registration.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ordo_registry::check::check_registrations;
use ordo_registry::proto::registry_client::RegistryClient;
use ordo_registry::proto::{ListRequest, RegisterServiceRequest};
use ordo_registry::status::LEADER_ID_KEY;
use ordo_registry::{Client, Service};
use support::{PATIENCE, test_service};
use tokio::time::{Instant, sleep};

/// A free port on loopback (free when asked; the process binds it soon after).
fn free_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A member's process, killed when dropped (also when a test fails).
struct Member(Child);

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One `serve` process, waited for until it says it serves.
fn serve(id: u64, members: &[String], data: &Path) -> Member {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ordo-registry"));
    command
        .args(["serve", "--id", &id.to_string(), "--data"])
        .arg(data);
    for member in members {
        command.args(["--member", member]);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let member = Member(child);
    assert!(
        first_line.contains("serving"),
        "member {id}: {first_line:?}"
    );
    member
}

/// The leader's id, learned by a write to member `id` at `api` (a repeat:
/// it changes nothing): the leader applies it, a follower names the leader.
async fn leader_via(id: u64, api: SocketAddr) -> u64 {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(mut client) = RegistryClient::connect(format!("http://{api}")).await {
            let probe = RegisterServiceRequest {
                service: Some(test_service("probe").into()),
            };
            match client.register_service(probe).await {
                Ok(_) => return id,
                Err(status) => {
                    if let Some(id) = status.metadata().get(LEADER_ID_KEY) {
                        return id.to_str().unwrap().parse().unwrap();
                    }
                }
            }
        }
        assert!(Instant::now() < deadline, "no leader");
        sleep(Duration::from_millis(50)).await;
    }
}

async fn register(client: &mut Client, ids: std::ops::Range<usize>, acked: &mut Vec<Service>) {
    for n in ids {
        let service = test_service(&format!("svc-{n}"));
        client.register_service(service.clone()).await.unwrap();
        acked.push(service);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn three_processes_keep_every_acknowledged_registration_across_a_leader_kill() {
    let dir = tempfile::tempdir().unwrap();
    let apis: Vec<SocketAddr> = (0..3).map(|_| free_address()).collect();
    let members: Vec<String> = (1..=3)
        .map(|id| format!("{id}={},{}", free_address(), apis[id - 1]))
        .collect();
    let data = |id: u64| dir.path().join(format!("member-{id}"));
    let mut children: BTreeMap<u64, Member> = (1..=3)
        .map(|id| (id, serve(id, &members, &data(id))))
        .collect();

    let mut client = Client::new(&apis);
    let leader = leader_via(1, apis[0]).await;
    // The probe reached the leader or not: registered now either way.
    client
        .register_service(test_service("probe"))
        .await
        .unwrap();
    let mut acked = vec![test_service("probe")];
    register(&mut client, 0..50, &mut acked).await;

    // SIGKILL: no handoff, nothing flushed that was not already synced.
    drop(children.remove(&leader));
    register(&mut client, 50..100, &mut acked).await;
    children.insert(leader, serve(leader, &members, &data(leader)));

    let attempted: BTreeSet<String> = acked.iter().map(|s| s.id.clone()).collect();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut holdings = BTreeMap::new();
        for (i, api) in apis.iter().enumerate() {
            let mut raw = RegistryClient::connect(format!("http://{api}"))
                .await
                .unwrap();
            let reply = raw
                .list_services(ListRequest { local: true })
                .await
                .unwrap();
            let held = reply
                .into_inner()
                .services
                .into_iter()
                .map(|service| (service.id.clone(), service.into()))
                .collect();
            holdings.insert(i as u64 + 1, held);
        }
        let violations = check_registrations(&acked, &attempted, &holdings);
        if violations.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{violations:?}");
        sleep(Duration::from_millis(100)).await;
    }
    drop(children);
}
