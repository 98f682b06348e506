//! The matrix products of the convolution, on one im2col tile at a time.
//!
//! Every pass of the convolution multiplies a gathered tile `A [rows, K]` (row stride `lda`, a
//! multiple of 8, zero padded after `K`) by a weight-like matrix `B [K, N]`:
//! - [`PackedB::gemm_tile`]: `C[rows, N] += A · B` (forward, and the data gradient),
//! - [`wgrad_tile`]: `P += Aᵀ · dY` for `dY [rows, N]` (the weight gradient).
//!
//! Two paths compute them. [`Path::Simd`] (x86-64 with AVX2 and FMA, detected at run time)
//! uses register-blocked microkernels that read `A` where the gather left it, with no packing
//! copy, and handle any `N` without padding waste: `N ≥ 8` uses a broadcast kernel on
//! 16-column panels of `B`, `N < 8` (a 3-channel flow head) dot products along `K`.
//! [`Path::Sgemm`] calls `matrixmultiply::sgemm` and runs everywhere. Both sum in an order
//! fixed by the shapes alone, so results do not depend on the thread count.

/// Which implementation multiplies the tiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// AVX2 + FMA microkernels (x86-64 only).
    Simd,
    /// `matrixmultiply::sgemm` (portable).
    Sgemm,
}

impl Path {
    /// The fastest path this CPU supports.
    pub fn detect() -> Path {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Path::Simd;
            }
        }
        Path::Sgemm
    }
}

/// Rows of `C` per broadcast-kernel call (6 × 16 accumulators fill 12 of the 16 AVX registers).
pub const MR: usize = 6;
/// Depth of `K` per pass over a panel, so a `KC × 16` slice of `B` stays in L1.
const KC: usize = 256;
/// `N` below this uses the dot-product kernel (forward) or the transposed weight gradient.
const SMALL_N: usize = 8;
/// Extra floats the caller must allocate after a tile `A` (the transposed weight-gradient
/// kernel reads whole 32-wide vectors of a row and discards the lanes past `K`).
pub const A_SLACK: usize = 32;

/// `x` rounded up to a multiple of 8 (the row stride of gathered tiles).
pub fn round8(x: usize) -> usize {
    x.div_ceil(8) * 8
}

enum Layout {
    /// Row-major `[K, N]` for sgemm.
    Plain,
    /// Panels of 16 columns (the last one 8 wide when at most 8 remain), each row-major
    /// `[K, width]`, zero padded past `N`.
    Panels,
    /// `Bᵀ` row-major `[N, round8(K)]`, zero padded past `K`.
    Dot,
}

/// A `[K, N]` right-hand matrix prepared once per call for [`PackedB::gemm_tile`].
pub struct PackedB {
    k: usize,
    n: usize,
    layout: Layout,
    data: Vec<f32>,
}

impl PackedB {
    /// Packs `B[p, j] = f(p, j)` for `p < k`, `j < n` in the layout `path` multiplies fastest.
    pub fn new(path: Path, k: usize, n: usize, f: impl Fn(usize, usize) -> f32) -> PackedB {
        let (layout, data) = match path {
            Path::Sgemm => {
                let mut d = Vec::with_capacity(k * n);
                for p in 0..k {
                    d.extend((0..n).map(|j| f(p, j)));
                }
                (Layout::Plain, d)
            }
            Path::Simd if n < SMALL_N => {
                let ldw = round8(k);
                let mut d = vec![0.0; n * ldw];
                for (j, row) in d.chunks_exact_mut(ldw).enumerate() {
                    for (p, v) in row[..k].iter_mut().enumerate() {
                        *v = f(p, j);
                    }
                }
                (Layout::Dot, d)
            }
            Path::Simd => {
                let mut d = Vec::with_capacity(k * n.next_multiple_of(8));
                for (j0, width) in panels(n) {
                    for p in 0..k {
                        d.extend((j0..j0 + width).map(|j| if j < n { f(p, j) } else { 0.0 }));
                    }
                }
                (Layout::Panels, d)
            }
        };
        PackedB { k, n, layout, data }
    }

