//! The matrix products of the convolution.
//!
//! Every pass multiplies a left-hand matrix `A [rows, K]` by a weight-like `B [K, N]`, where a
//! row of `A` is the im2col row of one voxel. `A` is described by [`Seg`]ments: runs of
//! consecutive `K` indices whose values lie contiguously in memory (one tap row of the input
//! volume, read in place), or one segment over a gathered im2col tile.
//! - [`PackedB::gemm`]: `C[rows, N] += A · B` (forward and data gradient),
//! - [`wgrad`]: `P += Aᵀ · dY` (weight gradient, segment by segment).
//!
//! Two paths compute them. [`Path::Simd`] (x86-64 with AVX2 and FMA, detected at run time)
//! uses register-blocked microkernels: `N ≥ 8` a broadcast kernel over 16-column panels of
//! `B`, `N < 8` (a 3-channel flow head) dot products along `K`, so no lane is wasted on
//! padding channels. [`Path::Sgemm`] calls `matrixmultiply::sgemm` on gathered tiles and runs
//! everywhere. Both sum in an order fixed by the shapes alone.

#[cfg(target_arch = "x86_64")]
use super::avx;

/// Which implementation multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// AVX2 + FMA microkernels on the input in place (x86-64 only).
    Simd,
    /// `matrixmultiply::sgemm` on gathered im2col tiles (portable).
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

/// Rows per broadcast-kernel call (6 × 16 accumulators use 12 of the 16 AVX registers).
pub const MR: usize = 6;
/// Rows per dot-kernel call (4 rows × 3 columns of accumulators).
const DR: usize = 4;
/// Depth of `K` per pass over a panel, so a `KC × 16` slice of `B` stays in L1.
pub const KC: usize = 256;
/// `N` below this uses the dot-product kernel (forward) or the transposed weight gradient.
const SMALL_N: usize = 8;

/// `x` rounded up to a multiple of 8.
pub fn round8(x: usize) -> usize {
    x.div_ceil(8) * 8
}

/// A run of `len` reduction indices `k0..k0+len` whose `A` values for row `r` lie at
/// `a[a_off + r·rs + q]`, `q < len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seg {
    pub a_off: usize,
    pub k0: usize,
    pub len: usize,
}

/// Checks that `rows` rows of stride `rs` of every segment lie inside `a_len` values.
fn check_segs(segs: &[Seg], a_len: usize, rows: usize, rs: usize, k: usize) {
    for s in segs {
        assert!(s.k0 + s.len <= k && s.a_off + (rows - 1) * rs + s.len <= a_len);
    }
}

enum Layout {
    /// Row-major `[K, N]` for sgemm.
    Plain,
    /// Panels of 16 columns (the last one 8 wide when at most 8 remain), each row-major
    /// `[K, width]`, zero padded past `N`.
    Panels,
    /// `Bᵀ` row-major `[N, K]`.
    Dot,
}

/// A `[K, N]` right-hand matrix prepared once per call.
pub struct PackedB {
    k: usize,
    n: usize,
    layout: Layout,
    data: Vec<f32>,
}

impl PackedB {
    /// Packs `B[p, j] = f(p, j)` for `p < k`, `j < n` in the layout `path` multiplies fastest.
    pub fn new(path: Path, k: usize, n: usize, f: impl Fn(usize, usize) -> f32) -> PackedB {
        let mut d = Vec::with_capacity(k * round8(n));
        let layout = match path {
            Path::Sgemm => {
                for p in 0..k {
                    d.extend((0..n).map(|j| f(p, j)));
                }
                Layout::Plain
            }
            Path::Simd if n < SMALL_N => {
                for j in 0..n {
                    d.extend((0..k).map(|p| f(p, j)));
                }
                Layout::Dot
            }
            Path::Simd => {
                for (j0, width) in panels(n) {
                    for p in 0..k {
                        d.extend((j0..j0 + width).map(|j| if j < n { f(p, j) } else { 0.0 }));
                    }
                }
                Layout::Panels
            }
        };
        PackedB {
            k,
            n,
            layout,
            data: d,
        }
    }

