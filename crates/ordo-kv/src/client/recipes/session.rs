//! [`Session`]: a lease kept alive for as long as the session lives; what
//! the recipes attach their keys to.

use std::sync::Arc;

use super::RecipeError;
use crate::client::{Client, ClientError, LeaseKeeper};

/// A lease and the task keeping it alive. Clones share both; the
/// keepalives stop when the last clone is dropped (the lease then expires
/// after its TTL), or at once with [`close`](Self::close).
#[derive(Clone, Debug)]
pub struct Session {
    client: Client,
    lease: i64,
    ttl_seconds: i64,
    keeper: Arc<LeaseKeeper>,
}

impl Session {
    /// Grants a lease of `ttl_seconds` and starts keeping it alive.
    pub async fn new(client: &Client, ttl_seconds: i64) -> Result<Self, ClientError> {
        let granted = client.grant(ttl_seconds).await?;
        let keeper = LeaseKeeper::start(client.clone(), &[(granted.id, granted.ttl)]);
        Ok(Self {
            client: client.clone(),
            lease: granted.id,
            ttl_seconds: granted.ttl,
            keeper: Arc::new(keeper),
        })
    }

    /// The client it talks through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Its lease's id.
    pub fn lease(&self) -> i64 {
        self.lease
    }

    /// Its lease's TTL in seconds, as granted.
    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }

    /// Returns once the lease is lost (expired, revoked, or unconfirmed
    /// for a whole TTL); never while it is kept.
    pub async fn lost(&self) -> RecipeError {
        let mut losses = self.keeper.subscribe();
        // An error means the keeper is gone, which only dropping the
        // session does; then nothing is kept either.
        let _ = losses.wait_for(|losses| !losses.is_empty()).await;
        RecipeError::SessionLost { lease: self.lease }
    }

    /// Revokes the lease now: every key of this session is deleted.
    pub async fn close(self) -> Result<(), ClientError> {
        self.client.revoke(self.lease).await.map(|_| ())
    }
}