    /// `C[r·ldc + j] += Σ_p A[r·lda + p] · B[p, j]` for `r < rows`, `j < N`.
    ///
    /// `a` holds `rows` rows of stride `lda ≥ round8(K)`, zero padded from `K` to `round8(K)`.
    pub fn gemm_tile(&self, a: &[f32], lda: usize, rows: usize, c: &mut [f32], ldc: usize) {
        let (k, n) = (self.k, self.n);
        if rows == 0 || n == 0 || k == 0 {
            return;
        }
        assert!(lda >= round8(k) && a.len() >= (rows - 1) * lda + round8(k));
        assert!(ldc >= n && c.len() >= (rows - 1) * ldc + n);
        match self.layout {
            // SAFETY: the asserts above bound every row of `a` and `c` the calls touch, and
            // `data` holds the whole `[k, n]` matrix.
            Layout::Plain => unsafe {
                matrixmultiply::sgemm(
                    rows,
                    k,
                    n,
                    1.0,
                    a.as_ptr(),
                    lda as isize,
                    1,
                    self.data.as_ptr(),
                    n as isize,
                    1,
                    1.0,
                    c.as_mut_ptr(),
                    ldc as isize,
                    1,
                )
            },
            Layout::Panels => self.gemm_panels(a, lda, rows, c, ldc),
            Layout::Dot => self.gemm_dot(a, lda, rows, c, ldc),
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn gemm_panels(&self, a: &[f32], lda: usize, rows: usize, c: &mut [f32], ldc: usize) {
        let (k, n) = (self.k, self.n);
        let mut p0 = 0;
        while p0 < k {
            let kc = KC.min(k - p0);
            let mut off = 0;
            for (j0, width) in panels(n) {
                let cols = width.min(n - j0);
                for r0 in (0..rows).step_by(MR) {
                    // SAFETY: rows r0..r0+MR are clamped to `rows`, which `gemm_tile` checked
                    // lie in `a` and `c`; the panel holds `k` rows of `width` floats; `Simd`
                    // is only chosen when AVX2 and FMA are present.
                    unsafe {
                        let b = self.data.as_ptr().add(off + p0 * width);
                        let a = a.as_ptr().add(r0 * lda + p0);
                        let c = c.as_mut_ptr().add(r0 * ldc + j0);
                        let rows = (rows - r0).min(MR);
                        if width == 16 {
                            avx::bcast::<MR, 2>(kc, a, lda, 1, rows, b, width, c, ldc, cols);
                        } else {
                            avx::bcast::<MR, 1>(kc, a, lda, 1, rows, b, width, c, ldc, cols);
                        }
                    }
                }
                off += k * width;
            }
            p0 += kc;
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn gemm_dot(&self, a: &[f32], lda: usize, rows: usize, c: &mut [f32], ldc: usize) {
        let (k, n) = (self.k, self.n);
        let ldw = round8(k);
        let kv = ldw / 8;
        let w = self.data.as_ptr();
        let mut j0 = 0;
        while j0 < n {
            let nn = (n - j0).min(3);
            // SAFETY: as in `gemm_panels`; the kernels clamp rows to `rows` and weight rows to
            // `nn`, and read `kv·8 = round8(k)` floats of each, which `gemm_tile` checked.
            unsafe {
                let w = w.add(j0 * ldw);
                match nn {
                    1 => {
                        for r0 in (0..rows).step_by(8) {
                            let ap = a.as_ptr().add(r0 * lda);
                            let cp = c.as_mut_ptr().add(r0 * ldc + j0);
                            avx::dot::<8, 1>(kv, ap, lda, (rows - r0).min(8), w, ldw, 1, cp, ldc);
                        }
                    }
                    2 => {
                        for r0 in (0..rows).step_by(6) {
                            let ap = a.as_ptr().add(r0 * lda);
                            let cp = c.as_mut_ptr().add(r0 * ldc + j0);
                            avx::dot::<6, 2>(kv, ap, lda, (rows - r0).min(6), w, ldw, 2, cp, ldc);
                        }
                    }
                    _ => {
                        for r0 in (0..rows).step_by(4) {
                            let ap = a.as_ptr().add(r0 * lda);
                            let cp = c.as_mut_ptr().add(r0 * ldc + j0);
                            avx::dot::<4, 3>(kv, ap, lda, (rows - r0).min(4), w, ldw, 3, cp, ldc);
                        }
                    }
                }
            }
            j0 += nn;
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn gemm_panels(&self, _: &[f32], _: usize, _: usize, _: &mut [f32], _: usize) {
        unreachable!("Path::Simd is only detected on x86-64")
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn gemm_dot(&self, _: &[f32], _: usize, _: usize, _: &mut [f32], _: usize) {
        unreachable!("Path::Simd is only detected on x86-64")
    }
}

/// Column panels `(first column, width)` covering `n` columns: 16 wide, the last 8 wide when
/// at most 8 columns remain.
fn panels(n: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n)
        .step_by(16)
        .map(move |j0| (j0, if n - j0 <= 8 { 8 } else { 16 }))
}

/// Whether [`wgrad_tile`] accumulates `Pᵀ [N, K]` (row stride `K`) instead of `P [K, N]`.
pub fn wgrad_transposed(path: Path, n: usize) -> bool {
    path == Path::Simd && n < SMALL_N
}

/// Floats of scratch [`wgrad_tile`] needs for a tile of `rows` rows and `n` columns.
pub fn wgrad_scratch(rows: usize, n: usize) -> usize {
    rows * round8(n)
}

/// `P[p, j] += Σ_r A[r·lda + p] · dY[r·n + j]` over the `rows` rows of a tile, for `p < k`,
/// `j < n`; `P` is `[k, n]`, or `[n, k]` when [`wgrad_transposed`].
///
/// `a` must extend [`A_SLACK`] floats past its last row; `scratch` holds at least
/// [`wgrad_scratch`] floats.
#[allow(clippy::too_many_arguments)]
pub fn wgrad_tile(
    path: Path,
    a: &[f32],
    lda: usize,
    k: usize,
    rows: usize,
    dy: &[f32],
    n: usize,
    scratch: &mut [f32],
    p: &mut [f32],
) {
    if rows == 0 || n == 0 || k == 0 {
        return;
    }
    assert!(lda >= round8(k) && a.len() >= (rows - 1) * lda + round8(k) + A_SLACK);
    assert!(dy.len() >= rows * n && p.len() >= k * n);
    match path {
        // SAFETY: the asserts bound `a` (read as the transpose [k, rows]), `dy` and `p`.
        Path::Sgemm => unsafe {
            matrixmultiply::sgemm(
                k,
                rows,
                n,
                1.0,
                a.as_ptr(),
                1,
                lda as isize,
                dy.as_ptr(),
                n as isize,
                1,
                1.0,
                p.as_mut_ptr(),
                n as isize,
                1,
            )
        },
        Path::Simd => wgrad_simd(a, lda, k, rows, dy, n, scratch, p),
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn wgrad_simd(
    a: &[f32],
    lda: usize,
    k: usize,
    rows: usize,
    dy: &[f32],
    n: usize,
    scratch: &mut [f32],
    p: &mut [f32],
) {
    if n < SMALL_N {
        // Pᵀ[j, p] += Σ_r dY[r, j] · A[r, p]: rows of Pᵀ are the few output channels, and each
        // 32-wide vector of A's row r is one broadcast-kernel column block.
        for j0 in (0..n).step_by(3) {
            for p0 in (0..k).step_by(32) {
                // SAFETY: `dy` rows r < rows are read at columns j0..j0+3 clamped to n; `a` is
                // read at rows r < rows, columns p0..p0+32 ≤ round8(k) + A_SLACK of the last
                // row, as `wgrad_tile` checked; only columns < k and rows < n of `p` are written.
                unsafe {
                    avx::bcast::<3, 4>(
                        rows,
                        dy.as_ptr().add(j0),
                        1,
                        n,
                        (n - j0).min(3),
                        a.as_ptr().add(p0),
                        lda,
                        p.as_mut_ptr().add(j0 * k + p0),
                        k,
                        (k - p0).min(32),
                    );
                }
            }
        }
        return;
    }
    // P[p, j] += Σ_r A[r, p] · dY[r, j], with dY copied to 8-padded rows so every panel
    // reads whole vectors.
    let ldb = round8(n);
    let b = &mut scratch[..rows * ldb];
    for (dst, src) in b.chunks_exact_mut(ldb).zip(dy.chunks_exact(n)) {
        dst[..n].copy_from_slice(src);
        dst[n..].fill(0.0);
    }
    for (j0, width) in panels(n) {
        let cols = width.min(n - j0);
        for p0 in (0..k).step_by(MR) {
            // SAFETY: `a` columns p0..p0+MR are clamped to k; `b` has `rows` rows of `ldb ≥
            // j0 + width` floats; `p` rows < k and columns < n are written.
            unsafe {
                let (ap, bp) = (a.as_ptr().add(p0), b.as_ptr().add(j0));
                let cp = p.as_mut_ptr().add(p0 * n + j0);
                let kr = (k - p0).min(MR);
                if width == 16 {
                    avx::bcast::<MR, 2>(rows, ap, 1, lda, kr, bp, ldb, cp, n, cols);
                } else {
                    avx::bcast::<MR, 1>(rows, ap, 1, lda, kr, bp, ldb, cp, n, cols);
                }
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
fn wgrad_simd(_: &[f32], _: usize, _: usize, _: usize, _: &[f32], _: usize, _: &mut [f32], _: &mut [f32]) {
    unreachable!("Path::Simd is only detected on x86-64")
}

#[cfg(target_arch = "x86_64")]
mod avx {
    //! AVX2 + FMA microkernels. Callers must have checked that the CPU supports both.
    use std::arch::x86_64::*;

    /// `C[r·ldc + j] += Σ_{q < kc} A(r, q) · B[q·ldb + j]` for `r < rows ≤ R`,
    /// `j < cols ≤ 8·V`, with `A(r, q) = a[r·rs + q·cs]`. Rows past `rows` repeat the last
    /// one (their results are dropped); `B` rows are read as whole `8·V`-wide vectors.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    pub unsafe fn bcast<const R: usize, const V: usize>(
        kc: usize,
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
            let mut ap = [a; R];
            for r in 0..R {
                ap[r] = a.add(r.min(rows - 1) * rs);
            }
            let mut acc = [[_mm256_setzero_ps(); V]; R];
            let mut bp = b;
            for _ in 0..kc {
                let mut bv = [_mm256_setzero_ps(); V];
                for v in 0..V {
                    bv[v] = _mm256_loadu_ps(bp.add(8 * v));
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
            if rows == R && cols == 8 * V {
                for r in 0..R {
                    for v in 0..V {
                        let cp = c.add(r * ldc + 8 * v);
                        _mm256_storeu_ps(cp, _mm256_add_ps(_mm256_loadu_ps(cp), acc[r][v]));
                    }
                }
            } else {
                let mut tmp = [[0.0f32; 8]; V];
                for r in 0..rows {
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

    /// `C[r·ldc + j] += Σ_{q < 8·kv} a[r·lda + q] · w[j·ldw + q]` for `r < rows ≤ R`,
    /// `j < nn ≤ J`; rows and weight rows past the valid ones repeat the last.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    pub unsafe fn dot<const R: usize, const J: usize>(
        kv: usize,
        a: *const f32,
        lda: usize,
        rows: usize,
        w: *const f32,
        ldw: usize,
        nn: usize,
        c: *mut f32,
        ldc: usize,
    ) {
        unsafe {
            let mut ap = [a; R];
            for r in 0..R {
                ap[r] = a.add(r.min(rows - 1) * lda);
            }
            let mut wp = [w; J];
            for j in 0..J {
                wp[j] = w.add(j.min(nn - 1) * ldw);
            }
            let mut acc = [[_mm256_setzero_ps(); J]; R];
            for q in 0..kv {
                let mut wv = [_mm256_setzero_ps(); J];
                for j in 0..J {
                    wv[j] = _mm256_loadu_ps(wp[j].add(8 * q));
                }
                for r in 0..R {
                    let av = _mm256_loadu_ps(ap[r].add(8 * q));
                    for j in 0..J {
                        acc[r][j] = _mm256_fmadd_ps(av, wv[j], acc[r][j]);
                    }
                }
            }
            for r in 0..rows {
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
}
