//! The AVX2 path ([`Path::Simd`]): work items are whole lines of voxels along W. The rows of a
//! line whose taps all lie inside along W are read in place from the volume, as segments of
//! contiguous taps; the few rows at the W borders are gathered into a small thread-local tile.

use super::cpu::{
    Scratch, dgrad_classes, forward_base, forward_taps, sum_partials, wgrad_groups, with_scratch,
};
use super::gather::gather_row;
use super::kernel::{PackedB, Path, Seg, round8, wgrad, wgrad_ldb, wgrad_transposed};
use crate::ops::Conv3dGeom;
use rayon::prelude::*;

/// Target number of voxels per work item (whole lines).
const ITEM_ROWS: usize = 256;
/// Gathered border rows held before they are multiplied.
const BORDER_ROWS: usize = 64;

/// Lines per work item for lines of `w` voxels.
fn lines_per_item(w: usize) -> usize {
    (ITEM_ROWS / w).max(1)
}

/// `(sample, d, h)` of line `l` of a `[n, d, h, ·]` grid.
fn line_pos(l: usize, dims: [usize; 3]) -> (usize, usize, usize) {
    (l / (dims[0] * dims[1]), l / dims[1] % dims[0], l % dims[1])
}

/// Multiplies the `nb` gathered rows in `sc.a` by `w` and adds row `i` of the result to row
/// `sc.idx[i]` of `dst` (rows of `n` values).
fn flush_rows(
    sc: &mut Scratch,
    nb: usize,
    lda: usize,
    k: usize,
    w: &PackedB,
    n: usize,
    dst: &mut [f32],
) {
    if nb == 0 {
        return;
    }
    let out = &mut sc.b[..nb * n];
    out.fill(0.0);
    w.gemm(
        &[Seg {
            a_off: 0,
            k0: 0,
            len: k,
        }],
        &sc.a[..nb * lda],
        lda,
        nb,
        out,
        n,
    );
    for (o, &v) in out.chunks_exact(n).zip(&sc.idx) {
        for (d, o) in dst[v as usize * n..][..n].iter_mut().zip(o) {
            *d += o;
        }
    }
    sc.idx.clear();
}

/// Forward convolution.
pub fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &Conv3dGeom) -> Vec<f32> {
    let taps = forward_taps(g);
    let (k, cin, cout, s) = (taps.row_len(), g.cin, g.cout, g.stride);
    let lda = round8(k);
    let wm = PackedB::new(Path::Simd, k, cout, |p, j| w[p * cout + j]);
    let wo = g.out_dims[2];
    let lpi = lines_per_item(wo);
    let in_len = g.in_voxels() * cin;
    let mut y = vec![0.0f32; g.n * g.out_voxels() * cout];
    y.par_chunks_mut(lpi * wo * cout)
        .enumerate()
        .for_each(|(t, yc)| {
            if let Some(bias) = bias {
                for row in yc.chunks_exact_mut(cout) {
                    row.copy_from_slice(bias);
                }
            }
            with_scratch(|sc| {
                sc.reserve(BORDER_ROWS * lda, BORDER_ROWS * cout);
                sc.idx.clear();
                let mut nb = 0;
                for li in 0..yc.len() / (wo * cout) {
                    let (b, od, oh) = line_pos(t * lpi + li, g.out_dims);
                    let xs = &x[b * in_len..][..in_len];
                    let [bd, bh, bw] = forward_base(g, [od, oh, 0]);
                    let (lo, hi) = taps.interior(wo, bw, s, g.in_dims[2]);
                    if lo < hi {
                        sc.segs.clear();
                        taps.segments(g.in_dims, [bd, bh, bw + (lo * s) as i64], &mut sc.segs);
                        let yl = &mut yc[(li * wo + lo) * cout..];
                        wm.gemm(&sc.segs, xs, s * cin, hi - lo, yl, cout);
                    }
                    for j in (0..lo).chain(hi..wo) {
                        let base = [bd, bh, bw + (j * s) as i64];
                        gather_row(&mut sc.a[nb * lda..][..lda], xs, g.in_dims, &taps, base);
                        sc.idx.push((li * wo + j) as u32);
                        nb += 1;
                        if nb == BORDER_ROWS {
                            flush_rows(sc, nb, lda, k, &wm, cout, yc);
                            nb = 0;
                        }
                    }
                }
                flush_rows(sc, nb, lda, k, &wm, cout, yc);
            });
        });
    y
}

