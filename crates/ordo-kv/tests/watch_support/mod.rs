//! A minimal Server-Sent Events reader for the watch tests: enough of the
//! format (`event:`, `id:`, `data:` lines, blank-line separated) to check
//! what `GET /v1/watch` sends, byte for byte as it arrives.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::Value;

/// One message.
#[derive(Clone, Debug, PartialEq)]
pub struct SseMessage {
    /// `event:` (`change`, `progress`, `compacted`, `cancelled`).
    pub event: String,
    /// `id:`, if any.
    pub id: Option<u64>,
    /// `data:`, as JSON.
    pub data: Value,
}

/// An open watch stream.
pub struct SseReader {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl SseReader {
    /// Opens `url` (a `/v1/watch?...` URL) with `headers`; panics unless it
    /// answers 200 `text/event-stream`.
    pub async fn open(url: &str, headers: &[(&str, &str)]) -> SseReader {
        let mut request = reqwest::Client::new().get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{url}");
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        SseReader {
            response,
            buffer: Vec::new(),
        }
    }

    /// The next message; `None` when the server ended the stream. Panics if
    /// none comes within `within`.
    pub async fn next_within(&mut self, within: Duration) -> Option<SseMessage> {
        tokio::time::timeout(within, self.next_message())
            .await
            .unwrap_or_else(|_| panic!("no watch message within {within:?}"))
    }

    /// The next message, waiting up to 10 s.
    pub async fn next(&mut self) -> Option<SseMessage> {
        self.next_within(Duration::from_secs(10)).await
    }

    /// The next message that is not `progress`.
    pub async fn next_not_progress(&mut self) -> Option<SseMessage> {
        loop {
            let message = self.next().await?;
            if message.event != "progress" {
                return Some(message);
            }
        }
    }

    async fn next_message(&mut self) -> Option<SseMessage> {
        loop {
            if let Some(end) = find_blank_line(&self.buffer) {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                if let Some(message) = parse_block(&String::from_utf8(block).unwrap()) {
                    return Some(message);
                }
                continue;
            }
            let chunk = self.response.chunk().await.ok()??;
            self.buffer.extend_from_slice(&chunk);
        }
    }
}

fn find_blank_line(buffer: &[u8]) -> Option<usize> {
    buffer.windows(2).position(|pair| pair == b"\n\n")
}

fn parse_block(block: &str) -> Option<SseMessage> {
    let mut event = String::from("message");
    let mut id = None;
    let mut data = String::new();
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = value.to_owned(),
            "id" => id = Some(value.parse().unwrap()),
            "data" => data.push_str(value),
            _ => {}
        }
    }
    if data.is_empty() {
        return None;
    }
    Some(SseMessage {
        event,
        id,
        data: serde_json::from_str(&data).unwrap(),
    })
}
