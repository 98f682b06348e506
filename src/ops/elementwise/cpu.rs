//! CPU math of the elementwise family: activations, arithmetic, per-channel bias and scale.
//!
//! At the end, [`ElementwiseKernel`] for `CpuBackend` unwraps buffers and calls the math above.

use super::ElementwiseKernel;
use crate::backend::Buffer;
use crate::backend::cpu::{CpuBackend, out};
use crate::error::Result;
use crate::ops::{Binary, Unary, VolGeom};
use rayon::prelude::*;

/// Values per parallel work item: fixed, so results never depend on the thread count.
pub(crate) const CHUNK: usize = 1 << 14;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

pub fn unary(op: Unary, x: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = match op {
                    Unary::Relu => x.max(0.0),
                    Unary::LeakyRelu(a) => {
                        if x > 0.0 {
                            x
                        } else {
                            a * x
                        }
                    }
                    Unary::Sigmoid => sigmoid(x),
                    Unary::Affine(a, b) => a * x + b,
                };
            }
        });
    y
}

pub fn unary_bwd(op: Unary, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut dx = vec![0.0; x.len()];
    dx.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(dy.par_chunks(CHUNK)))
        .for_each(|(dx, (x, dy))| {
            for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                *dx = match op {
                    Unary::Relu => {
                        if x > 0.0 {
                            dy
                        } else {
                            0.0
                        }
                    }
                    Unary::LeakyRelu(a) => {
                        if x > 0.0 {
                            dy
                        } else {
                            a * dy
                        }
                    }
                    Unary::Sigmoid => {
                        let s = sigmoid(x);
                        dy * s * (1.0 - s)
                    }
                    Unary::Affine(a, _) => a * dy,
                };
            }
        });
    dx
}

pub fn binary(op: Binary, a: &[f32], b: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0; a.len()];
    y.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .for_each(|(y, (a, b))| {
            for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
                *y = match op {
                    Binary::Add => a + b,
                    Binary::Sub => a - b,
                    Binary::Mul => a * b,
                };
            }
        });
    y
}

pub fn bias_add(x: &[f32], bias: &[f32], c: usize) -> Vec<f32> {
    let mut y = x.to_vec();
    let rows_per_chunk = (CHUNK / c).max(1);
    y.par_chunks_mut(rows_per_chunk * c).for_each(|y| {
        for row in y.chunks_exact_mut(c) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
    });
    y
}

/// Sums rows of `[rows, c]` in fixed blocks of rows (f64 partials), added in block order.
pub fn channel_sum(x: &[f32], c: usize) -> Vec<f32> {
    let rows_per_chunk = (CHUNK / c).max(1);
    let partials: Vec<Vec<f64>> = x
        .par_chunks(rows_per_chunk * c)
        .map(|x| {
            let mut acc = vec![0.0f64; c];
            for row in x.chunks_exact(c) {
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a += v as f64;
                }
            }
            acc
        })
        .collect();
    let mut total = vec![0.0f64; c];
    for p in partials {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total.into_iter().map(|v| v as f32).collect()
}

pub fn channel_mul(x: &[f32], scale: &[f32], g: VolGeom) -> Vec<f32> {
    let per_sample = g.voxels() * g.c;
    let mut y = x.to_vec();
    y.par_chunks_mut(per_sample)
        .zip(scale.par_chunks(g.c))
        .for_each(|(y, s)| {
            for row in y.chunks_exact_mut(g.c) {
                for (v, s) in row.iter_mut().zip(s) {
                    *v *= s;
                }
            }
        });
    y
}

pub fn channel_mul_bwd(x: &[f32], scale: &[f32], dy: &[f32], g: VolGeom) -> (Vec<f32>, Vec<f32>) {
    let dx = channel_mul(dy, scale, g);
    let per_sample = g.voxels() * g.c;
    let xdy = binary(Binary::Mul, x, dy);
    let ds = xdy
        .chunks(per_sample)
        .flat_map(|s| channel_sum(s, g.c))
        .collect();
    (dx, ds)
}

impl ElementwiseKernel for CpuBackend {
    fn fill(&self, len: usize, value: f32) -> Result<Buffer> {
        out(vec![value; len])
    }
    fn broadcast_scalar(&self, scalar: &Buffer, len: usize) -> Result<Buffer> {
        let s = scalar.host()?;
        out(vec![s[0]; len])
    }
    fn unary(&self, op: Unary, x: &Buffer) -> Result<Buffer> {
        out(unary(op, x.host()?))
    }
    fn unary_bwd(&self, op: Unary, x: &Buffer, dy: &Buffer) -> Result<Buffer> {
        out(unary_bwd(op, x.host()?, dy.host()?))
    }
    fn binary(&self, op: Binary, a: &Buffer, b: &Buffer) -> Result<Buffer> {
        out(binary(op, a.host()?, b.host()?))
    }
    fn bias_add(&self, x: &Buffer, bias: &Buffer, c: usize) -> Result<Buffer> {
        out(bias_add(x.host()?, bias.host()?, c))
    }
    fn channel_sum(&self, x: &Buffer, c: usize) -> Result<Buffer> {
        out(channel_sum(x.host()?, c))
    }
    fn channel_mul(&self, x: &Buffer, scale: &Buffer, g: VolGeom) -> Result<Buffer> {
        out(channel_mul(x.host()?, scale.host()?, g))
    }
    fn channel_mul_bwd(
        &self,
        x: &Buffer,
        scale: &Buffer,
        dy: &Buffer,
        g: VolGeom,
    ) -> Result<(Buffer, Buffer)> {
        let (dx, ds) = channel_mul_bwd(x.host()?, scale.host()?, dy.host()?, g);
        Ok((Buffer::from_host_vec(dx), Buffer::from_host_vec(ds)))
    }
}
