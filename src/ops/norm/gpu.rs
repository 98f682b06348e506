//! Launches of `kernels/norm.cu` (CUDA GPU and emulator): per-group statistics, the
//! normalizing affine map and its gradients, with deterministic two-pass reductions (fixed
//! chunks of rows, double-precision partials added in order).
//!
//! At the end, [`NormKernel`] for `GpuBackend` calls the launches above.

use super::NormKernel;
use crate::backend::Buffer;
use crate::backend::gpu::launch::size_i32;
use crate::backend::gpu::{Arg, GpuBackend, KernelSig, LaunchCfg, Param::*, Runtime};
use crate::error::{Error, Result};
use crate::ops::NormGeom;

const FAMILY: &str = "norm";
pub(crate) const PARTIAL: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_norm_partial",
    params: &[
        PtrF32, PtrF32, PtrF32, PtrF32, PtrF32, F32, I64, I32, I32, I32,
    ],
};
pub(crate) const STATS_FINAL: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_norm_stats_final",
    params: &[PtrF32, PtrF32, PtrF32, PtrF32, I64, I32, I32],
};
pub(crate) const SCALE: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_norm_scale",
    params: &[PtrF32, PtrF32, PtrF32, I32, F32, I32, I32],
};
pub(crate) const APPLY: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_norm_apply",
    params: &[
        PtrF32, PtrF32, PtrF32, PtrF32, PtrF32, I32, I64, I32, I64, I32,
    ],
};
pub(crate) const BWD_FINAL: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_norm_bwd_final",
    params: &[
        PtrF32, PtrF32, PtrF32, PtrF32, PtrF32, PtrF32, I32, F32, I32, I64, I32, I32, I32,
    ],
};
pub(crate) const DX: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_norm_dx",
    params: &[
        PtrF32, PtrF32, PtrF32, PtrF32, PtrF32, I64, I32, I64, I32, I32,
    ],
};

/// This family's kernels, for the launch table.
pub(crate) static KERNELS: &[&KernelSig] =
    &[&PARTIAL, &STATS_FINAL, &SCALE, &APPLY, &BWD_FINAL, &DX];

/// Values per chunk of the partial pass (rounded to whole rows).
const CHUNK_VALUES: usize = 1 << 14;
/// Threads per block of the partial and final passes (`VF_NORM_THREADS`).
const THREADS: u32 = 256;

/// Rows per chunk of the partial pass for `c` channels.
pub(crate) fn chunk_rows(c: usize) -> usize {
    (CHUNK_VALUES / c.max(1)).max(1)
}

/// `(segments, rows per segment)`: one segment of `n·s` rows, or `n` of `s` rows per sample.
fn segments(g: NormGeom) -> (usize, usize) {
    if g.per_sample {
        (g.n, g.s)
    } else {
        (1, g.n * g.s)
    }
}

/// The reduction's layout: `(segs, seg_rows, chunk_rows, chunks)`.
fn layout(g: NormGeom) -> (usize, usize, usize, usize) {
    let (segs, seg_rows) = segments(g);
    let cr = chunk_rows(g.c);
    (segs, seg_rows, cr, seg_rows.div_ceil(cr).max(1))
}

/// Runs the partial pass (`mode` 0: statistics, 1: backward sums); returns the partials
/// (`segs·chunks·2c` doubles).
#[allow(clippy::too_many_arguments)]
fn partials(
    rt: &dyn Runtime,
    x: &Buffer,
    dy: &Buffer,
    mean: &Buffer,
    var: &Buffer,
    eps: f32,
    g: NormGeom,
    mode: i32,
) -> Result<Buffer> {
    let name = PARTIAL.name;
    let (segs, seg_rows, cr, chunks) = layout(g);
    if segs > 65_535 {
        return Err(Error::Kernel {
            kernel: name,
            msg: format!("{segs} samples exceed the grid's 65,535 rows"),
        });
    }
    let partial = rt.alloc(2 * segs * chunks * 2 * g.c)?;
    rt.launch(
        &PARTIAL,
        LaunchCfg::new(
            [size_i32(name, "chunks", chunks)? as u32, segs as u32, 1],
            [THREADS, 1, 1],
            0,
        ),
        &[
            Arg::Buf(&partial),
            Arg::Buf(x),
            Arg::Buf(dy),
            Arg::Buf(mean),
            Arg::Buf(var),
            Arg::F32(eps),
            Arg::I64(seg_rows as i64),
            Arg::I32(size_i32(name, "channels", g.c)?),
            Arg::I32(size_i32(name, "chunk rows", cr)?),
            Arg::I32(mode),
        ],
    )?;
    Ok(partial)
}

