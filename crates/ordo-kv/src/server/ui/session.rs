//! `GET /v1/ui/session`: who the dashboard's user is and what they may do,
//! so the page asks them to sign in when auth wants it and shows the
//! Actions panel only to those who may act.
//!
//! The route is open (the auth gate lets it through) and identifies the
//! caller itself, the same way the gate does: a bearer token, else the
//! client certificate's name. With auth off, whoever reaches the port may
//! administer; with auth on, only a root user may. Either way, the actions'
//! own endpoints decide again, whatever the page shows.

use axum::Json;
use axum::extract::{Request, State};
use serde::Serialize;

use crate::server::http::auth_gate::identify;
use crate::server::http::{AuthenticatedUser, SharedState};

/// The body of `GET /v1/ui/session`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UiSession {
    /// Whether auth is enabled: the page must then sign in before it reads
    /// anything.
    pub auth_enabled: bool,
    /// The user the request was authenticated as, if any (none with auth
    /// on means: sign in).
    pub user: Option<String>,
    /// Whether the user may transfer leadership, remove members and take
    /// backups.
    pub may_administer: bool,
}

pub(crate) async fn session(State(state): State<SharedState>, request: Request) -> Json<UiSession> {
    let auth = state.auth.view.current();
    if !auth.enabled() {
        let user = request
            .extensions()
            .get::<AuthenticatedUser>()
            .map(|AuthenticatedUser(name)| name.clone());
        return Json(UiSession {
            auth_enabled: false,
            user,
            may_administer: true,
        });
    }
    let user = identify(&auth, &request).ok();
    let may_administer = user.as_deref().is_some_and(|user| auth.is_root(user));
    Json(UiSession {
        auth_enabled: true,
        user,
        may_administer,
    })
}
