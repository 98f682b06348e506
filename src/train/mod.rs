//! The `train` command: the training loop and nothing else. A [`Run`] is opened by
//! [`start`] (session locked and checked, network built, data prepared, a checkpoint
//! restored), advanced an epoch at a time by [`epoch`] (steps, [`validate`], checkpoint,
//! history, TensorBoard, observations) and ended by [`stopping`] (early stopping, Ctrl-C).
//!
//! - [`checks`]: what is checked before the first step (session files against the command
//!   line, the resume point).
//! - [`data`]: the run's scans prepared, its pair generator and validation pairs.
//! - [`losses`]: the objective, config.toml's weighted loss terms; [`step`]: one optimizer
//!   step; [`progress`]: the step line; Ctrl-C is [`crate::interrupt`].
//!
//! What `voxflow new`, `eval` and `show` share with training (config.toml, logs.txt, the
//! session's dataset, Adam) lives below, in [`crate::session`] and [`crate::nn`].

pub mod checks;
pub mod data;
pub mod epoch;
pub mod error;
pub mod losses;
pub mod progress;
pub mod start;
pub mod step;
pub mod stopping;
pub mod validate;

#[cfg(test)]
mod tests;

pub use crate::interrupt;
pub use start::Run;
pub use step::{NamedGrads, train_step};

use crate::data::generators::GenKind;
use crate::models::BuilderKind;
use crate::session::Overrides;
use crate::session::log::Logger;
use error::TrainResult;
use std::path::PathBuf;
use stopping::Stop;

/// What `train` was asked to do.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub session: String,
    pub sessions_dir: Option<PathBuf>,
    pub builder: BuilderKind,
    pub generator: GenKind,
    /// A checkpoint to resume from: a file name in the session's checkpoints/ or a path.
    pub weights: Option<PathBuf>,
    pub overrides: Overrides,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSummary {
    /// The last epoch checkpointed: completed, or cut short when `cut_short` is set.
    pub last_epoch: u32,
    /// True when Ctrl-C ended the run before `epochs` (then `last_epoch` is checkpointed).
    pub interrupted: bool,
    /// True when Ctrl-C ended `last_epoch` before its last step.
    pub cut_short: bool,
    /// True when early stopping ended the run before `epochs`.
    pub stopped_early: bool,
    /// The session directory.
    pub session_dir: PathBuf,
}

impl TrainSummary {
    /// How the run ended, for the last line it prints: "trained through epoch N in DIR" or
    /// "stopped in epoch N (Ctrl-C) in DIR", and "(early stopping)".
    pub fn describe(&self) -> String {
        let how = if self.cut_short {
            format!("stopped in epoch {} (Ctrl-C)", self.last_epoch)
        } else if self.interrupted {
            format!("stopped after epoch {} (Ctrl-C)", self.last_epoch)
        } else {
            format!("trained through epoch {}", self.last_epoch)
        };
        let early = if self.stopped_early {
            " (early stopping)"
        } else {
            ""
        };
        format!("{how} in {}{early}", self.session_dir.display())
    }
}

/// Runs (or resumes) training as SPEC section 2 describes. A Ctrl-C request is forgotten when
/// it returns (honored or not), so a program embedding the trainer can train again.
/// Everything it prints goes to the session's logs.txt, from the session's creation (when
/// it creates one) to how the run ended, its error included.
pub fn train(opts: &TrainOptions) -> TrainResult<TrainSummary> {
    let mut log = Logger::console();
    let result = run(opts, &mut log);
    interrupt::clear();
    match &result {
        Ok(s) => log.line(&format!("done: {}", s.describe())),
        Err(e) => log.file_only(&format!("Error: {e}")),
    }
    result
}

/// Opens the run and trains its epochs until the last, early stopping or Ctrl-C.
fn run(opts: &TrainOptions, log: &mut Logger) -> TrainResult<TrainSummary> {
    let mut run = Run::open(opts, log)?;
    let mut summary = TrainSummary {
        last_epoch: run.start,
        interrupted: false,
        cut_short: false,
        stopped_early: false,
        session_dir: run.paths.dir().to_path_buf(),
    };
    for epoch in run.start + 1..=run.cfg.epochs {
        let end = run.epoch(epoch, log)?;
        summary.last_epoch = epoch;
        match stopping::after_epoch(&run, epoch, &end, log) {
            Some(Stop::Early) => {
                summary.stopped_early = true;
                break;
            }
            Some(Stop::Interrupted { cut_short }) => {
                summary.cut_short = cut_short;
                summary.interrupted = true;
                break;
            }
            None => {}
        }
    }
    Ok(summary)
}
