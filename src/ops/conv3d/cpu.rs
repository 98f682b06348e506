//! CPU 3D convolution ("same" padding, stride, dilation) and its two gradients, as implicit
//! GEMM over fixed pieces of work, parallel with rayon:
//!
//! - forward: `Y[M, Cout] = col(X)[M, k³·Cin] · W[k³·Cin, Cout] + bias`;
//! - data gradient: input voxel `i` gathers `dy` at `o = (i + pad - t·dil) / stride` for the
//!   taps `t` where that division is exact, which depends only on `i mod stride`, so voxels
//!   are grouped by that residue ("class") and each class multiplies by its own
//!   `[taps·Cout, Cin]` slice of the weight (no work is spent on the zeros a strided
//!   convolution's transpose would otherwise gather);
//! - weight gradient: `dW = Σ col(X)ᵀ · dY` over pieces split into a number of groups fixed by
//!   the problem size, each group summed in order, the group sums added in order.
//!
//! On [`Path::Simd`] (`direct`) the im2col rows are read in place from the volume, line by
//! line, and only rows at the W borders are gathered; on [`Path::Sgemm`] (`tiled`) every row
//! is gathered into a thread-local tile for `matrixmultiply::sgemm`. Piece sizes depend only
//! on the geometry, so results are bitwise identical for any number of threads.
//!
//! At the end, [`Conv3dKernel`] for `CpuBackend` unwraps buffers and calls the math above.

use super::Conv3dKernel;
use super::gather::Taps;
pub use super::kernel::Path;
use super::kernel::{PackedB, Seg};
use super::{direct, tiled};
use crate::backend::Buffer;
use crate::backend::cpu::{CpuBackend, opt_host, out};
use crate::error::Result;
use crate::ops::Conv3dGeom;
use std::cell::RefCell;

/// Forward convolution `[n, in_dims, cin]` → `[n, out_dims, cout]` (with bias when given).
pub fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &Conv3dGeom) -> Vec<f32> {
    forward_with(Path::detect(), x, w, bias, g)
}

/// Gradient of the forward convolution with respect to its input ("dgrad").
pub fn backward_data(dy: &[f32], w: &[f32], g: &Conv3dGeom) -> Vec<f32> {
    backward_data_with(Path::detect(), dy, w, g)
}

/// Gradient of the forward convolution with respect to its weight ("wgrad"), `[k³·Cin, Cout]`.
pub fn backward_filter(x: &[f32], dy: &[f32], g: &Conv3dGeom) -> Vec<f32> {
    backward_filter_with(Path::detect(), x, dy, g)
}

/// `path`, or the portable path when this CPU cannot run `path`.
fn usable(path: Path) -> Path {
    if path == Path::Simd && Path::detect() != Path::Simd {
        Path::Sgemm
    } else {
        path
    }
}

/// [`forward`] on a chosen path.
pub fn forward_with(
    path: Path,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &Conv3dGeom,
) -> Vec<f32> {
    match usable(path) {
        Path::Simd => direct::forward(x, w, bias, g),
        Path::Sgemm => tiled::forward(x, w, bias, g),
    }
}

/// [`backward_data`] on a chosen path.
pub fn backward_data_with(path: Path, dy: &[f32], w: &[f32], g: &Conv3dGeom) -> Vec<f32> {
    match usable(path) {
        Path::Simd => direct::backward_data(dy, w, g),
        Path::Sgemm => tiled::backward_data(dy, w, g),
    }
}

/// [`backward_filter`] on a chosen path.
pub fn backward_filter_with(path: Path, x: &[f32], dy: &[f32], g: &Conv3dGeom) -> Vec<f32> {
    match usable(path) {
        Path::Simd => direct::backward_filter(x, dy, g),
        Path::Sgemm => tiled::backward_filter(x, dy, g),
    }
}

/// Per-thread scratch, reused across pieces of work and calls.
#[derive(Default)]
pub(super) struct Scratch {
    /// Gathered im2col rows.
    pub a: Vec<f32>,
    /// Rows of `dy` (weight gradient) or of results to scatter.
    pub b: Vec<f32>,
    /// Destination rows of gathered rows.
    pub idx: Vec<u32>,
    /// Segments of the current line.
    pub segs: Vec<Seg>,
}

