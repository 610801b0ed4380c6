//! [`Mutex`]: a lock held by one [`Session`] at a time; see the
//! [recipes](super) for the ordering and why waiters do not herd.

use super::contend::{self, Place};
use super::{RecipeError, Session};
use crate::api::CompareOp;
use crate::client::{Cmp, Op, Txn};

/// A named lock. Each session contends with its own key
/// `NAME/<lease id in hex>`, so one session holds a given mutex at most
/// once (locking it again while held returns at once: not re-entrant
/// counting, one hold).
#[derive(Clone, Debug)]
pub struct Mutex {
    session: Session,
    prefix: String,
    key: String,
}

/// The lock, held. Release it with [`unlock`](Self::unlock); dropping it
/// without does so in the background (best effort; the session's lease
/// frees it in any case once the session ends).
#[derive(Debug)]
pub struct MutexGuard {
    session: Session,
    key: String,
    revision: u64,
    released: bool,
}

impl Mutex {
    /// The mutex `name` (keys under `name/`), contended for by `session`.
    pub fn new(session: &Session, name: &str) -> Self {
        let prefix = format!("{name}/");
        let key = format!("{prefix}{:x}", session.lease());
        Self {
            session: session.clone(),
            prefix,
            key,
        }
    }

    /// This session's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Waits until this session holds the lock. Fails with
    /// [`RecipeError::SessionLost`] if the session's lease is lost first;
    /// on any failure this session leaves the line.
    pub async fn lock(&self) -> Result<MutexGuard, RecipeError> {
        let place = self.enter().await?;
        let waited = tokio::select! {
            waited = self.wait(&place) => waited,
            lost = self.session.lost() => Err(lost),
        };
        match waited {
            Ok(()) => Ok(self.guard(place.revision)),
            Err(error) => {
                self.leave(place.revision).await;
                Err(error)
            }
        }
    }

    /// Takes the lock if nobody holds it; [`RecipeError::Locked`] if
    /// another session does (this session does not stay in line).
    pub async fn try_lock(&self) -> Result<MutexGuard, RecipeError> {
        let place = self.enter().await?;
        if place.first.as_ref().map(|first| first.create_revision) == Some(place.revision) {
            return Ok(self.guard(place.revision));
        }
        self.leave(place.revision).await;
        Err(RecipeError::Locked)
    }

    async fn enter(&self) -> Result<Place, RecipeError> {
        let client = self.session.client();
        contend::enter(client, &self.prefix, &self.key, b"", self.session.lease()).await
    }

    /// Waits for every earlier contender to leave, then checks this
    /// session's key is still there (its lease may have run out meanwhile).
    async fn wait(&self, place: &Place) -> Result<(), RecipeError> {
        let client = self.session.client();
        contend::wait_for_turn(client, &self.prefix, place.revision).await?;
        if contend::still_in_line(client, &self.key, place.revision).await? {
            Ok(())
        } else {
            Err(RecipeError::SessionLost {
                lease: self.session.lease(),
            })
        }
    }

    fn guard(&self, revision: u64) -> MutexGuard {
        MutexGuard {
            session: self.session.clone(),
            key: self.key.clone(),
            revision,
            released: false,
        }
    }

    /// Deletes this session's key, if it is still the one created at
    /// `revision`; failures are left to the lease.
    async fn leave(&self, revision: u64) {
        if let Err(error) = delete_own(&self.session, &self.key, revision).await {
            tracing::warn!(key = %self.key, %error, "could not leave the line; the lease will");
        }
    }
}

impl MutexGuard {
    /// The holder's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The creating revision of the holder's key: it grows with every new
    /// holder, so it serves as a fencing token.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Releases the lock.
    pub async fn unlock(mut self) -> Result<(), RecipeError> {
        self.released = true;
        delete_own(&self.session, &self.key, self.revision).await
    }
}

impl Drop for MutexGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (session, key, revision) = (self.session.clone(), self.key.clone(), self.revision);
        runtime.spawn(async move {
            if let Err(error) = delete_own(&session, &key, revision).await {
                tracing::warn!(%key, %error, "could not release a dropped lock; the lease will");
            }
        });
    }
}

/// Deletes `key` if it is still the one created at `revision` (never a
/// later holder's key of the same session).
async fn delete_own(session: &Session, key: &str, revision: u64) -> Result<(), RecipeError> {
    let request = Txn::new()
        .when([Cmp::create_revision(key, CompareOp::Equal, revision)])
        .then([Op::delete(key)])
        .build();
    contend::repeatable_txn(session.client(), &request).await?;
    Ok(())
}
