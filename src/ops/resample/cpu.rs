//! CPU math of the resampling family on channels-last volumes: nearest ×2 upsampling, 2³ max
//! pooling, global average pooling, and channel concatenation/splitting, with their gradients.
//!
//! Work is split into fixed blocks of whole rows (or planes); gradients are gathered, never
//! scattered from several threads, and sums are taken in a fixed order, so every result is
//! bitwise identical for any number of threads.
//!
//! At the end, [`ResampleKernel`] for `CpuBackend` unwraps buffers and calls the math above.

use super::ResampleKernel;
use crate::backend::Buffer;
use crate::backend::cpu::{CpuBackend, out};
use crate::error::Result;
use crate::ops::elementwise::cpu::CHUNK;
use crate::ops::norm::cpu::segment_sums;
use crate::ops::{PoolGeom, UpsampleGeom, VolGeom};
use rayon::prelude::*;

/// Rows of `row_len` values per work item (about [`CHUNK`] values).
fn rows_per_item(row_len: usize) -> usize {
    (CHUNK / row_len.max(1)).max(1)
}

/// Calls `f(row, out_row)` for every row of `row_len` values of `out`, in parallel over fixed
/// blocks of rows; `row` is the row's global index.
fn for_each_row(out: &mut [f32], row_len: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if row_len == 0 {
        return;
    }
    let rpi = rows_per_item(row_len);
    out.par_chunks_mut(rpi * row_len)
        .enumerate()
        .for_each(|(item, block)| {
            for (r, row) in block.chunks_exact_mut(row_len).enumerate() {
                f(item * rpi + r, row);
            }
        });
}

/// Nearest ×2 upsampling: output voxel `(z, y, x)` copies input voxel `(z/2, y/2, x/2)`.
pub fn upsample(x: &[f32], g: UpsampleGeom) -> Vec<f32> {
    let ([_, ih, iw], [od, oh, ow], c) = (g.in_dims, g.out_dims, g.c);
    let mut y = vec![0.0f32; g.n * od * oh * ow * c];
    for_each_row(&mut y, ow * c, |row, out| {
        // row indexes (sample, z, y) of the output.
        let (s, z, yy) = (row / (od * oh), (row / oh) % od, row % oh);
        let src = &x[((s * g.in_dims[0] + z / 2) * ih + yy / 2) * iw * c..][..iw * c];
        for (ox, o) in out.chunks_exact_mut(c).enumerate() {
            o.copy_from_slice(&src[(ox / 2) * c..(ox / 2 + 1) * c]);
        }
    });
    y
}

/// Gradient of [`upsample`]: each input voxel sums, in the order (z, y, x), the up to eight
/// output voxels that read it (fewer on the last plane/row/column of an odd target size).
pub fn upsample_bwd(dy: &[f32], g: UpsampleGeom) -> Vec<f32> {
    let ([id, ih, iw], [od, oh, ow], c) = (g.in_dims, g.out_dims, g.c);
    let mut dx = vec![0.0f32; g.n * id * ih * iw * c];
    for_each_row(&mut dx, iw * c, |row, out| {
        let (s, z, yy) = (row / (id * ih), (row / ih) % id, row % ih);
        for oz in (2 * z..2 * z + 2).filter(|&o| o < od) {
            for oy in (2 * yy..2 * yy + 2).filter(|&o| o < oh) {
                let src = &dy[((s * od + oz) * oh + oy) * ow * c..][..ow * c];
                for (ix, acc) in out.chunks_exact_mut(c).enumerate() {
                    for ox in (2 * ix..2 * ix + 2).filter(|&o| o < ow) {
                        for (a, &v) in acc.iter_mut().zip(&src[ox * c..(ox + 1) * c]) {
                            *a += v;
                        }
                    }
                }
            }
        }
    });
    dx
}

/// Offsets of the eight voxels of a 2³ window from its first, in scan order (d, h, w).
fn window_offsets(g: &PoolGeom) -> [usize; 8] {
    let [_, ih, iw] = g.in_dims;
    let (sz, sy, sx) = (ih * iw * g.c, iw * g.c, g.c);
    std::array::from_fn(|k| (k >> 2) * sz + ((k >> 1) & 1) * sy + (k & 1) * sx)
}

/// Index of the first maximum of the window starting at `base` (a NaN counts as the maximum,
/// as in PyTorch, so it propagates).
#[inline]
fn first_max(x: &[f32], base: usize, offs: &[usize; 8]) -> usize {
    let (mut best, mut bv) = (base, x[base]);
    for &o in &offs[1..] {
        let v = x[base + o];
        if v > bv || (v.is_nan() && !bv.is_nan()) {
            best = base + o;
            bv = v;
        }
    }
    best
}

/// Index in `x` of the first voxel of the window of output voxel `(s, oz, oy, ox)`, channel `ch`.
#[inline]
fn window_base(g: &PoolGeom, s: usize, [oz, oy, ox]: [usize; 3], ch: usize) -> usize {
    let [id, ih, iw] = g.in_dims;
    (((s * id + 2 * oz) * ih + 2 * oy) * iw + 2 * ox) * g.c + ch
}

/// 2³ max pooling with stride 2; a trailing odd plane, row or column is dropped.
pub fn max_pool(x: &[f32], g: PoolGeom) -> Vec<f32> {
    let [od, oh, ow] = g.out_dims();
    let c = g.c;
    let offs = window_offsets(&g);
    let mut y = vec![0.0f32; g.n * od * oh * ow * c];
    for_each_row(&mut y, ow * c, |row, out| {
        let (s, oz, oy) = (row / (od * oh), (row / oh) % od, row % oh);
        for (ox, o) in out.chunks_exact_mut(c).enumerate() {
            for (ch, o) in o.iter_mut().enumerate() {
                *o = x[first_max(x, window_base(&g, s, [oz, oy, ox], ch), &offs)];
            }
        }
    });
    y
}

