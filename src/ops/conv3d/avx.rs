//! AVX2 + FMA microkernels of the convolution's matrix products (see `kernel`). Callers must
//! have checked that the CPU supports both features.

use super::kernel::Seg;
use std::arch::x86_64::*;

/// [`bcast`] with `R = rows` for `rows` in 1..=6.
#[allow(clippy::too_many_arguments)]
#[inline]
pub unsafe fn bcast_rows<const V: usize>(
    rows: usize,
    segs: &[Seg],
    a: *const f32,
    rs: usize,
    cs: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    cols: usize,
) {
    unsafe {
        match rows {
            1 => bcast::<1, V>(segs, a, rs, cs, 1, b, ldb, c, ldc, cols),
            2 => bcast::<2, V>(segs, a, rs, cs, 2, b, ldb, c, ldc, cols),
            3 => bcast::<3, V>(segs, a, rs, cs, 3, b, ldb, c, ldc, cols),
            4 => bcast::<4, V>(segs, a, rs, cs, 4, b, ldb, c, ldc, cols),
            5 => bcast::<5, V>(segs, a, rs, cs, 5, b, ldb, c, ldc, cols),
            _ => bcast::<6, V>(segs, a, rs, cs, rows, b, ldb, c, ldc, cols),
        }
    }
}

/// `C[r·ldc + j] += Σ_seg Σ_{q < len} A(r, q) · B[(seg.k0 + q)·ldb + j]` for
/// `r < rows ≤ R`, `j < cols ≤ 8·V`, with `A(r, q) = a[seg.a_off + r·rs + q·cs]`. Rows
/// past `rows` repeat the last one (their results are dropped). `B` rows are read as
/// whole `8·V`-wide vectors when `cols = 8·V`, else masked to `cols`.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
pub unsafe fn bcast<const R: usize, const V: usize>(
    segs: &[Seg],
    a: *const f32,
    rs: usize,
    cs: usize,
    rows: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    cols: usize,
) {
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); V]; R];
        let full = cols == 8 * V;
        let masks: [__m256i; V] = std::array::from_fn(|v| lanes_below(cols as i32 - 8 * v as i32));
        for s in segs {
            let mut ap = [a; R];
            for r in 0..R {
                ap[r] = a.add(s.a_off + r.min(rows - 1) * rs);
            }
            let mut bp = b.add(s.k0 * ldb);
            for _ in 0..s.len {
                let mut bv = [_mm256_setzero_ps(); V];
                for v in 0..V {
                    bv[v] = if full {
                        _mm256_loadu_ps(bp.add(8 * v))
                    } else {
                        _mm256_maskload_ps(bp.add(8 * v), masks[v])
                    };
                }
                for r in 0..R {
                    let av = _mm256_broadcast_ss(&*ap[r]);
                    for v in 0..V {
                        acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
                    }
                    ap[r] = ap[r].add(cs);
                }
                bp = bp.add(ldb);
            }
        }
        if rows == R && full {
            for r in 0..R {
                for v in 0..V {
                    let cp = c.add(r * ldc + 8 * v);
                    _mm256_storeu_ps(cp, _mm256_add_ps(_mm256_loadu_ps(cp), acc[r][v]));
                }
            }
        } else {
            let mut tmp = [[0.0f32; 8]; V];
            for r in 0..rows.min(R) {
                for v in 0..V {
                    _mm256_storeu_ps(tmp[v].as_mut_ptr(), acc[r][v]);
                }
                for j in 0..cols {
                    *c.add(r * ldc + j) += tmp[j / 8][j % 8];
                }
            }
        }
    }
}

/// A mask of the first `n` lanes (all when `n ≥ 8`, none when `n ≤ 0`).
#[target_feature(enable = "avx2,fma")]
fn lanes_below(n: i32) -> __m256i {
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(n),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

/// [`dot`] with `R = rows` for `rows` in 1..=4.
#[allow(clippy::too_many_arguments)]
#[inline]
pub unsafe fn dot_rows(
    rows: usize,
    segs: &[Seg],
    a: *const f32,
    rs: usize,
    w: *const f32,
    ldw: usize,
    nn: usize,
    c: *mut f32,
    ldc: usize,
) {
    unsafe {
        match rows {
            1 => dot::<1>(segs, a, rs, 1, w, ldw, nn, c, ldc),
            2 => dot::<2>(segs, a, rs, 2, w, ldw, nn, c, ldc),
            3 => dot::<3>(segs, a, rs, 3, w, ldw, nn, c, ldc),
            _ => dot::<4>(segs, a, rs, rows, w, ldw, nn, c, ldc),
        }
    }
}

/// `C[r·ldc + j] += Σ_seg Σ_{q < len} a[seg.a_off + r·rs + q] · w[j·ldw + seg.k0 + q]`
/// for `r < rows ≤ R`, `j < nn ≤ 3`; rows and weight rows past the valid ones repeat the
/// last. Each segment's last partial vector is read with a mask.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
pub unsafe fn dot<const R: usize>(
    segs: &[Seg],
    a: *const f32,
    rs: usize,
    rows: usize,
    w: *const f32,
    ldw: usize,
    nn: usize,
    c: *mut f32,
    ldc: usize,
) {
    const J: usize = 3;
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); J]; R];
        for s in segs {
            let mut ap = [a; R];
            for r in 0..R {
                ap[r] = a.add(s.a_off + r.min(rows - 1) * rs);
            }
            let mut wp = [w; J];
            for j in 0..J {
                wp[j] = w.add(j.min(nn - 1) * ldw + s.k0);
            }
            let full = s.len / 8;
            for q in 0..full {
                let wv: [__m256; J] = std::array::from_fn(|j| _mm256_loadu_ps(wp[j].add(8 * q)));
                for r in 0..R {
                    let av = _mm256_loadu_ps(ap[r].add(8 * q));
                    for j in 0..J {
                        acc[r][j] = _mm256_fmadd_ps(av, wv[j], acc[r][j]);
                    }
                }
            }
            let tail = s.len - 8 * full;
            if tail > 0 {
                let m = lanes_below(tail as i32);
                let wv: [__m256; J] =
                    std::array::from_fn(|j| _mm256_maskload_ps(wp[j].add(8 * full), m));
                for r in 0..R {
                    let av = _mm256_maskload_ps(ap[r].add(8 * full), m);
                    for j in 0..J {
                        acc[r][j] = _mm256_fmadd_ps(av, wv[j], acc[r][j]);
                    }
                }
            }
        }
        for r in 0..rows.min(R) {
            for j in 0..nn {
                *c.add(r * ldc + j) += hsum(acc[r][j]);
            }
        }
    }
}

/// The sum of the 8 lanes, in a fixed order.
#[target_feature(enable = "avx2,fma")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
    _mm_cvtss_f32(s)
}
