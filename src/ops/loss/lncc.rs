//! Local normalized cross-correlation (VoxelMorph's `NCC` loss) on the CPU, with its analytic
//! gradient, in `O(voxels)` for any window.
//!
//! Per sample and channel, for every voxel `j` the box sums over its `w³` neighbourhood
//! (`w` odd, centred; the volume is zero padded, so a window at the border is truncated but
//! its count stays `n = w³`, exactly as a convolution with ones and "same" zero padding) of
//! `a`, `b`, `a²`, `b²`, `ab` give
//! `cross = Σab - ΣaΣb/n`, `var_a = Σa² - (Σa)²/n`, `var_b` likewise, and
//! `cc_j = cross² / (var_a⁺·var_b⁺ + 1e-5)`, where `v⁺ = max(v, 0)` only guards against
//! rounding (a variance is never negative). The loss is `-mean(cc)` over all voxels, channels
//! and samples.
//!
//! Box sums are separable running sums along W, H and D, in `f64`. The gradient of `cc_j`
//! with respect to `a_i` (for `i` in window `j`) is `α_j·(b_i - μb_j) - βa_j·(a_i - μa_j)`
//! with `α = 2·cross/den`, `βa = 2·cross²·var_b/den²`, `μ = Σ/n`; since `i ∈ window(j)` exactly
//! when `j ∈ window(i)`, summing over `j` is again a box sum, of the seven per-window
//! coefficient fields `α, αμb, αμa, βa, βa·μa, βb, βb·μb`.
//!
//! Memory: 5 (forward) plus 7 (backward) `f64` values per voxel of one sample's volume (reused
//! for every sample and channel, and kept between calls on a thread up to 256 MiB), plus a few
//! planes per worker. Work is split in lines, planes and rows of fixed extent and every line
//! is summed in one fixed order, so results are bitwise independent of the thread count.

use crate::ops::VolGeom;
use rayon::prelude::*;
use std::cell::RefCell;

/// The denominator's `ε` (VoxelMorph's value).
pub const LNCC_EPS: f64 = 1e-5;

/// Window sums per voxel: `Σa, Σb, Σa², Σb², Σab`.
const K5: usize = 5;
/// Backward coefficient fields per voxel: `α, αμb, αμa, βa, βa·μa, βb, βb·μb`.
const K7: usize = 7;

/// Scratch fields kept between calls on one thread up to this many values (256 MiB), so a
/// training step at the usual sizes does not fault in fresh pages every call.
const KEEP_MAX: usize = 1 << 25;

thread_local! {
    static FIELDS: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on `len` scratch values (contents unspecified): this thread's kept buffer, or a
/// fresh one when it is in use (a nested call) or would be too large to keep.
fn with_fields<R>(len: usize, f: impl FnOnce(&mut [f64]) -> R) -> R {
    FIELDS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut kept) if len <= KEEP_MAX => {
            if kept.len() < len {
                *kept = vec![0.0; len];
            }
            f(&mut kept[..len])
        }
        _ => f(&mut vec![0.0; len]),
    })
}

/// Running box sum along one axis: `dst[i] = Σ src(j)` over `|j - i| ≤ r`, `0 ≤ j < count`,
/// where every element is a vector of `stride` values (`src(j)` has length `stride`).
fn box_axis<'a>(
    src: impl Fn(usize) -> &'a [f64],
    dst: &mut [f64],
    count: usize,
    stride: usize,
    r: usize,
) {
    debug_assert_eq!(dst.len(), count * stride);
    if count == 0 {
        return;
    }
    let first = &mut dst[..stride];
    first.copy_from_slice(src(0));
    for j in 1..=r.min(count - 1) {
        for (d, s) in first.iter_mut().zip(src(j)) {
            *d += s;
        }
    }
    for i in 1..count {
        let (prev, cur) = dst.split_at_mut(i * stride);
        let prev = &prev[(i - 1) * stride..];
        let cur = &mut cur[..stride];
        let enter = (i + r < count).then(|| src(i + r));
        let leave = i.checked_sub(r + 1).map(&src);
        match (enter, leave) {
            (Some(e), Some(l)) => {
                for (((c, p), e), l) in cur.iter_mut().zip(prev).zip(e).zip(l) {
                    *c = p + e - l;
                }
            }
            (Some(e), None) => {
                for ((c, p), e) in cur.iter_mut().zip(prev).zip(e) {
                    *c = p + e;
                }
            }
            (None, Some(l)) => {
                for ((c, p), l) in cur.iter_mut().zip(prev).zip(l) {
                    *c = p - l;
                }
            }
            (None, None) => cur.copy_from_slice(prev),
        }
    }
}