pub(crate) fn stats(rt: &dyn Runtime, x: &Buffer, g: NormGeom) -> Result<(Buffer, Buffer)> {
    let (_, seg_rows, _, chunks) = layout(g);
    let groups = g.groups();
    // Mode 0 reads only x; the other pointers are unused.
    let partial = partials(rt, x, x, x, x, 0.0, g, 0)?;
    let mean = rt.alloc(groups)?;
    let var = rt.alloc(groups)?;
    let blocks = size_i32(STATS_FINAL.name, "groups", groups)? as u32;
    rt.launch(
        &STATS_FINAL,
        LaunchCfg::new([blocks, 1, 1], [THREADS, 1, 1], 0),
        &[
            Arg::Buf(&mean),
            Arg::Buf(&var),
            Arg::Buf(&partial),
            Arg::Buf(x),
            Arg::I64(seg_rows as i64),
            Arg::I32(g.c as i32),
            Arg::I32(chunks as i32),
        ],
    )?;
    Ok((mean, var))
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn apply(
    rt: &dyn Runtime,
    x: &Buffer,
    mean: &Buffer,
    var: &Buffer,
    gamma: Option<&Buffer>,
    beta: Option<&Buffer>,
    eps: f32,
    g: NormGeom,
) -> Result<Buffer> {
    let cfg = LaunchCfg::elementwise(x.len());
    apply_with(rt, x, mean, var, gamma, beta, eps, g, cfg)
}

/// [`apply`] with the elementwise pass launched as `cfg` (a 1D grid-stride launch; tests use
/// small grids so that every thread walks several strides).
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply_with(
    rt: &dyn Runtime,
    x: &Buffer,
    mean: &Buffer,
    var: &Buffer,
    gamma: Option<&Buffer>,
    beta: Option<&Buffer>,
    eps: f32,
    g: NormGeom,
    cfg: LaunchCfg,
) -> Result<Buffer> {
    let groups = g.groups();
    let len = x.len();
    let scale = rt.alloc(groups)?;
    rt.launch(
        &SCALE,
        LaunchCfg::linear(groups, 128),
        &[
            Arg::Buf(&scale),
            Arg::Buf(var),
            Arg::Buf(gamma.unwrap_or(var)),
            Arg::I32(gamma.is_some() as i32),
            Arg::F32(eps),
            Arg::I32(size_i32(SCALE.name, "groups", groups)?),
            Arg::I32(g.c as i32),
        ],
    )?;
    let y = rt.alloc(len)?;
    rt.launch(
        &APPLY,
        cfg,
        &[
            Arg::Buf(&y),
            Arg::Buf(x),
            Arg::Buf(mean),
            Arg::Buf(&scale),
            Arg::Buf(beta.unwrap_or(x)),
            Arg::I32(beta.is_some() as i32),
            Arg::I64(len as i64),
            Arg::I32(size_i32(APPLY.name, "channels", g.c)?),
            Arg::I64(g.s as i64),
            Arg::I32(g.per_sample as i32),
        ],
    )?;
    Ok(y)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    rt: &dyn Runtime,
    x: &Buffer,
    mean: &Buffer,
    var: &Buffer,
    gamma: Option<&Buffer>,
    dy: &Buffer,
    eps: f32,
    batch_stats: bool,
    g: NormGeom,
) -> Result<(Buffer, Buffer, Buffer)> {
    let cfg = LaunchCfg::elementwise(x.len());
    backward_with(rt, x, mean, var, gamma, dy, eps, batch_stats, g, cfg)
}

/// [`backward`] with the elementwise dx pass launched as `cfg` (see [`apply_with`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_with(
    rt: &dyn Runtime,
    x: &Buffer,
    mean: &Buffer,
    var: &Buffer,
    gamma: Option<&Buffer>,
    dy: &Buffer,
    eps: f32,
    batch_stats: bool,
    g: NormGeom,
    cfg: LaunchCfg,
) -> Result<(Buffer, Buffer, Buffer)> {
    let (segs, seg_rows, _, chunks) = layout(g);
    let groups = g.groups();
    let c = g.c;
    let partial = partials(rt, x, dy, mean, var, eps, g, 1)?;
    let coef = rt.alloc(3 * groups)?;
    let dgamma = rt.alloc(c)?;
    let dbeta = rt.alloc(c)?;
    rt.launch(
        &BWD_FINAL,
        LaunchCfg::new([c as u32, 1, 1], [THREADS, 1, 1], 0),
        &[
            Arg::Buf(&coef),
            Arg::Buf(&dgamma),
            Arg::Buf(&dbeta),
            Arg::Buf(&partial),
            Arg::Buf(var),
            Arg::Buf(gamma.unwrap_or(var)),
            Arg::I32(gamma.is_some() as i32),
            Arg::F32(eps),
            Arg::I32(batch_stats as i32),
            Arg::I64(seg_rows as i64),
            Arg::I32(c as i32),
            Arg::I32(segs as i32),
            Arg::I32(chunks as i32),
        ],
    )?;
    let len = x.len();
    let dx = rt.alloc(len)?;
    rt.launch(
        &DX,
        cfg,
        &[
            Arg::Buf(&dx),
            Arg::Buf(x),
            Arg::Buf(dy),
            Arg::Buf(mean),
            Arg::Buf(&coef),
            Arg::I64(len as i64),
            Arg::I32(c as i32),
            Arg::I64(g.s as i64),
            Arg::I32(g.per_sample as i32),
            Arg::I32(size_i32(DX.name, "groups", groups)?),
        ],
    )?;
    Ok((dx, dgamma, dbeta))
}

impl NormKernel for GpuBackend {
    fn norm_stats(&self, x: &Buffer, g: NormGeom) -> Result<(Buffer, Buffer)> {
        stats(self.runtime(), x, g)
    }
    fn norm_apply(
        &self,
        x: &Buffer,
        mean: &Buffer,
        var: &Buffer,
        gamma: Option<&Buffer>,
        beta: Option<&Buffer>,
        eps: f32,
        g: NormGeom,
    ) -> Result<Buffer> {
        apply(self.runtime(), x, mean, var, gamma, beta, eps, g)
    }
    fn norm_bwd(
        &self,
        x: &Buffer,
        mean: &Buffer,
        var: &Buffer,
        gamma: Option<&Buffer>,
        dy: &Buffer,
        eps: f32,
        batch_stats: bool,
        g: NormGeom,
    ) -> Result<(Buffer, Buffer, Buffer)> {
        backward(self.runtime(), x, mean, var, gamma, dy, eps, batch_stats, g)
    }
}
