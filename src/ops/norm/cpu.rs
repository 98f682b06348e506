//! CPU math of normalization (BatchNorm / InstanceNorm) on a `[n, s, c]` view of the data:
//! per-group statistics, the normalizing affine map, and its gradients.
//!
//! A "segment" is a run of rows (voxels) that shares one statistic per channel: the whole batch
//! (`n·s` rows, BatchNorm) or one sample (`s` rows, InstanceNorm). Reductions split each segment
//! into blocks of a fixed number of rows, accumulate each block in `f64` and add the block sums
//! in order, so every result is bitwise identical for any number of threads.
//!
//! At the end, [`NormKernel`] for `CpuBackend` unwraps buffers and calls the math above.

use super::NormKernel;
use crate::backend::Buffer;
use crate::backend::cpu::{CpuBackend, opt_host, out};
use crate::error::Result;
use crate::ops::NormGeom;
use crate::ops::elementwise::cpu::CHUNK;
use rayon::prelude::*;

/// Rows of `c` values per work item (about [`CHUNK`] values), fixed for a given `c`.
pub(crate) fn block_rows(c: usize) -> usize {
    (CHUNK / c.max(1)).max(1)
}

/// Two per-channel sums over each of `segs` segments of `seg_rows` rows of `c` channels.
///
/// `f(seg, rows, a, b)` adds the contributions of the global rows `rows` (all inside segment
/// `seg`) to the per-channel accumulators `a` and `b` (`c` values each, zeroed). Returns
/// `(a, b)`, each `[segs, c]`, as the ordered sum of the block results.
pub(crate) fn segment_sums<F>(segs: usize, seg_rows: usize, c: usize, f: F) -> (Vec<f64>, Vec<f64>)
where
    F: Fn(usize, std::ops::Range<usize>, &mut [f64], &mut [f64]) + Sync,
{
    let br = block_rows(c);
    let blocks = seg_rows.div_ceil(br);
    let mut partial = vec![0.0f64; segs * blocks * 2 * c];
    if c > 0 {
        partial
            .par_chunks_mut(2 * c)
            .enumerate()
            .for_each(|(k, p)| {
                let (seg, b) = (k / blocks, k % blocks);
                let first = seg * seg_rows;
                let rows = first + b * br..first + ((b + 1) * br).min(seg_rows);
                let (pa, pb) = p.split_at_mut(c);
                f(seg, rows, pa, pb);
            });
    }
    let mut a = vec![0.0f64; segs * c];
    let mut b = vec![0.0f64; segs * c];
    for (k, p) in partial.chunks_exact(2 * c.max(1)).enumerate() {
        let seg = k / blocks;
        let (pa, pb) = p.split_at(c);
        for (t, v) in a[seg * c..(seg + 1) * c].iter_mut().zip(pa) {
            *t += v;
        }
        for (t, v) in b[seg * c..(seg + 1) * c].iter_mut().zip(pb) {
            *t += v;
        }
    }
    (a, b)
}

/// `(segments, rows per segment)` of a normalization.
fn segments(g: NormGeom) -> (usize, usize) {
    if g.per_sample {
        (g.n, g.s)
    } else {
        (1, g.n * g.s)
    }
}

