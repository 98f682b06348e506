//! What a registration achieved, before and after, in physical space: mask overlap and
//! surface distance at the fixed image's native resolution, image correlation, landmark error.
//! `register`'s summary and `eval`'s physical-space columns both score with these.

use super::field::{DisplacementField, Interp};
use super::grid::Grid;
use crate::data::volume::Volume;
use crate::metrics::{TreStats, dice, landmark_errors, pearson_r, surface_distances};
use serde::Serialize;

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
