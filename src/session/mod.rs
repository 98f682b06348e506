//! The training session directory (SPEC section 1): one folder holding everything needed to
//! reproduce and inspect a run.
//!
//! ```text
//! <root>/<name>/
//!   builder.toml  config.toml  train_ids.csv  val_ids.csv  test_ids.csv
//!   checkpoints/chkpt_XX.safetensors  tensorboard/  observations/observations_XX/
//!   scores/{train,val,test}_scores.csv (+ .json: checkpoint and summary)
//!   training_history.json  logs.txt
//!   train.lock (locked while a run is changing the session)
//! ```
//!
//! - [`paths`]: where each file lives ([`SessionPaths`], [`sessions_root`]).
//! - [`ids`]: the id lists, read exactly as written.
//! - [`split`]: the seeded train/val/test split.
//! - [`create`]: creating (never destroying) and opening a session.
//! - [`checkpoint`]: safetensors checkpoints with everything an exact resume needs.
//! - [`history`]: the file `training_history.json`.
//! - [`lock`]: `train.lock`, one run changing a session at a time.
//! - [`config`]: `config.toml`'s schema, and the command-line overrides written back into it.
//! - [`log`]: `logs.txt`, where every command writes what it prints.
//! - [`dataset`]: the session's data directory (or the phantom), opened and checked.
//! - [`new`]: `voxflow new`, a session made from defaults.
//! - [`inference`]: the session's network restored from a checkpoint, registering any two
//!   volumes in physical space.
//!
//! Every file is written to a temporary file in the same directory and renamed over its name,
//! so an interrupted write never leaves a half-written file.

pub mod checkpoint;
pub mod config;
pub mod create;
pub mod dataset;
pub mod history;
pub mod ids;
pub mod inference;
pub mod lock;
pub mod log;
pub mod new;
pub mod paths;
pub mod split;

#[cfg(test)]
mod tests;

pub use checkpoint::{
    BuilderIdentity, CheckpointData, CheckpointInfo, CheckpointMeta, PartialEpoch, builder_hash,
    load_checkpoint, network_hash, read_checkpoint_info, save_checkpoint,
};
pub use config::{Applied, DeviceChoice, Overrides, TrainConfig, apply_overrides};
pub use create::{create_session, open_session};
pub use dataset::{log_cache_events, open_dataset, resolve_data_dir};
pub use history::TrainingHistory;
pub use ids::{read_ids, read_ids_maybe_empty, write_ids};
pub use inference::{InferenceOptions, Network};
pub use log::Logger;
pub use new::{NewSession, new_session};
pub use paths::{IdSet, SessionPaths, latest_checkpoint, sessions_root};
pub use split::{Split, SplitFractions, split_ids};

use crate::configfile::ConfigError;
use std::path::{Path, PathBuf};

/// A problem with a session, its files or its arguments; file problems name the file.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The operating system refused (missing file, permission, disk full ...).
    #[error(transparent)]
    Io(#[from] crate::fsutil::IoError),
    /// A file exists but its content is wrong: malformed, truncated, inconsistent.
    #[error("{}: {msg}", path.display())]
    Invalid { path: PathBuf, msg: String },
    /// builder.toml or config.toml.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The session's dataset: its directory, its scans, the phantom written in its place.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// `voxflow new` over an existing session without `--force`.
    #[error(
        "session {} already exists; use --force to rewrite its builder.toml, config.toml and id \
         lists (its earlier run's outputs then move to previous_N/; logs.txt stays)",
        dir.display()
    )]
    Exists { dir: PathBuf },
    /// No session by that name in the sessions root.
    #[error(
        "no session {name:?}: {} is not a directory (create it with `voxflow new {name}`)",
        dir.display()
    )]
    NotFound { name: String, dir: PathBuf },
    /// Another run holds the session's lock (`holder` describes it, from the lock file).
    #[error(
        "session {session} is being changed by {holder}: wait for it to end or stop it (its \
         lock: {})",
        lock.display()
    )]
    Busy {
        session: String,
        holder: String,
        lock: PathBuf,
    },
    /// A session name that cannot name a directory of the sessions root.
    #[error("invalid session name {name:?}: {why}")]
    InvalidName { name: String, why: &'static str },
    /// A bad argument: split fractions, an id list, a set name.
    #[error("{0}")]
    Usage(String),
    /// `--weights` names no checkpoint file (`what`: it does not exist, or is not a file);
    /// `have` says which checkpoints the session has.
    #[error("checkpoint {} {what}; {have}", path.display())]
    NoCheckpoint {
        path: PathBuf,
        what: &'static str,
        have: String,
    },
    /// The engine, running the network.
    #[error(transparent)]
    Engine(#[from] crate::Error),
}

impl SessionError {
    /// An `Io` error for `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        SessionError::Io(crate::fsutil::IoError::new(path, source))
    }

    /// An `Invalid` error for `path`.
    pub fn invalid(path: &Path, msg: impl Into<String>) -> Self {
        SessionError::Invalid {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }
}

/// Shorthand for `Result<T, SessionError>`.
pub type Result<T> = std::result::Result<T, SessionError>;

/// Writes `bytes` to `path` atomically (temporary file in the same directory, fsync, rename).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fsutil::atomic_write(path, bytes).map_err(|e| SessionError::io(path, e))
}
