//! [`Election`]: one leader among the sessions campaigning under a name,
//! and a stream of who leads; see the [recipes](super) for the ordering.

use std::pin::Pin;
use std::sync::{Mutex as StdMutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::contend;
use super::{RecipeError, Session};
use crate::api::CompareOp;
use crate::client::{Client, Cmp, Op, Txn, WatchItem, WatchOptions};

/// Leader changes buffered for an observer that reads slowly.
const OBSERVE_BUFFER_ITEMS: usize = 16;

/// An election under `NAME/`, campaigned in by one session.
#[derive(Debug)]
pub struct Election {
    session: Session,
    prefix: String,
    key: String,
    /// The creating revision of this session's key while it leads.
    leading: StdMutex<Option<u64>>,
}

/// The leader: its key, the value it proclaims, and its key's creating
/// revision (which orders leaders: a later leader's is larger).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderValue {
    /// The leader's key.
    pub key: String,
    /// What it proclaims.
    pub value: Bytes,
    /// Its key's creating revision.
    pub revision: u64,
}

impl Election {
    /// The election `name`, campaigned in by `session`.
    pub fn new(session: &Session, name: &str) -> Self {
        let prefix = format!("{name}/");
        let key = format!("{prefix}{:x}", session.lease());
        Self {
            session: session.clone(),
            prefix,
            key,
            leading: StdMutex::new(None),
        }
    }

    /// Waits until this session leads, then proclaims `value`. Fails with
    /// [`RecipeError::SessionLost`] if the lease is lost first.
    pub async fn campaign(&self, value: impl AsRef<[u8]>) -> Result<(), RecipeError> {
        let client = self.session.client();
        let value = value.as_ref();
        let place =
            contend::enter(client, &self.prefix, &self.key, value, self.session.lease()).await?;
        let waited = tokio::select! {
            waited = contend::wait_for_turn(client, &self.prefix, place.revision) => waited,
            lost = self.session.lost() => Err(lost),
        };
        waited?;
        if !contend::still_in_line(client, &self.key, place.revision).await? {
            return Err(RecipeError::SessionLost {
                lease: self.session.lease(),
            });
        }
        *self.leading_slot() = Some(place.revision);
        if place.created {
            return Ok(());
        }
        // The key was there from an earlier campaign, perhaps with
        // another value.
        self.proclaim(value).await
    }

    /// Changes the value this leader proclaims; [`RecipeError::NotLeader`]
    /// unless it still leads.
    pub async fn proclaim(&self, value: impl AsRef<[u8]>) -> Result<(), RecipeError> {
        let revision = (*self.leading_slot()).ok_or(RecipeError::NotLeader)?;
        let leader = LeaderKey {
            key: &self.key,
            revision,
            lease: self.session.lease(),
        };
        let proclaimed = proclaim_as(self.session.client(), &leader, value.as_ref()).await;
        if matches!(proclaimed, Err(RecipeError::NotLeader)) {
            *self.leading_slot() = None;
        }
        proclaimed
    }

    /// Stops leading (the next campaigner takes over); does nothing when
    /// not leading.
    pub async fn resign(&self) -> Result<(), RecipeError> {
        let Some(revision) = self.leading_slot().take() else {
            return Ok(());
        };
        resign_as(self.session.client(), &self.key, revision).await
    }

    /// The current leader of this election.
    pub async fn leader(&self) -> Result<Option<LeaderValue>, RecipeError> {
        leader_of(self.session.client(), &self.prefix).await
    }

    /// Each leader of election `name` as it changes, starting with the
    /// current one (no session needed). A change watched while a read
    /// failed is retried; the stream ends after an error it cannot get past.
    pub fn observe(client: &Client, name: &str) -> LeaderStream {
        let (sender, leaders) = mpsc::channel(OBSERVE_BUFFER_ITEMS);
        let task = tokio::spawn(observe(client.clone(), format!("{name}/"), sender));
        LeaderStream { leaders, task }
    }

