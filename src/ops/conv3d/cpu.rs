//! CPU 3D convolution ("same" padding, stride, dilation) and its two gradients, as implicit GEMM
//! over fixed tiles of voxels: each rayon work item gathers the im2col rows of its tile into
//! thread-local scratch (never a whole im2col copy) and multiplies them by the weight matrix.
//!
//! - forward: `Y[M, Cout] = col(X)[M, k³·Cin] · W[k³·Cin, Cout] + bias`, tiles of output voxels;
//! - data gradient: tiles of input voxels; each voxel `i` gathers `dy` at
//!   `o = (i + pad - t·dil) / stride` for the taps `t` where that division is exact, which
//!   depends only on `i mod stride`, so the voxels are grouped by that residue ("class") and
//!   each class multiplies by its own `[taps·Cout, Cin]` slice of the weight (no work is spent
//!   on the zeros a strided convolution's transpose would otherwise gather);
//! - weight gradient: `dW = Σ_tiles col(X)ᵀ · dY`, the tiles split into a number of groups fixed
//!   by the problem size, each group summed in tile order, the group sums added in order.
//!
//! Tile sizes depend only on the geometry, so results are bitwise identical for any number of
//! threads.

use super::gather::{Cursor, Taps, gather_row};
use super::kernel::{
    A_SLACK, MR, PackedB, Path, round8, wgrad_scratch, wgrad_tile, wgrad_transposed,
};
use crate::backend::Conv3dGeom;
use rayon::prelude::*;
use std::cell::RefCell;

/// Target size (floats) of one gathered tile, so it stays in the L2 cache while every column
/// panel of the weight passes over it.
const TILE_FLOATS: usize = 48 * 1024;
/// Rows per tile, at least and at most.
const MIN_ROWS: usize = 24;
const MAX_ROWS: usize = 512;
/// The weight gradient uses at most this many partial sums...
const MAX_GROUPS: usize = 16;
/// ...holding at most about this many floats in all.
const MAX_PARTIAL_FLOATS: usize = 1 << 23;

