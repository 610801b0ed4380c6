//! A backup of a large store does not copy the store into memory: it
//! streams from the snapshot file, so the process's peak resident size
//! grows by a few chunks, not by the store's size. A counting allocator
//! would need `unsafe` (forbidden in the workspace), so the kernel's peak
//! (`VmHWM`, reset through `clear_refs`) measures it; alone in its test
//! binary, so the peak is the backup's. Linux only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use support::calls::put;
use support::{http, start_one};

/// A line of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`: kB there).
fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kilobytes: usize = line
        .trim_start_matches(field)
        .trim_start_matches(':')
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kilobytes << 10
}

/// Resets the process's peak resident size to its current one (Linux 4.0
/// on: `5` in `clear_refs`); answers that size.
fn reset_peak() -> usize {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    status_bytes("VmRSS")
}

/// The store's size in the test: far above what the bound allows to grow.
const STORE_BYTES: usize = 32 << 20;
/// The most the peak may grow during a backup: a few chunks and buffers
/// (the snapshot writer's, the largest key record's, a reading thread's
/// stack), not the store.
const GROWTH_BYTES_MAX: usize = 8 << 20;

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_a_large_store_does_not_copy_it_into_memory() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_one(dir.path(), |_| {}).await;
    let url = node.client_url.clone();
    let value = "v".repeat(256 << 10);
    for index in 0..STORE_BYTES / value.len() {
        put(&url, &format!("big-{index:03}"), value.clone()).await;
    }
    let client = http();
    let baseline = reset_peak();
    let mut response = client
        .get(format!("{url}/v1/snapshot"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Consumed as it arrives, as `ordo snapshot save` writes it to a file.
    let mut received = 0;
    while let Some(chunk) = response.chunk().await.unwrap() {
        received += chunk.len();
    }
    let growth = status_bytes("VmHWM").saturating_sub(baseline);
    assert!(received > STORE_BYTES, "the backup holds the store");
    assert!(
        growth < GROWTH_BYTES_MAX,
        "the peak resident size grew by {growth} bytes for a backup of {received} bytes"
    );
    node.stop().await;
}
