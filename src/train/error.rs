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
    /// A fresh run (no `--weights`) on a session that has checkpoints, which it would
    /// overwrite: `latest` is the last of them, of epoch `epoch`.
    #[error(
        "session {session} already has checkpoints up to {} (epoch {epoch}); resume with \
         --weights {}, or create a new session — a fresh run would overwrite them",
        latest.display(),
        latest.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
    )]
    HasCheckpoints {
        session: String,
        latest: std::path::PathBuf,
        epoch: u32,
    },
    /// The checkpoint resumed from has trained `done` epochs of the `epochs` asked for.
    #[error(
        "nothing to train: the checkpoint is at epoch {done} and epochs = {epochs}; give \
         --epochs N with N > {done}"
    )]
    NothingToTrain { done: u32, epochs: u32 },
    /// A wrong argument or an inconsistent session.
    #[error("{0}")]
    Usage(String),
}

/// Shorthand for `Result<T, TrainError>`.
pub type TrainResult<T> = std::result::Result<T, TrainError>;