/// Per-thread scratch, reused across tiles and calls.
#[derive(Default)]
struct Scratch {
    a: Vec<f32>,
    b: Vec<f32>,
    idx: Vec<u32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` on this thread's scratch with `a` and `b` at least `na` and `nb` floats long.
fn with_scratch<R>(na: usize, nb: usize, f: impl FnOnce(&mut [f32], &mut [f32], &mut Vec<u32>) -> R) -> R {
    SCRATCH.with_borrow_mut(|s| {
        if s.a.len() < na {
            s.a.resize(na, 0.0);
        }
        if s.b.len() < nb {
            s.b.resize(nb, 0.0);
        }
        f(&mut s.a[..na], &mut s.b[..nb], &mut s.idx)
    })
}

/// Rows per tile for gathered rows of stride `lda`.
fn tile_rows(lda: usize) -> usize {
    (TILE_FLOATS / lda / MR * MR).clamp(MIN_ROWS, MAX_ROWS)
}

/// The forward taps: offsets `t·dilation` along each axis, `Cin` channels, read at base
/// `o·stride - pad_before` for output voxel `o`.
fn forward_taps(g: &Conv3dGeom) -> Taps {
    let offs = || (0..g.k).map(|t| (t * g.dilation) as i64).collect();
    Taps::new([offs(), offs(), offs()], g.cin)
}

fn forward_base(g: &Conv3dGeom, p: [usize; 3]) -> [i64; 3] {
    std::array::from_fn(|a| (p[a] * g.stride) as i64 - g.pad_before[a] as i64)
}

/// Gathers `m` forward im2col rows, starting at output voxel `first`, into `a`.
fn gather_forward(x: &[f32], g: &Conv3dGeom, taps: &Taps, first: usize, m: usize, a: &mut [f32], lda: usize) {
    let in_len = g.in_voxels() * g.cin;
    let mut cur = Cursor::at(first, g.out_dims);
    for row in a.chunks_exact_mut(lda).take(m) {
        let src = &x[cur.b * in_len..][..in_len];
        gather_row(row, src, g.in_dims, taps, forward_base(g, cur.p));
        cur.advance();
    }
}

/// Forward convolution `[n, in_dims, cin]` → `[n, out_dims, cout]` (with bias when given).
pub fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &Conv3dGeom) -> Vec<f32> {
    forward_with(Path::detect(), x, w, bias, g)
}

/// [`forward`] on a chosen kernel path.
pub fn forward_with(path: Path, x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &Conv3dGeom) -> Vec<f32> {
    let taps = forward_taps(g);
    let (k, cout) = (taps.row_len(), g.cout);
    let lda = round8(k);
    let wm = PackedB::new(path, k, cout, |p, j| w[p * cout + j]);
    let rows = tile_rows(lda);
    let mut y = vec![0.0f32; g.n * g.out_voxels() * cout];
    y.par_chunks_mut(rows * cout)
        .enumerate()
        .for_each(|(t, yt)| {
            let m = yt.len() / cout;
            if let Some(bias) = bias {
                for row in yt.chunks_exact_mut(cout) {
                    row.copy_from_slice(bias);
                }
            }
            with_scratch(m * lda + A_SLACK, 0, |a, _, _| {
                gather_forward(x, g, &taps, t * rows, m, a, lda);
                wm.gemm_tile(a, lda, m, yt, cout);
            });
        });
    y
}

/// The input voxels `i ≡ r (mod stride)` of the data gradient: they read `dy` at
/// `i / stride + q` for each tap offset `q`, and multiply by the matching weight rows.
struct Class {
    r: [usize; 3],
    taps: Taps,
    w: PackedB,
}

/// The data-gradient classes, in order of `r` (D outermost); classes no tap reaches are left
/// out (their gradient is zero).
fn dgrad_classes(path: Path, w: &[f32], g: &Conv3dGeom) -> Vec<Class> {
    let (k, s, cin, cout) = (g.k, g.stride as i64, g.cin, g.cout);
    // Taps `(offset q, kernel index)` of residue `r` along axis `a`, by ascending `q`, so an
    // in-range run of them is contiguous in `dy` when the dilation is 1.
    let axis = |a: usize, r: usize| -> Vec<(i64, usize)> {
        let mut t: Vec<(i64, usize)> = (0..k)
            .filter_map(|t| {
                let num = r as i64 + g.pad_before[a] as i64 - (t * g.dilation) as i64;
                (num.rem_euclid(s) == 0).then_some((num.div_euclid(s), t))
            })
            .collect();
        t.sort_unstable();
        t
    };
    let mut classes = Vec::new();
    for rd in 0..g.stride {
        for rh in 0..g.stride {
            for rw in 0..g.stride {
                let r = [rd, rh, rw];
                let t: [Vec<(i64, usize)>; 3] = std::array::from_fn(|a| axis(a, r[a]));
                if t.iter().any(Vec::is_empty) {
                    continue;
                }
                let taps = Taps::new(
                    std::array::from_fn(|a| t[a].iter().map(|&(q, _)| q).collect()),
                    cout,
                );
                let (nh, nw) = (t[1].len(), t[2].len());
                let wm = PackedB::new(path, taps.row_len(), cin, |p, j| {
                    let (tap, co) = (p / cout, p % cout);
                    let (kd, kh, kw) = (t[0][tap / (nh * nw)].1, t[1][tap / nw % nh].1, t[2][tap % nw].1);
                    w[(((kd * k + kh) * k + kw) * cin + j) * cout + co]
                });
                classes.push(Class { r, taps, w: wm });
            }
        }
    }
    classes
}

/// Gradient of the forward convolution with respect to its input ("dgrad").
pub fn backward_data(dy: &[f32], w: &[f32], g: &Conv3dGeom) -> Vec<f32> {
    backward_data_with(Path::detect(), dy, w, g)
}

/// [`backward_data`] on a chosen kernel path.
pub fn backward_data_with(path: Path, dy: &[f32], w: &[f32], g: &Conv3dGeom) -> Vec<f32> {
    let (s, cin) = (g.stride, g.cin);
    let classes = dgrad_classes(path, w, g);
    let lda = round8(classes.iter().map(|c| c.taps.row_len()).max().unwrap_or(1));
    let rows = tile_rows(lda);
    let s3 = s * s * s;
    // Input voxels per work item: about `rows` of each class.
    let block = rows * s3;
    let out_len = g.out_voxels() * g.cout;
    let mut dx = vec![0.0f32; g.n * g.in_voxels() * cin];
    dx.par_chunks_mut(block * cin)
        .enumerate()
        .for_each(|(t, dxb)| {
            let nv = dxb.len() / cin;
            let first = t * block;
            let cbuf_len = if s == 1 { 0 } else { rows * cin };
            with_scratch(rows * lda + A_SLACK, cbuf_len, |a, cbuf, idx| {
                if s == 1 {
                    // One class, whose voxels are the block's, in order.
                    let mut cur = Cursor::at(first, g.in_dims);
                    for row in a.chunks_exact_mut(lda).take(nv) {
                        let src = &dy[cur.b * out_len..][..out_len];
                        let base = cur.p.map(|p| p as i64);
                        gather_row(row, src, g.out_dims, &classes[0].taps, base);
                        cur.advance();
                    }
                    classes[0].w.gemm_tile(a, lda, nv, dxb, cin);
                    return;
                }
                // Local voxel indices sorted by class (a counting sort).
                let class_of = |p: [usize; 3]| (p[0] % s * s + p[1] % s) * s + p[2] % s;
                let mut start = vec![0usize; s3 + 1];
                let mut cur = Cursor::at(first, g.in_dims);
                for _ in 0..nv {
                    start[class_of(cur.p) + 1] += 1;
                    cur.advance();
                }
                for c in 0..s3 {
                    start[c + 1] += start[c];
                }
                idx.resize(nv, 0);
                let mut fill = start.clone();
                let mut cur = Cursor::at(first, g.in_dims);
                for v in 0..nv {
                    let c = class_of(cur.p);
                    idx[fill[c]] = v as u32;
                    fill[c] += 1;
                    cur.advance();
                }
                for class in &classes {
                    let c = class_of(class.r);
                    for chunk in idx[start[c]..start[c + 1]].chunks(rows) {
                        for (row, &v) in a.chunks_exact_mut(lda).zip(chunk) {
                            let cur = Cursor::at(first + v as usize, g.in_dims);
                            let base = cur.p.map(|p| (p / s) as i64);
                            let src = &dy[cur.b * out_len..][..out_len];
                            gather_row(row, src, g.out_dims, &class.taps, base);
                        }
                        let m = chunk.len();
                        let out = &mut cbuf[..m * cin];
                        out.fill(0.0);
                        class.w.gemm_tile(a, lda, m, out, cin);
                        for (o, &v) in out.chunks_exact(cin).zip(chunk) {
                            dxb[v as usize * cin..][..cin].copy_from_slice(o);
                        }
                    }
                }
            });
        });
    dx
}

/// Gradient of the forward convolution with respect to its weight ("wgrad"), `[k³·Cin, Cout]`.
pub fn backward_filter(x: &[f32], dy: &[f32], g: &Conv3dGeom) -> Vec<f32> {
    backward_filter_with(Path::detect(), x, dy, g)
}

/// [`backward_filter`] on a chosen kernel path.
pub fn backward_filter_with(path: Path, x: &[f32], dy: &[f32], g: &Conv3dGeom) -> Vec<f32> {
    let taps = forward_taps(g);
    let (k, cout) = (taps.row_len(), g.cout);
    let lda = round8(k);
    let rows = tile_rows(lda);
    let m_total = g.n * g.out_voxels();
    let ntiles = m_total.div_ceil(rows);
    let groups = MAX_GROUPS
        .min(ntiles)
        .min(MAX_PARTIAL_FLOATS / (k * cout))
        .max(1);
    let per = ntiles.div_ceil(groups);
    let partials: Vec<Vec<f32>> = (0..ntiles.div_ceil(per))
        .into_par_iter()
        .map(|gi| {
            let mut part = vec![0.0f32; k * cout];
            for t in gi * per..((gi + 1) * per).min(ntiles) {
                let m = rows.min(m_total - t * rows);
                with_scratch(m * lda + A_SLACK, wgrad_scratch(m, cout), |a, sb, _| {
                    gather_forward(x, g, &taps, t * rows, m, a, lda);
                    let dyt = &dy[t * rows * cout..][..m * cout];
                    wgrad_tile(path, a, lda, k, m, dyt, cout, sb, &mut part);
                });
            }
            part
        })
        .collect();
    let mut sum = partials[0].clone();
    for p in &partials[1..] {
        for (s, v) in sum.iter_mut().zip(p) {
            *s += v;
        }
    }
    if wgrad_transposed(path, cout) {
        // `sum` is `[cout, k]`.
        let mut dw = vec![0.0f32; k * cout];
        for (j, row) in sum.chunks_exact(k).enumerate() {
            for (p, &v) in row.iter().enumerate() {
                dw[p * cout + j] = v;
            }
        }
        return dw;
    }
    sum
}
