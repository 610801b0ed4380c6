//! The command-line verbs (`ordo put`, `ordo get`, ..., `ordo bench`) and
//! what each prints. Values go to stdout as they are; everything for people
//! (notes, revisions, errors) goes to stderr, so output can be piped.
//!
//! Exit codes: 0 on success; 1 when a key is not found, a compare-and-set
//! fails, or anything goes wrong (with a message on stderr); 2 for bad
//! arguments (from clap).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::bench::{self, BenchConfig};
use super::bench_etcd::{self, BenchProtocol, DEFAULT_CONNECTIONS_PER_ENDPOINT};
use super::bench_fill::{FillConfig, fill};
use super::bench_report::render_summary;
use super::cli_auth;
pub use super::cli_auth::{AuthAction, AuthArgs, RoleAction, RoleArgs, UserAction, UserArgs};
use super::cli_coordination;
pub use super::cli_coordination::{
    CompactArgs, DelArgs, ElectArgs, LeaseAction, LeaseArgs, LockArgs, TxnArgs, WatchArgs,
};
use super::endpoint::DEFAULT_ENDPOINTS;
use super::failover::{self, FailoverArgs};
use super::output::{escape_field, render_table};
use super::{
    Client, ClientConfig, ClientError, ClientTlsFiles, Consistency, Endpoint, PutOptions,
    PutOutcome, parse_duration, parse_endpoints, status,
};
use crate::api::AddMemberRequest;

/// A comma-separated endpoint list, as `--endpoints` takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointList(pub Vec<Endpoint>);

impl FromStr for EndpointList {
    type Err = ClientError;

    fn from_str(list: &str) -> Result<Self, ClientError> {
        parse_endpoints(list).map(Self)
    }
}

/// Where the cluster is and how long to wait for it; every verb takes these.
#[derive(Clone, Debug, clap::Args)]
pub struct ConnectionArgs {
    /// Client URLs of the cluster's nodes, comma-separated.
    #[arg(long, env = "ORDO_ENDPOINTS", default_value = DEFAULT_ENDPOINTS, value_name = "URLS", global = true)]
    pub endpoints: EndpointList,
    /// Overall deadline per request, retries included (`10s`, `500ms`).
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION", global = true)]
    pub timeout: Duration,
    /// The CA (PEM) that signed the nodes' certificates, for https:// endpoints.
    #[arg(long, env = "ORDO_CACERT", value_name = "FILE", global = true)]
    pub cacert: Option<PathBuf>,
    /// This client's certificate (PEM), for nodes that require one.
    #[arg(
        long = "cert",
        id = "client_cert",
        env = "ORDO_CERT",
        value_name = "FILE",
        global = true
    )]
    pub client_cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(
        long = "key",
        id = "client_key",
        env = "ORDO_KEY",
        value_name = "FILE",
        global = true
    )]
    pub client_key: Option<PathBuf>,
    /// Authenticate as NAME (auth enabled): the password after a colon,
    /// else from ORDO_PASSWORD, else asked for on the terminal.
    #[arg(long, env = "ORDO_USER", value_name = "NAME[:PASSWORD]", global = true)]
    pub user: Option<String>,
}

impl ConnectionArgs {
    /// A client for these arguments.
    pub fn client(&self) -> Result<Client, ClientError> {
        let tls = ClientTlsFiles {
            ca_cert: self.cacert.clone(),
            cert: self.client_cert.clone(),
            key: self.client_key.clone(),
        };
        let mut config = ClientConfig::new(self.endpoints.0.clone())
            .with_timeout(self.timeout)
            .with_tls(tls);
        if let Some(user) = &self.user {
            config = config.with_credentials(super::cli_auth::credentials(user)?);
        }
        Client::new(config)
    }
}