/// Gradient of [`max_pool`]: `dy` of each window goes to its first maximum (recomputed from
/// `x`); every other input voxel, and any dropped trailing plane/row/column, gets zero.
pub fn max_pool_bwd(x: &[f32], dy: &[f32], g: PoolGeom) -> Vec<f32> {
    let [id, ih, iw] = g.in_dims;
    let [od, oh, ow] = g.out_dims();
    let c = g.c;
    let offs = window_offsets(&g);
    let plane = ih * iw * c;
    let mut dx = vec![0.0f32; x.len()];
    // The windows of output plane `oz` lie in input planes 2·oz and 2·oz + 1: one work item
    // per such pair of planes, which no other item touches.
    let slabs: Vec<&mut [f32]> = dx
        .chunks_mut(id * plane)
        .flat_map(|sample| sample[..2 * od * plane].chunks_mut(2 * plane))
        .collect();
    slabs.into_par_iter().enumerate().for_each(|(k, slab)| {
        let (s, oz) = (k / od, k % od);
        let slab_start = window_base(&g, s, [oz, 0, 0], 0);
        for oy in 0..oh {
            for ox in 0..ow {
                let d = &dy[(((s * od + oz) * oh + oy) * ow + ox) * c..][..c];
                for (ch, &d) in d.iter().enumerate() {
                    let am = first_max(x, window_base(&g, s, [oz, oy, ox], ch), &offs);
                    slab[am - slab_start] = d;
                }
            }
        }
    });
    dx
}

/// Mean over the voxels of each sample and channel: `[n, s, c]` → `[n, c]` (fixed `f64` blocks).
pub fn global_avg_pool(x: &[f32], g: VolGeom) -> Vec<f32> {
    let (s, c) = (g.voxels(), g.c);
    let (sums, _) = segment_sums(g.n, s, c, |_, rows, a, _| {
        for row in x[rows.start * c..rows.end * c].chunks_exact(c) {
            for (a, &v) in a.iter_mut().zip(row) {
                *a += v as f64;
            }
        }
    });
    sums.iter().map(|&v| (v / s as f64) as f32).collect()
}

/// Gradient of [`global_avg_pool`]: `dy[i, ch] / s` at every voxel of sample `i`.
pub fn global_avg_pool_bwd(dy: &[f32], g: VolGeom) -> Vec<f32> {
    let (s, c) = (g.voxels(), g.c);
    let scaled: Vec<f32> = dy.iter().map(|&d| (d as f64 / s as f64) as f32).collect();
    let mut dx = vec![0.0f32; g.len()];
    for_each_row(&mut dx, c, |row, out| {
        out.copy_from_slice(&scaled[(row / s) * c..(row / s + 1) * c]);
    });
    dx
}

/// Concatenates `[rows, cs[i]]` parts along the innermost dimension into `[rows, Σcs]`.
pub fn concat_channels(parts: &[&[f32]], cs: &[usize], rows: usize) -> Vec<f32> {
    let total: usize = cs.iter().sum();
    let mut y = vec![0.0f32; rows * total];
    for_each_row(&mut y, total, |row, out| {
        let mut off = 0;
        for (p, &w) in parts.iter().zip(cs) {
            out[off..off + w].copy_from_slice(&p[row * w..(row + 1) * w]);
            off += w;
        }
    });
    y
}

/// Splits `[rows, Σcs]` along the innermost dimension into parts `[rows, cs[i]]`.
pub fn split_channels(x: &[f32], cs: &[usize], rows: usize) -> Vec<Vec<f32>> {
    let total: usize = cs.iter().sum();
    let mut off = 0;
    cs.iter()
        .map(|&w| {
            let mut part = vec![0.0f32; rows * w];
            for_each_row(&mut part, w, |row, out| {
                out.copy_from_slice(&x[row * total + off..row * total + off + w]);
            });
            off += w;
            part
        })
        .collect()
}

impl ResampleKernel for CpuBackend {
    fn upsample_nearest(&self, x: &Buffer, g: UpsampleGeom) -> Result<Buffer> {
        out(upsample(x.host()?, g))
    }
    fn upsample_nearest_bwd(&self, dy: &Buffer, g: UpsampleGeom) -> Result<Buffer> {
        out(upsample_bwd(dy.host()?, g))
    }
    fn max_pool(&self, x: &Buffer, g: PoolGeom) -> Result<Buffer> {
        out(max_pool(x.host()?, g))
    }
    fn max_pool_bwd(&self, x: &Buffer, dy: &Buffer, g: PoolGeom) -> Result<Buffer> {
        out(max_pool_bwd(x.host()?, dy.host()?, g))
    }
    fn global_avg_pool(&self, x: &Buffer, g: VolGeom) -> Result<Buffer> {
        out(global_avg_pool(x.host()?, g))
    }
    fn global_avg_pool_bwd(&self, dy: &Buffer, g: VolGeom) -> Result<Buffer> {
        out(global_avg_pool_bwd(dy.host()?, g))
    }
    fn concat_channels(&self, parts: &[&Buffer], cs: &[usize], rows: usize) -> Result<Buffer> {
        let parts = parts.iter().map(|p| p.host()).collect::<Result<Vec<_>>>()?;
        out(concat_channels(&parts, cs, rows))
    }
    fn split_channels(&self, x: &Buffer, cs: &[usize], rows: usize) -> Result<Vec<Buffer>> {
        Ok(split_channels(x.host()?, cs, rows)
            .into_iter()
            .map(Buffer::from_host_vec)
            .collect())
    }
}
