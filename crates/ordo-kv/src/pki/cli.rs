//! `ordo cert ca|node|client`: the PKI verbs, each printing what it wrote
//! and the flags that use it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use ordo::NodeId;
use ordo::transport::ClusterId;

use super::{CA_CERT_FILE, CertificateAuthority, Overwrite};

/// `ordo cert`: make a cluster CA, node certificates and client certificates.
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Create a cluster CA: DIR/ca.crt and DIR/ca.key (mode 0600).
    Ca(CaArgs),
    /// Create a node certificate signed by the CA: DIR/node-N.crt and
    /// DIR/node-N.key, for peer TLS and the client port.
    Node(NodeArgs),
    /// Create a client certificate whose common name is the user:
    /// DIR/USER.crt and DIR/USER.key.
    Client(ClientArgs),
}

/// Where the files go, and whether existing ones may be replaced.
#[derive(Debug, Args)]
pub(super) struct OutputArgs {
    /// Directory to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Replace existing files instead of refusing.
    #[arg(long)]
    force: bool,
}

/// `ordo cert ca`.
#[derive(Debug, Args)]
pub struct CaArgs {
    /// The CA's common name.
    #[arg(long, default_value = "ordo cluster CA")]
    name: String,
    #[command(flatten)]
    output: OutputArgs,
}

/// `ordo cert node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The node's id.
    #[arg(long)]
    id: NodeId,
    /// The cluster name (as given to `ordo serve --cluster`).
    #[arg(long)]
    cluster: String,
    /// A DNS name or IP address the node is reached at (repeat for more).
    #[arg(long = "host", value_name = "HOST")]
    hosts: Vec<String>,
    /// The CA directory (ca.crt, ca.key); defaults to --out.
    #[arg(long, value_name = "DIR")]
    ca: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
}

/// `ordo cert client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The user name (the certificate's common name).
    #[arg(long)]
    user: String,
    /// The CA directory (ca.crt, ca.key); defaults to --out.
    #[arg(long, value_name = "DIR")]
    ca: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
}

impl OutputArgs {
    fn overwrite(&self) -> Overwrite {
        if self.force {
            Overwrite::Replace
        } else {
            Overwrite::Keep
        }
    }

    fn prepare(&self) -> anyhow::Result<&Path> {
        super::files::create_dir(&self.out)?;
        Ok(&self.out)
    }
}

/// Runs an `ordo cert` verb.
///
/// # Errors
/// Why the files could not be made or written.
pub fn run(command: CertCommand) -> anyhow::Result<ExitCode> {
    match command {
        CertCommand::Ca(args) => {
            let dir = args.output.prepare()?;
            CertificateAuthority::generate(&args.name)?.write(dir, args.output.overwrite())?;
            println!(
                "wrote {} and {}",
                dir.join(CA_CERT_FILE).display(),
                dir.join(super::CA_KEY_FILE).display()
            );
            println!("keep ca.key secret: whoever holds it can make members of the cluster");
        }
        CertCommand::Node(args) => {
            let cluster = ClusterId::new(&args.cluster)
                .with_context(|| format!("invalid --cluster {:?}", args.cluster))?;
            let dir = args.output.prepare()?;
            let ca_dir = args.ca.as_deref().unwrap_or(dir);
            let ca = CertificateAuthority::load(ca_dir)?;
            let (certificate, key) = ca.node_certificate(&cluster, args.id, &args.hosts)?.write(
                dir,
                &format!("node-{}", args.id),
                args.output.overwrite(),
            )?;
            println!("wrote {} and {}", certificate.display(), key.display());
            println!(
                "use: ordo serve --peer-cert {} --peer-key {} --peer-trusted-ca {}",
                certificate.display(),
                key.display(),
                ca_dir.join(CA_CERT_FILE).display()
            );
        }
        CertCommand::Client(args) => {
            let dir = args.output.prepare()?;
            let ca = CertificateAuthority::load(args.ca.as_deref().unwrap_or(dir))?;
            let (certificate, key) = ca.client_certificate(&args.user)?.write(
                dir,
                &args.user,
                args.output.overwrite(),
            )?;
            println!("wrote {} and {}", certificate.display(), key.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
