//! Per-volume preprocessing (SPEC 5.3), as pure functions on [`Volume`]s:
//!
//! 0. [`reorient_to_identity`]: flipped or swapped axes (a signed-permutation direction, or
//!    the one nearest an oblique direction) are undone, so every scan has the same
//!    orientation in array space (SPEC 5.3 is silent; a registration grid cannot turn a scan
//!    over).
//! 1. [`resample_to_spacing`] to 1 mm isotropic (linear for images, nearest for masks),
//!    corner-aligned: voxel 0 stays at the origin.
//! 2. [`resize_to_grid`] to the network grid `[D, H, W]` (corner-aligned: the first and last
//!    voxels of every axis map onto each other).
//! 3. [`normalize_image`] (z-score, then a lower clip at the out-of-field-of-view level) or
//!    [`binarize_mask`] (lungs 3 and 4 → 1, everything else → 0).
//!
//! [`preprocess_image`] and [`preprocess_mask`] run the whole pipeline. The steps are kept
//! literal (two resamplings in sequence): composing them into one interpolation would not give
//! the same values. Linear resampling is separable and parallel over slices (see `resample.rs`).

mod orient;
mod resample;
#[cfg(test)]
mod tests;

pub use orient::reorient_to_identity;

use crate::data::error::{DataError, DataResult};
use crate::data::volume::Volume;
use resample::{Tap, apply, axis_taps};

/// Version of the preprocessing pipeline; part of every cache key. Bump it whenever a change
/// here alters the values produced, so stale cache entries are rebuilt.
pub const PREPROCESS_VERSION: u32 = 3;

/// The largest volume a resampling may produce (2^30 voxels, 4 GiB of `f32`): a guard against
/// absurd spacings or grids in a header or a configuration.
pub const MAX_VOXELS: usize = 1 << 30;

/// Interpolation used by the resampling steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interp {
    /// Trilinear: for images.
    Linear,
    /// Nearest neighbour (index rounded half up): for label masks, keeps labels exact.
    Nearest,
}

/// Checks that `vol` is non-empty, consistent and has positive finite spacing.
fn check_volume(vol: &Volume, what: &str) -> DataResult<()> {
    let n = vol.dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if vol.dims.contains(&0) || n != Some(vol.data.len()) {
        return Err(DataError::Dataset(format!(
            "cannot {what} a volume with dims {:?} holding {} values",
            vol.dims,
            vol.data.len()
        )));
    }
    if vol.spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(DataError::Dataset(format!(
            "cannot {what} a volume with spacing {:?} mm (must be positive and finite)",
            vol.spacing
        )));
    }
    Ok(())
}

/// Whether a grid of these sizes has from 1 to [`MAX_VOXELS`] voxels (no overflow whatever
/// the sizes): the one limit of `--shape`, config.toml, builder.toml and the data pipeline.
pub fn grid_fits(dims: [u64; 3]) -> bool {
    let n = dims
        .iter()
        .try_fold(1u128, |a, &d| a.checked_mul(u128::from(d)));
    n.is_some_and(|n| n > 0 && n <= MAX_VOXELS as u128)
}

/// [`grid_fits`] for `usize` sizes.
pub fn grid_fits_usize(dims: [usize; 3]) -> bool {
    grid_fits(dims.map(|d| d as u64))
}

/// Checks that a new array shape is non-empty and below [`MAX_VOXELS`].
fn check_new_dims(dims: [usize; 3], what: &str) -> DataResult<()> {
    match grid_fits_usize(dims) {
        true => Ok(()),
        false => {
            // A size that overflowed on the way (absurd spacing) is saturated: say so.
            let shown: Vec<String> = dims
                .iter()
                .map(|&d| match d {
                    usize::MAX => "(overflow)".to_string(),
                    d => d.to_string(),
                })
                .collect();
            Err(DataError::Dataset(format!(
                "cannot {what}: the result would have dims [{}] (at most {MAX_VOXELS} voxels, \
                 none of them zero)",
                shown.join(", ")
            )))
        }
    }
}

/// Resamples `vol` to `new_spacing` (mm, image-axis order x, y, z), corner-aligned: new voxel
/// `i` along an axis lies at `origin + i·new_spacing` and samples the old continuous index
/// `i·new_spacing/old_spacing`; samples beyond the last voxel take the edge value. The new
/// size along an axis is `round(size·spacing/new_spacing)`, at least 1. Origin and direction
/// are kept; spacing becomes `new_spacing`.
pub fn resample_to_spacing(
    vol: &Volume,
    new_spacing: [f64; 3],
    interp: Interp,
) -> DataResult<Volume> {
    check_volume(vol, "resample")?;
    if new_spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(DataError::Dataset(format!(
            "cannot resample to spacing {new_spacing:?} mm (must be positive and finite)"
        )));
    }
    // Image axis a (x, y, z) is array axis 2 − a.
    let mut new_dims = [0usize; 3];
    for a in 0..3 {
        let size = vol.dims[2 - a] as f64 * vol.spacing[a] / new_spacing[a];
        new_dims[2 - a] = if size < 1.0 {
            1
        } else if size > MAX_VOXELS as f64 {
            usize::MAX
        } else {
            size.round() as usize
        };
    }
    check_new_dims(new_dims, &format!("resample to {new_spacing:?} mm"))?;
    let taps: Vec<Vec<Tap>> = (0..3)
        .map(|a| {
            let ratio = new_spacing[a] / vol.spacing[a];
            axis_taps(vol.dims[2 - a], new_dims[2 - a], interp, |i| {
                i as f64 * ratio
            })
        })
        .collect();
    let data = apply(&vol.data, vol.dims, [&taps[0], &taps[1], &taps[2]], interp);
    Ok(Volume {
        data,
        dims: new_dims,
        spacing: new_spacing,
        origin: vol.origin,
        direction: vol.direction,
    })
}

