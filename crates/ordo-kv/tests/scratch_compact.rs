#![allow(clippy::unwrap_used, missing_docs)]
mod store_support;
use ordo_kv::store::KvCommand;
use store_support::{put, store_with};
#[test]
#[ignore]
fn hot_key_compaction_time() {
    let n = 40_000u64;
    let mut store = store_with((0..n).map(|i| put("hot", &i.to_string())).collect());
    let started = std::time::Instant::now();
    store.apply_command(KvCommand::Compact { revision: n / 2 });
    eprintln!(
        "compacting {} versions of one key took {:?}",
        n / 2,
        started.elapsed()
    );
}
