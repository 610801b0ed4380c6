//! Snapshot work that fails without stopping the node (a full disk, no file
//! descriptors left, an unwritable directory, a state machine that cannot
//! write its state): retried with back-off, reported once per kind.
//!
//! - [`Backoff`]: after a failed build the consensus task tells the core
//!   only once the delay has passed (1 s, doubling to 1 min; a success
//!   resets it), so the core, which asks again as soon as it hears of the
//!   failure, retries at that pace and never in a loop. The log keeps every
//!   entry meanwhile: nothing is lost, the log only grows.
//! - [`Reports`]: every failure is counted (`NodeStatus::snapshot_failures`);
//!   each kind is logged and sent as an event the first time, then at most
//!   once per `REPORT_INTERVAL`, so an operator sees each problem without
//!   the log filling the disk it complains about.
//!
//! Neither says the node stopped: it did not. A failure that does stop the
//! node (a received chunk that cannot be written, a restore that fails)
//! goes through the node's fatal path instead.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use crate::storage::{Exhausted, StorageError};

/// The first retry delay after a failed snapshot.
pub(crate) const SNAPSHOT_RETRY_FIRST: Duration = Duration::from_secs(1);
/// The longest retry delay.
pub(crate) const SNAPSHOT_RETRY_MAX: Duration = Duration::from_secs(60);
/// Shortest time between two reports of one kind of failure.
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// What went wrong, coarsely: what an operator does about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum FailureKind {
    /// The disk is full (ENOSPC, EDQUOT).
    NoSpace,
    /// No file descriptors left (EMFILE, ENFILE).
    NoFileDescriptors,
    /// The snapshot directory cannot be written.
    PermissionDenied,
    /// Any other I/O error.
    Io,
    /// The state machine failed to write its state.
    StateMachine,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::NoSpace => "no space left",
            FailureKind::NoFileDescriptors => "no file descriptors left",
            FailureKind::PermissionDenied => "permission denied",
            FailureKind::Io => "I/O error",
            FailureKind::StateMachine => "state machine error",
        })
    }
}

impl FailureKind {
    /// The kind of an I/O error.
    pub(crate) fn of_io(error: &io::Error) -> FailureKind {
        match Exhausted::of(error) {
            Some(Exhausted::DiskSpace) => FailureKind::NoSpace,
            Some(Exhausted::FileDescriptors) => FailureKind::NoFileDescriptors,
            None if matches!(
                error.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
            ) =>
            {
                FailureKind::PermissionDenied
            }
            None => FailureKind::Io,
        }
    }

    /// The kind of a storage error: its I/O cause's, if it has one.
    pub(crate) fn of_storage(error: &StorageError) -> FailureKind {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(cause) = source {
            if let Some(io) = cause.downcast_ref::<io::Error>() {
                return FailureKind::of_io(io);
            }
            source = cause.source();
        }
        FailureKind::Io
    }
}

/// A snapshot build that failed, for reporting.
#[derive(Clone, Debug)]
pub(crate) struct SnapshotFailure {
    /// What kind.
    pub(crate) kind: FailureKind,
    /// What happened, for people.
    pub(crate) message: String,
}

impl SnapshotFailure {
    /// Writing to the snapshot store failed.
    pub(crate) fn storage(error: &StorageError) -> Self {
        // The store's own text tells to stop the node (right for the log,
        // whose handle is poisoned); a snapshot is simply dropped.
        let message = match error {
            StorageError::Io {
                action,
                path,
                source,
            } => format!("cannot {action} {}: {source}", path.display()),
            other => other.to_string(),
        };
        SnapshotFailure {
            kind: FailureKind::of_storage(error),
            message,
        }
    }

    /// Writing the runtime's header or the state machine's state failed.
    pub(crate) fn writing(error: &io::Error, by_state_machine: bool) -> Self {
        let kind = match FailureKind::of_io(error) {
            FailureKind::Io if by_state_machine => FailureKind::StateMachine,
            kind => kind,
        };
        SnapshotFailure {
            kind,
            message: error.to_string(),
        }
    }
}