/// Resizes `vol` to exactly `grid` = `[D, H, W]`, corner-aligned: new index `i` along an axis
/// samples the old continuous index `i·(old − 1)/(new − 1)` (a new size of 1 samples index 0).
/// The spacing is scaled so the corner-to-corner extent `(size − 1)·spacing` is preserved;
/// where the old or new size is 1 that extent is zero, and the whole-voxel extent
/// `size·spacing` is preserved instead. Origin and direction are kept.
pub fn resize_to_grid(vol: &Volume, grid: [usize; 3], interp: Interp) -> DataResult<Volume> {
    check_volume(vol, "resize")?;
    check_new_dims(grid, &format!("resize to the grid {grid:?}"))?;
    let mut spacing = vol.spacing;
    let taps: Vec<Vec<Tap>> = (0..3)
        .map(|a| {
            let (old, new) = (vol.dims[2 - a], grid[2 - a]);
            spacing[a] = if old > 1 && new > 1 {
                vol.spacing[a] * (old - 1) as f64 / (new - 1) as f64
            } else {
                vol.spacing[a] * old as f64 / new as f64
            };
            let scale = if new > 1 {
                (old - 1) as f64 / (new - 1) as f64
            } else {
                0.0
            };
            axis_taps(old, new, interp, |i| i as f64 * scale)
        })
        .collect();
    let data = apply(&vol.data, vol.dims, [&taps[0], &taps[1], &taps[2]], interp);
    Ok(Volume {
        data,
        dims: grid,
        spacing,
        origin: vol.origin,
        direction: vol.direction,
    })
}

/// Z-scores the whole volume (mean 0, population standard deviation 1; a constant volume,
/// up to float rounding, becomes all zeros), then clips from below at the out-of-field-of-view level: the smaller of
/// the two values at the ends of the middle row of the middle axial slice, i.e. array indices
/// `[D/2, H/2, 0]` and `[D/2, H/2, W − 1]` (integer division). An empty volume is returned
/// unchanged.
pub fn normalize_image(mut vol: Volume) -> Volume {
    if vol.data.is_empty() {
        return vol;
    }
    let n = vol.data.len() as f64;
    let mean = vol.data.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = vol
        .data
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let std = var.sqrt();
    // Below 1e-5 of the values' size the spread is rounding (a constant scan resampled), which
    // z-scoring would blow up into a pattern: such a volume counts as constant.
    let rounding = 1e-5 * mean.abs().max(1.0);
    if std > rounding && std.is_finite() {
        for v in &mut vol.data {
            *v = ((*v as f64 - mean) / std) as f32;
        }
    } else {
        vol.data.fill(0.0);
    }
    let [d, h, w] = vol.dims;
    let lo = vol.at(d / 2, h / 2, 0).min(vol.at(d / 2, h / 2, w - 1));
    for v in &mut vol.data {
        *v = v.max(lo);
    }
    vol
}

/// Lung labels (3 = right lung, 4 = left lung in LUNA16's `seg-lungs`) become 1; everything
/// else (0 background, 5 airway, any other value) becomes 0. Labels compare exactly, as read
/// from integer mask files and kept by nearest-neighbour resampling.
pub fn binarize_mask(mut vol: Volume) -> Volume {
    for v in &mut vol.data {
        *v = if is_lung_label(*v) { 1.0 } else { 0.0 };
    }
    vol
}

/// Whether a LUNA16 mask label is lung: 3 (right) or 4 (left); 5 is airway.
pub fn is_lung_label(v: f32) -> bool {
    v == 3.0 || v == 4.0
}

/// The pipelines' first steps (also evaluation's 1 mm labels): [`reorient_to_identity`], then
/// resampling to 1 mm. A scan
/// narrower than 2 mm along an axis is refused: it would become a single 1 mm plane, which
/// happens when the spacing is not in mm (metres, say).
pub fn to_one_mm(vol: &Volume, interp: Interp) -> DataResult<Volume> {
    check_volume(vol, "resample")?;
    let extent: Vec<f64> = (0..3)
        .map(|a| vol.dims[2 - a] as f64 * vol.spacing[a])
        .collect();
    if extent.iter().any(|&e| e < 2.0) {
        return Err(DataError::Dataset(format!(
            "the scan spans only {:.3} x {:.3} x {:.3} mm (x, y, z: {} x {} x {} voxels of \
             spacing {:?}): too small for a CT or MR volume; is ElementSpacing / pixdim in mm?",
            extent[0], extent[1], extent[2], vol.dims[2], vol.dims[1], vol.dims[0], vol.spacing
        )));
    }
    resample_to_spacing(&reorient_to_identity(vol), [1.0; 3], interp)
}

/// The image pipeline: [`reorient_to_identity`], linear resampling to 1 mm, linear resize to
/// `grid` `[D, H, W]`, then [`normalize_image`].
pub fn preprocess_image(vol: &Volume, grid: [usize; 3]) -> DataResult<Volume> {
    let iso = to_one_mm(vol, Interp::Linear)?;
    Ok(normalize_image(resize_to_grid(&iso, grid, Interp::Linear)?))
}

/// The mask pipeline: [`reorient_to_identity`], nearest resampling to 1 mm, nearest resize to
/// `grid` `[D, H, W]`, then [`binarize_mask`].
pub fn preprocess_mask(vol: &Volume, grid: [usize; 3]) -> DataResult<Volume> {
    let iso = to_one_mm(vol, Interp::Nearest)?;
    Ok(binarize_mask(resize_to_grid(&iso, grid, Interp::Nearest)?))
}
