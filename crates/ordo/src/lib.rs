//! Ordo: a Raft library.
//!
//! `ordo-core` decides; this crate does the I/O around it. Today it holds
//! [`storage`]: the durable log ([`storage::WalLogStore`]), an in-memory log for
//! tests ([`storage::MemLogStore`]) and snapshot files
//! ([`storage::SnapshotStore`]). The runtime and transports join it later.
//!
//! ```
//! use ordo::storage::{LogStore, WalConfig, WalLogStore};
//! use ordo_core::{Entry, LogRead};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let log = WalLogStore::open(dir.path(), WalConfig::default())?;
//! log.append(&[Entry::command(1, 1, &b"set x 1"[..]), Entry::noop(2, 1)])?;
//! let durable = log.sync()?; // one fdatasync for the batch
//! assert_eq!((durable.last_index, durable.last_term), (2, 1));
//! assert_eq!(log.entries(1, 3, u64::MAX)?.len(), 2);
//! # Ok(())
//! # }
//! ```

pub mod storage;
pub mod transport;
