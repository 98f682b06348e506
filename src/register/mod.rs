//! `voxflow register` (SPEC section 10): two scans in, the moving one registered to the fixed
//! one by instance optimization, in physical space.
//!
//! [`register`] is the library call: two volumes (any geometry) and options in, the
//! displacement on the fixed image's native grid (world mm, ITK's convention) and the moving
//! image warped onto that grid out, with what it measured. [`run`] is the command: it reads
//! the files, registers, scores (similarity, folding, Dice/HD95 with masks, TRE with
//! landmarks), and writes `warped.nii.gz`, `displacement.nii.gz`, `warped_mask.nii.gz` and
//! `summary.json` into the output directory — all or nothing.
//!
//! ```
//! use voxflow::data::phantom::{PhantomConfig, generate_phase};
//! use voxflow::register::{RegisterOptions, register};
//!
//! // Two breathing phases of one phantom subject, small enough for a doctest.
//! let cfg = PhantomConfig { n: 1, seed: 2, subsets: 1, grid_scale: 0.25, phases: 2 };
//! let (fixed, _, _) = generate_phase(&cfg, 0, 0)?;
//! let (moving, _, _) = generate_phase(&cfg, 0, 1)?;
//! let mut opts = RegisterOptions::default();
//! opts.optimize.levels_mm = vec![12.0];
//! opts.optimize.dense_iterations = vec![10];
//! opts.optimize.affine_iterations = 10;
//! let r = register(&fixed, &moving, &opts, &mut |_| true)?;
//! assert_eq!(r.warped.dims, fixed.dims);
//! assert_eq!(r.displacement.grid.dims, fixed.dims);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod report;
mod run;

pub use report::Summary;
pub use run::{OUTPUTS, RegisterArgs, run};

use crate::data::volume::Volume;
use crate::registration::{
    DisplacementField, Grid, Interp, OptimizeOptions, Pair, Solution, Step, optimize, refine,
};
use std::time::Instant;

/// What [`register`] does.
#[derive(Clone, Debug, Default)]
pub struct RegisterOptions {
    /// The instance optimization.
    pub optimize: OptimizeOptions,
}

/// A registration: the transform, on the fixed image's native grid, and the moving image
/// through it.
#[derive(Clone, Debug)]
pub struct Registration {
    /// What the optimization found (affine part and control points).
    pub solution: Solution,
    /// `u(x)` at every voxel of the fixed image (world mm, LPS): `x + u(x)` is `x`'s match in
    /// the moving image.
    pub displacement: DisplacementField,
    /// The moving image on the fixed image's grid.
    pub warped: Volume,
    /// Seconds spent optimizing and resampling.
    pub seconds: (f64, f64),
}

/// An error of the inputs that no optimization can fix.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Engine(#[from] crate::Error),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// The session and checkpoint of `--session`/`--weights`.
    #[error(transparent)]
    Session(#[from] crate::session::SessionError),
    /// The scans' world boxes are disjoint even after aligning their centres of mass.
    #[error(
        "{fixed} and {moving} do not overlap in world space: the moving scan's box is {gap:.0} mm \
         away from the fixed scan's (check their origins and orientations)"
    )]
    NoOverlap {
        fixed: String,
        moving: String,
        gap: f64,
    },
    /// A wrong argument: an empty mask, a file of the wrong kind.
    #[error("{0}")]
    Usage(String),
}

/// Registers `moving` to `fixed` (see the module docs); `progress` sees every optimization
/// step and stops it early by returning false (the transform so far is kept).
pub fn register(
    fixed: &Volume,
    moving: &Volume,
    opts: &RegisterOptions,
    progress: &mut dyn FnMut(&Step) -> bool,
) -> Result<Registration, crate::Error> {
    register_from(fixed, moving, None, opts, progress)
}

/// [`register`] from `start` (a network's prediction: [`crate::session::Network::predict`]),
/// refined by the dense stage of `opts` (none: `start` itself); `None` optimizes from scratch.
pub fn register_from(
    fixed: &Volume,
    moving: &Volume,
    start: Option<&Solution>,
    opts: &RegisterOptions,
    progress: &mut dyn FnMut(&Step) -> bool,
) -> Result<Registration, crate::Error> {
    let t0 = Instant::now();
    let pair = Pair {
        fixed,
        moving,
        fixed_mask: None,
    };
    let solution = match start {
        Some(s) => refine(&pair, &opts.optimize, s, progress)?,
        None => optimize(&pair, &opts.optimize, progress)?,
    };
    let optimized = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let displacement = solution.displacement_on(&Grid::of(fixed));
    let warped = displacement.warp(moving, Interp::Linear, 0.0);
    Ok(Registration {
        solution,
        displacement,
        warped,
        seconds: (optimized, t1.elapsed().as_secs_f64()),
    })
}

/// The distance between two grids' world boxes (0 when they overlap).
pub fn box_gap(a: &Grid, b: &Grid) -> f64 {
    let bounds = |g: &Grid| {
        let mut lo = [f64::MAX; 3];
        let mut hi = [f64::MIN; 3];
        for corner in 0..8 {
            let ijk = [0, 1, 2].map(|k| {
                if corner >> k & 1 == 1 {
                    g.dims[2 - k] as f64 - 1.0
                } else {
                    0.0
                }
            });
            let p = g.voxel_to_world(ijk);
            for k in 0..3 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        (lo, hi)
    };
    let ((alo, ahi), (blo, bhi)) = (bounds(a), bounds(b));
    (0..3)
        .map(|k| (alo[k] - bhi[k]).max(blo[k] - ahi[k]).max(0.0).powi(2))
        .sum::<f64>()
        .sqrt()
}
