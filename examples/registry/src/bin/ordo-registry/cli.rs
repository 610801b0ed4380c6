//! The client commands: each talks to a running group through
//! [`ordo_registry::Client`], which finds the leader.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use ordo_registry::proto::registry_client::RegistryClient;
use ordo_registry::proto::{self, change::Event};
use ordo_registry::{Client, Pipeline, Service, Sidecar};

/// The demo's API addresses: where the client commands look by default.
pub(crate) const DEMO_API_ADDRESSES: &str = "127.0.0.1:7201,127.0.0.1:7202,127.0.0.1:7203";

/// A command for a running group.
#[derive(Subcommand)]
pub(crate) enum ClientCommand {
    /// Registers a service.
    RegisterService {
        #[command(flatten)]
        group: Group,
        id: String,
        service_type: String,
        endpoint: String,
        /// KEY=VALUE labels.
        #[arg(long = "meta", value_parser = parse_label)]
        metadata: Vec<(String, String)>,
    },
    /// Deregisters a service no sidecar fronts.
    DeregisterService {
        #[command(flatten)]
        group: Group,
        id: String,
    },
    /// Registers a sidecar fronting registered services.
    RegisterSidecar {
        #[command(flatten)]
        group: Group,
        id: String,
        endpoint: String,
        /// Ids of the services it fronts.
        services: Vec<String>,
    },
    /// Deregisters a sidecar and revokes its pipelines.
    DeregisterSidecar {
        #[command(flatten)]
        group: Group,
        id: String,
    },
    /// Assigns a pipeline to a registered sidecar.
    AssignPipeline {
        #[command(flatten)]
        group: Group,
        id: String,
        sidecar_id: String,
        /// Its stages, in order.
        stages: Vec<String>,
    },
    /// Revokes a pipeline from its sidecar.
    RevokePipeline {
        #[command(flatten)]
        group: Group,
        id: String,
        sidecar_id: String,
    },
    /// Lists services, sidecars and pipelines (linearizable).
    List {
        #[command(flatten)]
        group: Group,
    },
    /// Prints changes as the first member given applies them, until Ctrl-C.
    Watch {
        #[command(flatten)]
        group: Group,
    },
    /// Writes a backup of the whole state to FILE.
    Backup {
        #[command(flatten)]
        group: Group,
        file: PathBuf,
    },
    /// Replaces the whole state with the backup in FILE.
    Restore {
        #[command(flatten)]
        group: Group,
        file: PathBuf,
    },
}

/// Which group to talk to.
#[derive(clap::Args)]
pub(crate) struct Group {
    /// API addresses of the members, comma-separated.
    #[arg(long, default_value = DEMO_API_ADDRESSES, value_delimiter = ',')]
    api: Vec<String>,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))?;
    Ok((key.to_owned(), value.to_owned()))
}

pub(crate) async fn run(command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::RegisterService {
            group,
            id,
            service_type,
            endpoint,
            metadata,
        } => {
            let service = Service {
                id,
                service_type,
                endpoint,
                metadata: metadata.into_iter().collect::<BTreeMap<_, _>>(),
            };
            print_write(Client::new(group.api).register_service(service).await?);
        }
        ClientCommand::DeregisterService { group, id } => {
            print_write(Client::new(group.api).deregister_service(&id).await?);
        }
        ClientCommand::RegisterSidecar {
            group,
            id,
            endpoint,
            services,
        } => {
            let sidecar = Sidecar {
                id,
                endpoint,
                services: services.into_iter().collect::<BTreeSet<_>>(),
            };
            print_write(Client::new(group.api).register_sidecar(sidecar).await?);
        }
        ClientCommand::DeregisterSidecar { group, id } => {
            print_write(Client::new(group.api).deregister_sidecar(&id).await?);
        }
        ClientCommand::AssignPipeline {
            group,
            id,
            sidecar_id,
            stages,
        } => {
            let pipeline = Pipeline {
                id,
                sidecar_id,
                stages,
            };
            print_write(Client::new(group.api).assign_pipeline(pipeline).await?);
        }
        ClientCommand::RevokePipeline {
            group,
            id,
            sidecar_id,
        } => {
            print_write(
                Client::new(group.api)
                    .revoke_pipeline(&id, &sidecar_id)
                    .await?,
            );
        }
        ClientCommand::List { group } => list(&group).await?,
        ClientCommand::Watch { group } => watch(&group).await?,
        ClientCommand::Backup { group, file } => {
            let backup = Client::new(group.api).backup().await?;
            std::fs::write(&file, &backup)
                .with_context(|| format!("writing {}", file.display()))?;
            println!("wrote {} bytes to {}", backup.len(), file.display());
        }
        ClientCommand::Restore { group, file } => {
            let backup =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let index = Client::new(group.api).restore(&backup).await?;
            println!("restored at log index {index}");
        }
    }
    Ok(())
}