/// Mean and biased variance of each group (`[c]`, or `[n, c]` per sample).
///
/// One pass over the data: sums of `x - k` and `(x - k)²` in `f64`, with the shift `k` the
/// first value of the group, which keeps the variance accurate when the mean is large.
pub fn stats(x: &[f32], g: NormGeom) -> (Vec<f32>, Vec<f32>) {
    let c = g.c;
    let (segs, seg_rows) = segments(g);
    let shift = |seg: usize| &x[seg * seg_rows * c..(seg * seg_rows + 1) * c];
    let (s1, s2) = segment_sums(segs, seg_rows, c, |seg, rows, a, b| {
        let k = shift(seg);
        for row in x[rows.start * c..rows.end * c].chunks_exact(c) {
            for (((a, b), &v), &k) in a.iter_mut().zip(b.iter_mut()).zip(row).zip(k) {
                let d = v as f64 - k as f64;
                *a += d;
                *b += d * d;
            }
        }
    });
    let m = seg_rows as f64;
    let mut mean = vec![0.0f32; segs * c];
    let mut var = vec![0.0f32; segs * c];
    for seg in 0..segs {
        for (ch, &k) in shift(seg).iter().enumerate() {
            let i = seg * c + ch;
            let dm = s1[i] / m;
            mean[i] = (k as f64 + dm) as f32;
            var[i] = (s2[i] / m - dm * dm).max(0.0) as f32;
        }
    }
    (mean, var)
}

/// `1 / √(var + eps)` per group, in `f64`.
fn inv_std(var: &[f32], eps: f32) -> Vec<f64> {
    var.iter()
        .map(|&v| 1.0 / (v as f64 + eps as f64).sqrt())
        .collect()
}

/// Calls `f(first_group, y_rows, x_rows, dy_rows)` for fixed blocks of whole rows, in
/// parallel; `first_group` is the index of the row's statistics for channel 0.
fn for_rows<F>(out: &mut [f32], x: &[f32], dy: Option<&[f32]>, g: NormGeom, f: F)
where
    F: Fn(usize, &mut [f32], &[f32], Option<&[f32]>) + Sync,
{
    let c = g.c;
    if c == 0 {
        return;
    }
    let br = block_rows(c);
    out.par_chunks_mut(br * c)
        .enumerate()
        .for_each(|(blk, out)| {
            let r0 = blk * br;
            for (r, o) in out.chunks_exact_mut(c).enumerate() {
                let row = r0 + r;
                let grp = if g.per_sample { (row / g.s) * c } else { 0 };
                let xr = &x[row * c..(row + 1) * c];
                f(grp, o, xr, dy.map(|d| &d[row * c..(row + 1) * c]));
            }
        });
}

/// `(x - mean)/√(var + eps)·γ + β` with per-group `mean`, `var` and per-channel `γ`, `β`.
pub fn apply(
    x: &[f32],
    mean: &[f32],
    var: &[f32],
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    eps: f32,
    g: NormGeom,
) -> Vec<f32> {
    let c = g.c.max(1);
    let scale: Vec<f32> = inv_std(var, eps)
        .iter()
        .enumerate()
        .map(|(i, &s)| (s * gamma.map_or(1.0, |gm| gm[i % c] as f64)) as f32)
        .collect();
    let zeros = vec![0.0f32; g.c];
    let beta = beta.unwrap_or(&zeros);
    let mut y = vec![0.0f32; x.len()];
    for_rows(&mut y, x, None, g, |grp, y, x, _| {
        let (m, s) = (&mean[grp..grp + c], &scale[grp..grp + c]);
        for ((((y, &x), &m), &s), &b) in y.iter_mut().zip(x).zip(m).zip(s).zip(beta) {
            *y = (x - m) * s + b;
        }
    });
    y
}

