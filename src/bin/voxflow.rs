//! `voxflow`: the command-line tools over the voxflow library (SPEC section 2). Each
//! subcommand parses its flags, calls the library and prints; errors are printed with their
//! chain of causes and exit with status 1.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use voxflow::cli::{
    EvalArgs, InspectArgs, NewArgs, RegisterArgs, ShowArgs, TrainArgs, report_error, run_eval,
    run_inspect, run_new, run_register, run_show, run_train,
};
use voxflow::data::phantom::{PhantomConfig, write_dataset};

/// 3D deformable registration of CT/MRI volumes.
#[derive(Parser)]
#[command(name = "voxflow", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a training session: builder.toml, config.toml and the train/val/test id lists.
    New(NewArgs),
    /// Train (or resume) a session; the same as the `train` binary.
    Train(TrainArgs),
    /// Score a checkpoint on an id set: scores/<set>_scores.csv and a summary table.
    Eval(EvalArgs),
    /// Figures and NIfTI volumes (warped image, warped mask, displacement) of one scan.
    Show(ShowArgs),
    /// Summarize a session, a builder.toml or config.toml, or a checkpoint.
    Inspect(InspectArgs),
    /// Register a moving scan to a fixed scan (no training needed): warped image,
    /// displacement field (ITK convention, world mm), summary with Dice and landmark error.
    Register(RegisterArgs),
    /// Write the built-in phantom dataset (chest-CT-like volumes and lung masks, LUNA16 layout).
    Phantom(PhantomArgs),
}

#[derive(Args)]
struct PhantomArgs {
    /// Output directory (created; if not empty it must hold the same phantom).
    #[arg(long)]
    out: PathBuf,
    /// Number of subjects.
    #[arg(long, default_value_t = 24)]
    n: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Number of subset directories.
    #[arg(long, default_value_t = 3)]
    subsets: usize,
    /// Voxel-count multiplier per axis (physical extent kept); < 1 for tiny test data.
    #[arg(long, default_value_t = 1.0)]
    grid_scale: f64,
    /// Scans per subject, each at its own breathing state (ids `<id>_p1`, ...): intra-patient
    /// pairs whose landmarks (landmarks/<subject>/<id>.csv) give the true correspondence.
    #[arg(long, default_value_t = 1)]
    phases: usize,
}

type BoxError = Box<dyn std::error::Error>;

fn phantom(a: PhantomArgs) -> Result<(), BoxError> {
    let cfg = PhantomConfig {
        n: a.n,
        seed: a.seed,
        subsets: a.subsets,
        grid_scale: a.grid_scale,
        phases: a.phases,
    };
    let start = Instant::now();
    let summary = write_dataset(&a.out, &cfg)?;
    let secs = start.elapsed().as_secs_f64();
    for s in &summary.subjects {
        let [d, h, w] = s.dims;
        let [sx, sy, sz] = s.spacing;
        let flip = match s.flipped {
            [true, true] => "  flipped x,y",
            [true, false] => "  flipped x",
            [false, true] => "  flipped y",
            [false, false] => "",
        };
        voxflow::console::say(&format!(
            "subset{}/{}  {w}x{h}x{d}  {sx:.2}x{sy:.2}x{sz:.2} mm  {} nodule(s){}{flip}  {:.1} MB{}",
            s.subset,
            s.id,
            s.nodules,
            if s.airway_labelled {
                "  airway label"
            } else {
                ""
            },
            s.bytes as f64 / 1e6,
            if s.written { "" } else { "  (kept)" },
        ));
    }
    let total: u64 = summary.subjects.iter().map(|s| s.bytes).sum();
    if summary.reused {
        voxflow::console::say(&format!(
            "{} subjects already complete in {} ({:.1} MB); nothing written ({secs:.2} s)",
            summary.subjects.len(),
            summary.out.display(),
            total as f64 / 1e6
        ));
    } else {
        voxflow::console::say(&format!(
            "{} subjects in {secs:.2} s, {:.1} MB written to {}",
            summary.subjects.len(),
            summary.bytes_written as f64 / 1e6,
            summary.out.display()
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Phantom(a) => phantom(a).map(|()| ExitCode::SUCCESS),
        Command::New(a) => run_new(&a).map(|()| ExitCode::SUCCESS).map_err(Into::into),
        Command::Train(a) => run_train(&a),
        Command::Eval(a) => run_eval(&a).map(|()| ExitCode::SUCCESS).map_err(Into::into),
        Command::Show(a) => run_show(&a).map(|()| ExitCode::SUCCESS).map_err(Into::into),
        Command::Register(a) => run_register(&a)
            .map(|()| ExitCode::SUCCESS)
            .map_err(Into::into),
        Command::Inspect(a) => run_inspect(&a)
            .map(|()| ExitCode::SUCCESS)
            .map_err(Into::into),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report_error(e.as_ref());
            ExitCode::FAILURE
        }
    }
}
