//! Registration metrics on host arrays (SPEC section 7), each checked on hand-made cases with
//! known answers and against scipy/numpy on committed fixtures (`scripts/fixtures_metrics.py`,
//! `tests/fixtures/eval_metrics.txt`).
//!
//! - [`overlap`]: Dice of binarized masks, per label for label maps.
//! - [`surface`](mod@surface): Hausdorff, HD95 and mean surface distance in mm, on 6-connected surfaces.
//! - [`edt`]: the exact Euclidean distance transform (Felzenszwalb–Huttenlocher) they use.
//! - [`jacobian`]: the Jacobian determinant of a sampling grid, % folding and SDlogJ.
//! - [`intensity`]: mean squared error and Pearson's r.
//! - [`landmarks`](mod@landmarks): the landmark error (TRE) of corresponding points.
//!
//! Volumes are `[D, H, W]` arrays with x fastest; voxel spacings are in mm along (x, y, z), as
//! in [`Volume`](crate::data::Volume). No metric returns NaN: empty masks and constant images
//! have defined values, documented with each function.

pub mod edt;
pub mod intensity;
pub mod jacobian;
pub mod landmarks;
pub mod overlap;
pub mod surface;

#[cfg(test)]
mod tests;

pub use edt::squared_edt;
pub use intensity::{mse, pearson_r};
pub use jacobian::{folding_pct, jacobian_determinants, sdlogj};
pub use landmarks::{TreStats, landmark_errors};
pub use overlap::{binarize, dice, dice_bool, dice_per_label, indicator, labels};
pub use surface::{SurfaceDistances, diagonal_mm, surface, surface_distances};

/// The `q`-th percentile (0–100) of ascending `sorted` values, interpolating linearly between
/// the order statistics at rank `q/100·(n − 1)` (`numpy.percentile`'s default). 0 for no
/// values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return 0.0;
    };
    let rank = (q / 100.0).clamp(0.0, 1.0) * last as f64;
    let lo = rank.floor() as usize;
    let hi = (lo + 1).min(last);
    let t = rank - lo as f64;
    sorted[lo] + t * (sorted[hi] - sorted[lo])
}
