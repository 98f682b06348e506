//! What `voxflow register` measured: `summary.json` and the screen it prints.

use crate::metrics::TreStats;
use crate::registration::{BeforeAfter, MaskScores};
use serde::Serialize;
use std::fmt::Write as _;

/// The network of `--session`: its checkpoint, and the landmark error of its prediction
/// before any refinement.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkSummary {
    pub checkpoint: String,
    pub tre: Option<TreStats>,
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
    /// The network the registration started from (`--session`), and what it alone achieved.
    pub network: Option<NetworkSummary>,
    /// The affine part, `p ↦ centre + [(p − centre)/100, 1]·theta`.
    pub affine_theta: [[f64; 3]; 4],
    pub affine_centre: [f64; 3],
    pub options: String,
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
        if let Some(n) = &self.network {
            let _ = write!(s, "network: {}", n.checkpoint);
            if let Some(t) = &n.tre {
                let _ = write!(
                    s,
                    "; its TRE alone: mean {:.2} mm, p90 {:.2}",
                    t.mean, t.p90
                );
            }
            s.push('\n');
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
