//! Command-line arguments of the `train` and `voxflow` binaries (clap), and the error printer
//! they both use; the flags of `eval`, `show` and `inspect` are in `cli/eval.rs`. The binaries
//! only parse and call the library.

use crate::data::generators::GenKind;
use crate::data::preprocess::{MAX_VOXELS, grid_fits};
use crate::models::BuilderKind;
use crate::session::SplitFractions;
use crate::session::config::DeviceChoice;
use crate::session::log::Logger;
use crate::session::{NewSession, Overrides};
use crate::train::TrainOptions;
use clap::Args;
use std::path::PathBuf;

mod eval;
mod register;

pub use eval::{EvalArgs, InferenceArgs, InspectArgs, ShowArgs, run_eval, run_inspect, run_show};
pub use register::{RegisterArgs, run_register};

fn parse_builder(s: &str) -> Result<BuilderKind, String> {
    s.parse::<BuilderKind>().map_err(|e| e.to_string())
}

fn parse_gen(s: &str) -> Result<GenKind, String> {
    s.parse::<GenKind>().map_err(|e| e.to_string())
}

fn parse_device(s: &str) -> Result<DeviceChoice, String> {
    match s {
        "auto" => Ok(DeviceChoice::Auto),
        "cpu" => Ok(DeviceChoice::Cpu),
        "cuda" => Ok(DeviceChoice::Cuda),
        _ => Err(format!("unknown device {s:?}: expected auto, cpu or cuda")),
    }
}

/// `D` (a cube) or `D,H,W`.
pub fn parse_shape(s: &str) -> Result<[u32; 3], String> {
    let parts: Vec<u32> = s
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<u32>()
                .map_err(|_| format!("bad size {p:?} in shape {s:?}"))
        })
        .collect::<Result<_, _>>()?;
    let shape = match parts[..] {
        [d] if d > 0 => [d; 3],
        [d, h, w] if d > 0 && h > 0 && w > 0 => [d, h, w],
        _ => {
            return Err(format!(
                "shape {s:?}: expected D or D,H,W with positive sizes"
            ));
        }
    };
    if !grid_fits(shape.map(u64::from)) {
        return Err(format!(
            "shape {s:?}: more than {MAX_VOXELS} voxels (the largest grid voxflow trains)"
        ));
    }
    Ok(shape)
}

fn parse_split(s: &str) -> Result<SplitFractions, String> {
    SplitFractions::parse(s).map_err(|e| e.to_string())
}

/// The flags of `train` (the original train.py's, plus overrides).
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Session name (created with `voxflow new` defaults if it does not exist).
    #[arg(long)]
    pub session: String,
    /// Network: unet or marianet.
    #[arg(long, value_parser = parse_builder)]
    pub builder: BuilderKind,
    /// Generator: luna, luna_seg, atlas or atlas_seg.
    #[arg(long = "gen", value_parser = parse_gen)]
    pub generator: GenKind,
    /// GPU ordinal.
    #[arg(long = "gpu-id", alias = "gpu_id")]
    pub gpu_id: Option<u32>,
    /// Resume from this checkpoint (e.g. chkpt_04.safetensors).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// LUNA16-layout data directory (default: config, $VOXFLOW_DATA, else the phantom).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// auto, cpu or cuda.
    #[arg(long, value_parser = parse_device)]
    pub device: Option<DeviceChoice>,
    #[arg(long)]
    pub epochs: Option<u32>,
    #[arg(long)]
    pub steps_per_epoch: Option<u32>,
    /// Network grid: D or D,H,W.
    #[arg(long, value_parser = parse_shape)]
    pub shape: Option<[u32; 3]>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Sessions root (default $VOXFLOW_SESSIONS, else ./sessions).
    #[arg(long)]
    pub sessions_dir: Option<PathBuf>,
    /// When training ends, register the test pairs with the last checkpoint, refined per pair,
    /// and score them at native resolution (`voxflow eval --refine`).
    #[arg(long)]
    pub evaluate: bool,
}

impl TrainArgs {
    /// The library's options.
    pub fn options(&self) -> TrainOptions {
        TrainOptions {
            session: self.session.clone(),
            sessions_dir: self.sessions_dir.clone(),
            builder: self.builder,
            generator: self.generator,
            weights: self.weights.clone(),
            overrides: Overrides {
                data_dir: self.data_dir.clone(),
                device: self.device,
                gpu_id: self.gpu_id,
                epochs: self.epochs,
                steps_per_epoch: self.steps_per_epoch,
                shape: self.shape,
                seed: self.seed,
            },
        }
    }
}

/// The flags of `voxflow new`.
#[derive(Args, Debug, Clone)]
pub struct NewArgs {
    /// Session name.
    pub name: String,
    #[arg(long, value_parser = parse_builder, default_value = "unet")]
    pub builder: BuilderKind,
    #[arg(long = "gen", value_parser = parse_gen, default_value = "luna")]
    pub generator: GenKind,
    /// Network grid: D or D,H,W.
    #[arg(long, value_parser = parse_shape, default_value = "64")]
    pub shape: [u32; 3],
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Train, validation and test fractions.
    #[arg(long, value_parser = parse_split, default_value = "0.6,0.2,0.2")]
    pub split: SplitFractions,
    #[arg(long, default_value_t = 777)]
    pub seed: u64,
    /// Atlas scan id (atlas generators; default: the first id).
    #[arg(long)]
    pub atlas: Option<String>,
    /// Rewrite an existing session's configuration and id lists; its earlier run's outputs
    /// (checkpoints, history, TensorBoard, observations, scores) move to previous_N/.
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub sessions_dir: Option<PathBuf>,
}