    fn leading_slot(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.leading.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A leader's key, the revision that created it, and its lease: what
/// proves leadership to [`proclaim_as`] (etcd's `LeaderKey`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeaderKey<'a> {
    /// The leader's key.
    pub(crate) key: &'a str,
    /// Its creating revision.
    pub(crate) revision: u64,
    /// Its lease.
    pub(crate) lease: i64,
}

/// Sets the value `leader` proclaims, if its key is still the one created
/// at its revision; [`RecipeError::NotLeader`] otherwise.
pub(crate) async fn proclaim_as(
    client: &Client,
    leader: &LeaderKey<'_>,
    value: &[u8],
) -> Result<(), RecipeError> {
    let request = Txn::new()
        .when([Cmp::create_revision(
            leader.key,
            CompareOp::Equal,
            leader.revision,
        )])
        .then([Op::put_with_lease(leader.key, value, leader.lease)])
        .build();
    let answer = contend::repeatable_txn(client, &request).await?;
    if answer.succeeded {
        Ok(())
    } else {
        Err(RecipeError::NotLeader)
    }
}

/// Deletes `key` if it is still the one created at `revision` (a leader
/// that already lost its key has nothing to resign).
pub(crate) async fn resign_as(
    client: &Client,
    key: &str,
    revision: u64,
) -> Result<(), RecipeError> {
    let request = Txn::new()
        .when([Cmp::create_revision(key, CompareOp::Equal, revision)])
        .then([Op::delete(key)])
        .build();
    contend::repeatable_txn(client, &request).await?;
    Ok(())
}

/// The leaders of an election, each once, as they change; `None` while
/// there is none.
#[derive(Debug)]
pub struct LeaderStream {
    leaders: mpsc::Receiver<Result<Option<LeaderValue>, RecipeError>>,
    task: JoinHandle<()>,
}

impl LeaderStream {
    /// The next leader; `None` once the stream has ended.
    pub async fn next(&mut self) -> Option<Result<Option<LeaderValue>, RecipeError>> {
        self.leaders.recv().await
    }
}

impl futures_core::Stream for LeaderStream {
    type Item = Result<Option<LeaderValue>, RecipeError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.leaders.poll_recv(cx)
    }
}

impl Drop for LeaderStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn leader_of(client: &Client, prefix: &str) -> Result<Option<LeaderValue>, RecipeError> {
    let (first, _) = contend::first(client, prefix).await?;
    Ok(first.map(|kv| LeaderValue {
        key: kv.key,
        value: kv.value,
        revision: kv.create_revision,
    }))
}

/// Sends the leader, then again after every change under `prefix` that
/// changes it.
async fn observe(
    client: Client,
    prefix: String,
    leaders: mpsc::Sender<Result<Option<LeaderValue>, RecipeError>>,
) {
    let (first, revision) = match contend::first(&client, &prefix).await {
        Ok(read) => read,
        Err(error) => {
            let _ = leaders.send(Err(error)).await;
            return;
        }
    };
    let mut current = first.map(|kv| LeaderValue {
        key: kv.key,
        value: kv.value,
        revision: kv.create_revision,
    });
    if leaders.send(Ok(current.clone())).await.is_err() {
        return;
    }
    let mut changes = client.watch(WatchOptions::prefix(&prefix).from_revision(revision + 1));
    while let Some(item) = changes.next().await {
        match item {
            Ok(WatchItem::Change(_)) => {}
            Ok(WatchItem::Progress { .. }) => continue,
            Err(error) => {
                let _ = leaders.send(Err(error.into())).await;
                return;
            }
        }
        let leader = match leader_of(&client, &prefix).await {
            Ok(leader) => leader,
            Err(error) => {
                let _ = leaders.send(Err(error)).await;
                return;
            }
        };
        if leader != current {
            current = leader.clone();
            if leaders.send(Ok(leader)).await.is_err() {
                return;
            }
        }
    }
}
