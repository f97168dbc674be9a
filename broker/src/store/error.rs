//! Store errors.

use std::path::PathBuf;

/// Errors of opening, recovering and running the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// I/O failure with context.
    #[error("{context}: {source}")]
    Io {
        /// what was being done
        context: String,
        /// the error
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the store's `lock` file.
    #[error("store directory {0} is locked by another process")]
    Locked(PathBuf),
    /// Configuration is unusable.
    #[error("invalid store config: {0}")]
    Config(String),
    /// The store was poisoned by a failed fsync.
    #[error("store poisoned by a failed fsync; refusing writes")]
    Poisoned,
}

/// Attach context to an I/O result.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, StoreError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Io { context: context(), source })
    }
}
