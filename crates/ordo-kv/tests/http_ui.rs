//! The dashboard's serving side against nodes in the test process: its
//! files (types, security headers, revalidation, 404s) and its stream
//! (frames with every member, the leader, health, traffic counters, and a
//! member that stops shown unreachable).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ordo_kv::server::ui::CONTENT_SECURITY_POLICY;
use ordo_kv::server::ui::assets::{ASSETS, TOTAL_BYTES_BUDGET, find};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY as CSP, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use serde_json::Value;
use support::{http, leader_of, start_cluster};

/// How long a test waits for a frame that should come within a second.
const FRAME_PATIENCE: Duration = Duration::from_secs(10);

fn header<'a>(response: &'a reqwest::Response, name: &reqwest::header::HeaderName) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_files_carry_their_types_the_csp_and_an_etag() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_cluster(1, dir.path()).await;
    let url = &nodes[0].client_url;
    let client = http();

    let page = client.get(format!("{url}/ui")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(header(&page, &CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(&page, &CSP), CONTENT_SECURITY_POLICY);
    assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'self'"));
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
    let body = page.text().await.unwrap();
    assert!(
        body.contains("<script type=\"module\" src=\"/ui/app.js\">"),
        "{body}"
    );

    for asset in ASSETS {
        let response = client
            .get(format!("{url}/ui/{}", asset.name))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{}", asset.name);
        assert_eq!(header(&response, &CONTENT_TYPE), asset.content_type);
        assert_eq!(header(&response, &CSP), CONTENT_SECURITY_POLICY);
        let etag = header(&response, &ETAG).to_owned();
        assert_eq!(
            response.bytes().await.unwrap(),
            asset.bytes,
            "{}",
            asset.name
        );
        // The same ETag back: 304, no body.
        let again = client
            .get(format!("{url}/ui/{}", asset.name))
            .header(IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{}", asset.name);
        assert!(again.bytes().await.unwrap().is_empty());
        let stale = client
            .get(format!("{url}/ui/{}", asset.name))
            .header(IF_NONE_MATCH, "\"00000000\"")
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), StatusCode::OK, "{}", asset.name);
    }

    for missing in ["/ui/nope.js", "/ui/app.js.map", "/ui/%2E%2E%2Fmetrics"] {
        let response = client.get(format!("{url}{missing}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(header(&response, &CSP), CONTENT_SECURITY_POLICY);
    }

    let session: Value = client
        .get(format!("{url}/v1/ui/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["may_administer"], true, "{session}");
    nodes.into_iter().for_each(drop);
}

/// Reads SSE events off `response` until one of type `wanted` arrives.
async fn next_event(response: &mut reqwest::Response, buffer: &mut String, wanted: &str) -> Value {
    let read = async {
        loop {
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let mut kind = "message";
                let mut data = String::new();
                for line in event.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        kind = value.trim();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                if kind == wanted {
                    return serde_json::from_str::<Value>(&data).unwrap();
                }
            }
            let chunk = response.chunk().await.unwrap().expect("the stream ended");
            buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    tokio::time::timeout(FRAME_PATIENCE, read)
        .await
        .unwrap_or_else(|_| panic!("no {wanted} event within {FRAME_PATIENCE:?}"))
}

fn members(frame: &Value) -> &Vec<Value> {
    frame["members"].as_array().unwrap()
}

fn member(frame: &Value, id: u64) -> &Value {
    members(frame)
        .iter()
        .find(|member| member["id"] == id)
        .unwrap_or_else(|| panic!("no member {id} in {frame}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_shows_every_member_the_leader_and_a_member_that_stops() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = start_cluster(3, dir.path()).await;
    let leader = leader_of(&nodes).await;
    let leader_id = nodes[leader].node.id();
    let follower = (leader + 1) % nodes.len();
    let stopping = (leader + 2) % nodes.len();
    let stopping_id = nodes[stopping].node.id();

    let mut stream = http()
        .get(format!("{}/v1/ui/stream", nodes[follower].client_url))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(header(&stream, &CONTENT_TYPE), "text/event-stream");
    let mut buffer = String::new();

    // Every member answered for itself; the lag is the leader's view. (A
    // node learns the others' client addresses from the log: until then a
    // member is `unknown`, so wait for a frame where none is.)
    let deadline = tokio::time::Instant::now() + FRAME_PATIENCE;
    let frame = loop {
        let frame = next_event(&mut stream, &mut buffer, "frame").await;
        if members(&frame)
            .iter()
            .all(|member| member["health"] == "healthy")
        {
            break frame;
        }
        assert!(tokio::time::Instant::now() < deadline, "{frame}");
    };
    assert_eq!(frame["node"], nodes[follower].node.id(), "{frame}");
    assert_eq!(frame["leader"], leader_id, "{frame}");
    assert_eq!(members(&frame).len(), 3, "{frame}");
    let leaders: Vec<_> = members(&frame)
        .iter()
        .filter(|member| member["role"] == "leader")
        .collect();
    assert_eq!(leaders.len(), 1, "{frame}");
    assert_eq!(leaders[0]["id"], leader_id, "{frame}");
    for member in members(&frame) {
        assert_eq!(member["health"], "healthy", "{frame}");
        assert!(member["term"].as_u64().unwrap() >= 1, "{frame}");
        assert!(member["lag"].is_u64(), "{frame}");
        assert!(
            member["client_addr"]
                .as_str()
                .unwrap()
                .starts_with("http://")
        );
    }
    let traffic = &frame["traffic"];
    let buckets = traffic["fsync_latency"]["counts"].as_array().unwrap().len();
    let bounds = traffic["fsync_latency"]["bounds_seconds"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(buckets, bounds + 1, "{frame}");

    // A write shows as a higher revision in a later frame, on a follower.
    let before = frame["revision"].as_u64().unwrap();
    let response = http()
        .put(format!("{}/v1/kv/ui/a", nodes[leader].client_url))
        .body("one")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let deadline = tokio::time::Instant::now() + FRAME_PATIENCE;
    loop {
        let frame = next_event(&mut stream, &mut buffer, "frame").await;
        if frame["revision"].as_u64().unwrap() > before {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{frame}");
    }

    // A member that stops answering is shown unreachable.
    nodes.remove(stopping).stop().await;
    let deadline = tokio::time::Instant::now() + FRAME_PATIENCE;
    loop {
        let frame = next_event(&mut stream, &mut buffer, "frame").await;
        if member(&frame, stopping_id)["health"] == "unreachable" {
            assert_eq!(member(&frame, stopping_id)["role"], Value::Null, "{frame}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{frame}");
    }
}

#[test]
fn the_files_fit_the_budget() {
    let total: usize = ASSETS.iter().map(|asset| asset.bytes.len()).sum();
    assert!(
        total <= TOTAL_BYTES_BUDGET,
        "the dashboard's files weigh {total} bytes, over the budget of {TOTAL_BYTES_BUDGET}"
    );
}

/// The names a file refers to: `"/ui/NAME"` in the page, `'./NAME'` in a module.
fn references(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (marker, end) in [("\"/ui/", '"'), ("from './", '\'')] {
        for (at, _) in text.match_indices(marker) {
            let rest = &text[at + marker.len()..];
            if let Some(stop) = rest.find(end) {
                names.push(rest[..stop].to_owned());
            }
        }
    }
    names
}

#[test]
fn every_file_referred_to_is_served_and_every_file_served_is_referred_to() {
    let mut referred = std::collections::BTreeSet::from(["index.html".to_owned()]);
    for asset in ASSETS {
        let text = std::str::from_utf8(asset.bytes).unwrap();
        for name in references(text) {
            assert!(
                find(&name).is_some(),
                "{} refers to {name}, which is not served",
                asset.name
            );
            referred.insert(name);
        }
    }
    for asset in ASSETS {
        assert!(
            referred.contains(asset.name),
            "nothing refers to {}",
            asset.name
        );
    }
    // No inline script for the CSP to refuse: scripts come from files.
    let page = std::str::from_utf8(find("index.html").unwrap().bytes).unwrap();
    assert_eq!(
        page.matches("<script").count(),
        page.matches("<script type=\"module\" src=").count()
    );
    let handler = page.match_indices(" on").find(|(at, _)| {
        let name: String = page[at + 1..]
            .chars()
            .take_while(char::is_ascii_lowercase)
            .collect();
        page[at + 1 + name.len()..].starts_with('=')
    });
    assert!(
        handler.is_none(),
        "an inline event handler in the page: {handler:?}"
    );
}
