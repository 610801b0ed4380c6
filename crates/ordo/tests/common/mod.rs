//! Helpers shared by the storage tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

pub mod sim_fs;

use ordo::storage::{Durability, WalConfig, WalLogStore};

/// Small segments and a small cache, so tests cross segment and cache
/// boundaries with little data.
pub fn small_config() -> WalConfig {
    WalConfig {
        segment_size_bytes: 4096,
        durability: Durability::Always,
        cache_entries_max: 8,
        cache_payload_bytes_max: 1024,
        cluster_id: None,
    }
}

pub fn open(dir: &Path) -> WalLogStore {
    WalLogStore::open(dir, small_config()).expect("open the log")
}

/// Paths of the segment files of `dir`, oldest first.
pub fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "wal"))
        .collect();
    paths.sort();
    paths
}

/// Copies every file of `from` into `to` (a fresh directory).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}