impl Scratch {
    /// Grows `a` and `b` to at least `na` and `nb` floats.
    pub fn reserve(&mut self, na: usize, nb: usize) {
        if self.a.len() < na {
            self.a.resize(na, 0.0);
        }
        if self.b.len() < nb {
            self.b.resize(nb, 0.0);
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` on this thread's scratch.
pub(super) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with_borrow_mut(f)
}

/// The forward taps: offsets `t·dilation` along each axis, `Cin` channels, read at base
/// `o·stride - pad_before` for output voxel `o`.
pub(super) fn forward_taps(g: &Conv3dGeom) -> Taps {
    let offs = || (0..g.k).map(|t| (t * g.dilation) as i64).collect();
    Taps::new([offs(), offs(), offs()], g.cin)
}

/// The input base of output voxel `p` along each axis.
pub(super) fn forward_base(g: &Conv3dGeom, p: [usize; 3]) -> [i64; 3] {
    std::array::from_fn(|a| (p[a] * g.stride) as i64 - g.pad_before[a] as i64)
}

/// The input voxels `i ≡ r (mod stride)` of the data gradient: they read `dy` at
/// `i / stride + q` for each tap offset `q`, and multiply by the matching weight rows.
pub(super) struct Class {
    pub r: [usize; 3],
    pub taps: Taps,
    pub w: PackedB,
}

/// The data-gradient classes, indexed by `(r_d·s + r_h)·s + r_w`; `None` where no tap reaches
/// (the gradient is zero there).
pub(super) fn dgrad_classes(path: Path, w: &[f32], g: &Conv3dGeom) -> Vec<Option<Class>> {
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
                    classes.push(None);
                    continue;
                }
                let taps = Taps::new(
                    std::array::from_fn(|a| t[a].iter().map(|&(q, _)| q).collect()),
                    cout,
                );
                let (nh, nw) = (t[1].len(), t[2].len());
                let wm = PackedB::new(path, taps.row_len(), cin, |p, j| {
                    let (tap, co) = (p / cout, p % cout);
                    let (kd, kh, kw) = (
                        t[0][tap / (nh * nw)].1,
                        t[1][tap / nw % nh].1,
                        t[2][tap % nw].1,
                    );
                    w[(((kd * k + kh) * k + kw) * cin + j) * cout + co]
                });
                classes.push(Some(Class { r, taps, w: wm }));
            }
        }
    }
    classes
}

/// The weight gradient's number of groups of `pieces` (each group one partial `[k, n]` sum):
/// enough to balance threads, fixed by the problem size only.
pub(super) fn wgrad_groups(pieces: usize, k: usize, n: usize) -> usize {
    const MAX_GROUPS: usize = 16;
    const MAX_PARTIAL_FLOATS: usize = 1 << 23;
    MAX_GROUPS
        .min(pieces)
        .min(MAX_PARTIAL_FLOATS / (k * n))
        .max(1)
}

/// Adds the group partials in order; transposes `[n, k]` partials back to `[k, n]`.
pub(super) fn sum_partials(
    partials: Vec<Vec<f32>>,
    k: usize,
    n: usize,
    transposed: bool,
) -> Vec<f32> {
    let mut it = partials.into_iter();
    let mut sum = it.next().unwrap_or_else(|| vec![0.0; k * n]);
    for p in it {
        for (s, v) in sum.iter_mut().zip(&p) {
            *s += v;
        }
    }
    if !transposed {
        return sum;
    }
    let mut dw = vec![0.0f32; k * n];
    for (j, row) in sum.chunks_exact(k).enumerate() {
        for (p, &v) in row.iter().enumerate() {
            dw[p * n + j] = v;
        }
    }
    dw
}

impl Conv3dKernel for CpuBackend {
    fn conv3d(
        &self,
        x: &Buffer,
        w: &Buffer,
        bias: Option<&Buffer>,
        g: &Conv3dGeom,
    ) -> Result<Buffer> {
        out(forward(x.host()?, w.host()?, opt_host(bias)?, g))
    }
    fn conv3d_bwd_data(&self, dy: &Buffer, w: &Buffer, g: &Conv3dGeom) -> Result<Buffer> {
        out(backward_data(dy.host()?, w.host()?, g))
    }
    fn conv3d_bwd_filter(&self, x: &Buffer, dy: &Buffer, g: &Conv3dGeom) -> Result<Buffer> {
        out(backward_filter(x.host()?, dy.host()?, g))
    }
}
