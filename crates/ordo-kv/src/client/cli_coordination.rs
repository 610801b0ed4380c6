//! The coordination verbs: `ordo watch`, `ordo lease ...`, `ordo txn`,
//! `ordo del` (a key, conditionally, or a prefix), `ordo compact`,
//! `ordo lock NAME -- COMMAND...` and `ordo elect NAME [PROPOSAL]`.
//! Like the other verbs, data goes to stdout and notes to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio::io::AsyncReadExt as _;

use super::lock_release::{Released, revoke_with_retries};
use super::output::escape_field;
use super::recipes::{Election, Mutex, RecipeError, Session};
use super::{ConnectionArgs, DeleteOutcome, WatchItem, WatchKeys, WatchOptions};
use crate::api::{EventKind, TxnRequest, WatchChange};

/// Default TTL of the session lease behind `ordo lock` and `ordo elect`.
const DEFAULT_SESSION_TTL_SECONDS: i64 = 10;

/// `ordo del`.
#[derive(Debug, clap::Args)]
pub struct DelArgs {
    /// The key (or use --prefix).
    #[arg(required_unless_present = "prefix", conflicts_with = "prefix")]
    pub key: Option<String>,
    /// Delete every key starting with this (not empty), at one revision.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Delete KEY only if its revision is N (exit code 1 otherwise).
    #[arg(long, value_name = "N", conflicts_with = "prefix")]
    pub if_revision: Option<u64>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// `ordo watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The key (or use --prefix).
    #[arg(required_unless_present = "prefix", conflicts_with = "prefix")]
    pub key: Option<String>,
    /// Watch every key starting with this.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Start at this revision (default: changes from now on).
    #[arg(long, value_name = "R")]
    pub rev: Option<u64>,
    /// Print each key's previous value too.
    #[arg(long)]
    pub prev_kv: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// `ordo lease`.
#[derive(Debug, clap::Args)]
pub struct LeaseArgs {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub action: LeaseAction,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// `ordo lease ...`.
#[derive(Debug, clap::Subcommand)]
pub enum LeaseAction {
    /// Grant a lease of TTL seconds; prints its id.
    Grant {
        /// Seconds it lives without a keepalive.
        ttl: i64,
    },
    /// Keep lease ID alive until interrupted (exit code 1 if it is lost).
    Keepalive {
        /// The lease.
        id: i64,
    },
    /// Revoke lease ID, deleting its keys.
    Revoke {
        /// The lease.
        id: i64,
    },
    /// List every lease: `id<TAB>ttl` lines.
    List,
    /// Show lease ID's TTL, time left and keys.
    Ttl {
        /// The lease.
        id: i64,
    },
}

/// `ordo txn`.
#[derive(Debug, clap::Args)]
pub struct TxnArgs {
    /// A JSON transaction (`POST /v1/txn`'s body); stdin when absent or `-`.
    pub file: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// `ordo compact`.
#[derive(Debug, clap::Args)]
pub struct CompactArgs {
    /// Forget history below this revision.
    pub revision: u64,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// `ordo lock`.
#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// The lock's name (its keys live under NAME/).
    pub name: String,
    /// The command to run while holding the lock.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// TTL of the session lease: how long the lock outlives a crash of this process.
    #[arg(long, default_value_t = DEFAULT_SESSION_TTL_SECONDS, value_name = "SECONDS")]
    pub ttl: i64,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// `ordo elect`.
#[derive(Debug, clap::Args)]
pub struct ElectArgs {
    /// The election's name (its keys live under NAME/).
    pub name: String,
    /// Campaign with this value and hold leadership until interrupted;
    /// without it, print each leader's value as it changes.
    pub proposal: Option<String>,
    /// TTL of the session lease: how long leadership outlives a crash of this process.
    #[arg(long, default_value_t = DEFAULT_SESSION_TTL_SECONDS, value_name = "SECONDS")]
    pub ttl: i64,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

pub(super) async fn delete(args: DelArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    match (args.key, args.prefix, args.if_revision) {
        (None, Some(prefix), _) => {
            let deleted = client.delete_prefix(&prefix).await?;
            println!("deleted={} revision={}", deleted.deleted, deleted.revision);
        }
        (Some(key), None, Some(revision)) => match client.delete_if(&key, revision).await? {
            DeleteOutcome::Deleted { existed, revision } => {
                println!("deleted={existed} revision={revision}");
            }
            DeleteOutcome::CompareFailed { current_revision } => {
                eprintln!("compare failed: current revision {current_revision}");
                return Ok(ExitCode::FAILURE);
            }
        },
        (Some(key), None, None) => {
            let deleted = client.delete(&key).await?;
            println!("deleted={} revision={}", deleted.deleted, deleted.revision);
        }
        _ => anyhow::bail!("give a KEY or --prefix"),
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn watch(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let keys = match (args.key, args.prefix) {
        (Some(key), None) => WatchKeys::Key(key),
        (None, Some(prefix)) => WatchKeys::Prefix(prefix),
        _ => anyhow::bail!("give a KEY or --prefix"),
    };
    let mut options = WatchOptions::of(keys);
    options.start_revision = args.rev;
    options.prev_kv = args.prev_kv;
    let mut stream = client.watch(options);
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        };
        match item {
            Some(Ok(WatchItem::Change(change))) => print!("{}", change_lines(&change)),
            Some(Ok(WatchItem::Progress { .. })) => {}
            Some(Err(error)) => return Err(error.into()),
            None => return Ok(ExitCode::FAILURE),
        }
    }
}

/// One line per event: `REVISION<TAB>PUT|DELETE<TAB>KEY<TAB>VALUE`, then
/// `<TAB>PREVIOUS` when the previous value was asked for and known.
pub(crate) fn change_lines(change: &WatchChange) -> String {
    let mut text = String::new();
    for event in &change.events {
        let kind = match event.kind {
            EventKind::Put => "PUT",
            EventKind::Delete => "DELETE",
        };
        let value = |kv: &crate::api::KeyValueJson| {
            super::KeyValue::from_json(kv.clone())
                .map(|kv| escape_field(&kv.value))
                .unwrap_or_else(|reason| format!("<{reason}>"))
        };
        text.push_str(&format!(
            "{}\t{kind}\t{}\t{}",
            change.revision,
            escape_field(event.kv.key.as_bytes()),
            value(&event.kv)
        ));
        if let Some(prev) = &event.prev {
            text.push('\t');
            text.push_str(&value(prev));
        }
        text.push('\n');
    }
    text
}

pub(super) async fn lease(args: LeaseArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    match args.action {
        LeaseAction::Grant { ttl } => {
            let granted = client.grant(ttl).await?;
            println!("{}", granted.id);
            eprintln!("granted lease {} with TTL {}s", granted.id, granted.ttl);
        }
        LeaseAction::Keepalive { id } => {
            let renewed = client.keepalive(id).await?;
            let mut keeper = super::LeaseKeeper::start(client, &[(id, renewed.ttl)]);
            eprintln!(
                "keeping lease {id} alive (TTL {}s); Ctrl-C to stop",
                renewed.ttl
            );
            tokio::select! {
                loss = keeper.lost() => {
                    eprintln!("lease {id} lost: {:?}", loss.reason);
                    return Ok(ExitCode::FAILURE);
                }
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        LeaseAction::Revoke { id } => {
            let revoked = client.revoke(id).await?;
            println!("revoked revision={}", revoked.revision);
        }
        LeaseAction::List => {
            for lease in client.leases().await?.leases {
                println!("{}\t{}", lease.id, lease.ttl);
            }
        }
        LeaseAction::Ttl { id } => {
            let info = client.lease_info(id).await?;
            println!(
                "id={} ttl={} remaining={} keys={}",
                info.id,
                info.ttl,
                info.remaining,
                info.keys.join(",")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn txn(args: TxnArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let text = match &args.file {
        Some(path) if path.as_os_str() != "-" => tokio::fs::read_to_string(path)
            .await
            .with_context(|| format!("reading {}", path.display()))?,
        _ => {
            let mut text = String::new();
            tokio::io::stdin()
                .read_to_string(&mut text)
                .await
                .context("reading the transaction from stdin")?;
            text
        }
    };
    let request: TxnRequest =
        serde_json::from_str(&text).context("the transaction is not valid JSON for /v1/txn")?;
    let answer = client.txn(&request).await?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    eprintln!(
        "{} revision={}",
        if answer.succeeded {
            "SUCCESS"
        } else {
            "FAILURE"
        },
        answer.revision
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn compact(args: CompactArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let compacted = client.compact(args.revision).await?;
    println!(
        "compacted revision={} (cluster revision {})",
        compacted.compact_revision, compacted.revision
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn lock(args: LockArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let session = Session::new(&client, args.ttl).await?;
    let mutex = Mutex::new(&session, &args.name);
    let guard = tokio::select! {
        guard = mutex.lock() => guard?,
        _ = tokio::signal::ctrl_c() => {
            session.close().await?;
            return Ok(ExitCode::FAILURE);
        }
    };
    eprintln!(
        "locked {} (fencing revision {})",
        guard.key(),
        guard.revision()
    );
    let (program, arguments) = args.command.split_first().context("no command to run")?;
    let mut child = tokio::process::Command::new(program)
        .args(arguments)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let exited = tokio::select! {
        status = child.wait() => status.with_context(|| format!("waiting for {program}"))?,
        lost = session.lost() => {
            let _ = child.kill().await;
            eprintln!("{lost}: the lock may be held by another; {program} was killed");
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Err(error) = guard.unlock().await {
        eprintln!("warning: deleting the lock key failed ({error}); revoking the lease deletes it");
    }
    release(session).await;
    Ok(exit_code_of(exited))
}

/// Revokes `session`'s lease, retrying through the client's failover; if
/// that fails, warns that the lock is released when the lease expires (the
/// session, dropped, keeps it alive no more). See `lock_release.rs`.
async fn release(session: Session) {
    let (client, lease, ttl) = (
        session.client().clone(),
        session.lease(),
        session.ttl_seconds(),
    );
    drop(session);
    let released = revoke_with_retries(|| {
        let client = client.clone();
        async move { client.revoke(lease).await.map(|_| ()) }
    })
    .await;
    if let Released::ByExpiry { last_error } = released {
        eprintln!(
            "warning: could not revoke lease {lease} ({last_error}); \
             the lock is released when the lease expires, within {ttl} s"
        );
    }
}

/// The exit code a shell would show for `status` (128 + signal when killed).
fn exit_code_of(status: std::process::ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt as _;
    let code = status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

pub(super) async fn elect(args: ElectArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let Some(proposal) = args.proposal else {
        return observe(&client, &args.name).await;
    };
    let session = Session::new(&client, args.ttl).await?;
    let election = Election::new(&session, &args.name);
    tokio::select! {
        campaigned = election.campaign(&proposal) => campaigned?,
        _ = tokio::signal::ctrl_c() => {
            session.close().await?;
            return Ok(ExitCode::FAILURE);
        }
    }
    println!("{proposal}");
    eprintln!("elected; Ctrl-C to resign");
    tokio::select! {
        lost = session.lost() => {
            eprintln!("{lost}: no longer the leader");
            return Ok(ExitCode::FAILURE);
        }
        _ = tokio::signal::ctrl_c() => {}
    }
    election.resign().await?;
    session.close().await?;
    Ok(ExitCode::SUCCESS)
}

async fn observe(client: &super::Client, name: &str) -> anyhow::Result<ExitCode> {
    let mut leaders = Election::observe(client, name);
    loop {
        let leader = tokio::select! {
            leader = leaders.next() => leader,
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        };
        match leader {
            Some(Ok(Some(leader))) => println!("{}", escape_field(&leader.value)),
            Some(Ok(None)) => eprintln!("(no leader)"),
            Some(Err(error)) => return Err(error.into()),
            None => return Err(RecipeError::Unexpected("the observer ended".to_owned()).into()),
        }
    }
}