impl NewArgs {
    /// The library's options.
    pub fn options(&self) -> NewSession {
        NewSession {
            name: self.name.clone(),
            sessions_root: crate::session::sessions_root(self.sessions_dir.clone()),
            builder: self.builder,
            generator: self.generator,
            shape: self.shape,
            data_dir: self.data_dir.clone(),
            split: self.split,
            seed: self.seed,
            atlas: self.atlas.clone(),
            force: self.force,
        }
    }
}

/// Runs `voxflow new` with these flags; what it printed also starts the new session's
/// logs.txt.
pub fn run_new(args: &NewArgs) -> Result<(), crate::train::error::TrainError> {
    let mut log = Logger::console();
    let paths = crate::session::new_session(&args.options(), &mut log)?;
    log.attach(&paths.logs())?;
    Ok(())
}

/// Runs `train` with these flags (it prints how the run ended). The exit status: success
/// when it trained through its epochs (or stopped early), 130 (the shell's code for Ctrl-C)
/// when Ctrl-C stopped it, so that scripts do not take a stopped run for a finished one.
pub fn run_train(args: &TrainArgs) -> Result<std::process::ExitCode, Box<dyn std::error::Error>> {
    let s = crate::train::train(&args.options())?;
    if s.interrupted {
        return Ok(std::process::ExitCode::from(130));
    }
    if args.evaluate {
        evaluate_after_training(args)?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// `train --evaluate`: the test pairs registered by the last checkpoint and refined, scored in
/// physical space, ending with one line of what registration achieved.
fn evaluate_after_training(args: &TrainArgs) -> Result<(), Box<dyn std::error::Error>> {
    let root = crate::session::sessions_root(args.sessions_dir.clone());
    let paths = crate::session::SessionPaths::new(&root, &args.session)?;
    let Some((_, weights)) = crate::session::latest_checkpoint(&paths)? else {
        return Ok(());
    };
    if crate::session::read_ids(&paths.ids(crate::session::IdSet::Test))?.is_empty() {
        crate::console::say("no test pairs to register (the session's test_ids.csv is empty)");
        return Ok(());
    }
    crate::console::say("registering the test pairs (the network, then refined per pair):");
    let report = crate::eval::evaluate(&crate::eval::EvalOptions {
        inference: crate::eval::InferenceOptions {
            session: args.session.clone(),
            sessions_dir: args.sessions_dir.clone(),
            weights,
            device: args.device,
            gpu_id: args.gpu_id,
        },
        set: crate::session::IdSet::Test,
        out: None,
        refine: Some(crate::registration::OptimizeOptions::default()),
    })?;
    crate::console::say(&registration_line(&report.table));
    Ok(())
}

/// One line of a refined score table's means: Dice and TRE as the scans lie, by the network,
/// and refined.
fn registration_line(t: &crate::eval::scores::ScoreTable) -> String {
    let mean = |c: &str| {
        let k = t.columns.iter().position(|x| x == c)?;
        Some(t.rows.iter().map(|r| r.values[k]).sum::<f64>() / t.rows.len().max(1) as f64)
    };
    let mut parts = vec![];
    if let (Some(b), Some(n), Some(r)) = (
        mean("ncc_native_before"),
        mean("ncc_native_network"),
        mean("ncc_native"),
    ) {
        parts.push(format!(
            "image correlation {b:.3} as the scans lie → {n:.3} network → {r:.3} refined"
        ));
    }
    if let (Some(b), Some(n), Some(r)) = (
        mean("dice_native_before"),
        mean("dice_native_network"),
        mean("dice_native"),
    ) {
        parts.push(format!("lung Dice {b:.3} → {n:.3} → {r:.3}"));
    }
    if let (Some(b), Some(n), Some(r)) = (mean("tre_before"), mean("tre_network"), mean("tre")) {
        parts.push(format!("TRE {b:.2} → {n:.2} → {r:.2} mm"));
    }
    if let Some(f) = mean("folding_native_pct") {
        parts.push(format!("folding {f:.3}%"));
    }
    format!(
        "registration of the {} test pairs at native resolution: {}",
        t.rows.len(),
        parts.join("; ")
    )
}

/// Prints `Error: <error>` and its causes (skipping a cause its parent already quoted).
pub fn report_error(e: &dyn std::error::Error) {
    let mut text = e.to_string();
    eprintln!("Error: {text}");
    let mut first = true;
    let mut cause = e.source();
    while let Some(c) = cause {
        let ct = c.to_string();
        if !text.contains(&ct) {
            if first {
                eprintln!("\nCaused by:");
                first = false;
            }
            eprintln!("    {ct}");
        }
        text = ct;
        cause = c.source();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_as_cubes_or_triples() {
        assert_eq!(parse_shape("64").unwrap(), [64; 3]);
        assert_eq!(parse_shape("32, 48,16").unwrap(), [32, 48, 16]);
        assert!(parse_shape("0").is_err());
        assert!(parse_shape("4,4").unwrap_err().contains("D,H,W"));
        assert!(parse_shape("a").unwrap_err().contains("\"a\""));
        assert!(
            parse_shape("1025")
                .unwrap_err()
                .contains("1073741824 voxels")
        );
        assert_eq!(parse_shape("1024,1024,1024").unwrap(), [1024; 3]);
        // Sizes whose product overflows 64 bits are refused, not wrapped.
        assert!(parse_shape("4194304").is_err());
    }
}