fn print_write(reply: proto::WriteReply) {
    let what = if reply.changed {
        "applied"
    } else {
        "already so"
    };
    print!("{what} at log index {}", reply.index);
    if !reply.revoked_pipelines.is_empty() {
        print!(
            " (revoked pipelines: {})",
            reply.revoked_pipelines.join(", ")
        );
    }
    println!();
}

/// Prints the whole state, as the lists of one linearizable moment each.
pub(crate) async fn list(group: &Group) -> anyhow::Result<()> {
    let mut client = connect(group).await?;
    let request = proto::ListRequest::default;
    let services = client.list_services(request()).await?.into_inner();
    let sidecars = client.list_sidecars(request()).await?.into_inner();
    let pipelines = client.list_pipelines(request()).await?.into_inner();
    println!("services (as of log index {}):", services.applied_index);
    for service in services.services {
        println!(
            "  {} {} {} {:?}",
            service.id, service.service_type, service.endpoint, service.metadata
        );
    }
    println!("sidecars:");
    for sidecar in sidecars.sidecars {
        println!(
            "  {} {} fronts [{}]",
            sidecar.id,
            sidecar.endpoint,
            sidecar.services.join(", ")
        );
    }
    println!("pipelines:");
    for pipeline in pipelines.pipelines {
        println!(
            "  {} on {}: {}",
            pipeline.id,
            pipeline.sidecar_id,
            pipeline.stages.join(" -> ")
        );
    }
    Ok(())
}

async fn watch(group: &Group) -> anyhow::Result<()> {
    let mut client = connect(group).await?;
    let mut changes = client.watch(proto::WatchRequest {}).await?.into_inner();
    while let Some(change) = changes.message().await? {
        let described = match change.event {
            Some(Event::ServiceRegistered(s)) => {
                format!("service registered: {} at {}", s.id, s.endpoint)
            }
            Some(Event::ServiceDeregistered(id)) => format!("service deregistered: {id}"),
            Some(Event::SidecarRegistered(s)) => {
                format!("sidecar registered: {} at {}", s.id, s.endpoint)
            }
            Some(Event::SidecarDeregistered(id)) => format!("sidecar deregistered: {id}"),
            Some(Event::PipelineAssigned(p)) => {
                format!("pipeline assigned: {} to {}", p.id, p.sidecar_id)
            }
            Some(Event::PipelineRevoked(id)) => format!("pipeline revoked: {id}"),
            Some(Event::Reset(_)) => "state replaced: list again".to_owned(),
            None => "unknown change".to_owned(),
        };
        println!("[{}] {described}", change.index);
    }
    Ok(())
}

/// A raw client of the first member (lists and watches work on any member).
async fn connect(group: &Group) -> anyhow::Result<RegistryClient<tonic::transport::Channel>> {
    let first = group.api.first().context("--api names no member")?;
    RegistryClient::connect(format!("http://{first}"))
        .await
        .with_context(|| format!("connecting to {first}"))
}
