//! `voxflow register`'s flags.

use super::parse_device;
use crate::register::{RegisterArgs as Run, RegisterError, RegisterOptions};
use crate::registration::{OptimizeOptions, Similarity};
use crate::session::InferenceOptions;
use crate::session::config::DeviceChoice;
use clap::Args;
use std::path::PathBuf;

/// Registers a moving scan to a fixed scan: instance optimization (no training needed), or a
/// session's network refined by it.
#[derive(Args, Clone, Debug)]
pub struct RegisterArgs {
    /// The fixed (target) scan: any volume voxflow reads (.nii, .nii.gz, .mhd, .mha).
    #[arg(long)]
    pub fixed: PathBuf,
    /// The moving (source) scan, registered onto the fixed one.
    #[arg(long)]
    pub moving: PathBuf,
    /// Output directory: warped.nii.gz, displacement.nii.gz, warped_mask.nii.gz, summary.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Fixed mask (Dice and HD95 of the warped moving mask against it).
    #[arg(long)]
    pub fixed_mask: Option<PathBuf>,
    /// Moving mask, warped into warped_mask.nii.gz.
    #[arg(long)]
    pub moving_mask: Option<PathBuf>,
    /// Fixed landmarks: a CSV of world-mm x,y,z rows, or a DIR-Lab voxel file (.txt).
    #[arg(long)]
    pub fixed_landmarks: Option<PathBuf>,
    /// Moving landmarks, row for row with the fixed ones (TRE in the summary).
    #[arg(long)]
    pub moving_landmarks: Option<PathBuf>,
    /// A training session whose network predicts the registration, then refined by the
    /// optimization (with --weights).
    #[arg(long, requires = "weights")]
    pub session: Option<String>,
    /// The session's checkpoint: a file name in its checkpoints/, or a path.
    #[arg(long, requires = "session")]
    pub weights: Option<PathBuf>,
    /// The sessions root (default $VOXFLOW_SESSIONS, else ./sessions).
    #[arg(long)]
    pub sessions_dir: Option<PathBuf>,
    /// Adam steps of the dense stage on each level (default: 60 at 6 mm, 30 at 3 mm); with
    /// --session, the refinement of the network's prediction (0: the network alone).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Finest working spacing in mm (default 3; the coarser level is twice it).
    #[arg(long)]
    pub spacing: Option<f64>,
    /// Similarity: mse (same modality, default), ncc, or lncc (local, robust to intensity
    /// drift and MRI bias fields).
    #[arg(long, value_parser = parse_similarity)]
    pub similarity: Option<Similarity>,
    /// Device: auto (a GPU when this build and machine have one), cpu or cuda.
    #[arg(long, value_parser = parse_device, default_value = "cpu")]
    pub device: DeviceChoice,
}

fn parse_similarity(s: &str) -> Result<Similarity, String> {
    match s {
        "mse" => Ok(Similarity::Mse),
        "ncc" => Ok(Similarity::Ncc),
        "lncc" => Ok(Similarity::Lncc),
        _ => Err(format!(
            "unknown similarity {s:?}: expected mse, ncc or lncc"
        )),
    }
}

impl RegisterArgs {
    /// The command's options.
    pub fn options(&self) -> Result<Run, RegisterError> {
        let mut o = OptimizeOptions::default();
        if let Some(s) = self.spacing {
            if !(s.is_finite() && s > 0.0) {
                return Err(RegisterError::Usage(format!(
                    "--spacing {s}: give a positive spacing in mm"
                )));
            }
            o.levels_mm = vec![2.0 * s, s];
        }
        if let Some(n) = self.iterations {
            o.dense_iterations = vec![n; o.levels_mm.len()];
        }
        if let Some(sim) = self.similarity {
            o.similarity = sim;
        }
        o.device = match self.device {
            DeviceChoice::Cpu => crate::tensor::Device::Cpu,
            DeviceChoice::Cuda => crate::tensor::Device::Cuda(0),
            DeviceChoice::Auto => {
                let gpu = crate::tensor::Device::Cuda(0);
                match crate::ops::backend(gpu) {
                    Ok(_) => gpu,
                    Err(_) => crate::tensor::Device::Cpu,
                }
            }
        };
        if let crate::tensor::Device::Cuda(_) = o.device {
            crate::ops::backend(o.device)?;
        }
        Ok(Run {
            fixed: self.fixed.clone(),
            moving: self.moving.clone(),
            out: self.out.clone(),
            fixed_mask: self.fixed_mask.clone(),
            moving_mask: self.moving_mask.clone(),
            fixed_landmarks: self.fixed_landmarks.clone(),
            moving_landmarks: self.moving_landmarks.clone(),
            options: RegisterOptions { optimize: o },
            network: self.session.as_ref().map(|session| InferenceOptions {
                session: session.clone(),
                sessions_dir: self.sessions_dir.clone(),
                weights: self.weights.clone().unwrap_or_default(),
                device: Some(self.device),
                gpu_id: None,
            }),
        })
    }
}

/// Runs `voxflow register`, printing progress and the summary screen.
pub fn run_register(args: &RegisterArgs) -> Result<(), RegisterError> {
    let run = args.options()?;
    crate::register::run(&run, &mut |l| crate::console::say(l))?;
    crate::console::say(&format!("outputs in {}", run.out.display()));
    Ok(())
}
