//! Registers breathing-phase pairs of phantom subjects (phase 1 moving onto phase 0 fixed) by
//! instance optimization and prints the landmark error before and after, the folding and the
//! time, and the lung Dice against the Dice the true map reaches (what the masks' resolution
//! allows): the quick look behind `scripts/accuracy.py`.
//!
//! Run: `cargo run --release --example register_phantom -- [N_SUBJECTS] [GRID_SCALE]`

use std::time::Instant;
use voxflow::data::phantom::{PhantomConfig, generate_phase, phase_map};
use voxflow::metrics::{TreStats, dice, landmark_errors};
use voxflow::registration::{DisplacementField, Grid, Interp, OptimizeOptions, Pair, optimize};

/// The defaults, with `VF_LEVELS` (mm, comma-separated), `VF_ITERS` (dense steps per level),
/// `VF_AFFINE` (affine steps), `VF_LR` (dense step, mm), `VF_SMOOTH` (voxels) and `VF_SIM`
/// (mse, ncc, lncc) replacing them when set: for trying settings. `VF_STAGES=1` also prints
/// when each stage starts and ends.
fn options_from_env() -> Result<OptimizeOptions, Box<dyn std::error::Error>> {
    let mut o = OptimizeOptions::default();
    let var = |k: &str| std::env::var(k).ok();
    let list = |s: String| -> Result<Vec<f64>, std::num::ParseFloatError> {
        s.split(',').map(|x| x.trim().parse()).collect()
    };
    if let Some(v) = var("VF_LEVELS") {
        o.levels_mm = list(v)?;
    }
    if let Some(v) = var("VF_ITERS") {
        o.dense_iterations = list(v)?.into_iter().map(|x| x as usize).collect();
    }
    if let Some(v) = var("VF_AFFINE") {
        o.affine_iterations = v.parse()?;
    }
    if let Some(v) = var("VF_LR") {
        o.dense_lr = v.parse()?;
    }
    if let Some(v) = var("VF_CTRL") {
        o.control_voxels = v.parse()?;
    }
    if let Some(v) = var("VF_SAMPLE") {
        o.sample_fraction = v.parse()?;
    }
    if let Some(v) = var("VF_SMOOTH") {
        o.smooth_voxels = v.parse()?;
    }
    if let Some(v) = var("VF_SIM") {
        o.similarity = serde_json::from_str(&format!("{v:?}"))?;
    }
    Ok(o)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(Ok(3), |a| a.parse())?;
    let scale: f64 = args.get(2).map_or(Ok(1.0), |a| a.parse())?;
    let cfg = PhantomConfig {
        n,
        seed: 11,
        subsets: 1,
        grid_scale: scale,
        phases: 2,
    };
    let opts = options_from_env()?;
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for i in 0..n {
        let (fixed, fixed_mask, lf) = generate_phase(&cfg, i, 0)?;
        let (moving, moving_mask, lm) = generate_phase(&cfg, i, 1)?;
        let start = Instant::now();
        // Seconds to each stage's first step (its setup and what came before) and to its last.
        let mut stages: Vec<String> = Vec::new();
        let sol = optimize(
            &Pair {
                fixed: &fixed,
                moving: &moving,
                fixed_mask: None,
            },
            &opts,
            &mut |s| {
                if s.iteration == 1 || s.iteration == s.of {
                    let at = start.elapsed().as_secs_f64();
                    stages.push(format!(
                        "{} {:.0}mm#{} {at:.2}",
                        s.stage, s.level_mm, s.iteration
                    ));
                }
                true
            },
        )?;
        let secs = start.elapsed().as_secs_f64();
        if std::env::var("VF_STAGES").is_ok() {
            println!("  {}", stages.join(" | "));
        }
        let mapped: Vec<[f64; 3]> = lf.iter().map(|&p| sol.map_point(p)).collect();
        let b = landmark_errors(&lf, &lm);
        let affine: Vec<[f64; 3]> = lf.iter().map(|&p| sol.affine.apply(p)).collect();
        let aff = TreStats::of(&landmark_errors(&affine, &lm)).mean;
        let a = landmark_errors(&mapped, &lm);
        let field = sol.displacement_on(&Grid::of(&fixed));
        // Lung Dice at native resolution (every label above 0.5, as scripts/accuracy.py
        // counts), and what the masks' resolution allows: the moving mask carried by the
        // true map.
        let grid = Grid::of(&fixed);
        let dice_through = |f: &DisplacementField| {
            let w = f.warp(&moving_mask, Interp::Nearest, 0.0);
            let bin = |v: &[f32]| {
                v.iter()
                    .map(|&x| if x > 0.5 { 1.0 } else { 0.0 })
                    .collect::<Vec<f32>>()
            };
            dice(&bin(&w.data), &bin(&fixed_mask.data))
        };
        let truth = phase_map(&cfg, i, 0, 1);
        let ceiling = dice_through(&DisplacementField::from_fn(grid.clone(), |p| {
            let q = truth(p);
            [q[0] - p[0], q[1] - p[1], q[2] - p[2]]
        }));
        println!(
            "  lung Dice {:.4} (through the true map: {ceiling:.4})",
            dice_through(&field)
        );
        println!(
            "subject {i}: {:?} voxels | TRE {:.2} → affine {aff:.2} → {:.2} mm (p90 {:.2}, max \
             {:.2}) | folding {:.4}% | {secs:.1} s",
            fixed.dims,
            TreStats::of(&b).mean,
            TreStats::of(&a).mean,
            TreStats::of(&a).p90,
            TreStats::of(&a).max,
            field.folding_pct()
        );
        before.extend(b);
        after.extend(a);
    }
    println!(
        "all: TRE {:.2} → {:.2} mm",
        TreStats::of(&before).mean,
        TreStats::of(&after).mean
    );
    Ok(())
}
