//! `train`: trains (or resumes) a registration network in a session (SPEC section 2); the
//! original's `train.py` with the same flags.

use clap::Parser;
use std::process::ExitCode;
use voxflow::cli::{TrainArgs, report_error, run_train};

/// Train MariaNet or the U-Net on a session's data.
#[derive(Parser)]
#[command(name = "train", version, about)]
struct Cli {
    #[command(flatten)]
    args: TrainArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run_train(&cli.args) {
        Ok(code) => code,
        Err(e) => {
            report_error(e.as_ref());
            ExitCode::FAILURE
        }
    }
}
