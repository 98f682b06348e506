//! Per-epoch observations of a fixed pair (SPEC section 8): PNG slice strips of the source,
//! target, warped source, the three channels of the flow network's gradient output and the
//! warped source mask, plus one overview figure (src | tgt | warped | |warped − tgt| |
//! Jacobian determinant on the middle slices of the three axes) that is also returned for
//! TensorBoard.
//!
//! Two of the original's observer bugs are fixed here (SPEC section 9): the mask drawn is the
//! warped *source* mask, and all three gradient channels are drawn (z was never drawn).
//!
//! Scaling: each slice of a strip is min-max scaled on its own (as SPEC section 8 asks; a
//! constant slice takes the volume's range instead, so an empty slice of a mask is black
//! rather than mid-gray). In the
//! overview, src, tgt and warped share one gray window (the range of all three volumes) so their
//! intensities can be compared; |warped − tgt| is viridis from 0 to the largest difference in
//! the volume (printed in the figure title); the Jacobian determinant uses the fixed diverging
//! map of [`jacobian_colour`](crate::report::jacobian_colour) (blue compression, white 1, green
//! expansion, red folding).

use std::path::Path;

use crate::metrics::{folding_pct, jacobian_determinants, mse};
use crate::report::{
    Axis, Colormap, Figure, ReportError, Rgb, Shade, Slice2d, save_png, slice, strip_panel_size,
};

/// One sample of the fixed observation pair after an epoch, as host arrays in `[D, H, W]`
/// order (x fastest).
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// The volume size `[D, H, W]`.
    pub dims: [usize; 3],
    /// The source (moving) image, `D·H·W` values.
    pub src: &'a [f32],
    /// The target (fixed) image, `D·H·W` values.
    pub tgt: &'a [f32],
    /// The warped source, `D·H·W` values.
    pub warped: &'a [f32],
    /// The flow network's sigmoid output `[D, H, W, 3]` (channels x, y, z).
    pub gradient: &'a [f32],
    /// The sampling grid `[D, H, W, 3]` (x, y, z in voxels).
    pub grid: &'a [f32],
    /// The warped source mask `[D, H, W]`, when masks are used.
    pub warped_seg: Option<&'a [f32]>,
}

impl Observation<'_> {
    /// Checks every array's length against `dims`; returns the voxel count.
    fn voxels(&self) -> Result<usize, ReportError> {
        let dims = self.dims;
        let n = dims[0]
            .checked_mul(dims[1])
            .and_then(|n| n.checked_mul(dims[2]))
            .filter(|&n| n > 0 && n.checked_mul(3).is_some())
            .ok_or_else(|| {
                ReportError::Invalid(format!(
                    "observation: dims [D, H, W] = {dims:?} must be non-zero and not overflow"
                ))
            })?;
        let seg = self.warped_seg.map(|s| ("warped_seg", s, 1));
        let arrays = [
            ("src", self.src, 1),
            ("tgt", self.tgt, 1),
            ("warped", self.warped, 1),
            ("gradient", self.gradient, 3),
            ("grid", self.grid, 3),
        ];
        for (name, data, channels) in arrays.into_iter().chain(seg) {
            if data.len() != n * channels {
                return Err(ReportError::Invalid(format!(
                    "observation: {name} has {} values, expected {} for dims [D, H, W] = \
                     {dims:?} x {channels} channel(s)",
                    data.len(),
                    n * channels
                )));
            }
        }
        Ok(n)
    }
}

