//! Both log stores pass the public conformance suite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use ordo::storage::{MemLogStore, conformance};

#[test]
fn mem_log_store_conforms() {
    conformance::run_all(MemLogStore::new);
}

#[test]
fn wal_log_store_conforms() {
    let mut dirs = Vec::new();
    conformance::run_all(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = common::open(dir.path());
        dirs.push(dir);
        store
    });
}

#[test]
fn crashable_log_store_conforms() {
    conformance::run_all(ordo::storage::CrashableLogStore::new);
}
