//! CPU math of reductions and losses. Every reduction adds fixed blocks in `f64` and the block
//! sums in order, so results do not depend on the thread count. The local NCC lives in
//! `lncc.rs`.
//!
//! At the end, [`LossKernel`] for `CpuBackend` unwraps buffers and calls the math above.

use super::LossKernel;
use super::lncc;
use crate::backend::Buffer;
use crate::backend::cpu::{CpuBackend, out};
use crate::error::Result;
use crate::ops::elementwise::cpu::CHUNK;
use crate::ops::{LossKind, VolGeom};
use rayon::prelude::*;

/// The `ε` under the square root of the global NCC: `r = cov / √(var_a·var_b + ε)`, with
/// `cov` and `var` the population moments (`1/m` normalized) of one sample. It keeps a constant
/// image finite (`r = 0`) and is negligible for images of unit-scale variance.
pub const NCC_EPS: f64 = 1e-10;

/// The `ε` of the soft Dice, `1 - (2Σab + ε) / (Σa + Σb + ε)`.
pub const DICE_EPS: f64 = 1e-5;

/// `Σ f(x)` over fixed blocks, in `f64`.
pub(crate) fn reduce(x: &[f32], f: impl Fn(f32) -> f64 + Sync) -> f64 {
    x.par_chunks(CHUNK)
        .map(|c| c.iter().map(|&v| f(v)).sum::<f64>())
        .collect::<Vec<f64>>()
        .into_iter()
        .sum()
}