/// [`box_axis`] along a row of `K`-vectors produced by `term(x)`, with the running sum kept
/// in registers.
#[inline]
fn box_row<const K: usize>(term: impl Fn(usize) -> [f64; K], out: &mut [f64], r: usize) {
    let w = out.len() / K;
    let mut acc = [0.0f64; K];
    for j in 0..=r.min(w.saturating_sub(1)) {
        for (s, t) in acc.iter_mut().zip(term(j)) {
            *s += t;
        }
    }
    for (x, o) in out.chunks_exact_mut(K).enumerate() {
        o.copy_from_slice(&acc);
        if x + r + 1 < w {
            for (s, t) in acc.iter_mut().zip(term(x + r + 1)) {
                *s += t;
            }
        }
        if x >= r {
            for (s, t) in acc.iter_mut().zip(term(x - r)) {
                *s -= t;
            }
        }
    }
}

/// Fills `p` (`[D][H][W][5]`) with the window sums of sample `s`, channel `c` over W and H
/// (the D direction is summed by the caller).
fn plane_sums(a: &[f32], b: &[f32], g: VolGeom, s: usize, c: usize, r: usize, p: &mut [f64]) {
    let [_, h, w] = g.dims;
    let base = s * g.voxels() * g.c;
    p.par_chunks_mut(w * K5).enumerate().for_each(|(row, out)| {
        let at = base + row * w * g.c + c;
        let term = |x: usize| {
            let i = at + x * g.c;
            let (av, bv) = (a[i] as f64, b[i] as f64);
            [av, bv, av * av, bv * bv, av * bv]
        };
        box_row::<K5>(term, out, r);
    });
    p.par_chunks_mut(h * w * K5)
        .for_each_init(Vec::new, |copy: &mut Vec<f64>, plane| {
            copy.clear();
            copy.extend_from_slice(plane);
            let copy = &*copy;
            box_axis(|y| &copy[y * w * K5..][..w * K5], plane, h, w * K5, r);
        });
}

/// The statistics of one window, from its sums `Σa, Σb, Σa², Σb², Σab`.
struct Window {
    cross: f64,
    /// Unclamped variances (a tiny negative value is rounding).
    var_a: f64,
    var_b: f64,
    /// `var_a⁺·var_b⁺ + ε`.
    den: f64,
    mu_a: f64,
    mu_b: f64,
}

impl Window {
    #[inline]
    fn new(s: &[f64], n: f64) -> Self {
        let (sa, sb, saa, sbb, sab) = (s[0], s[1], s[2], s[3], s[4]);
        let (mu_a, mu_b) = (sa / n, sb / n);
        let var_a = saa - sa * mu_a;
        let var_b = sbb - sb * mu_b;
        Window {
            cross: sab - sa * mu_b,
            var_a,
            var_b,
            den: var_a.max(0.0) * var_b.max(0.0) + LNCC_EPS,
            mu_a,
            mu_b,
        }
    }

    #[inline]
    fn cc(&self) -> f64 {
        self.cross * self.cross / self.den
    }
}

/// `-mean(cc)`.
pub fn forward(a: &[f32], b: &[f32], g: VolGeom, window: usize) -> f64 {
    let [d, h, w] = g.dims;
    let r = window / 2;
    let n = (window as f64).powi(3);
    with_fields(g.voxels() * K5, |p| {
        let mut total = 0.0f64;
        for s in 0..g.n {
            for c in 0..g.c {
                plane_sums(a, b, g, s, c, r, p);
                let p = &*p;
                let parts: Vec<f64> = (0..h)
                    .into_par_iter()
                    .map_init(Vec::new, |buf: &mut Vec<f64>, y| {
                        buf.resize(d * w * K5, 0.0);
                        box_axis(|z| &p[(z * h + y) * w * K5..][..w * K5], buf, d, w * K5, r);
                        buf.chunks_exact(K5)
                            .map(|q| Window::new(q, n).cc())
                            .sum::<f64>()
                    })
                    .collect();
                total += parts.iter().sum::<f64>();
            }
        }
        -total / g.len() as f64
    })
}

