//! `DataError`: every data failure names the file (or directory) and what is wrong with it.

use std::path::{Path, PathBuf};

/// Errors reading, writing or preparing medical volumes and datasets.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file exists but its content is malformed, truncated or unsupported.
    #[error("{}: {msg}", path.display())]
    Format { path: PathBuf, msg: String },
    /// The operating system refused (missing file, permission, disk full ...).
    #[error(transparent)]
    Io(#[from] crate::fsutil::IoError),
    /// A dataset-level problem: nothing found, an unknown id, an inconsistent configuration.
    #[error("{0}")]
    Dataset(String),
}

impl DataError {
    /// A format error for `path`.
    pub fn format(path: &Path, msg: impl Into<String>) -> Self {
        DataError::Format {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }

    /// An I/O error for `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io(crate::fsutil::IoError::new(path, source))
    }
}

/// Shorthand for `Result<T, DataError>`.
pub type DataResult<T> = std::result::Result<T, DataError>;
