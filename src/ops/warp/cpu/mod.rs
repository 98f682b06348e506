//! CPU math of the warp family: the cumulative sum that integrates a gradient field into
//! coordinates, the affine map about the volume centre, and trilinear sampling (in
//! `sample`, re-exported here).
//!
//! Every parallel loop splits its work at boundaries fixed by the shapes alone, and every
//! reduction adds its partial sums in a fixed order, so results are bitwise identical for any
//! number of threads.
//!
//! At the end, [`WarpKernel`] for `CpuBackend` unwraps buffers and calls the math above.

mod sample;

pub use sample::{grid_sample, grid_sample_bwd, grid_sample_bwd_coords, grid_sample_bwd_image};

use super::WarpKernel;
use crate::backend::Buffer;
use crate::backend::cpu::{CpuBackend, out};
use crate::error::Result;
use crate::ops::{SampleGeom, VolGeom};
use rayon::prelude::*;

/// Contiguous values per parallel work item of the elementwise-shaped loops.
const CHUNK: usize = 1 << 14;
/// Points per partial sum of the `dtheta` reduction.
const POINTS_PER_PARTIAL: usize = 4096;

/// The cumulative sum along `axis` as `[outer, len, inner]`: `outer` independent slabs, each
/// `len` rows of `inner` contiguous values (the lines run down the rows, one per column).
fn lines(g: VolGeom, axis: usize) -> (usize, usize, usize) {
    let outer = g.n * g.dims[..axis].iter().product::<usize>();
    let inner = g.dims[axis + 1..].iter().product::<usize>() * g.c;
    (outer, g.dims[axis], inner)
}

/// Scans one slab `[len, inner]` (`inner < COLS`) down its rows: `y[l] = y[l∓1] + x[l]`.
fn scan_slab(x: &[f32], y: &mut [f32], inner: usize, reverse: bool) {
    let n = x.len();
    if inner < 16 {
        // Short rows: one pass over the values, each adding the value one row back.
        if reverse {
            y[n - inner..].copy_from_slice(&x[n - inner..]);
            for k in (0..n - inner).rev() {
                y[k] = y[k + inner] + x[k];
            }
        } else {
            y[..inner].copy_from_slice(&x[..inner]);
            for k in inner..n {
                y[k] = y[k - inner] + x[k];
            }
        }
        return;
    }
    let len = n / inner;
    let mut acc = [0.0f32; COLS];
    for step in 0..len {
        let l = if reverse { len - 1 - step } else { step };
        let row = l * inner..(l + 1) * inner;
        carry(&mut acc[..inner], &x[row.clone()], &mut y[row], step == 0);
    }
}

/// One row of a cumulative sum: `acc = x` on the first row, else `acc += x`; then `y = acc`.
#[inline(always)]
fn carry(acc: &mut [f32], x: &[f32], y: &mut [f32], first: bool) {
    if first {
        acc.copy_from_slice(x);
    } else {
        for (a, &x) in acc.iter_mut().zip(x) {
            *a += x;
        }
    }
    y.copy_from_slice(acc);
}

/// Column block of the cumulative sum along long rows.
const COLS: usize = 1024;

