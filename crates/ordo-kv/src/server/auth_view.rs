//! [`AuthView`]: the auth state this node has applied, kept current by the
//! store's observer, so the HTTP API checks each request without a query;
//! and [`AuthContext`], what the API needs to authenticate: the view, the
//! token lifetime, and the bounded pool that checks passwords.
//!
//! A follower's view may lag the leader's by the entries it has not
//! applied yet, as its reads do; a token issued by a node ahead of it
//! still verifies (the signing key only changes on `auth enable`).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::auth::AuthState;
use crate::auth::password::{self, PasswordError, SALT_BYTES};
use crate::store::{ChangeObserver, Event};

/// Default lifetime of a token (`--auth-token-ttl`).
pub const DEFAULT_AUTH_TOKEN_TTL: Duration = Duration::from_secs(300);
/// Longest `--auth-token-ttl`.
pub const MAX_AUTH_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Password checks (argon2, ~19 MiB and tens of ms each) run at once.
pub const MAX_PASSWORD_CHECKS_RUNNING: usize = 2;
/// Password checks waiting or running; past it a login is 429 `busy`, so a
/// flood of bad logins cannot queue without bound.
pub const MAX_PASSWORD_CHECKS_QUEUED: usize = 32;

/// The auth state as last applied (see the module docs).
#[derive(Debug, Default)]
pub struct AuthView {
    current: RwLock<Arc<AuthState>>,
}

impl AuthView {
    /// The state now (a cheap shared copy).
    pub fn current(&self) -> Arc<AuthState> {
        match self.current.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn replace(&self, auth: &Arc<AuthState>) {
        let mut current = match self.current.write() {
            Ok(current) => current,
            Err(poisoned) => poisoned.into_inner(),
        };
        *current = Arc::clone(auth);
    }
}

impl ChangeObserver for AuthView {
    fn applied(&self, _: u64, _: &[Event]) {}

    fn restored(&self, _: u64, _: u64) {}

    fn auth_changed(&self, auth: &Arc<AuthState>) {
        self.replace(auth);
    }
}

/// What the HTTP API needs to authenticate requests.
#[derive(Debug)]
pub struct AuthContext {
    /// The applied auth state.
    pub view: Arc<AuthView>,
    /// How long an issued token is valid.
    pub token_ttl: Duration,
    /// Permits to run a password check (at most
    /// [`MAX_PASSWORD_CHECKS_RUNNING`] at once).
    pub checks_running: Arc<Semaphore>,
    /// Permits to wait for or run one (at most
    /// [`MAX_PASSWORD_CHECKS_QUEUED`]).
    pub checks_queued: Arc<Semaphore>,
}

impl AuthContext {
    /// A context over `view` issuing tokens valid for `token_ttl`.
    pub fn new(view: Arc<AuthView>, token_ttl: Duration) -> Self {
        Self {
            view,
            token_ttl,
            checks_running: Arc::new(Semaphore::new(MAX_PASSWORD_CHECKS_RUNNING)),
            checks_queued: Arc::new(Semaphore::new(MAX_PASSWORD_CHECKS_QUEUED)),
        }
    }
}

/// Why password work (a check or a hash) was not done.
#[derive(Debug, thiserror::Error)]
pub enum PasswordWorkError {
    /// [`MAX_PASSWORD_CHECKS_QUEUED`] are waiting or running: retry later.
    #[error("too many password checks waiting; retry shortly")]
    Busy,
    /// The node is stopping.
    #[error("the node is stopping")]
    Stopping,
    /// The password cannot be hashed (its length).
    #[error(transparent)]
    BadPassword(#[from] PasswordError),
    /// No randomness for a salt, or the work itself failed.
    #[error("{0}")]
    Failed(String),
}

impl AuthContext {
    /// Runs slow password work on the blocking pool, at most
    /// [`MAX_PASSWORD_CHECKS_RUNNING`] at once and
    /// [`MAX_PASSWORD_CHECKS_QUEUED`] waiting or running, so a flood of
    /// logins cannot stall the node (both APIs go through here).
    ///
    /// # Errors
    /// [`PasswordWorkError::Busy`] past the queue; `Stopping`; `Failed`.
    pub async fn run_password_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordWorkError> {
        let Ok(_queued) = Arc::clone(&self.checks_queued).try_acquire_owned() else {
            return Err(PasswordWorkError::Busy);
        };
        let _running = Arc::clone(&self.checks_running)
            .acquire_owned()
            .await
            .map_err(|_| PasswordWorkError::Stopping)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|error| PasswordWorkError::Failed(format!("a password check failed: {error}")))
    }

    /// Whether `password` is the one `hash` was made from (within the
    /// bounds of [`run_password_work`](Self::run_password_work)).
    ///
    /// # Errors
    /// As `run_password_work`.
    pub async fn password_matches(
        &self,
        hash: String,
        password: String,
    ) -> Result<bool, PasswordWorkError> {
        self.run_password_work(move || password::verify_password(&hash, &password))
            .await
    }

    /// The hash of `password` with a fresh salt.
    ///
    /// # Errors
    /// As `run_password_work`, and `BadPassword` for a bad length.
    pub async fn hash_password(&self, password: String) -> Result<String, PasswordWorkError> {
        let mut salt = [0; SALT_BYTES];
        getrandom::fill(&mut salt).map_err(|error| {
            PasswordWorkError::Failed(format!("no random source for a salt: {error}"))
        })?;
        let hashed = self
            .run_password_work(move || password::hash_password(&password, &salt))
            .await?;
        Ok(hashed?)
    }
}

impl Default for AuthContext {
    /// An empty view (auth off) and the default token lifetime.
    fn default() -> Self {
        Self::new(Arc::default(), DEFAULT_AUTH_TOKEN_TTL)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// Password work past [`MAX_PASSWORD_CHECKS_QUEUED`] waiting or running
    /// is refused at once (the HTTP API answers 429 `busy`, the etcd API
    /// "too many requests"), and the pool serves again once work ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn password_work_past_the_queue_is_refused_at_once() {
        let context = Arc::new(AuthContext::default());
        let (release, held) = mpsc::channel::<()>();
        let held = Arc::new(std::sync::Mutex::new(held));
        let mut queued = Vec::new();
        for _ in 0..MAX_PASSWORD_CHECKS_QUEUED {
            let context = Arc::clone(&context);
            let held = Arc::clone(&held);
            queued.push(tokio::spawn(async move {
                context
                    .run_password_work(move || {
                        let held = held.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = held.recv();
                    })
                    .await
            }));
        }
        // Every queued one holds its place before the next asks.
        while context.checks_queued.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        // At once: without the cap it would wait behind the held work.
        let refused =
            tokio::time::timeout(Duration::from_secs(5), context.run_password_work(|| ())).await;
        assert!(
            matches!(refused, Ok(Err(PasswordWorkError::Busy))),
            "{refused:?}"
        );
        for _ in 0..MAX_PASSWORD_CHECKS_QUEUED {
            let _ = release.send(());
        }
        for work in queued {
            assert!(matches!(work.await, Ok(Ok(()))));
        }
        assert!(context.run_password_work(|| ()).await.is_ok());
    }
}