    /// `C[r·ldc + j] += Σ_seg Σ_q a[seg.a_off + r·rs + q] · B[seg.k0 + q, j]` for
    /// `r < rows`, `j < N`.
    ///
    /// On the `Sgemm` layout `segs` must be one segment over all of `K`.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm(&self, segs: &[Seg], a: &[f32], rs: usize, rows: usize, c: &mut [f32], ldc: usize) {
        let (k, n) = (self.k, self.n);
        if rows == 0 || segs.is_empty() {
            return;
        }
        check_segs(segs, a.len(), rows, rs, k);
        assert!(ldc >= n && c.len() >= (rows - 1) * ldc + n);
        match self.layout {
            Layout::Plain => {
                assert!(segs.len() == 1 && segs[0].k0 == 0 && segs[0].len == k);
                // SAFETY: `check_segs` and the assert above bound every row of `a` and `c`;
                // `data` holds the whole `[k, n]` matrix.
                unsafe {
                    matrixmultiply::sgemm(
                        rows,
                        k,
                        n,
                        1.0,
                        a.as_ptr().add(segs[0].a_off),
                        rs as isize,
                        1,
                        self.data.as_ptr(),
                        n as isize,
                        1,
                        1.0,
                        c.as_mut_ptr(),
                        ldc as isize,
                        1,
                    )
                }
            }
            Layout::Panels => self.gemm_panels(segs, a, rs, rows, c, ldc),
            Layout::Dot => self.gemm_dot(segs, a, rs, rows, c, ldc),
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn gemm_panels(
        &self,
        segs: &[Seg],
        a: &[f32],
        rs: usize,
        rows: usize,
        c: &mut [f32],
        ldc: usize,
    ) {
        let (k, n) = (self.k, self.n);
        // Groups of segments about KC deep, so the panel slice they read stays in L1.
        let mut g0 = 0;
        while g0 < segs.len() {
            let mut g1 = g0 + 1;
            let mut depth = segs[g0].len;
            while g1 < segs.len() && depth + segs[g1].len <= KC {
                depth += segs[g1].len;
                g1 += 1;
            }
            let group = &segs[g0..g1];
            let mut off = 0;
            for (j0, width) in panels(n) {
                let cols = width.min(n - j0);
                for r0 in (0..rows).step_by(MR) {
                    let m = (rows - r0).min(MR);
                    // SAFETY: `gemm` checked the segments' rows and `c`'s rows; the panel
                    // holds `k` rows of `width` floats; `Simd` implies AVX2 and FMA.
                    unsafe {
                        let b = self.data.as_ptr().add(off);
                        let a = a.as_ptr().add(r0 * rs);
                        let c = c.as_mut_ptr().add(r0 * ldc + j0);
                        if width == 16 {
                            avx::bcast_rows::<2>(m, group, a, rs, 1, b, width, c, ldc, cols);
                        } else {
                            avx::bcast_rows::<1>(m, group, a, rs, 1, b, width, c, ldc, cols);
                        }
                    }
                }
                off += k * width;
            }
            g0 = g1;
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn gemm_dot(&self, segs: &[Seg], a: &[f32], rs: usize, rows: usize, c: &mut [f32], ldc: usize) {
        let (k, n) = (self.k, self.n);
        for j0 in (0..n).step_by(3) {
            let nn = (n - j0).min(3);
            for r0 in (0..rows).step_by(DR) {
                let m = (rows - r0).min(DR);
                // SAFETY: as in `gemm_panels`; weight rows j0..j0+nn hold `k` floats and the
                // kernel reads only indices inside each segment.
                unsafe {
                    let w = self.data.as_ptr().add(j0 * k);
                    let a = a.as_ptr().add(r0 * rs);
                    let c = c.as_mut_ptr().add(r0 * ldc + j0);
                    avx::dot_rows(m, segs, a, rs, w, k, nn, c, ldc);
                }
            }
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn gemm_panels(&self, _: &[Seg], _: &[f32], _: usize, _: usize, _: &mut [f32], _: usize) {
        unreachable!("Path::Simd is only detected on x86-64")
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn gemm_dot(&self, _: &[Seg], _: &[f32], _: usize, _: usize, _: &mut [f32], _: usize) {
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

/// Whether [`wgrad`] accumulates `Pᵀ [N, K]` (row stride `K`) instead of `P [K, N]`.
pub fn wgrad_transposed(path: Path, n: usize) -> bool {
    path == Path::Simd && n < SMALL_N
}

/// Row stride of `dY` that [`wgrad`] wants: `n`, or for the `Simd` panels (`n ≥ 8`) a
/// copy padded to whole vectors.
pub fn wgrad_ldb(path: Path, n: usize) -> usize {
    if path == Path::Simd && n >= SMALL_N {
        round8(n)
    } else {
        n
    }
}

/// `P[seg.k0 + q, j] += Σ_{r < rows} a[seg.a_off + r·rs + q] · dY[r, j]` for every segment,
/// `q < seg.len`, `j < n`; `P` is `[k, n]`, or `[n, k]` when [`wgrad_transposed`].
///
/// `dy` is `[rows, n]` with row stride `ldy` = [`wgrad_ldb`] (columns `n..ldy` zeros).
#[allow(clippy::too_many_arguments)]
pub fn wgrad(
    path: Path,
    segs: &[Seg],
    a: &[f32],
    rs: usize,
    rows: usize,
    dy: &[f32],
    ldy: usize,
    n: usize,
    k: usize,
    p: &mut [f32],
) {
    if rows == 0 || segs.is_empty() {
        return;
    }
    check_segs(segs, a.len(), rows, rs, k);
    assert!(ldy >= n && dy.len() >= (rows - 1) * ldy + n && p.len() >= k * n);
    match path {
        Path::Sgemm => {
            for s in segs {
                // SAFETY: `check_segs` bounds `a` read as the transpose `[len, rows]`; the
                // assert bounds `dy` and `p`.
                unsafe {
                    matrixmultiply::sgemm(
                        s.len,
                        rows,
                        n,
                        1.0,
                        a.as_ptr().add(s.a_off),
                        1,
                        rs as isize,
                        dy.as_ptr(),
                        ldy as isize,
                        1,
                        1.0,
                        p.as_mut_ptr().add(s.k0 * n),
                        n as isize,
                        1,
                    )
                }
            }
        }
        Path::Simd => wgrad_simd(segs, a, rs, rows, dy, ldy, n, k, p),
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn wgrad_simd(
    segs: &[Seg],
    a: &[f32],
    rs: usize,
    rows: usize,
    dy: &[f32],
    ldy: usize,
    n: usize,
    k: usize,
    p: &mut [f32],
) {
    if n < SMALL_N {
        // Pᵀ[j, k0 + q] += Σ_r dY[r, j] · A(r, q): the kernel's rows are the few output
        // channels, its columns 32 consecutive q of a segment (masked past its end).
        for s in segs {
            for j0 in (0..n).step_by(3) {
                for q0 in (0..s.len).step_by(32) {
                    let cols = (s.len - q0).min(32);
                    let seg = [Seg {
                        a_off: 0,
                        k0: 0,
                        len: rows,
                    }];
                    // SAFETY: `dy` rows r < rows, columns j0..j0+3 clamped to n; `a` rows
                    // r < rows at columns q0..q0+cols of the segment (masked loads past
                    // `cols`), as `wgrad` checked; `p` rows < n, columns < k.
                    unsafe {
                        let b = a.as_ptr().add(s.a_off + q0);
                        let c = p.as_mut_ptr().add(j0 * k + s.k0 + q0);
                        let (a, m) = (dy.as_ptr().add(j0), (n - j0).min(3));
                        match cols.div_ceil(8) {
                            1 => avx::bcast::<3, 1>(&seg, a, 1, ldy, m, b, rs, c, k, cols),
                            2 => avx::bcast::<3, 2>(&seg, a, 1, ldy, m, b, rs, c, k, cols),
                            3 => avx::bcast::<3, 3>(&seg, a, 1, ldy, m, b, rs, c, k, cols),
                            _ => avx::bcast::<3, 4>(&seg, a, 1, ldy, m, b, rs, c, k, cols),
                        }
                    }
                }
            }
        }
        return;
    }
    // P[k0 + q, j] += Σ_r A(r, q) · dY[r, j]: the kernel's rows are MR consecutive q, its
    // columns a 16-wide panel of dY, read as whole vectors.
    assert!(ldy >= round8(n) && dy.len() >= rows * ldy);
    let seg = [Seg {
        a_off: 0,
        k0: 0,
        len: rows,
    }];
    for s in segs {
        for (j0, width) in panels(n) {
            let cols = width.min(n - j0);
            for q0 in (0..s.len).step_by(MR) {
                let m = (s.len - q0).min(MR);
                // SAFETY: `a` at rows < rows, columns q0..q0+m of the segment; `dy` rows of
                // `ldy ≥ j0 + width` floats; `p` rows < k, columns < n.
                unsafe {
                    let ap = a.as_ptr().add(s.a_off + q0);
                    let c = p.as_mut_ptr().add((s.k0 + q0) * n + j0);
                    let b = dy.as_ptr().add(j0);
                    if width == 16 {
                        avx::bcast_rows::<2>(m, &seg, ap, 1, rs, b, ldy, c, n, cols);
                    } else {
                        avx::bcast_rows::<1>(m, &seg, ap, 1, rs, b, ldy, c, n, cols);
                    }
                }
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
fn wgrad_simd(
    _: &[Seg],
    _: &[f32],
    _: usize,
    _: usize,
    _: &[f32],
    _: usize,
    _: usize,
    _: usize,
    _: &mut [f32],
) {
    unreachable!("Path::Simd is only detected on x86-64")
}
