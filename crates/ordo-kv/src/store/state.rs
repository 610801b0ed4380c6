//! PLACEHOLDER on branch kv: replaced by the store work before merging to main.

/// The state machine.
#[derive(Debug, Default)]
pub struct KvStore;
