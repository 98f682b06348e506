//! What `voxflow register` measured: `summary.json` and the screen it prints.

use crate::data::volume::Volume;
use crate::metrics::{TreStats, dice, landmark_errors, pearson_r, surface_distances};
use crate::registration::{DisplacementField, Grid, Interp};
use serde::Serialize;
use std::fmt::Write as _;

/// A measure before registration (the moving scan taken where it lies in world space) and
/// after.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BeforeAfter<T> {
    pub before: T,
    pub after: T,
}

/// Mask overlap at the fixed image's native resolution.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MaskScores {
    pub dice: BeforeAfter<f64>,
    pub hd95_mm: BeforeAfter<f64>,
}

/// Everything `summary.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub fixed: String,
    pub moving: String,
    /// The fixed image's grid `[D, H, W]`, the one every output is on.
    pub grid: [usize; 3],
    pub spacing_mm: [f64; 3],
    /// Seconds per stage: reading, optimizing, resampling, scoring, writing.
    pub seconds: Vec<(String, f64)>,
    /// Pearson correlation of the fixed image with the moving one.
    pub correlation: BeforeAfter<f64>,
    /// Voxels where the map folds (Jacobian determinant ≤ 0), in %.
    pub folding_pct: f64,
    pub masks: Option<MaskScores>,
    /// Landmark error (mm).
    pub tre: Option<BeforeAfter<TreStats>>,
    /// The affine part, `p ↦ centre + [(p − centre)/100, 1]·theta`.
    pub affine_theta: [[f64; 3]; 4],
    pub affine_centre: [f64; 3],
    pub options: String,
}

/// Dice and HD95 of the fixed mask against the moving mask before (resampled as it lies) and
/// after (warped) registration.
pub fn mask_scores(fixed: &Volume, identity: &Volume, warped: &Volume) -> MaskScores {
    let bin = |v: &Volume| v.data.iter().map(|&x| x > 0.5).collect::<Vec<bool>>();
    let f = bin(fixed);
    let hd = |m: &Volume| surface_distances(&f, &bin(m), fixed.dims, fixed.spacing).hd95;
    MaskScores {
        dice: BeforeAfter {
            before: dice(&fixed.data, &identity.data),
            after: dice(&fixed.data, &warped.data),
        },
        hd95_mm: BeforeAfter {
            before: hd(identity),
            after: hd(warped),
        },
    }
}

/// The correlation before and after: the moving image resampled as it lies, and warped.
pub fn correlation(fixed: &Volume, moving: &Volume, warped: &Volume) -> BeforeAfter<f64> {
    let identity = DisplacementField::zeros(Grid::of(fixed)).warp(moving, Interp::Linear, 0.0);
    BeforeAfter {
        before: pearson_r(&fixed.data, &identity.data),
        after: pearson_r(&fixed.data, &warped.data),
    }
}

/// Landmark errors before (the fixed landmarks themselves) and after (carried by `map`).
pub fn tre(
    fixed: &[[f64; 3]],
    moving: &[[f64; 3]],
    map: impl Fn([f64; 3]) -> [f64; 3],
) -> BeforeAfter<TreStats> {
    let mapped: Vec<[f64; 3]> = fixed.iter().map(|&p| map(p)).collect();
    BeforeAfter {
        before: TreStats::of(&landmark_errors(fixed, moving)),
        after: TreStats::of(&landmark_errors(&mapped, moving)),
    }
}

impl Summary {
    /// The screen `voxflow register` ends with.
    pub fn screen(&self) -> String {
        let mut s = String::new();
        let times: Vec<String> = self
            .seconds
            .iter()
            .map(|(k, v)| format!("{k} {v:.1} s"))
            .collect();
        let _ = writeln!(s, "time: {}", times.join(", "));
        let c = self.correlation;
        let _ = writeln!(
            s,
            "correlation with the fixed image: {:.4} before, {:.4} after",
            c.before, c.after
        );
        let _ = writeln!(s, "folding: {:.4}% of voxels", self.folding_pct);
        if let Some(m) = &self.masks {
            let _ = writeln!(
                s,
                "masks: Dice {:.4} → {:.4}, HD95 {:.2} → {:.2} mm",
                m.dice.before, m.dice.after, m.hd95_mm.before, m.hd95_mm.after
            );
        }
        if let Some(t) = &self.tre {
            let _ = writeln!(
                s,
                "landmarks ({}): TRE mean {:.2} → {:.2} mm, median {:.2} → {:.2}, p90 {:.2} → \
                 {:.2}, max {:.2} → {:.2}",
                t.after.n,
                t.before.mean,
                t.after.mean,
                t.before.median,
                t.after.median,
                t.before.p90,
                t.after.p90,
                t.before.max,
                t.after.max
            );
        }
        s
    }
}