/// Inclusive cumulative sum along spatial `axis` (0 = D, 1 = H, 2 = W) of every channel of
/// `x [n, dims, c]`; with `reverse`, summed from the far end (the gradient of the forward sum).
///
/// Every output value is the same chain of additions along its line whatever the split, so the
/// result does not depend on the parallel schedule at all. Slabs with rows shorter than
/// `COLS` are grouped into work items of about `CHUNK` values; longer rows (axis D) are
/// split into blocks of `COLS` columns, each block of each slab one work item that carries a
/// running sum down the rows.
pub fn cumsum(x: &[f32], g: VolGeom, axis: usize, reverse: bool) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    let (_, len, inner) = lines(g, axis);
    if x.is_empty() {
        return y;
    }
    let slab = len * inner;
    if inner < COLS {
        let per_item = slab * CHUNK.div_ceil(slab);
        y.par_chunks_mut(per_item)
            .zip(x.par_chunks(per_item))
            .for_each(|(y, x)| {
                for (y, x) in y.chunks_mut(slab).zip(x.chunks(slab)) {
                    scan_slab(x, y, inner, reverse);
                }
            });
        return y;
    }
    // Work item (slab o, block b): the block's piece of each row of the slab, top to bottom.
    let blocks = inner.div_ceil(COLS);
    let mut items: Vec<(usize, Vec<&mut [f32]>)> = (0..y.len() / slab * blocks)
        .map(|it| (it, Vec::with_capacity(len)))
        .collect();
    for (r, row) in y.chunks_mut(inner).enumerate() {
        for (b, piece) in row.chunks_mut(COLS).enumerate() {
            items[r / len * blocks + b].1.push(piece);
        }
    }
    items.into_par_iter().for_each(|(it, mut pieces)| {
        let (o, col) = (it / blocks, it % blocks * COLS);
        let mut acc = [0.0f32; COLS];
        for step in 0..len {
            let l = if reverse { len - 1 - step } else { step };
            let y = &mut *pieces[l];
            let x = &x[(o * len + l) * inner + col..][..y.len()];
            carry(&mut acc[..y.len()], x, y, step == 0);
        }
    });
    y
}

/// `p' = A·[p − centre, 1] + centre` for every point `p` of `grid [n, dims, 3]`, where `A` is
/// the row-major 3×4 matrix `theta[i, 0..12]` of sample `i`. Channels are (x, y, z).
pub fn affine_grid(grid: &[f32], theta: &[f32], centre: [f32; 3], g: VolGeom) -> Vec<f32> {
    let mut y = vec![0.0; grid.len()];
    let per_sample = g.voxels() * 3;
    if per_sample == 0 {
        return y;
    }
    let chunk = 3 * (CHUNK / 3);
    y.par_chunks_mut(per_sample)
        .zip(grid.par_chunks(per_sample))
        .zip(theta.par_chunks(12))
        .for_each(|((y, grid), a)| {
            y.par_chunks_mut(chunk)
                .zip(grid.par_chunks(chunk))
                .for_each(|(y, grid)| {
                    for (out, p) in y.chunks_exact_mut(3).zip(grid.chunks_exact(3)) {
                        let q = [p[0] - centre[0], p[1] - centre[1], p[2] - centre[2]];
                        for r in 0..3 {
                            let a = &a[4 * r..4 * r + 4];
                            out[r] = a[0] * q[0] + a[1] * q[1] + a[2] * q[2] + a[3] + centre[r];
                        }
                    }
                });
        });
    y
}

/// Gradients `(dgrid, dtheta)` of [`affine_grid`] given the output gradient `dy`.
///
/// `dgrid = Aᵀ·dy` (the 3×3 part) pointwise; `dtheta[i, 4r + k] = Σ_p dy_r · q_k` with
/// `q = (p − centre, 1)`, summed in `f64` over fixed blocks of `POINTS_PER_PARTIAL` points
/// whose partial sums are then added in block order.
pub fn affine_grid_bwd(
    grid: &[f32],
    theta: &[f32],
    dy: &[f32],
    centre: [f32; 3],
    g: VolGeom,
) -> (Vec<f32>, Vec<f32>) {
    let mut dgrid = vec![0.0; grid.len()];
    let mut dtheta = vec![0.0; g.n * 12];
    let per_sample = g.voxels() * 3;
    if per_sample == 0 {
        return (dgrid, dtheta);
    }
    let chunk = 3 * POINTS_PER_PARTIAL;
    let blocks = per_sample.div_ceil(chunk);
    // One partial sum per (sample, block), computed in parallel, each block writing its dgrid.
    let partials: Vec<[f64; 12]> = dgrid
        .par_chunks_mut(per_sample)
        .zip(grid.par_chunks(per_sample).zip(dy.par_chunks(per_sample)))
        .zip(theta.par_chunks(12))
        .flat_map_iter(|((dgrid, (grid, dy)), a)| {
            let mut parts = Vec::with_capacity(blocks);
            dgrid
                .par_chunks_mut(chunk)
                .zip(grid.par_chunks(chunk).zip(dy.par_chunks(chunk)))
                .map(|(dg, (p, d))| affine_block_bwd(dg, p, d, a, centre))
                .collect_into_vec(&mut parts);
            parts
        })
        .collect();
    for (dt, parts) in dtheta.chunks_mut(12).zip(partials.chunks(blocks)) {
        let mut acc = [0.0f64; 12];
        for part in parts {
            for (a, p) in acc.iter_mut().zip(part) {
                *a += p;
            }
        }
        for (d, a) in dt.iter_mut().zip(acc) {
            *d = a as f32;
        }
    }
    (dgrid, dtheta)
}

