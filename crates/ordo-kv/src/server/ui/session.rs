//! `GET /v1/ui/session`: what the dashboard's user may do, so the page
//! shows the Actions panel only to those who may act.
//!
//! Today the client port has no users (a client certificate names one, but
//! nothing is refused by name), so whoever reaches it may administer; once
//! roles exist, `may_administer` is true only for root, and the actions'
//! endpoints refuse everyone else whatever the page shows.

use axum::Json;
use axum::extract::Extension;
use serde::Serialize;

use crate::server::http::AuthenticatedUser;

/// The body of `GET /v1/ui/session`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UiSession {
    /// The user the request was authenticated as, if any.
    pub user: Option<String>,
    /// Whether the user may transfer leadership, remove members and take
    /// backups.
    pub may_administer: bool,
}

pub(crate) async fn session(user: Option<Extension<AuthenticatedUser>>) -> Json<UiSession> {
    Json(UiSession {
        user: user.map(|Extension(user)| user.0),
        may_administer: true,
    })
}