/// Data gradient: for each input line, the voxels of each stride class.
pub fn backward_data(dy: &[f32], w: &[f32], g: &Conv3dGeom) -> Vec<f32> {
    let (s, cin, cout) = (g.stride, g.cin, g.cout);
    let classes = dgrad_classes(Path::Simd, w, g);
    let lda = round8(
        classes
            .iter()
            .flatten()
            .map(|c| c.taps.row_len())
            .max()
            .unwrap_or(1),
    );
    let wi = g.in_dims[2];
    let lpi = lines_per_item(wi);
    let out_len = g.out_voxels() * cout;
    let mut dx = vec![0.0f32; g.n * g.in_voxels() * cin];
    dx.par_chunks_mut(lpi * wi * cin)
        .enumerate()
        .for_each(|(t, dc)| {
            with_scratch(|sc| {
                sc.reserve(BORDER_ROWS * lda, BORDER_ROWS * cin);
                sc.idx.clear();
                let mut nb = 0;
                // The class of the gathered rows waiting in the tile.
                let mut pending = 0;
                for li in 0..dc.len() / (wi * cin) {
                    let (b, id, ih) = line_pos(t * lpi + li, g.in_dims);
                    let dys = &dy[b * out_len..][..out_len];
                    for rw in 0..s.min(wi) {
                        let ci = ((id % s) * s + ih % s) * s + rw;
                        let Some(class) = &classes[ci] else {
                            continue;
                        };
                        let rows = (wi - rw).div_ceil(s);
                        let (bd, bh) = ((id / s) as i64, (ih / s) as i64);
                        let (lo, hi) = class.taps.interior(rows, 0, 1, g.out_dims[2]);
                        if lo < hi {
                            sc.segs.clear();
                            class
                                .taps
                                .segments(g.out_dims, [bd, bh, lo as i64], &mut sc.segs);
                            let dl = &mut dc[(li * wi + rw + s * lo) * cin..];
                            class.w.gemm(&sc.segs, dys, cout, hi - lo, dl, s * cin);
                        }
                        for j in (0..lo).chain(hi..rows) {
                            if nb > 0 && (pending != ci || nb == BORDER_ROWS) {
                                if let Some(p) = &classes[pending] {
                                    flush_rows(sc, nb, lda, p.taps.row_len(), &p.w, cin, dc);
                                }
                                nb = 0;
                            }
                            pending = ci;
                            let row = &mut sc.a[nb * lda..][..lda];
                            gather_row(row, dys, g.out_dims, &class.taps, [bd, bh, j as i64]);
                            sc.idx.push((li * wi + rw + s * j) as u32);
                            nb += 1;
                        }
                    }
                }
                if let Some(p) = &classes[pending] {
                    flush_rows(sc, nb, lda, p.taps.row_len(), &p.w, cin, dc);
                }
            });
        });
    dx
}

/// Weight gradient: lines of output voxels in a fixed number of groups.
pub fn backward_filter(x: &[f32], dy: &[f32], g: &Conv3dGeom) -> Vec<f32> {
    let taps = forward_taps(g);
    let (k, cin, cout, s) = (taps.row_len(), g.cin, g.cout, g.stride);
    let lda = round8(k);
    let ldb = wgrad_ldb(Path::Simd, cout);
    let full = [Seg {
        a_off: 0,
        k0: 0,
        len: k,
    }];
    let wo = g.out_dims[2];
    let lines = g.n * g.out_dims[0] * g.out_dims[1];
    let per = lines.div_ceil(wgrad_groups(lines, k, cout));
    let in_len = g.in_voxels() * cin;
    let partials: Vec<Vec<f32>> = (0..lines.div_ceil(per))
        .into_par_iter()
        .map(|gi| {
            let mut part = vec![0.0f32; k * cout];
            with_scratch(|sc| {
                sc.reserve(BORDER_ROWS * lda, (wo + BORDER_ROWS) * ldb);
                let Scratch { a, b, segs, .. } = sc;
                let (dy_line, dy_tile) = b.split_at_mut(wo * ldb);
                let mut nb = 0;
                for l in gi * per..((gi + 1) * per).min(lines) {
                    let (bi, od, oh) = line_pos(l, g.out_dims);
                    let xs = &x[bi * in_len..][..in_len];
                    let dyl = &dy[l * wo * cout..][..wo * cout];
                    let dyp: &[f32] = if ldb == cout {
                        dyl
                    } else {
                        for (d, s) in dy_line.chunks_exact_mut(ldb).zip(dyl.chunks_exact(cout)) {
                            d[..cout].copy_from_slice(s);
                            d[cout..].fill(0.0);
                        }
                        &dy_line[..wo * ldb]
                    };
                    let [bd, bh, bw] = forward_base(g, [od, oh, 0]);
                    let (lo, hi) = taps.interior(wo, bw, s, g.in_dims[2]);
                    if lo < hi {
                        segs.clear();
                        taps.segments(g.in_dims, [bd, bh, bw + (lo * s) as i64], segs);
                        let dyr = &dyp[lo * ldb..];
                        wgrad(
                            Path::Simd,
                            segs,
                            xs,
                            s * cin,
                            hi - lo,
                            dyr,
                            ldb,
                            cout,
                            k,
                            &mut part,
                        );
                    }
                    for j in (0..lo).chain(hi..wo) {
                        let base = [bd, bh, bw + (j * s) as i64];
                        gather_row(&mut a[nb * lda..][..lda], xs, g.in_dims, &taps, base);
                        dy_tile[nb * ldb..][..ldb].copy_from_slice(&dyp[j * ldb..][..ldb]);
                        nb += 1;
                        if nb == BORDER_ROWS {
                            let (at, bt) = (&a[..nb * lda], &dy_tile[..nb * ldb]);
                            wgrad(Path::Simd, &full, at, lda, nb, bt, ldb, cout, k, &mut part);
                            nb = 0;
                        }
                    }
                }
                let (at, bt) = (&a[..nb * lda], &dy_tile[..nb * ldb]);
                wgrad(Path::Simd, &full, at, lda, nb, bt, ldb, cout, k, &mut part);
            });
            part
        })
        .collect();
    sum_partials(partials, k, cout, wgrad_transposed(Path::Simd, cout))
}
