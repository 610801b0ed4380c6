//! How `ordo lock` gives its lock back once its command exits: it revokes
//! its session's lease (deleting the lock key with it), retrying through
//! the client's failover, since the node it talks to may be gone.
//!
//! The decision, and why:
//! - **A revoke whose answer was lost may have been applied**: the next
//!   attempt then answers `404 lease_not_found`, which means released.
//! - **Any other failure is retried**, [`FINAL_REVOKE_ATTEMPTS`] times in
//!   all, [`RETRY_PAUSE`] apart: each attempt goes through the client's
//!   routing, which moves past a dead endpoint and waits out a missing
//!   leader up to its own timeout.
//! - **Then the lease is left to expire**: the lock is still released,
//!   within the lease's ttl, since the process stops keeping it alive. That
//!   is a warning, not a failure: `ordo lock` exits with its command's
//!   status either way.

use std::future::Future;
use std::time::Duration;

use super::ClientError;

/// Revokes tried before leaving the lease to expire.
pub(super) const FINAL_REVOKE_ATTEMPTS: u32 = 3;

/// Pause between two revokes.
pub(super) const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// How the lease behind a lock ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Released {
    /// Revoked now.
    Revoked,
    /// Already gone: an earlier attempt whose answer was lost revoked it,
    /// or it expired.
    AlreadyGone,
    /// Every attempt failed: it expires within its ttl.
    ByExpiry {
        /// The last attempt's error.
        last_error: String,
    },
}

/// Calls `revoke` until it succeeds, finds the lease gone, or has failed
/// [`FINAL_REVOKE_ATTEMPTS`] times.
pub(super) async fn revoke_with_retries<F, Fut>(mut revoke: F) -> Released
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ClientError>>,
{
    let mut last_error = String::new();
    for attempt in 1..=FINAL_REVOKE_ATTEMPTS {
        match revoke().await {
            Ok(()) => return Released::Revoked,
            Err(ClientError::LeaseNotFound { .. }) => return Released::AlreadyGone,
            Err(error) => last_error = error.to_string(),
        }
        if attempt < FINAL_REVOKE_ATTEMPTS {
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
    Released::ByExpiry { last_error }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;

    fn lost() -> ClientError {
        ClientError::ConnectionLost {
            endpoint: "http://127.0.0.1:1".into(),
            reason: "reset".into(),
        }
    }

    fn gone() -> ClientError {
        ClientError::LeaseNotFound {
            endpoint: "http://127.0.0.1:2".into(),
            message: "lease 7 not found".into(),
        }
    }

    /// Runs the decision against scripted answers; returns it and the
    /// attempts made.
    async fn decide(answers: Vec<Result<(), ClientError>>) -> (Released, usize) {
        let script = Mutex::new(VecDeque::from(answers));
        let attempts = Mutex::new(0);
        let released = revoke_with_retries(|| {
            *attempts.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            let answer = script
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front()
                .unwrap_or(Ok(()));
            async move { answer }
        })
        .await;
        let attempts = *attempts.lock().unwrap_or_else(|e| e.into_inner());
        (released, attempts)
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_connection_is_retried_until_the_revoke_lands() {
        assert_eq!(
            decide(vec![Err(lost()), Ok(())]).await,
            (Released::Revoked, 2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_revoke_applied_before_its_answer_was_lost_counts_as_released() {
        let decided = decide(vec![Err(lost()), Err(gone())]).await;
        assert_eq!(decided, (Released::AlreadyGone, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn after_every_attempt_failed_the_lease_is_left_to_expire() {
        let (released, attempts) = decide(vec![Err(lost()), Err(lost()), Err(lost())]).await;
        assert_eq!(attempts, FINAL_REVOKE_ATTEMPTS as usize);
        let Released::ByExpiry { last_error } = released else {
            panic!("{released:?}");
        };
        assert!(last_error.contains("connection"), "{last_error}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_revoke_that_works_is_the_only_one() {
        assert_eq!(decide(vec![Ok(())]).await, (Released::Revoked, 1));
    }
}
