//! Evaluation and monitoring (SPEC sections 2, 7 and 8): registration metrics, per-sample
//! score tables, and the `voxflow eval`, `show` and `inspect` tools.
//!
//! - [`scores`]: the score CSV and its summary statistics; [`scores_meta`]: the record beside
//!   it (session, set, checkpoint, grid, summary).
//! - [`context`]: a session opened with a checkpoint for inference (shared by eval and show).
//! - [`run`]: `voxflow eval`, the driver that scores a whole id set; [`native`]: its
//!   physical-space columns (native resolution, landmarks, `--refine`).
//! - [`show`](mod@show): `voxflow show`, the figures and NIfTI volumes of one scan.
//! - [`inspect`](mod@inspect): `voxflow inspect`, readable summaries of sessions, builders, checkpoints.

pub mod context;
pub mod inspect;
pub mod native;
pub mod run;
pub mod scores;
pub mod scores_meta;
pub mod show;

pub use context::{EvalContext, InferenceOptions};
pub use inspect::inspect;
pub use run::{EvalOptions, EvalReport, evaluate};
pub use show::{ShowOptions, ShowReport, show};

use crate::configfile::ConfigError;
use crate::data::DataError;
use crate::report::ReportError;
use crate::session::SessionError;

/// What `eval`, `show` and `inspect` can fail with; each names the file, id or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
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
    /// A wrong argument: an unknown id, a path of an unknown kind.
    #[error("{0}")]
    Usage(String),
}

/// Shorthand for `Result<T, EvalError>`.
pub type EvalResult<T> = std::result::Result<T, EvalError>;