/// One block of [`affine_grid_bwd`]: writes `dgrid` and returns the block's `dtheta` sum.
fn affine_block_bwd(
    dgrid: &mut [f32],
    grid: &[f32],
    dy: &[f32],
    a: &[f32],
    centre: [f32; 3],
) -> [f64; 12] {
    let mut acc = [0.0f64; 12];
    for ((dg, p), d) in dgrid
        .chunks_exact_mut(3)
        .zip(grid.chunks_exact(3))
        .zip(dy.chunks_exact(3))
    {
        let q = [
            (p[0] - centre[0]) as f64,
            (p[1] - centre[1]) as f64,
            (p[2] - centre[2]) as f64,
            1.0,
        ];
        for k in 0..3 {
            dg[k] = a[k] * d[0] + a[4 + k] * d[1] + a[8 + k] * d[2];
        }
        for r in 0..3 {
            let dr = d[r] as f64;
            for k in 0..4 {
                acc[4 * r + k] += dr * q[k];
            }
        }
    }
    acc
}

impl WarpKernel for CpuBackend {
    fn cumsum(&self, x: &Buffer, g: VolGeom, axis: usize, reverse: bool) -> Result<Buffer> {
        out(cumsum(x.host()?, g, axis, reverse))
    }
    fn affine_grid(
        &self,
        grid: &Buffer,
        theta: &Buffer,
        centre: [f32; 3],
        g: VolGeom,
    ) -> Result<Buffer> {
        out(affine_grid(grid.host()?, theta.host()?, centre, g))
    }
    fn affine_grid_bwd(
        &self,
        grid: &Buffer,
        theta: &Buffer,
        dy: &Buffer,
        centre: [f32; 3],
        g: VolGeom,
    ) -> Result<(Buffer, Buffer)> {
        let (dg, dt) = affine_grid_bwd(grid.host()?, theta.host()?, dy.host()?, centre, g);
        Ok((Buffer::from_host_vec(dg), Buffer::from_host_vec(dt)))
    }
    fn grid_sample(&self, img: &Buffer, coords: &Buffer, g: SampleGeom) -> Result<Buffer> {
        out(grid_sample(img.host()?, coords.host()?, g))
    }
    fn grid_sample_bwd(
        &self,
        img: &Buffer,
        coords: &Buffer,
        dy: &Buffer,
        g: SampleGeom,
    ) -> Result<(Buffer, Buffer)> {
        let (di, dc) = grid_sample_bwd(img.host()?, coords.host()?, dy.host()?, g);
        Ok((Buffer::from_host_vec(di), Buffer::from_host_vec(dc)))
    }
    fn grid_sample_bwd_coords(
        &self,
        img: &Buffer,
        coords: &Buffer,
        dy: &Buffer,
        g: SampleGeom,
    ) -> Result<Buffer> {
        out(grid_sample_bwd_coords(
            img.host()?,
            coords.host()?,
            dy.host()?,
            g,
        ))
    }
    fn grid_sample_bwd_image(
        &self,
        _img: &Buffer,
        coords: &Buffer,
        dy: &Buffer,
        g: SampleGeom,
    ) -> Result<Buffer> {
        out(grid_sample_bwd_image(coords.host()?, dy.host()?, g))
    }
}
