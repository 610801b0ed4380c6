//! File descriptors: `ordo serve` raises its soft limit to the hard one at
//! start, and sizes the client connection cap so that a reserve stays for
//! everything else a node must keep open.
//!
//! Invariant: client connections never take the descriptors the log, the
//! snapshots and the peers need; at the cap a client connection is shed
//! (`http/connections.rs`), never a write or a peer.

/// Descriptors kept back from client connections: log segments and the
/// vote file, snapshot files being written, read and sent, two connections
/// per peer and the transport's pending handshakes (64), the runtime's own
/// (epoll, event and signal pipes, stdio), and client connections closed
/// at the cap whose sockets are still being released.
pub const DESCRIPTOR_RESERVE: u64 = 384;

/// Raises the soft descriptor limit to the hard limit where it is lower,
/// and returns the soft limit now in force (`None`: unlimited or unknown).
pub fn raise_soft_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        if limit.current < limit.maximum {
            let raised = rustix::process::Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => return limit.maximum,
                Err(error) => {
                    tracing::warn!(%error, "cannot raise the file descriptor limit");
                }
            }
        }
        limit.current
    }
    #[cfg(not(unix))]
    None
}

/// The client connection cap that leaves [`DESCRIPTOR_RESERVE`] free under
/// `soft_limit`: `wanted`, or less.
///
/// # Errors
/// A limit that leaves no descriptor for clients at all.
pub fn connection_cap(wanted: usize, soft_limit: Option<u64>) -> anyhow::Result<usize> {
    let Some(soft_limit) = soft_limit else {
        return Ok(wanted);
    };
    let room = soft_limit.saturating_sub(DESCRIPTOR_RESERVE);
    anyhow::ensure!(
        room > 0,
        "the file descriptor limit ({soft_limit}) leaves nothing for client connections once \
         {DESCRIPTOR_RESERVE} are kept for the log, snapshots and peers: raise it (ulimit -n)"
    );
    Ok(wanted.min(usize::try_from(room).unwrap_or(usize::MAX)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_the_reserve_free_and_never_rises() {
        assert_eq!(connection_cap(4096, Some(1024)).unwrap(), 1024 - 384);
        assert_eq!(connection_cap(100, Some(1024)).unwrap(), 100);
        assert_eq!(connection_cap(4096, None).unwrap(), 4096);
        assert!(connection_cap(4096, Some(DESCRIPTOR_RESERVE)).is_err());
    }
}
