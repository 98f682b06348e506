//! The portable path ([`Path::Sgemm`]): fixed tiles of voxels whose im2col rows are gathered
//! into thread-local scratch (never a whole im2col copy) and multiplied by
//! `matrixmultiply::sgemm`.

use super::cpu::{
    Class, dgrad_classes, forward_base, forward_taps, sum_partials, wgrad_groups, with_scratch,
};
use super::gather::{Cursor, Taps, gather_row};
use super::kernel::{PackedB, Path, Seg, round8, wgrad};
use crate::ops::Conv3dGeom;
use rayon::prelude::*;

/// Target size (floats) of one gathered tile, so it stays in the L2 cache.
const TILE_FLOATS: usize = 48 * 1024;

/// Rows per tile for gathered rows of stride `lda`.
fn tile_rows(lda: usize) -> usize {
    (TILE_FLOATS / lda).clamp(16, 512)
}

/// Gathers `m` forward im2col rows, starting at output voxel `first`, into `a`.
fn gather_forward(
    x: &[f32],
    g: &Conv3dGeom,
    taps: &Taps,
    first: usize,
    m: usize,
    a: &mut [f32],
    lda: usize,
) {
    let in_len = g.in_voxels() * g.cin;
    let mut cur = Cursor::at(first, g.out_dims);
    for row in a.chunks_exact_mut(lda).take(m) {
        let src = &x[cur.b * in_len..][..in_len];
        gather_row(row, src, g.in_dims, taps, forward_base(g, cur.p));
        cur.advance();
    }
}

/// Forward convolution.
pub fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &Conv3dGeom) -> Vec<f32> {
    let taps = forward_taps(g);
    let (k, cout) = (taps.row_len(), g.cout);
    let lda = round8(k);
    let seg = [Seg {
        a_off: 0,
        k0: 0,
        len: k,
    }];
    let wm = PackedB::new(Path::Sgemm, k, cout, |p, j| w[p * cout + j]);
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
            with_scratch(|s| {
                s.reserve(m * lda, 0);
                let a = &mut s.a[..m * lda];
                gather_forward(x, g, &taps, t * rows, m, a, lda);
                wm.gemm(&seg, a, lda, m, yt, cout);
            });
        });
    y
}

/// Data gradient: tiles of input voxels, sorted by stride class.
pub fn backward_data(dy: &[f32], w: &[f32], g: &Conv3dGeom) -> Vec<f32> {
    let (s, cin) = (g.stride, g.cin);
    let all = dgrad_classes(Path::Sgemm, w, g);
    let classes: Vec<&Class> = all.iter().flatten().collect();
    let lda = round8(classes.iter().map(|c| c.taps.row_len()).max().unwrap_or(1));
    let rows = tile_rows(lda);
    let s3 = s * s * s;
    // Input voxels per work item: about `rows` of each class.
    let block = rows * s3;
    let out_len = g.out_voxels() * g.cout;
    let class_of = |p: [usize; 3]| (p[0] % s * s + p[1] % s) * s + p[2] % s;
    let mut dx = vec![0.0f32; g.n * g.in_voxels() * cin];
    dx.par_chunks_mut(block * cin)
        .enumerate()
        .for_each(|(t, dxb)| {
            let nv = dxb.len() / cin;
            let first = t * block;
            with_scratch(|sc| {
                sc.reserve(rows * lda, rows * cin);
                // Local voxel indices sorted by class (a counting sort).
                let mut start = vec![0usize; s3 + 1];
                let mut cur = Cursor::at(first, g.in_dims);
                for _ in 0..nv {
                    start[class_of(cur.p) + 1] += 1;
                    cur.advance();
                }
                for c in 0..s3 {
                    start[c + 1] += start[c];
                }
                sc.idx.resize(nv, 0);
                let mut fill = start.clone();
                let mut cur = Cursor::at(first, g.in_dims);
                for v in 0..nv {
                    let c = class_of(cur.p);
                    sc.idx[fill[c]] = v as u32;
                    fill[c] += 1;
                    cur.advance();
                }
                for class in &classes {
                    let c = class_of(class.r);
                    let k = class.taps.row_len();
                    let seg = [Seg {
                        a_off: 0,
                        k0: 0,
                        len: k,
                    }];
                    for chunk in sc.idx[start[c]..start[c + 1]].chunks(rows) {
                        let m = chunk.len();
                        let a = &mut sc.a[..m * lda];
                        for (row, &v) in a.chunks_exact_mut(lda).zip(chunk) {
                            let cur = Cursor::at(first + v as usize, g.in_dims);
                            let base = cur.p.map(|p| (p / s) as i64);
                            let src = &dy[cur.b * out_len..][..out_len];
                            gather_row(row, src, g.out_dims, &class.taps, base);
                        }
                        let out = &mut sc.b[..m * cin];
                        out.fill(0.0);
                        class.w.gemm(&seg, a, lda, m, out, cin);
                        for (o, &v) in out.chunks_exact(cin).zip(chunk) {
                            dxb[v as usize * cin..][..cin].copy_from_slice(o);
                        }
                    }
                }
            });
        });
    dx
}

/// Weight gradient: tiles of output voxels in a fixed number of groups.
pub fn backward_filter(x: &[f32], dy: &[f32], g: &Conv3dGeom) -> Vec<f32> {
    let taps = forward_taps(g);
    let (k, cout) = (taps.row_len(), g.cout);
    let lda = round8(k);
    let seg = [Seg {
        a_off: 0,
        k0: 0,
        len: k,
    }];
    let rows = tile_rows(lda);
    let m_total = g.n * g.out_voxels();
    let ntiles = m_total.div_ceil(rows);
    let per = ntiles.div_ceil(wgrad_groups(ntiles, k, cout));
    let partials: Vec<Vec<f32>> = (0..ntiles.div_ceil(per))
        .into_par_iter()
        .map(|gi| {
            let mut part = vec![0.0f32; k * cout];
            for t in gi * per..((gi + 1) * per).min(ntiles) {
                let m = rows.min(m_total - t * rows);
                with_scratch(|s| {
                    s.reserve(m * lda, 0);
                    let a = &mut s.a[..m * lda];
                    gather_forward(x, g, &taps, t * rows, m, a, lda);
                    let dyt = &dy[t * rows * cout..][..m * cout];
                    wgrad(Path::Sgemm, &seg, a, lda, m, dyt, cout, cout, k, &mut part);
                });
            }
            part
        })
        .collect();
    sum_partials(partials, k, cout, false)
}
