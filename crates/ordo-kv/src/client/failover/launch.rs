//! Starting a 3-member cluster on loopback for the failover benchmark:
//! `ordo serve` (this very executable) or etcd, with data in a scratch
//! directory removed afterwards, on ports the kernel just handed out.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::api::{Api, Dialect};
use super::children::ChildProcess;

/// Members per cluster.
pub(crate) const MEMBERS: usize = 3;
/// How long a new cluster may take to answer at all.
const START_PATIENCE: Duration = Duration::from_secs(30);

/// A directory removed (with everything in it) when dropped, unless kept.
#[derive(Debug)]
pub(crate) struct ScratchDir {
    path: PathBuf,
    keep: bool,
}

impl ScratchDir {
    /// A new, empty directory under the system's temporary directory; `keep`
    /// leaves it (and the members' logs in it) behind.
    pub(crate) fn new(label: &str, keep: bool) -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let name = format!("ordo-bench-failover-{label}-{}-{nanos}", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self { path, keep })
    }

    /// Its path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!(
                "ordo bench failover: data and logs kept in {}",
                self.path.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Ports on 127.0.0.1 for every member, (peer, client), that nobody
/// listened on a moment ago (a race with another program is possible, and
/// shows as a member that cannot bind).
fn member_ports() -> anyhow::Result<Vec<(u16, u16)>> {
    let mut ports = Vec::new();
    // All bound at once, so none is handed out twice.
    let mut held = Vec::new();
    for _ in 0..MEMBERS {
        let peer = TcpListener::bind(("127.0.0.1", 0)).context("cannot find a free port")?;
        let client = TcpListener::bind(("127.0.0.1", 0)).context("cannot find a free port")?;
        ports.push((peer.local_addr()?.port(), client.local_addr()?.port()));
        held.push((peer, client));
    }
    drop(held);
    Ok(ports)
}

/// The members' processes, their API, and where their data lives.
#[derive(Debug)]
pub(crate) struct Launched {
    /// Each member's process (index = member).
    pub(crate) members: Vec<ChildProcess>,
    /// How to talk to them.
    pub(crate) api: Api,
    /// Data and logs; declared last, so removed after the processes died.
    #[expect(dead_code, reason = "held for its Drop, which removes the directory")]
    pub(crate) dir: ScratchDir,
}

/// Starts `ordo serve` three times from `exe` (this executable).
pub(crate) async fn ordo(exe: &Path, keep_data: bool) -> anyhow::Result<Launched> {
    let dir = ScratchDir::new("ordo", keep_data)?;
    let ports = member_ports()?;
    // Member 1 (the lowest id) makes the cluster's id; the others ask it
    // at its client URL, as the README's first start does.
    let initial_cluster = ports
        .iter()
        .enumerate()
        .map(|(index, (peer, client))| match index {
            0 => format!("1=127.0.0.1:{peer}@http://127.0.0.1:{client}"),
            _ => format!("{}=127.0.0.1:{peer}", index + 1),
        })
        .collect::<Vec<_>>()
        .join(",");
    let cluster_name = format!("bench-failover-{}", std::process::id());
    let mut members = Vec::new();
    for (index, (peer, client)) in ports.iter().enumerate() {
        let id = index + 1;
        let args = vec![
            "serve".to_owned(),
            "--id".to_owned(),
            id.to_string(),
            "--peer-listen".to_owned(),
            format!("127.0.0.1:{peer}"),
            "--client-listen".to_owned(),
            format!("127.0.0.1:{client}"),
            "--data".to_owned(),
            dir.path().join(format!("node-{id}")).display().to_string(),
            "--initial-cluster".to_owned(),
            initial_cluster.clone(),
            "--cluster".to_owned(),
            cluster_name.clone(),
        ];
        members.push(ChildProcess::spawn(
            &format!("ordo-{id}"),
            exe,
            args,
            dir.path(),
        )?);
    }
    let urls = client_urls(&ports);
    let launched = Launched {
        members,
        api: Api::new(urls, Dialect::Ordo),
        dir,
    };
    answering(launched).await
}

/// Starts three etcd members from `etcd`.
pub(crate) async fn etcd(etcd: &Path, keep_data: bool) -> anyhow::Result<Launched> {
    let dir = ScratchDir::new("etcd", keep_data)?;
    let ports = member_ports()?;
    let initial_cluster = ports
        .iter()
        .enumerate()
        .map(|(index, (peer, _))| format!("m{index}=http://127.0.0.1:{peer}"))
        .collect::<Vec<_>>()
        .join(",");
    let token = format!("bench-failover-{}", std::process::id());
    let mut members = Vec::new();
    for (index, (peer, client)) in ports.iter().enumerate() {
        let peer_url = format!("http://127.0.0.1:{peer}");
        let client_url = format!("http://127.0.0.1:{client}");
        let args = vec![
            "--name".to_owned(),
            format!("m{index}"),
            "--data-dir".to_owned(),
            dir.path().join(format!("m{index}")).display().to_string(),
            "--listen-peer-urls".to_owned(),
            peer_url.clone(),
            "--initial-advertise-peer-urls".to_owned(),
            peer_url,
            "--listen-client-urls".to_owned(),
            client_url.clone(),
            "--advertise-client-urls".to_owned(),
            client_url,
            "--initial-cluster".to_owned(),
            initial_cluster.clone(),
            "--initial-cluster-state".to_owned(),
            "new".to_owned(),
            "--initial-cluster-token".to_owned(),
            token.clone(),
            "--log-level".to_owned(),
            "warn".to_owned(),
        ];
        members.push(ChildProcess::spawn(
            &format!("etcd-{index}"),
            etcd,
            args,
            dir.path(),
        )?);
    }
    let urls = client_urls(&ports);
    let mut launched = Launched {
        members,
        api: Api::new(urls, Dialect::Etcd { member_ids: vec![] }),
        dir,
    };
    launched = answering(launched).await?;
    // A member answers only once the cluster has formed.
    let deadline = tokio::time::Instant::now() + START_PATIENCE;
    let mut member_ids = Vec::new();
    for member in 0..MEMBERS {
        loop {
            if let Some(id) = launched
                .api
                .etcd_member_id(member, Duration::from_secs(1))
                .await
            {
                member_ids.push(id);
                break;
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "etcd member {member} did not say its id within {START_PATIENCE:?}\n{}",
                    launched.members[member].log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    launched.api.set_dialect(Dialect::Etcd { member_ids });
    Ok(launched)
}

fn client_urls(ports: &[(u16, u16)]) -> Vec<String> {
    ports
        .iter()
        .map(|(_, client)| format!("http://127.0.0.1:{client}"))
        .collect()
}

/// Waits until every member accepts connections (or one died).
async fn answering(mut launched: Launched) -> anyhow::Result<Launched> {
    let deadline = tokio::time::Instant::now() + START_PATIENCE;
    for member in 0..launched.members.len() {
        let address = launched
            .api
            .url(member)
            .trim_start_matches("http://")
            .to_owned();
        loop {
            if !launched.members[member].is_running() {
                bail!(
                    "member {member} exited at start\n{}",
                    launched.members[member].log_tail()
                );
            }
            if tokio::net::TcpStream::connect(&address).await.is_ok() {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "member {member} never listened on {address}\n{}",
                    launched.members[member].log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(launched)
}
