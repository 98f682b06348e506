//! The flags of `voxflow eval`, `voxflow show` and `voxflow inspect`, and their printing.

use super::parse_device;
use crate::eval::{EvalError, EvalOptions, InferenceOptions, ShowOptions};
use crate::registration::OptimizeOptions;
use crate::session::IdSet;
use crate::session::config::DeviceChoice;
use clap::Args;
use std::path::PathBuf;

fn parse_set(s: &str) -> Result<IdSet, String> {
    s.parse::<IdSet>().map_err(|e| e.to_string())
}

/// The session, checkpoint and device flags shared by `eval` and `show`.
#[derive(Args, Debug, Clone)]
pub struct InferenceArgs {
    /// Session name.
    pub name: String,
    /// Checkpoint: a file name in the session's checkpoints folder (chkpt_04.safetensors) or a
    /// path.
    #[arg(long)]
    pub weights: PathBuf,
    /// auto, cpu or cuda (default: config.toml's; config.toml is not changed).
    #[arg(long, value_parser = parse_device)]
    pub device: Option<DeviceChoice>,
    /// GPU ordinal.
    #[arg(long = "gpu-id", alias = "gpu_id")]
    pub gpu_id: Option<u32>,
    /// Sessions root (default $VOXFLOW_SESSIONS, else ./sessions).
    #[arg(long)]
    pub sessions_dir: Option<PathBuf>,
}

impl InferenceArgs {
    /// The library's options.
    pub fn options(&self) -> InferenceOptions {
        InferenceOptions {
            session: self.name.clone(),
            sessions_dir: self.sessions_dir.clone(),
            weights: self.weights.clone(),
            device: self.device,
            gpu_id: self.gpu_id,
        }
    }
}

/// The flags of `voxflow eval`.
#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    #[command(flatten)]
    pub inference: InferenceArgs,
    /// Which id list to score: test, val or train.
    #[arg(long, value_parser = parse_set, default_value = "test")]
    pub set: IdSet,
    /// Score table to write (default: scores/SET_scores.csv in the session; a summary and
    /// the checkpoint used go beside it, as .json).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Refine each prediction by instance optimization (as `voxflow register --session`)
    /// before the physical-space scores; the table goes to scores/SET_refined_scores.csv.
    #[arg(long)]
    pub refine: bool,
    /// With --refine: Adam steps on each level (default: 60 at 6 mm, 30 at 3 mm).
    #[arg(long, requires = "refine")]
    pub iterations: Option<usize>,
}

/// The flags of `voxflow show`.
#[derive(Args, Debug, Clone)]
pub struct ShowArgs {
    #[command(flatten)]
    pub inference: InferenceArgs,
    /// Source scan id (paired as the session's generator pairs it), or SRC->TGT.
    #[arg(long)]
    pub id: String,
    /// Output directory (default: show/SRC in the session, or show/SRC_to_TGT for explicit
    /// pairs and the luna generators).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The flags of `voxflow inspect`.
#[derive(Args, Debug, Clone)]
pub struct InspectArgs {
    /// A session directory or name, a builder.toml or config.toml, or a checkpoint.
    pub path: PathBuf,
    /// Sessions root for session names (default $VOXFLOW_SESSIONS, else ./sessions).
    #[arg(long)]
    pub sessions_dir: Option<PathBuf>,
}

/// Runs `voxflow eval` (the summary is printed as it is computed).
pub fn run_eval(args: &EvalArgs) -> Result<(), EvalError> {
    crate::eval::evaluate(&EvalOptions {
        inference: args.inference.options(),
        set: args.set,
        out: args.out.clone(),
        refine: args.refine.then(|| {
            let mut o = OptimizeOptions::default();
            if let Some(n) = args.iterations {
                o.dense_iterations = vec![n; o.levels_mm.len()];
            }
            o
        }),
    })
    .map(|_| ())
}

/// Runs `voxflow show` and lists the files written.
pub fn run_show(args: &ShowArgs) -> Result<(), EvalError> {
    let r = crate::eval::show(&ShowOptions {
        inference: args.inference.options(),
        id: args.id.clone(),
        out: args.out.clone(),
    })?;
    for f in &r.files {
        crate::console::say(&format!("  {}", f.display()));
    }
    Ok(())
}

/// Runs `voxflow inspect` and prints the summary.
pub fn run_inspect(args: &InspectArgs) -> Result<(), EvalError> {
    crate::console::say_raw(&crate::eval::inspect(
        &args.path,
        args.sessions_dir.clone(),
    )?);
    Ok(())
}