/// The seven coefficients of one window (already times the loss scale `k`).
#[inline]
fn coefficients(s: &[f64], n: f64, k: f64, out: &mut [f64]) {
    let Window {
        cross,
        var_a,
        var_b,
        den,
        mu_a,
        mu_b,
    } = Window::new(s, n);
    let alpha = 2.0 * cross / den * k;
    let t = 2.0 * cross * cross / (den * den) * k;
    // The derivative of `var⁺` is 0 where rounding made the variance negative.
    let beta_a = if var_a > 0.0 { t * var_b.max(0.0) } else { 0.0 };
    let beta_b = if var_b > 0.0 { t * var_a.max(0.0) } else { 0.0 };
    out.copy_from_slice(&[
        alpha,
        alpha * mu_b,
        alpha * mu_a,
        beta_a,
        beta_a * mu_a,
        beta_b,
        beta_b * mu_b,
    ]);
}

/// Gradients `(da, db)` of [`forward`] times `dl`.
pub fn backward(a: &[f32], b: &[f32], g: VolGeom, window: usize, dl: f64) -> (Vec<f32>, Vec<f32>) {
    let [d, h, w] = g.dims;
    let r = window / 2;
    let n = (window as f64).powi(3);
    let k = -dl / g.len() as f64;
    let per = g.voxels() * g.c;
    let mut da = vec![0.0f32; g.len()];
    let mut db = vec![0.0f32; g.len()];
    with_fields(g.voxels() * (K5 + K7), |fields| {
        // `p`: window sums over W and H, `[D][H][W][5]`; `q`: the coefficients box-summed over W
        // and D, `[H][D][W][7]` so that each H row is one contiguous block.
        let (p, q) = fields.split_at_mut(g.voxels() * K5);
        for s in 0..g.n {
            for c in 0..g.c {
                plane_sums(a, b, g, s, c, r, p);
                let p = &*p;
                q.par_chunks_mut(d * w * K7).enumerate().for_each_init(
                    || (Vec::new(), Vec::new(), Vec::new()),
                    |(sums, coef, wsum), (y, qy)| {
                        sums.resize(d * w * K5, 0.0);
                        box_axis(|z| &p[(z * h + y) * w * K5..][..w * K5], sums, d, w * K5, r);
                        coef.resize(d * w * K7, 0.0);
                        for (sv, cv) in sums.chunks_exact(K5).zip(coef.chunks_exact_mut(K7)) {
                            coefficients(sv, n, k, cv);
                        }
                        wsum.resize(d * w * K7, 0.0);
                        for (cr, wr) in coef.chunks_exact(w * K7).zip(wsum.chunks_exact_mut(w * K7))
                        {
                            let term = |x: usize| {
                                let mut t = [0.0; K7];
                                t.copy_from_slice(&cr[x * K7..][..K7]);
                                t
                            };
                            box_row::<K7>(term, wr, r);
                        }
                        let wsum = &*wsum;
                        box_axis(|z| &wsum[z * w * K7..][..w * K7], qy, d, w * K7, r);
                    },
                );
                let q = &*q;
                let (a, b) = (&a[s * per..][..per], &b[s * per..][..per]);
                da[s * per..][..per]
                    .par_chunks_mut(h * w * g.c)
                    .zip(db[s * per..][..per].par_chunks_mut(h * w * g.c))
                    .enumerate()
                    .for_each_init(Vec::new, |sums: &mut Vec<f64>, (z, (da, db))| {
                        sums.resize(h * w * K7, 0.0);
                        box_axis(|y| &q[(y * d + z) * w * K7..][..w * K7], sums, h, w * K7, r);
                        let (a, b) = (&a[z * h * w * g.c..], &b[z * h * w * g.c..]);
                        for (v, t) in sums.chunks_exact(K7).enumerate() {
                            let i = v * g.c + c;
                            let (av, bv) = (a[i] as f64, b[i] as f64);
                            da[i] = (bv * t[0] - t[1] - av * t[3] + t[4]) as f32;
                            db[i] = (av * t[0] - t[2] - bv * t[5] + t[6]) as f32;
                        }
                    });
            }
        }
    });
    (da, db)
}