/// The client verbs, flattened into `ordo`'s top-level commands.
#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Write VALUE under KEY (VALUE `-` reads stdin); prints the revision.
    Put(PutArgs),
    /// Print KEY's value to stdout (exit code 1 if there is none).
    Get(GetArgs),
    /// Delete KEY (conditionally with --if-revision) or every key under
    /// --prefix; prints how many existed and the revision.
    Del(DelArgs),
    /// List keys and values: one `key<TAB>value<TAB>revision` line each.
    List(ListArgs),
    /// Write VALUE under KEY only if KEY's revision is N (0: KEY must not exist).
    Cas(CasArgs),
    /// Show or change the cluster's membership.
    Member(MemberArgs),
    /// Move leadership.
    Leader(LeaderArgs),
    /// A table of every member: role, term, commit, applied, lag.
    Status(StatusArgs),
    /// Load the cluster with puts and gets and report throughput and latency.
    Bench(BenchArgs),
    /// Print every change to KEY or under --prefix, one line per event
    /// (`REVISION<TAB>PUT|DELETE<TAB>KEY<TAB>VALUE`); resumes across failures.
    Watch(WatchArgs),
    /// Grant, keep alive, revoke and inspect leases.
    Lease(LeaseArgs),
    /// Run a transaction from a JSON file (or stdin); prints the answer.
    Txn(TxnArgs),
    /// Forget history below a revision.
    Compact(CompactArgs),
    /// Run COMMAND while holding lock NAME; exits with its exit code.
    Lock(LockArgs),
    /// Campaign in election NAME with PROPOSAL, or print its leaders.
    Elect(ElectArgs),
    /// Turn authentication on or off, or show whether it is on.
    Auth(AuthArgs),
    /// Add, delete and inspect users, their passwords and roles.
    User(UserArgs),
    /// Add, delete and inspect roles and their permissions.
    Role(RoleArgs),
}

