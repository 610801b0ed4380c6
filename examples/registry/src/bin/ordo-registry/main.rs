//! `ordo-registry`: run a 3-member demo group, run one member, or talk to a
//! running group. `ordo-registry --help` lists the commands.

mod cli;
mod demo;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ordo::NodeId;
use ordo_registry::{Listeners, MemberAddresses, NodeConfig, RegistryNode};

/// The service registry control plane on Ordo.
#[derive(Parser)]
#[command(name = "ordo-registry", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a 3-member group in this process and says what to try.
    Demo(demo::DemoArgs),
    /// Runs one member of a group until Ctrl-C.
    Serve(ServeArgs),
    /// Talks to a running group.
    #[command(flatten)]
    Client(cli::ClientCommand),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// This member's id.
    #[arg(long)]
    id: NodeId,
    /// Every initial member, this one included: ID=RAFT_ADDRESS,API_ADDRESS.
    #[arg(long = "member", value_parser = parse_member, required = true)]
    members: Vec<(NodeId, MemberAddresses)>,
    /// Where this member keeps its log and snapshots.
    #[arg(long)]
    data: PathBuf,
    /// The group's name.
    #[arg(long, default_value = "ordo-registry")]
    cluster: String,
}

fn parse_member(text: &str) -> Result<(NodeId, MemberAddresses), String> {
    let usage = || format!("expected ID=RAFT_ADDRESS,API_ADDRESS, got {text:?}");
    let (id, addresses) = text.split_once('=').ok_or_else(usage)?;
    let (raft, api) = addresses.split_once(',').ok_or_else(usage)?;
    Ok((
        id.parse().map_err(|_| usage())?,
        MemberAddresses {
            raft: raft.parse().map_err(|_| usage())?,
            api: api.parse().map_err(|_| usage())?,
        },
    ))
}

#[tokio::main]
async fn main() {
    let outcome = match Args::parse().command {
        Command::Demo(args) => demo::run(args).await,
        Command::Serve(args) => serve(args).await,
        Command::Client(command) => cli::run(command).await,
    };
    if let Err(error) = outcome {
        eprintln!("ordo-registry: {error:#}");
        std::process::exit(1);
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let members: BTreeMap<NodeId, MemberAddresses> = args.members.into_iter().collect();
    let own = *members
        .get(&args.id)
        .with_context(|| format!("--member must list this member ({})", args.id))?;
    let config = NodeConfig::new(args.id, args.cluster, args.data, members);
    let listeners = Listeners::bind(&config.cluster, config.id, own)?;
    let node = RegistryNode::start(&config, listeners).await?;
    println!(
        "member {} serving: raft {}, api {}",
        config.id, own.raft, own.api
    );
    tokio::signal::ctrl_c().await?;
    node.stop().await;
    Ok(())
}
