//! PLACEHOLDER on branch kv: replaced by the store work before merging to main.

/// Placeholder.
#[derive(Debug, thiserror::Error)]
#[error("placeholder")]
pub struct BackupError;

/// Placeholder.
#[derive(Debug)]
pub struct BackupSummary;

/// Placeholder.
pub fn read_backup_summary() -> Result<BackupSummary, BackupError> {
    Err(BackupError)
}
