//! HTTP calls the in-process server tests make again and again: one home
//! each, so a change to the API's shape is made once.

use std::time::Duration;

use ordo_kv::server::RunningNode;
use reqwest::StatusCode;
use serde_json::Value;

/// An HTTP client that does not follow redirects (the tests look at them).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// GETs `url` and decodes its JSON answer (panics on anything else).
pub async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> T {
    let response = http().get(url).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("GET {url}: {status} {text}: {error}"))
}

/// Sends `request`; answers the status and the JSON body (Null when it is
/// not JSON).
pub async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// PUTs `value` under `key` (which may carry a query, `k?lease=7`); must
/// answer 200. Answers the revision written.
pub async fn put(url: &str, key: &str, value: impl Into<reqwest::Body>) -> u64 {
    let request = http().put(format!("{url}/v1/kv/{key}")).body(value);
    let (status, body) = send(request).await;
    assert_eq!(status, StatusCode::OK, "PUT {key}: {body}");
    body["revision"].as_u64().unwrap()
}

/// DELETEs `key`; answers the cluster revision after it.
pub async fn delete(url: &str, key: &str) -> u64 {
    let (status, body) = send(http().delete(format!("{url}/v1/kv/{key}"))).await;
    assert_eq!(status, StatusCode::OK, "DELETE {key}: {body}");
    body["revision"].as_u64().unwrap()
}

/// The node's `/metrics` page.
pub async fn metrics_page(url: &str) -> String {
    let response = http().get(format!("{url}/metrics")).send().await.unwrap();
    response.text().await.unwrap()
}

/// The value of the unlabelled metric `name` on the node's `/metrics` page.
pub async fn metric(url: &str, name: &str) -> u64 {
    metrics_page(url)
        .await
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
        .parse()
        .unwrap()
}

/// Stops every node, in order.
pub async fn stop_all(nodes: Vec<RunningNode>) {
    for node in nodes {
        node.stop().await;
    }
}
