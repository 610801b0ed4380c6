//! The dashboard's sign-in in headless Chromium and Firefox (one test
//! each, the same steps), against three real `ordo`
//! processes with auth on: the form shows before anything is read, a wrong
//! password is answered on the form, root signs in and is offered the
//! actions, a read-only user signs in and sees the cluster but no actions,
//! and neither a token nor a password ever appears in a URL (the page's
//! own, or any it fetched). Screenshots go to
//! `target/ui-screenshots/BROWSER/`.
//!
//! Each is skipped, saying so, without its browser and WebDriver, unless
//! `ORDO_REQUIRE_BROWSER=1` (Chromium) or `ORDO_REQUIRE_FIREFOX=1` (as
//! `ui_browser.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser_support;
mod e2e_support;

use std::time::Duration;

use browser_support::{Browser, BrowserKind, STEADY_LEADER, screenshot_dir};
use e2e_support::Cluster;
use serde_json::{Value, json};

/// How long the page may take to show what the test waits for.
const PAGE_PATIENCE: Duration = Duration::from_secs(10);

/// Root (`rootpw`) and a reader (`readerpw`, read on `app/`), auth on.
async fn enable_auth(url: &str) {
    let steps = [
        (
            "POST",
            "users",
            json!({"name": "root", "password": "rootpw"}),
        ),
        ("PUT", "users/root/roles/root", Value::Null),
        (
            "POST",
            "users",
            json!({"name": "reader", "password": "readerpw"}),
        ),
        ("POST", "roles", json!({"name": "viewer"})),
        (
            "POST",
            "roles/viewer/permissions",
            json!({"kind": "read", "prefix": "app/"}),
        ),
        ("PUT", "users/reader/roles/viewer", Value::Null),
        ("POST", "enable", Value::Null),
    ];
    for (method, path, body) in steps {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = e2e_support::http().request(method, format!("{url}/v1/auth/{path}"));
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {response:?}");
    }
}

/// Fills the sign-in form and submits it the way a user does.
fn signs_in(name: &str, password: &str) -> String {
    format!(
        "document.getElementById('login-name').value = '{name}';
         document.getElementById('login-password').value = '{password}';
         document.getElementById('login').requestSubmit(); return true;"
    )
}

/// True while no URL the page has (its own) or fetched carries a token, a
/// password or a sign-in field: tokens are `v1.PAYLOAD.MAC`.
const NO_SECRET_IN_ANY_URL: &str =
    "const urls = [location.href, ...performance.getEntries().map((entry) => entry.name)];
     const secret = /v1\\.[A-Za-z0-9_-]{8,}\\.|token=|password|rootpw|readerpw/i;
     return urls.length > 1 && !urls.some((url) => secret.test(url));";

/// The members table shows the three members, one of them leading.
const THREE_MEMBERS_ONE_LEADER: &str =
    "return document.querySelectorAll('#members tbody tr').length === 3
         && document.querySelectorAll('#members tbody tr[data-role=\"leader\"]').length === 1;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_shows_the_actions_to_root_only_and_no_url_carries_a_secret_in_chromium() {
    signing_in_shows_the_actions_to_root_only_and_no_url_carries_a_secret(BrowserKind::Chromium)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_shows_the_actions_to_root_only_and_no_url_carries_a_secret_in_firefox() {
    signing_in_shows_the_actions_to_root_only_and_no_url_carries_a_secret(BrowserKind::Firefox)
        .await;
}

async fn signing_in_shows_the_actions_to_root_only_and_no_url_carries_a_secret(kind: BrowserKind) {
    let Some(browser) = Browser::start(kind, 1280, 860).await else {
        return;
    };
    let shots = screenshot_dir(kind);
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new("ui-auth", dir.path(), 3).with_flags(STEADY_LEADER);
    cluster.start_all();
    let leader = cluster.wait_for_leader().await;
    let page = format!("{}/ui#cluster", cluster.url(leader));
    enable_auth(&cluster.url(leader)).await;

    // The form shows, and nothing of the cluster does.
    browser.go(&page).await;
    browser
        .wait_until(
            "the sign-in form",
            PAGE_PATIENCE,
            "return !document.getElementById('login').hidden
                 && document.querySelector('main').hidden;",
        )
        .await;
    browser.screenshot(&shots.join("auth-sign-in.png")).await;

    // A wrong password is answered on the form, which stays.
    browser.run(&signs_in("root", "wrong")).await;
    browser
        .wait_until(
            "the sign-in error",
            PAGE_PATIENCE,
            "return document.getElementById('login-error').textContent.includes('Not signed in')
                 && !document.getElementById('login').hidden;",
        )
        .await;
    browser
        .screenshot(&shots.join("auth-wrong-password.png"))
        .await;

    // Root signs in: the cluster and the actions.
    browser.run(&signs_in("root", "rootpw")).await;
    browser
        .wait_until("root's dashboard", PAGE_PATIENCE, THREE_MEMBERS_ONE_LEADER)
        .await;
    browser
        .run("document.getElementById('actions-tab').click(); return true;")
        .await;
    browser
        .wait_until(
            "the actions, for root",
            PAGE_PATIENCE,
            "return !document.getElementById('actions-tab').hidden
                 && !document.getElementById('view-actions').hidden
                 && !document.getElementById('transfer').disabled;",
        )
        .await;
    browser.screenshot(&shots.join("auth-root.png")).await;
    browser
        .wait_until(
            "no secret in a URL (root)",
            PAGE_PATIENCE,
            NO_SECRET_IN_ANY_URL,
        )
        .await;

    // A new page forgets root's token; a read-only user signs in, on a
    // page opened at the actions (a fragment alone would not load a page).
    browser.go("about:blank").await;
    browser
        .go(&format!("{}/ui#actions", cluster.url(leader)))
        .await;
    browser
        .wait_until(
            "the sign-in form again",
            PAGE_PATIENCE,
            "return !document.getElementById('login').hidden;",
        )
        .await;
    browser.run(&signs_in("reader", "readerpw")).await;
    browser
        .wait_until(
            "the reader's dashboard",
            PAGE_PATIENCE,
            THREE_MEMBERS_ONE_LEADER,
        )
        .await;
    // The page was opened at the actions: it shows the cluster instead.
    browser
        .wait_until(
            "no actions for the reader",
            PAGE_PATIENCE,
            "return document.getElementById('actions-tab').hidden
                 && document.getElementById('view-actions').hidden
                 && !document.getElementById('view-cluster').hidden;",
        )
        .await;
    browser.screenshot(&shots.join("auth-reader.png")).await;
    browser
        .wait_until(
            "no secret in a URL (reader)",
            PAGE_PATIENCE,
            NO_SECRET_IN_ANY_URL,
        )
        .await;
}
