//! `ordo-registry demo`: three members in this process, on loopback, with
//! their data on disk. It registers a little, kills the leader, shows the
//! group carry on and the killed member recover from its data directory,
//! then serves until Ctrl-C and prints what to try meanwhile.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use ordo::NodeId;
use ordo_registry::{
    Client, Listeners, MemberAddresses, NodeConfig, Pipeline, RegistryNode, Service, Sidecar,
};

/// How long the demo waits for an election.
const ELECTION_PATIENCE: Duration = Duration::from_secs(10);

/// The demo's options.
#[derive(clap::Args)]
pub(crate) struct DemoArgs {
    /// Where the members keep their data (a directory each; default
    /// `ordo-registry-demo` in the system's temporary directory). Run the
    /// demo again on the same directory: the group resumes where it was.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Member N listens on BASE+N (raft) and BASE+100+N (client API).
    #[arg(long, default_value_t = 7100, value_parser = clap::value_parser!(u16).range(1..=65_000))]
    base_port: u16,
}

struct Demo {
    members: BTreeMap<NodeId, MemberAddresses>,
    data: PathBuf,
}

impl Demo {
    fn config(&self, id: NodeId) -> NodeConfig {
        NodeConfig::new(
            id,
            "registry-demo",
            self.data.join(format!("member-{id}")),
            self.members.clone(),
        )
    }

    async fn start(&self, id: NodeId) -> anyhow::Result<RegistryNode> {
        let listeners = Listeners::bind("registry-demo", id, self.members[&id])
            .with_context(|| format!("binding member {id}'s ports"))?;
        Ok(RegistryNode::start(&self.config(id), listeners).await?)
    }

    fn client(&self) -> Client {
        Client::new(self.members.values().map(|at| at.api))
    }
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let at = |port: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let demo = Demo {
        members: (1..=3u16)
            .map(|n| {
                let ports = MemberAddresses {
                    raft: at(args.base_port + n),
                    api: at(args.base_port + 100 + n),
                };
                (NodeId::from(n), ports)
            })
            .collect(),
        data: args
            .data
            .unwrap_or_else(|| std::env::temp_dir().join("ordo-registry-demo")),
    };
    let mut nodes = BTreeMap::new();
    for &id in demo.members.keys() {
        nodes.insert(id, demo.start(id).await?);
        println!(
            "member {id}: raft {}, api {}",
            demo.members[&id].raft, demo.members[&id].api
        );
    }
    let leader = nodes[&1].raft().wait_for_leader(ELECTION_PATIENCE).await?;
    println!("member {leader} leads");

    let mut client = demo.client();
    register_examples(&mut client).await?;
    println!("registered services web and billing, sidecar edge, pipeline ingest");

    println!("killing the leader, member {leader} ...");
    let killed = nodes.remove(&leader).context("the leader is a member")?;
    killed.kill().await;
    let service = example_service("after-failover", "10.0.0.3:8080");
    let reply = client.register_service(service).await?;
    let survivor = nodes.values().next().context("two members survive")?;
    let new_leader = survivor.raft().wait_for_leader(ELECTION_PATIENCE).await?;
    println!(
        "member {new_leader} leads now; registered after-failover at log index {}",
        reply.index
    );

    nodes.insert(leader, demo.start(leader).await?);
    println!("member {leader} restarted from its data directory and catches up");
    print_try(&demo);
    tokio::signal::ctrl_c().await?;
    for node in nodes.into_values() {
        node.stop().await;
    }
    Ok(())
}

fn example_service(id: &str, endpoint: &str) -> Service {
    Service {
        id: id.into(),
        service_type: "http".into(),
        endpoint: endpoint.into(),
        metadata: BTreeMap::from([("team".into(), "demo".into())]),
    }
}

/// Registers a few things; every write is idempotent, so a second run of
/// the demo on the same data changes nothing.
async fn register_examples(client: &mut Client) -> anyhow::Result<()> {
    client
        .register_service(example_service("web", "10.0.0.1:8080"))
        .await?;
    client
        .register_service(example_service("billing", "10.0.0.2:9090"))
        .await?;
    let sidecar = Sidecar {
        id: "edge".into(),
        endpoint: "10.0.1.1:15000".into(),
        services: BTreeSet::from(["web".into(), "billing".into()]),
    };
    client.register_sidecar(sidecar).await?;
    let pipeline = Pipeline {
        id: "ingest".into(),
        sidecar_id: "edge".into(),
        stages: vec!["decode".into(), "enrich".into(), "route".into()],
    };
    client.assign_pipeline(pipeline).await?;
    Ok(())
}

fn print_try(demo: &Demo) {
    let apis: Vec<String> = demo.members.values().map(|at| at.api.to_string()).collect();
    let api = apis.join(",");
    let bin = "cargo run -q -p ordo-registry --";
    println!(
        "\nThe group runs until Ctrl-C. In another terminal, try:\n\
         \x20 {bin} list --api {api}\n\
         \x20 {bin} watch --api {first}\n\
         \x20 {bin} register-service cart http 10.0.0.4:8080 --meta team=shop --api {api}\n\
         \x20 {bin} register-sidecar edge-2 10.0.1.2:15000 cart --api {api}\n\
         \x20 {bin} assign-pipeline checkout edge-2 validate charge --api {api}\n\
         \x20 {bin} assign-pipeline orphan no-such-sidecar x --api {api}      (refused: unknown sidecar)\n\
         \x20 {bin} deregister-sidecar edge-2 --api {api}                      (revokes checkout)\n\
         \x20 {bin} backup registry.bak --api {api}\n\
         \x20 {bin} restore registry.bak --api {api}\n\
         Writes sent to a follower are redirected to the leader by the client.\n\
         Data: {data} (run the demo again to resume from it).",
        first = apis[0],
        data = demo.data.display(),
    );
}