/// `ordo put`.
#[derive(Debug, clap::Args)]
pub struct PutArgs {
    /// The key (any UTF-8 string).
    pub key: String,
    /// The value; `-` reads it from stdin.
    pub value: String,
    /// Attach the key to this lease (it is deleted when the lease ends).
    #[arg(long, value_name = "ID")]
    pub lease: Option<i64>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// `ordo get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// The key.
    pub key: String,
    /// How fresh the value must be.
    #[arg(long, value_enum, default_value_t)]
    pub consistency: Consistency,
    /// Print the key's and the cluster's revision on stderr.
    #[arg(long)]
    pub show_revision: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// A verb on one key (`ordo del`).
#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// The key.
    pub key: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// `ordo list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only keys starting with this.
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// At most this many keys (default: the server's limit).
    #[arg(long)]
    pub limit: Option<u64>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// `ordo cas`.
#[derive(Debug, clap::Args)]
pub struct CasArgs {
    /// The key.
    pub key: String,
    /// The new value; `-` reads it from stdin.
    pub value: String,
    /// The revision KEY must have (0: KEY must not exist).
    #[arg(long, value_name = "N")]
    pub if_revision: u64,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// `ordo member`.
#[derive(Debug, clap::Args)]
pub struct MemberArgs {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub action: MemberAction,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// `ordo member ...`.
#[derive(Debug, clap::Subcommand)]
pub enum MemberAction {
    /// List members, their addresses, and which is the leader.
    List,
    /// Add a node (a voter, joining as a learner until caught up, unless --learner).
    Add {
        /// The new node's id.
        id: u64,
        /// Where the other nodes reach it (HOST:PORT).
        #[arg(long)]
        peer_addr: String,
        /// Where clients reach it (http://HOST:PORT).
        #[arg(long)]
        client_addr: String,
        /// Keep it a non-voting learner.
        #[arg(long)]
        learner: bool,
    },
    /// Remove a node.
    Remove {
        /// Its id.
        id: u64,
    },
    /// Make a learner a voter.
    Promote {
        /// Its id.
        id: u64,
    },
}

/// `ordo leader`.
#[derive(Debug, clap::Args)]
pub struct LeaderArgs {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub action: LeaderAction,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// `ordo leader ...`.
#[derive(Debug, clap::Subcommand)]
pub enum LeaderAction {
    /// Hand leadership to voter ID.
    Transfer {
        /// The voter to become leader.
        id: u64,
    },
}

/// `ordo status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// `ordo bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Concurrent clients, each with one request in flight.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// How long to measure, after the warm-up (`10s`, `1m`).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Size of the key space.
    #[arg(long, default_value_t = 10_000)]
    pub keys: u64,
    /// Bytes per written value.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Fraction of operations that are gets (0.0 to 1.0).
    #[arg(long, default_value_t = 0.0)]
    pub read_ratio: f64,
    /// How fresh gets must be.
    #[arg(long, value_enum, default_value_t)]
    pub consistency: Consistency,
    /// Load before measuring starts.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Keys are this prefix and a number.
    #[arg(long, default_value = "bench-")]
    pub key_prefix: String,
    /// The API to load: ordo's JSON API, or etcd's v3 gRPC API (which a
    /// real etcd serves too).
    #[arg(long, value_enum, default_value_t)]
    pub protocol: BenchProtocol,
    /// With `--protocol etcd`: HTTP/2 connections to each endpoint, shared
    /// by all clients.
    #[arg(long, default_value_t = DEFAULT_CONNECTIONS_PER_ENDPOINT)]
    pub connections: usize,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
    /// Another benchmark instead of the load generator.
    #[command(subcommand)]
    pub other: Option<BenchCommand>,
}

/// `ordo bench ...`: benchmarks that start their own cluster.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Start a 3-node cluster on loopback, fault its leader again and again,
    /// and report how long writes and leadership take to come back.
    Failover(FailoverArgs),
    /// Write keys `PREFIX0 .. PREFIX(N-1)` once each (with the parent's
    /// `--keys`, `--value-size`, `--clients` and `--key-prefix`), to load a
    /// cluster to a known size.
    Fill {
        /// Give up after this long.
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        deadline: Duration,
    },
    /// Open many watch streams on a node, write their keys at a fixed rate,
    /// and report the commit-to-delivery lag (`ordo dev` must be running).
    Watch(super::bench_watch::WatchBenchArgs),
}

impl BenchArgs {
    /// The bench these arguments ask for.
    pub fn config(&self) -> BenchConfig {
        BenchConfig {
            clients: self.clients,
            duration: self.duration,
            warmup: self.warmup,
            keys: self.keys,
            value_size: self.value_size,
            read_ratio: self.read_ratio,
            consistency: self.consistency,
            key_prefix: self.key_prefix.clone(),
            show_progress: !self.quiet,
        }
    }
}

/// `ordo snapshot save`.
#[derive(Debug, clap::Args)]
pub struct SnapshotSaveArgs {
    /// Where to write the backup (written to FILE.tmp, then renamed).
    pub file: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// Runs a client verb.
pub async fn run(command: ClientCommand) -> anyhow::Result<ExitCode> {
    match command {
        ClientCommand::Put(args) => put(args).await,
        ClientCommand::Get(args) => get(args).await,
        ClientCommand::Del(args) => cli_coordination::delete(args).await,
        ClientCommand::List(args) => list(args).await,
        ClientCommand::Cas(args) => cas(args).await,
        ClientCommand::Member(args) => member(args).await,
        ClientCommand::Leader(args) => leader(args).await,
        ClientCommand::Status(args) => cluster_status(args).await,
        ClientCommand::Bench(args) => run_bench(args).await,
        ClientCommand::Watch(args) => cli_coordination::watch(args).await,
        ClientCommand::Lease(args) => cli_coordination::lease(args).await,
        ClientCommand::Txn(args) => cli_coordination::txn(args).await,
        ClientCommand::Compact(args) => cli_coordination::compact(args).await,
        ClientCommand::Lock(args) => cli_coordination::lock(args).await,
        ClientCommand::Elect(args) => cli_coordination::elect(args).await,
        ClientCommand::Auth(args) => cli_auth::auth(args).await,
        ClientCommand::User(args) => cli_auth::user(args).await,
        ClientCommand::Role(args) => cli_auth::role(args).await,
    }
}

/// Runs `ordo snapshot save`.
pub async fn snapshot_save(args: SnapshotSaveArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let written_bytes = client.snapshot_save(&args.file).await?;
    println!("saved {written_bytes} bytes to {}", args.file.display());
    Ok(ExitCode::SUCCESS)
}

async fn put(args: PutArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let value = value_argument(&args.value).await?;
    let options = PutOptions {
        if_revision: None,
        lease: args.lease,
    };
    match client.put_with(&args.key, value, options).await? {
        PutOutcome::Written { revision } => println!("OK revision={revision}"),
        PutOutcome::CompareFailed { current_revision } => {
            anyhow::bail!(
                "unexpected compare failure (current revision {current_revision}) on a plain put"
            )
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn cas(args: CasArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let value = value_argument(&args.value).await?;
    match client.put(&args.key, value, Some(args.if_revision)).await? {
        PutOutcome::Written { revision } => {
            println!("OK revision={revision}");
            Ok(ExitCode::SUCCESS)
        }
        PutOutcome::CompareFailed { current_revision } => {
            eprintln!("compare failed: current revision {current_revision}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn get(args: GetArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let Some(found) = client.get(&args.key, args.consistency).await? else {
        eprintln!("not found");
        return Ok(ExitCode::FAILURE);
    };
    if args.show_revision {
        eprintln!(
            "revision={} cluster_revision={}",
            found.revision, found.cluster_revision
        );
    }
    let mut stdout = tokio::io::stdout();
    stdout
        .write_all(&found.value)
        .await
        .context("writing the value to stdout")?;
    // A value read by a person ends its line; one piped on stays as stored.
    if std::io::stdout().is_terminal() {
        stdout
            .write_all(b"\n")
            .await
            .context("writing the value to stdout")?;
    }
    stdout
        .flush()
        .await
        .context("writing the value to stdout")?;
    Ok(ExitCode::SUCCESS)
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let page = client.list(&args.prefix, args.limit).await?;
    let mut text = String::new();
    for entry in &page.entries {
        text.push_str(&format!(
            "{}\t{}\t{}\n",
            escape_field(entry.key.as_bytes()),
            escape_field(&entry.value),
            entry.revision
        ));
    }
    print!("{text}");
    if page.more {
        eprintln!("(more keys follow; raise --limit or narrow --prefix)");
    }
    Ok(ExitCode::SUCCESS)
}

async fn member(args: MemberArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    match args.action {
        MemberAction::List => {
            let cluster = client.cluster().await?;
            print!("{}", member_table(&cluster));
        }
        MemberAction::Add {
            id,
            peer_addr,
            client_addr,
            learner,
        } => {
            let voter = !learner;
            let request = AddMemberRequest {
                id,
                peer_addr,
                client_addr,
                voter,
            };
            client.add_member(&request).await?;
            println!(
                "OK added {id} as a {}",
                if voter { "voter" } else { "learner" }
            );
        }
        MemberAction::Remove { id } => {
            client.remove_member(id).await?;
            println!("OK removed {id}");
        }
        MemberAction::Promote { id } => {
            client.promote(id).await?;
            println!("OK promoted {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `ordo member list`'s table.
pub(crate) fn member_table(cluster: &crate::api::ClusterResponse) -> String {
    let mut members = cluster.members.clone();
    members.sort_by_key(|member| member.id);
    let rows: Vec<Vec<String>> = members
        .into_iter()
        .map(|member| {
            let kind = if member.voter { "voter" } else { "learner" };
            let leader = if cluster.leader == Some(member.id) {
                "yes"
            } else {
                ""
            };
            let dash = || "-".to_owned();
            vec![
                member.id.to_string(),
                kind.to_owned(),
                member.peer_addr.unwrap_or_else(dash),
                member.client_addr.unwrap_or_else(dash),
                leader.to_owned(),
            ]
        })
        .collect();
    render_table(
        &["id", "kind", "peer address", "client address", "leader"],
        &rows,
    )
}

async fn leader(args: LeaderArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    match args.action {
        LeaderAction::Transfer { id } => {
            client.transfer_leader(id).await?;
            println!("OK leadership transfer to {id} requested");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn cluster_status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let gathered = status::gather(&client).await?;
    print!("{}", status::render(&gathered));
    Ok(ExitCode::SUCCESS)
}

async fn run_bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let client = match args.other {
        Some(BenchCommand::Failover(failover_args)) => return failover::run(failover_args).await,
        Some(BenchCommand::Watch(watch_args)) => {
            super::bench_watch::run(watch_args).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(BenchCommand::Fill { deadline }) => {
            let client = args.connection.client()?;
            let config = FillConfig {
                keys: args.keys,
                value_size: args.value_size,
                clients: args.clients,
                key_prefix: args.key_prefix.clone(),
                deadline,
            };
            let summary = fill(&client, &config).await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            return Ok(ExitCode::SUCCESS);
        }
        None if args.protocol == BenchProtocol::Etcd => None,
        None => Some(args.connection.client()?),
    };
    let config = args.config();
    config.validate().map_err(anyhow::Error::msg)?;
    let summary = match client {
        Some(client) => bench::run(&client, &config).await?,
        None => bench_etcd::run(&args.connection.endpoints.0, args.connections, &config).await?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", render_summary(&summary));
    }
    Ok(ExitCode::SUCCESS)
}

/// A VALUE argument: itself, or stdin for `-`.
async fn value_argument(value: &str) -> anyhow::Result<Bytes> {
    if value != "-" {
        return Ok(Bytes::copy_from_slice(value.as_bytes()));
    }
    let mut buffer = Vec::new();
    tokio::io::stdin()
        .read_to_end(&mut buffer)
        .await
        .context("reading the value from stdin")?;
    Ok(buffer.into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::api::{ClusterResponse, MemberInfo, NodeStatusInfo};
    use crate::client::FaultMode;

    /// A stand-in for `ordo`'s top-level command, with the client verbs
    /// flattened in as `main.rs` does.
    #[derive(Debug, Parser)]
    struct TestCli {
        #[command(subcommand)]
        command: TestCommand,
    }

    #[derive(Debug, clap::Subcommand)]
    enum TestCommand {
        #[command(subcommand)]
        Snapshot(TestSnapshot),
        #[command(flatten)]
        Client(ClientCommand),
    }

    #[derive(Debug, clap::Subcommand)]
    enum TestSnapshot {
        Save(SnapshotSaveArgs),
    }

    fn parse(args: &[&str]) -> Result<TestCommand, clap::Error> {
        TestCli::try_parse_from(std::iter::once("ordo").chain(args.iter().copied()))
            .map(|cli| cli.command)
    }

    fn client_command(args: &[&str]) -> ClientCommand {
        match parse(args) {
            Ok(TestCommand::Client(command)) => command,
            other => panic!("{args:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn the_command_definition_is_consistent() {
        use clap::CommandFactory;
        TestCli::command().debug_assert();
    }

    #[test]
    fn put_takes_key_value_and_defaults() {
        let ClientCommand::Put(args) = client_command(&["put", "a/b c", "v"]) else {
            panic!("not put")
        };
        assert_eq!((args.key.as_str(), args.value.as_str()), ("a/b c", "v"));
        assert_eq!(args.connection.timeout, Duration::from_secs(10));
        let defaults = parse_endpoints(DEFAULT_ENDPOINTS).expect("valid defaults");
        if std::env::var_os("ORDO_ENDPOINTS").is_none() {
            assert_eq!(args.connection.endpoints.0, defaults);
        }
    }

    #[test]
    fn connection_flags_parse_endpoints_and_durations() {
        let ClientCommand::Get(args) = client_command(&[
            "get",
            "k",
            "--endpoints",
            "http://10.0.0.1:1,10.0.0.2:2",
            "--timeout",
            "500ms",
            "--consistency",
            "stale",
            "--show-revision",
        ]) else {
            panic!("not get")
        };
        let shown: Vec<String> = args
            .connection
            .endpoints
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["http://10.0.0.1:1", "http://10.0.0.2:2"]);
        assert_eq!(args.connection.timeout, Duration::from_millis(500));
        assert_eq!(args.consistency, Consistency::Stale);
        assert!(args.show_revision);
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        for bad in [
            &["get", "k", "--timeout", "soon"][..],
            &["get", "k", "--endpoints", "ftp://h:1"],
            &["get", "k", "--consistency", "eventual"],
            &["cas", "k", "v"],
            &["put", "k"],
            &["member", "add", "4", "--peer-addr", "h:1"],
            &["bench", "--clients", "many"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn cas_and_list_flags() {
        let ClientCommand::Cas(args) = client_command(&["cas", "k", "-", "--if-revision", "0"])
        else {
            panic!("not cas")
        };
        assert_eq!((args.value.as_str(), args.if_revision), ("-", 0));
        let ClientCommand::List(args) =
            client_command(&["list", "--prefix", "app/", "--limit", "5"])
        else {
            panic!("not list")
        };
        assert_eq!((args.prefix.as_str(), args.limit), ("app/", Some(5)));
        let ClientCommand::List(args) = client_command(&["list"]) else {
            panic!("not list")
        };
        assert_eq!((args.prefix.as_str(), args.limit), ("", None));
    }

    #[test]
    fn member_and_leader_subcommands_take_connection_flags_anywhere() {
        let ClientCommand::Member(args) = client_command(&[
            "member",
            "add",
            "4",
            "--peer-addr",
            "127.0.0.1:9004",
            "--client-addr",
            "http://127.0.0.1:8004",
            "--learner",
            "--endpoints",
            "h:1",
        ]) else {
            panic!("not member")
        };
        let MemberAction::Add { id, learner, .. } = args.action else {
            panic!("not add")
        };
        assert_eq!((id, learner), (4, true));
        assert_eq!(args.connection.endpoints.0[0].authority(), "h:1");
        let ClientCommand::Member(args) =
            client_command(&["member", "--timeout", "2s", "remove", "3"])
        else {
            panic!("not member")
        };
        assert!(matches!(args.action, MemberAction::Remove { id: 3 }));
        assert_eq!(args.connection.timeout, Duration::from_secs(2));
        let ClientCommand::Leader(args) = client_command(&["leader", "transfer", "2"]) else {
            panic!("not leader")
        };
        assert!(matches!(args.action, LeaderAction::Transfer { id: 2 }));
    }

    #[test]
    fn bench_flags_and_defaults() {
        let ClientCommand::Bench(args) = client_command(&["bench"]) else {
            panic!("not bench")
        };
        let config = args.config();
        assert_eq!(
            (config.clients, config.keys, config.value_size),
            (16, 10_000, 100)
        );
        assert_eq!(
            (config.duration, config.warmup),
            (Duration::from_secs(10), Duration::from_secs(1))
        );
        assert_eq!(
            (config.read_ratio, config.consistency),
            (0.0, Consistency::Linearizable)
        );
        assert!(!args.json);
        assert_eq!(
            (args.protocol, args.connections),
            (BenchProtocol::Http, DEFAULT_CONNECTIONS_PER_ENDPOINT)
        );
        let ClientCommand::Bench(args) = client_command(&[
            "bench",
            "--protocol",
            "etcd",
            "--connections",
            "2",
            "--clients",
            "4",
            "--duration",
            "1m",
            "--read-ratio",
            "0.9",
            "--consistency",
            "lease",
            "--warmup",
            "0s",
            "--json",
        ]) else {
            panic!("not bench")
        };
        let config = args.config();
        assert_eq!(
            (config.clients, config.duration, config.read_ratio),
            (4, Duration::from_secs(60), 0.9)
        );
        assert_eq!(
            (config.consistency, config.warmup),
            (Consistency::Lease, Duration::ZERO)
        );
        assert!(args.json);
        assert_eq!((args.protocol, args.connections), (BenchProtocol::Etcd, 2));
    }

    #[test]
    fn bench_watch_flags_and_defaults() {
        let ClientCommand::Bench(args) = client_command(&["bench", "watch"]) else {
            panic!("not bench")
        };
        let Some(BenchCommand::Watch(watch)) = args.other else {
            panic!("not watch")
        };
        assert_eq!((watch.watchers, watch.rate), (1000, 1000));
        assert_eq!(watch.duration, Duration::from_secs(10));
        assert_eq!(watch.url, "http://127.0.0.1:8001");
        let ClientCommand::Bench(args) = client_command(&[
            "bench",
            "watch",
            "--watchers",
            "10000",
            "--rate",
            "500",
            "--duration",
            "1m",
            "--url",
            "http://127.0.0.1:8002",
        ]) else {
            panic!("not bench")
        };
        let Some(BenchCommand::Watch(watch)) = args.other else {
            panic!("not watch")
        };
        assert_eq!((watch.watchers, watch.rate), (10_000, 500));
        assert_eq!(watch.duration, Duration::from_secs(60));
        assert_eq!(watch.url, "http://127.0.0.1:8002");
    }

    #[test]
    fn bench_failover_flags_and_defaults() {
        let ClientCommand::Bench(args) = client_command(&["bench", "failover"]) else {
            panic!("not bench")
        };
        let Some(BenchCommand::Failover(failover)) = args.other else {
            panic!("not failover")
        };
        assert_eq!((failover.trials, failover.mode), (50, FaultMode::Kill));
        assert_eq!(failover.trial_timeout, Duration::from_secs(10));
        assert!(!failover.etcd && failover.etcd_bin.is_none() && !failover.json);
        assert!(!failover.keep_data);
        assert!(failover.validate().is_ok());
        let ClientCommand::Bench(args) = client_command(&[
            "bench",
            "failover",
            "--trials",
            "5",
            "--mode",
            "all",
            "--etcd-bin",
            "/opt/etcd",
            "--trial-timeout",
            "3s",
            "--json",
        ]) else {
            panic!("not bench")
        };
        let Some(BenchCommand::Failover(failover)) = args.other else {
            panic!("not failover")
        };
        assert_eq!((failover.trials, failover.mode), (5, FaultMode::All));
        assert_eq!(failover.etcd_bin, Some(PathBuf::from("/opt/etcd")));
        assert_eq!(failover.trial_timeout, Duration::from_secs(3));
        assert!(failover.json);
        assert_eq!(
            FaultMode::All.expand(),
            [
                FaultMode::Kill,
                FaultMode::Pause,
                FaultMode::Term,
                FaultMode::Transfer
            ]
        );
        for bad in [&["--trials", "0"][..], &["--trial-timeout", "0s"]] {
            let mut argv = vec!["bench", "failover"];
            argv.extend(bad);
            let ClientCommand::Bench(args) = client_command(&argv) else {
                panic!("not bench")
            };
            let Some(BenchCommand::Failover(failover)) = args.other else {
                panic!("not failover")
            };
            assert!(failover.validate().is_err(), "{bad:?}");
        }
        assert!(parse(&["bench", "failover", "--mode", "crash"]).is_err());
        // The plain load generator still parses as before.
        let ClientCommand::Bench(args) = client_command(&["bench", "--clients", "2"]) else {
            panic!("not bench")
        };
        assert!(args.other.is_none());
    }

    #[test]
    fn snapshot_save_takes_a_file() {
        let Ok(TestCommand::Snapshot(TestSnapshot::Save(args))) =
            parse(&["snapshot", "save", "b.ordo"])
        else {
            panic!("not snapshot save")
        };
        assert_eq!(args.file, PathBuf::from("b.ordo"));
    }

    #[test]
    fn member_list_marks_the_leader() {
        let node = NodeStatusInfo {
            id: 2,
            role: "follower".into(),
            term: 1,
            leader: Some(1),
            commit_index: 0,
            applied_index: 0,
            durable_index: 0,
        };
        let member = |id, voter, client: Option<&str>| MemberInfo {
            id,
            voter,
            peer_addr: Some(format!("127.0.0.1:900{id}")),
            client_addr: client.map(str::to_owned),
        };
        let cluster = ClusterResponse {
            cluster: "ordo".into(),
            cluster_id: None,
            node,
            leader: Some(1),
            term: 1,
            members: vec![
                member(2, true, Some("http://127.0.0.1:8002")),
                member(1, true, None),
                member(4, false, None),
            ],
            replication: Vec::new(),
        };
        let expected = "\
id  kind     peer address    client address         leader
1   voter    127.0.0.1:9001  -                      yes
2   voter    127.0.0.1:9002  http://127.0.0.1:8002
4   learner  127.0.0.1:9004  -
";
        assert_eq!(member_table(&cluster), expected);
    }
}