/// When to tell the core a failed build may be retried.
#[derive(Debug)]
pub(crate) struct Backoff {
    /// The delay after the next failure.
    next_delay: Duration,
    /// Set while a failure waits out its delay.
    retry_at: Option<Instant>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next_delay: SNAPSHOT_RETRY_FIRST,
            retry_at: None,
        }
    }
}

impl Backoff {
    /// A build failed at `now`: returns the delay before the next attempt.
    pub(crate) fn failed(&mut self, now: Instant) -> Duration {
        let delay = self.next_delay;
        self.retry_at = Some(now + delay);
        self.next_delay = (delay * 2).min(SNAPSHOT_RETRY_MAX);
        delay
    }

    /// A build succeeded: the next failure waits the shortest delay again.
    pub(crate) fn succeeded(&mut self) {
        *self = Backoff::default();
    }

    /// True once, when a failure's delay has passed at `now`.
    pub(crate) fn take_due(&mut self, now: Instant) -> bool {
        if self.retry_at.is_some_and(|at| at <= now) {
            self.retry_at = None;
            return true;
        }
        false
    }

    /// Ends the wait at once (a caller asked for a snapshot): true if a
    /// failure was waiting.
    pub(crate) fn take_waiting(&mut self) -> bool {
        self.retry_at.take().is_some()
    }
}

/// Which kinds of failure were reported when.
#[derive(Debug, Default)]
pub(crate) struct Reports {
    last: HashMap<FailureKind, Instant>,
}

impl Reports {
    /// True if a failure of `kind` at `now` is to be reported: the first of
    /// its kind, or the first since `REPORT_INTERVAL`.
    pub(crate) fn due(&mut self, kind: FailureKind, now: Instant) -> bool {
        match self.last.get(&kind) {
            Some(&last) if now.duration_since(last) < REPORT_INTERVAL => false,
            _ => {
                self.last.insert(kind, now);
                true
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::storage::fs::{EMFILE, ENOSPC};

    #[test]
    fn the_delay_doubles_to_a_minute_and_resets_on_success() {
        let mut backoff = Backoff::default();
        let start = Instant::now();
        let delays: Vec<u64> = (0..9).map(|_| backoff.failed(start).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert!(!backoff.take_due(start));
        assert!(backoff.take_due(start + Duration::from_secs(60)));
        assert!(!backoff.take_due(start + Duration::from_secs(61)), "once");
        backoff.succeeded();
        assert_eq!(backoff.failed(start), SNAPSHOT_RETRY_FIRST);
        assert!(backoff.take_waiting());
        assert!(!backoff.take_waiting());
    }

    #[test]
    fn each_kind_is_reported_at_most_once_a_minute() {
        let mut reports = Reports::default();
        let start = Instant::now();
        assert!(reports.due(FailureKind::NoSpace, start));
        assert!(!reports.due(FailureKind::NoSpace, start + Duration::from_secs(59)));
        assert!(reports.due(FailureKind::NoFileDescriptors, start));
        assert!(reports.due(FailureKind::NoSpace, start + Duration::from_secs(60)));
    }

    #[test]
    fn io_errors_are_told_apart() {
        let kind = |error: io::Error| FailureKind::of_io(&error);
        assert_eq!(
            kind(io::Error::from_raw_os_error(ENOSPC)),
            FailureKind::NoSpace
        );
        assert_eq!(
            kind(io::ErrorKind::StorageFull.into()),
            FailureKind::NoSpace
        );
        assert_eq!(
            kind(io::Error::from_raw_os_error(EMFILE)),
            FailureKind::NoFileDescriptors
        );
        assert_eq!(
            kind(io::ErrorKind::PermissionDenied.into()),
            FailureKind::PermissionDenied
        );
        assert_eq!(kind(io::Error::other("x")), FailureKind::Io);
        let storage = StorageError::Io {
            action: "create",
            path: "snapshots/x".into(),
            source: io::Error::from_raw_os_error(ENOSPC),
        };
        let failure = SnapshotFailure::storage(&storage);
        assert_eq!(failure.kind, FailureKind::NoSpace);
        assert!(
            !failure.message.contains("stop the node"),
            "{}",
            failure.message
        );
    }
}