/// `Σ f(a_i, b_i)` of `K` sums at once over fixed blocks, in `f64`.
fn reduce2<const K: usize>(
    a: &[f32],
    b: &[f32],
    f: impl Fn(f32, f32) -> [f64; K] + Sync,
) -> [f64; K] {
    a.par_chunks(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .map(|(a, b)| {
            let mut s = [0.0; K];
            for (&x, &y) in a.iter().zip(b) {
                for (s, v) in s.iter_mut().zip(f(x, y)) {
                    *s += v;
                }
            }
            s
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold([0.0; K], |mut acc, s| {
            for (acc, v) in acc.iter_mut().zip(s) {
                *acc += v;
            }
            acc
        })
}

/// `(da_i, db_i) = f(i, a_i, b_i)` for every `i`, in parallel over fixed blocks.
fn map2(
    a: &[f32],
    b: &[f32],
    f: impl Fn(usize, f32, f32) -> (f32, f32) + Sync,
) -> (Vec<f32>, Vec<f32>) {
    let mut da = vec![0.0f32; a.len()];
    let mut db = vec![0.0f32; a.len()];
    da.par_chunks_mut(CHUNK)
        .zip(db.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(k, (da, db))| {
            let o = k * CHUNK;
            for (j, (da, db)) in da.iter_mut().zip(db.iter_mut()).enumerate() {
                (*da, *db) = f(o + j, a[o + j], b[o + j]);
            }
        });
    (da, db)
}

pub fn sum(x: &[f32]) -> f32 {
    reduce(x, |v| v as f64) as f32
}

pub fn l1(x: &[f32]) -> f32 {
    reduce(x, |v| v.abs() as f64) as f32
}

pub fn l1_bwd(x: &[f32], dl: f32) -> Vec<f32> {
    x.iter()
        .map(|&v| {
            if v > 0.0 {
                dl
            } else if v < 0.0 {
                -dl
            } else {
                0.0
            }
        })
        .collect()
}

/// Population moments of one sample: means, covariance and variances.
struct Moments {
    mu_a: f64,
    mu_b: f64,
    cov: f64,
    var_a: f64,
    var_b: f64,
}

/// Two passes (means, then centred sums) for accuracy.
fn moments(a: &[f32], b: &[f32]) -> Moments {
    let m = a.len() as f64;
    let [sa, sb] = reduce2(a, b, |x, y| [x as f64, y as f64]);
    let (mu_a, mu_b) = (sa / m, sb / m);
    let [c, va, vb] = reduce2(a, b, |x, y| {
        let (x, y) = (x as f64 - mu_a, y as f64 - mu_b);
        [x * y, x * x, y * y]
    });
    Moments {
        mu_a,
        mu_b,
        cov: c / m,
        var_a: va / m,
        var_b: vb / m,
    }
}

/// `(Σa, Σb, Σab)` of one sample.
fn dice_sums(a: &[f32], b: &[f32]) -> [f64; 3] {
    reduce2(a, b, |x, y| {
        let (x, y) = (x as f64, y as f64);
        [x, y, x * y]
    })
}

/// The loss `kind` between prediction `a` and target `b`, both `[n, dims, c]` as `g` says
/// (see [`LossKind`] for the definitions).
pub fn loss(kind: LossKind, a: &[f32], b: &[f32], g: VolGeom) -> f32 {
    let len = g.len() as f64;
    let per = g.voxels() * g.c;
    let samples = || a.chunks(per).zip(b.chunks(per));
    let l = match kind {
        LossKind::Mse => {
            let [s] = reduce2(a, b, |x, y| [(x as f64 - y as f64).powi(2)]);
            s / len
        }
        LossKind::Mae => {
            let [s] = reduce2(a, b, |x, y| [(x as f64 - y as f64).abs()]);
            s / len
        }
        LossKind::Ncc => {
            let r: f64 = samples()
                .map(|(a, b)| {
                    let m = moments(a, b);
                    m.cov / (m.var_a * m.var_b + NCC_EPS).sqrt()
                })
                .sum();
            -r / g.n as f64
        }
        LossKind::Lncc { window } => lncc::forward(a, b, g, window),
        LossKind::Dice => {
            let d: f64 = samples()
                .map(|(a, b)| {
                    let [sa, sb, sab] = dice_sums(a, b);
                    1.0 - (2.0 * sab + DICE_EPS) / (sa + sb + DICE_EPS)
                })
                .sum();
            d / g.n as f64
        }
    };
    l as f32
}

/// Gradients `(da, db)` of [`loss`] times the incoming gradient `dl`.
pub fn loss_bwd(kind: LossKind, a: &[f32], b: &[f32], dl: f32, g: VolGeom) -> (Vec<f32>, Vec<f32>) {
    let dl = dl as f64;
    let len = g.len() as f64;
    let per = g.voxels() * g.c;
    let samples = || a.chunks(per).zip(b.chunks(per));
    match kind {
        LossKind::Mse => {
            let k = 2.0 * dl / len;
            map2(a, b, |_, x, y| {
                let d = (x as f64 - y as f64) * k;
                (d as f32, -d as f32)
            })
        }
        LossKind::Mae => {
            let k = (dl / len) as f32;
            map2(a, b, |_, x, y| {
                if x > y {
                    (k, -k)
                } else if x < y {
                    (-k, k)
                } else {
                    (0.0, 0.0)
                }
            })
        }
        LossKind::Ncc => {
            // r = C/S, S = √(Va·Vb + ε): ∂r/∂a_i = (b_i-μb)/(mS) - C·Vb·(a_i-μa)/(mS³).
            let scale = -dl / g.n as f64;
            let m = per as f64;
            let coef: Vec<[f64; 5]> = samples()
                .map(|(a, b)| {
                    let s = moments(a, b);
                    let sq = (s.var_a * s.var_b + NCC_EPS).sqrt();
                    let k1 = scale / (m * sq);
                    let k3 = scale * s.cov / (m * sq * sq * sq);
                    [s.mu_a, s.mu_b, k1, k3 * s.var_b, k3 * s.var_a]
                })
                .collect();
            map2(a, b, |i, x, y| {
                let [mu_a, mu_b, k1, ka, kb] = coef[i / per];
                let (x, y) = (x as f64 - mu_a, y as f64 - mu_b);
                ((k1 * y - ka * x) as f32, (k1 * x - kb * y) as f32)
            })
        }
        LossKind::Lncc { window } => lncc::backward(a, b, g, window, dl),
        LossKind::Dice => {
            // L = 1 - P/Q, P = 2Σab + ε, Q = Σa + Σb + ε: ∂L/∂a_i = -2b_i/Q + P/Q².
            let scale = dl / g.n as f64;
            let coef: Vec<[f64; 2]> = samples()
                .map(|(a, b)| {
                    let [sa, sb, sab] = dice_sums(a, b);
                    let q = sa + sb + DICE_EPS;
                    let p = 2.0 * sab + DICE_EPS;
                    [-2.0 * scale / q, scale * p / (q * q)]
                })
                .collect();
            map2(a, b, |i, x, y| {
                let [k, c] = coef[i / per];
                ((k * y as f64 + c) as f32, (k * x as f64 + c) as f32)
            })
        }
    }
}

impl LossKernel for CpuBackend {
    fn sum(&self, x: &Buffer) -> Result<Buffer> {
        out(vec![sum(x.host()?)])
    }
    fn l1(&self, x: &Buffer) -> Result<Buffer> {
        out(vec![l1(x.host()?)])
    }
    fn l1_bwd(&self, x: &Buffer, dl: &Buffer) -> Result<Buffer> {
        out(l1_bwd(x.host()?, dl.host()?[0]))
    }
    fn loss(&self, kind: LossKind, a: &Buffer, b: &Buffer, g: VolGeom) -> Result<Buffer> {
        out(vec![loss(kind, a.host()?, b.host()?, g)])
    }
    fn loss_bwd(
        &self,
        kind: LossKind,
        a: &Buffer,
        b: &Buffer,
        dl: &Buffer,
        g: VolGeom,
    ) -> Result<(Buffer, Buffer)> {
        let (da, db) = loss_bwd(kind, a.host()?, b.host()?, dl.host()?[0], g);
        Ok((Buffer::from_host_vec(da), Buffer::from_host_vec(db)))
    }
}