/// Gradients `(dx, dγ, dβ)` of [`apply`] given the output gradient `dy`.
///
/// With `batch_stats`, `mean` and `var` are the statistics of `x` itself and the gradient flows
/// through them: `dx = γ/σ·(dy - mean(dy) - x̂·mean(dy·x̂))` per group, `x̂ = (x - μ)/σ`;
/// otherwise they are constants and `dx = γ/σ·dy`. `dγ = Σ dy·x̂`, `dβ = Σ dy` per channel.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: &[f32],
    mean: &[f32],
    var: &[f32],
    gamma: Option<&[f32]>,
    dy: &[f32],
    eps: f32,
    batch_stats: bool,
    g: NormGeom,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let c = g.c;
    let inv = inv_std(var, eps);
    // Sums of dy and dy·x̂ over each group: the segments are the groups of the statistics.
    let (segs, seg_rows) = segments(g);
    let (s1, s2) = segment_sums(segs, seg_rows, c, |seg, rows, a, b| {
        let (m, iv) = (&mean[seg * c..(seg + 1) * c], &inv[seg * c..(seg + 1) * c]);
        let xs = x[rows.start * c..rows.end * c].chunks_exact(c);
        for (xr, dr) in xs.zip(dy[rows.start * c..rows.end * c].chunks_exact(c)) {
            let it = xr.iter().zip(dr).zip(m).zip(iv);
            for ((a, b), (((&xv, &d), &mu), &iv)) in a.iter_mut().zip(b.iter_mut()).zip(it) {
                let d = d as f64;
                *a += d;
                *b += d * (xv as f64 - mu as f64) * iv;
            }
        }
    });
    let mut dgamma = vec![0.0f64; c];
    let mut dbeta = vec![0.0f64; c];
    for seg in 0..segs {
        for ch in 0..c {
            dbeta[ch] += s1[seg * c + ch];
            dgamma[ch] += s2[seg * c + ch];
        }
    }
    // dx = p·(dy - q - (x - μ)·r) per group.
    let m = seg_rows as f64;
    let groups = inv.len();
    let (mut p, mut q, mut r) = (vec![0f32; groups], vec![0f32; groups], vec![0f32; groups]);
    for i in 0..groups {
        p[i] = (inv[i] * gamma.map_or(1.0, |gm| gm[i % c] as f64)) as f32;
        if batch_stats {
            q[i] = (s1[i] / m) as f32;
            r[i] = (s2[i] / m * inv[i]) as f32;
        }
    }
    let mut dx = vec![0.0f32; x.len()];
    for_rows(&mut dx, x, Some(dy), g, |grp, dx, x, dy| {
        let dy = dy.unwrap_or(&[]);
        let k = grp..grp + c;
        let coef = p[k.clone()].iter().zip(&q[k.clone()]).zip(&r[k.clone()]);
        let it = x.iter().zip(dy).zip(&mean[k]).zip(coef);
        for (dx, (((&x, &d), &mu), ((&p, &q), &r))) in dx.iter_mut().zip(it) {
            *dx = p * (d - q - (x - mu) * r);
        }
    });
    let to32 = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect();
    (dx, to32(dgamma), to32(dbeta))
}

impl NormKernel for CpuBackend {
    fn norm_stats(&self, x: &Buffer, g: NormGeom) -> Result<(Buffer, Buffer)> {
        let (m, v) = stats(x.host()?, g);
        Ok((Buffer::from_host_vec(m), Buffer::from_host_vec(v)))
    }
    fn norm_apply(
        &self,
        x: &Buffer,
        mean: &Buffer,
        var: &Buffer,
        gamma: Option<&Buffer>,
        beta: Option<&Buffer>,
        eps: f32,
        g: NormGeom,
    ) -> Result<Buffer> {
        let gamma = opt_host(gamma)?;
        let beta = opt_host(beta)?;
        out(apply(
            x.host()?,
            mean.host()?,
            var.host()?,
            gamma,
            beta,
            eps,
            g,
        ))
    }
    fn norm_bwd(
        &self,
        x: &Buffer,
        mean: &Buffer,
        var: &Buffer,
        gamma: Option<&Buffer>,
        dy: &Buffer,
        eps: f32,
        batch_stats: bool,
        g: NormGeom,
    ) -> Result<(Buffer, Buffer, Buffer)> {
        let (dx, dg, db) = backward(
            x.host()?,
            mean.host()?,
            var.host()?,
            opt_host(gamma)?,
            dy.host()?,
            eps,
            batch_stats,
            g,
        );
        Ok((
            Buffer::from_host_vec(dx),
            Buffer::from_host_vec(dg),
            Buffer::from_host_vec(db),
        ))
    }
}
