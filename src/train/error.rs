//! `TrainError`: what can stop a training run, each naming the file, step or term at fault.

use crate::configfile::ConfigError;
use crate::data::DataError;
use crate::report::ReportError;
use crate::session::SessionError;

/// Everything a training run can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Engine(#[from] crate::Error),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A loss term became NaN or infinite.
    #[error(
        "epoch {epoch}, step {step}: loss term `{term}` is {value}; training stopped \
         (no checkpoint is written for this epoch; earlier ones are kept)"
    )]
    NonFinite {
        epoch: u32,
        step: usize,
        term: String,
        value: f32,
    },
    /// A wrong argument or an inconsistent session.
    #[error("{0}")]
    Usage(String),
}

/// Shorthand for `Result<T, TrainError>`.
pub type TrainResult<T> = std::result::Result<T, TrainError>;