/// Writes `src_XX.png`, `tgt_XX.png`, `pred_XX.png`, `grad_x_XX.png`, `grad_y_XX.png`,
/// `grad_z_XX.png`, (`pred_seg_XX.png` when `obs.warped_seg` is given) and `overview_XX.png`
/// into `dir` (created if missing; XX = `epoch` with at least 2 digits), each atomically, and
/// returns the overview image (for TensorBoard). Array lengths that do not match `obs.dims`
/// are an error, and then nothing is written.
pub fn write_observations(dir: &Path, epoch: u32, obs: &Observation) -> Result<Rgb, ReportError> {
    obs.voxels()?;
    let dims = obs.dims;
    let overview = overview_figure(epoch, obs)?.render();
    if dir.exists() && !dir.is_dir() {
        return Err(ReportError::io(
            dir,
            std::io::Error::other("exists and is not a directory (give another --out)"),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    let save = |name: &str, img: &Rgb| save_png(&dir.join(format!("{name}_{epoch:02}.png")), img);
    save("src", &strip(obs.src, dims, "src")?)?;
    save("tgt", &strip(obs.tgt, dims, "tgt")?)?;
    save("pred", &strip(obs.warped, dims, "pred")?)?;
    for (c, name) in ["grad_x", "grad_y", "grad_z"].into_iter().enumerate() {
        let channel: Vec<f32> = obs.gradient.iter().skip(c).step_by(3).copied().collect();
        save(name, &strip(&channel, dims, name)?)?;
    }
    if let Some(seg) = obs.warped_seg {
        save("pred_seg", &strip(seg, dims, "pred_seg")?)?;
    }
    save("overview", &overview)?;
    Ok(overview)
}

/// The overview's title, e.g. `epoch 03  mse 0.0123  folding 0.00%  max|w-t| 0.41`.
fn overview_title(epoch: u32, mse: f64, folding: f64, max_diff: f32) -> String {
    let small = |v: f64| v != 0.0 && v.abs() < 1e-3;
    let mse = if small(mse) {
        format!("{mse:.2e}")
    } else {
        format!("{mse:.4}")
    };
    let diff = if small(f64::from(max_diff)) {
        format!("{max_diff:.1e}")
    } else {
        format!("{max_diff:.2}")
    };
    format!("epoch {epoch:02}  mse {mse}  folding {folding:.2}%  max|w-t| {diff}")
}

/// The smallest and largest finite values over all of `vols`; `(0, 0)` if there are none.
fn window(vols: &[&[f32]]) -> (f32, f32) {
    let finite = vols.iter().flat_map(|v| v.iter()).filter(|v| v.is_finite());
    finite
        .fold(None, |acc: Option<(f32, f32)>, &v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
        .unwrap_or((0.0, 0.0))
}

/// `s` through `map` with values scaled from `[lo, hi]` to `[0, 1]` (clamped; an empty range
/// gives the middle colour; NaN and infinities the colour of 0).
fn shade_window(s: &Slice2d, lo: f32, hi: f32, map: Colormap) -> Result<Rgb, ReportError> {
    let range = hi - lo;
    let data = s
        .values()
        .iter()
        .flat_map(|&v| {
            let t = if !v.is_finite() {
                0.0
            } else if range > 0.0 {
                (v - lo) / range
            } else {
                0.5
            };
            map.rgb(t)
        })
        .collect();
    Rgb::from_raw(s.width(), s.height(), data)
}

/// The slice strip of SPEC section 8: the axial slices z = 0, D/4, D/2, 3D/4 of `vol` side
/// by side, titled "`title` z=`z`", each min-max scaled to gray. Unlike
/// [`slice_strip`](crate::report::slice_strip), a constant slice is drawn in the range of the
/// whole volume (an empty mask slice is black, a full one white); only a constant volume is
/// mid-gray. `vol` must hold `D·H·W` values.
fn strip(vol: &[f32], dims: [usize; 3], title: &str) -> Result<Rgb, ReportError> {
    let d = dims[0];
    let (pw, ph) = strip_panel_size(dims[2], dims[1]);
    let mut fig = Figure::new(4, 1, pw, ph);
    let whole = window(&[vol]);
    for (col, z) in [0, d / 4, d / 2, 3 * d / 4].into_iter().enumerate() {
        let s = slice(vol, dims, Axis::Axial, z)?;
        let (lo, hi) = match s.min_max() {
            Some((lo, hi)) if hi > lo => (lo, hi),
            _ => whole,
        };
        let img = shade_window(&s, lo, hi, Colormap::Gray)?;
        fig.set(0, col, &format!("{title} z={z}"), img)?;
    }
    Ok(fig.render())
}

/// The overview figure: rows axial, coronal, sagittal middle slices; columns src, tgt,
/// warped, |warped − tgt|, Jacobian determinant. `obs` must have been validated.
fn overview_figure(epoch: u32, obs: &Observation) -> Result<Figure, ReportError> {
    let dims = obs.dims;
    let diff: Vec<f32> = obs
        .warped
        .iter()
        .zip(obs.tgt)
        .map(|(&w, &t)| (w - t).abs())
        .collect();
    let dets = jacobian_determinants(obs.grid, dims);
    let folding = folding_pct(&dets);
    let dets: Vec<f32> = dets.into_iter().map(|v| v as f32).collect();
    let (lo, hi) = window(&[obs.src, obs.tgt, obs.warped]);
    let max_diff = window(&[&diff]).1;

    let side = dims.into_iter().max().unwrap_or(1);
    let (pw, ph) = strip_panel_size(side, side);
    let mut fig = Figure::new(5, 3, pw, ph);
    fig.title(&overview_title(
        epoch,
        mse(obs.warped, obs.tgt),
        folding,
        max_diff,
    ));
    for (row, axis) in Axis::ALL.into_iter().enumerate() {
        let index = axis.extent(dims) / 2;
        let at = format!("{}={index}", axis.coord());
        let take = |vol: &[f32]| slice(vol, dims, axis, index);
        let gray = |vol: &[f32]| shade_window(&take(vol)?, lo, hi, Colormap::Gray);
        fig.set(row, 0, &format!("src {at}"), gray(obs.src)?)?;
        fig.set(row, 1, &format!("tgt {at}"), gray(obs.tgt)?)?;
        fig.set(row, 2, &format!("warped {at}"), gray(obs.warped)?)?;
        // A floor above 0 keeps an all-zero difference at the bottom of the map.
        let d = shade_window(&take(&diff)?, 0.0, max_diff.max(1e-30), Colormap::Viridis)?;
        fig.set(row, 3, &format!("|warped-tgt| {at}"), d)?;
        let j = take(&dets)?.render(Shade::Jacobian);
        fig.set(row, 4, &format!("det J {at} red<=0"), j)?;
    }
    Ok(fig)
}

#[cfg(test)]
mod tests;
