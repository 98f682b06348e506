//! Axis-aligned resampling kernels shared by [`super::resample_to_spacing`] and
//! [`super::resize_to_grid`].
//!
//! Both operations map each new index along an axis to one old continuous index along the same
//! axis, independently of the other two axes. Trilinear interpolation of such a mapping is the
//! tensor product of three 1-D linear interpolations, so it is computed separably: one pass per
//! axis (x, then y, then z), each parallel over slices with rayon and allocation-free inside.
//! Nearest-neighbour sampling is a single gather pass.

use super::Interp;
use rayon::prelude::*;

/// Where one new index samples along one axis: `(1 − w)·old[i0] + w·old[i1]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Tap {
    pub i0: usize,
    pub i1: usize,
    pub w: f32,
}

/// The taps of one axis: `old` values sampled at the continuous indices `pos(i)` for
/// `i in 0..new`, clamped to `[0, old − 1]` (out-of-range samples take the edge value).
/// Nearest rounds the index half up and always has `w = 0`, `i1 = i0`.
pub(super) fn axis_taps(
    old: usize,
    new: usize,
    interp: Interp,
    pos: impl Fn(usize) -> f64,
) -> Vec<Tap> {
    let last = old.saturating_sub(1);
    (0..new)
        .map(|i| {
            let t = snap(pos(i)).clamp(0.0, last as f64);
            match interp {
                Interp::Nearest => {
                    let i0 = ((t + 0.5).floor() as usize).min(last);
                    Tap { i0, i1: i0, w: 0.0 }
                }
                Interp::Linear => {
                    let i0 = (t.floor() as usize).min(last);
                    let i1 = (i0 + 1).min(last);
                    let w = if i1 == i0 {
                        0.0
                    } else {
                        (t - i0 as f64) as f32
                    };
                    Tap { i0, i1, w }
                }
            }
        })
        .collect()
}

/// Rounds an index that is an integer up to floating-point error (e.g. `i·s/s`) to that
/// integer, so exact grid points sample exactly one voxel.
fn snap(t: f64) -> f64 {
    let r = t.round();
    if (t - r).abs() <= 1e-9 * r.abs().max(1.0) {
        r
    } else {
        t
    }
}

/// True when the taps copy the axis unchanged.
fn is_identity(taps: &[Tap], old: usize) -> bool {
    taps.len() == old
        && taps
            .iter()
            .enumerate()
            .all(|(i, t)| t.i0 == i && (t.w == 0.0 || t.i1 == i))
}

/// Samples `data` (array dims `[D, H, W]`) with per-axis taps given in image-axis order
/// (x, y, z). Returns the new data in array order `[taps_z, taps_y, taps_x]`.
pub(super) fn apply(data: &[f32], dims: [usize; 3], taps: [&[Tap]; 3], interp: Interp) -> Vec<f32> {
    match interp {
        Interp::Nearest => gather(data, dims, taps),
        Interp::Linear => {
            let [tx, ty, tz] = taps;
            let mut cur: Option<Vec<f32>> = None;
            let mut d = dims;
            if !is_identity(tx, d[2]) {
                cur = Some(pass_x(cur.as_deref().unwrap_or(data), d, tx));
                d[2] = tx.len();
            }
            if !is_identity(ty, d[1]) {
                cur = Some(pass_y(cur.as_deref().unwrap_or(data), d, ty));
                d[1] = ty.len();
            }
            if !is_identity(tz, d[0]) {
                cur = Some(pass_z(cur.as_deref().unwrap_or(data), d, tz));
            }
            cur.unwrap_or_else(|| data.to_vec())
        }
    }
}

#[inline]
fn lerp(a: f32, b: f32, w: f32) -> f32 {
    (1.0 - w) * a + w * b
}

/// Interpolates along x: `[D, H, W] → [D, H, W']`.
fn pass_x(src: &[f32], [_, _, w]: [usize; 3], taps: &[Tap]) -> Vec<f32> {
    let nw = taps.len();
    let mut out = vec![0.0f32; src.len() / w * nw];
    out.par_chunks_mut(nw)
        .zip(src.par_chunks(w))
        .for_each(|(o, row)| {
            for (ov, t) in o.iter_mut().zip(taps) {
                *ov = lerp(row[t.i0], row[t.i1], t.w);
            }
        });
    out
}

/// Interpolates along y: `[D, H, W] → [D, H', W]`, parallel over z slices.
fn pass_y(src: &[f32], [_, h, w]: [usize; 3], taps: &[Tap]) -> Vec<f32> {
    let nh = taps.len();
    let mut out = vec![0.0f32; src.len() / h * nh];
    out.par_chunks_mut(nh * w)
        .zip(src.par_chunks(h * w))
        .for_each(|(o, slice)| {
            for (orow, t) in o.chunks_exact_mut(w).zip(taps) {
                let r0 = &slice[t.i0 * w..(t.i0 + 1) * w];
                let r1 = &slice[t.i1 * w..(t.i1 + 1) * w];
                for ((ov, &a), &b) in orow.iter_mut().zip(r0).zip(r1) {
                    *ov = lerp(a, b, t.w);
                }
            }
        });
    out
}

/// Interpolates along z: `[D, H, W] → [D', H, W]`, parallel over the new z slices.
fn pass_z(src: &[f32], [_, h, w]: [usize; 3], taps: &[Tap]) -> Vec<f32> {
    let plane = h * w;
    let mut out = vec![0.0f32; taps.len() * plane];
    out.par_chunks_mut(plane)
        .zip(taps.par_iter())
        .for_each(|(o, t)| {
            let s0 = &src[t.i0 * plane..(t.i0 + 1) * plane];
            let s1 = &src[t.i1 * plane..(t.i1 + 1) * plane];
            for ((ov, &a), &b) in o.iter_mut().zip(s0).zip(s1) {
                *ov = lerp(a, b, t.w);
            }
        });
    out
}

/// Nearest-neighbour gather in one pass, parallel over the new z slices.
fn gather(src: &[f32], [_, h, w]: [usize; 3], [tx, ty, tz]: [&[Tap]; 3]) -> Vec<f32> {
    let (nw, nh) = (tx.len(), ty.len());
    let mut out = vec![0.0f32; tz.len() * nh * nw];
    out.par_chunks_mut(nh * nw)
        .zip(tz.par_iter())
        .for_each(|(o, tzv)| {
            for (orow, tyv) in o.chunks_exact_mut(nw).zip(ty) {
                let row = &src[(tzv.i0 * h + tyv.i0) * w..][..w];
                for (ov, txv) in orow.iter_mut().zip(tx) {
                    *ov = row[txv.i0];
                }
            }
        });
    out
}
