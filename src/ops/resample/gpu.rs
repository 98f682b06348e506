//! Launches of `kernels/resample.cu` (CUDA GPU and emulator): nearest ×2 upsampling, 2³ max
//! pooling, global average pooling and channel concatenation/splitting, with their gradients.
//!
//! Every gradient is a gather (no atomics) and the pooling reduction runs in two passes with
//! fixed chunks, so results are bitwise reproducible.
//!
//! At the end, [`ResampleKernel`] for `GpuBackend` calls the launches above.

use super::ResampleKernel;
use crate::backend::Buffer;
use crate::backend::gpu::{Arg, GpuBackend, KernelSig, LaunchCfg, Param::*, Runtime};
use crate::error::Result;
use crate::ops::{PoolGeom, UpsampleGeom, VolGeom};

const FAMILY: &str = "resample";
pub(crate) const UPSAMPLE: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_upsample",
    params: &[PtrF32, PtrF32, I64, I32, I32, I32, I32, I32, I32, I32],
};
pub(crate) const UPSAMPLE_BWD: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_upsample_bwd",
    params: &[PtrF32, PtrF32, I64, I32, I32, I32, I32, I32, I32, I32],
};
pub(crate) const MAX_POOL: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_max_pool",
    params: &[PtrF32, PtrF32, I64, I32, I32, I32, I32],
};
pub(crate) const MAX_POOL_BWD: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_max_pool_bwd",
    params: &[PtrF32, PtrF32, PtrF32, I64, I32, I32, I32, I32],
};
pub(crate) const GAP_BWD: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_gap_bwd",
    params: &[PtrF32, PtrF32, I64, I32, I64],
};
pub(crate) const COPY_COLUMNS: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_copy_columns",
    params: &[PtrF32, PtrF32, I64, I32, I32, I32, I32, I32],
};

/// This family's kernels, for the launch table.
pub(crate) static KERNELS: &[&KernelSig] = &[
    &UPSAMPLE,
    &UPSAMPLE_BWD,
    &MAX_POOL,
    &MAX_POOL_BWD,
    &GAP_BWD,
    &COPY_COLUMNS,
];

fn i32_of(v: usize) -> Arg<'static> {
    Arg::I32(v as i32)
}

fn i64_of(v: usize) -> Arg<'static> {
    Arg::I64(v as i64)
}

/// The shape arguments shared by the upsampling kernels.
fn up_args(g: &UpsampleGeom) -> [Arg<'static>; 7] {
    let ([id, ih, iw], [od, oh, ow]) = (g.in_dims, g.out_dims);
    [id, ih, iw, od, oh, ow, g.c].map(i32_of)
}

pub(crate) fn upsample(rt: &dyn Runtime, x: &Buffer, g: UpsampleGeom) -> Result<Buffer> {
    let total = g.n * g.out_dims.iter().product::<usize>() * g.c;
    let y = rt.alloc(total)?;
    let mut args = vec![Arg::Buf(&y), Arg::Buf(x), i64_of(total)];
    args.extend(up_args(&g));
    rt.launch(&UPSAMPLE, LaunchCfg::elementwise(total), &args)?;
    Ok(y)
}

pub(crate) fn upsample_bwd(rt: &dyn Runtime, dy: &Buffer, g: UpsampleGeom) -> Result<Buffer> {
    let total = g.n * g.in_dims.iter().product::<usize>() * g.c;
    let dx = rt.alloc(total)?;
    let mut args = vec![Arg::Buf(&dx), Arg::Buf(dy), i64_of(total)];
    args.extend(up_args(&g));
    rt.launch(&UPSAMPLE_BWD, LaunchCfg::elementwise(total), &args)?;
    Ok(dx)
}

pub(crate) fn max_pool(rt: &dyn Runtime, x: &Buffer, g: PoolGeom) -> Result<Buffer> {
    let total = g.n * g.out_dims().iter().product::<usize>() * g.c;
    let y = rt.alloc(total)?;
    let [id, ih, iw] = g.in_dims;
    rt.launch(
        &MAX_POOL,
        LaunchCfg::elementwise(total),
        &[
            Arg::Buf(&y),
            Arg::Buf(x),
            i64_of(total),
            i32_of(id),
            i32_of(ih),
            i32_of(iw),
            i32_of(g.c),
        ],
    )?;
    Ok(y)
}

pub(crate) fn max_pool_bwd(
    rt: &dyn Runtime,
    x: &Buffer,
    dy: &Buffer,
    g: PoolGeom,
) -> Result<Buffer> {
    let total = g.n * g.in_dims.iter().product::<usize>() * g.c;
    let dx = rt.alloc(total)?;
    let [id, ih, iw] = g.in_dims;
    rt.launch(
        &MAX_POOL_BWD,
        LaunchCfg::elementwise(total),
        &[
            Arg::Buf(&dx),
            Arg::Buf(x),
            Arg::Buf(dy),
            i64_of(total),
            i32_of(id),
            i32_of(ih),
            i32_of(iw),
            i32_of(g.c),
        ],
    )?;
    Ok(dx)
}

/// The elementwise family's deterministic per-channel sum, divided by the voxel count.
pub(crate) fn global_avg_pool(rt: &dyn Runtime, x: &Buffer, g: VolGeom) -> Result<Buffer> {
    let s = g.voxels();
    crate::ops::elementwise::gpu::channel_sums(rt, x, None, g.n, s, g.c, s)
}

pub(crate) fn global_avg_pool_bwd(rt: &dyn Runtime, dy: &Buffer, g: VolGeom) -> Result<Buffer> {
    let total = g.len();
    let dx = rt.alloc(total)?;
    rt.launch(
        &GAP_BWD,
        LaunchCfg::elementwise(total),
        &[
            Arg::Buf(&dx),
            Arg::Buf(dy),
            i64_of(total),
            i32_of(g.c),
            i64_of(g.voxels()),
        ],
    )?;
    Ok(dx)
}

/// Copies `width` columns of every row from `src` (row stride `src_stride`, first column
/// `src_off`) to `dst` (row stride `dst_stride`, first column `dst_off`).
#[allow(clippy::too_many_arguments)]
fn copy_columns(
    rt: &dyn Runtime,
    dst: &Buffer,
    src: &Buffer,
    rows: usize,
    width: usize,
    (dst_stride, dst_off): (usize, usize),
    (src_stride, src_off): (usize, usize),
) -> Result<()> {
    rt.launch(
        &COPY_COLUMNS,
        LaunchCfg::elementwise(rows * width),
        &[
            Arg::Buf(dst),
            Arg::Buf(src),
            i64_of(rows),
            i32_of(width),
            i32_of(dst_stride),
            i32_of(dst_off),
            i32_of(src_stride),
            i32_of(src_off),
        ],
    )
}

pub(crate) fn concat_channels(
    rt: &dyn Runtime,
    parts: &[&Buffer],
    cs: &[usize],
    rows: usize,
) -> Result<Buffer> {
    let total: usize = cs.iter().sum();
    let y = rt.alloc(rows * total)?;
    let mut off = 0;
    for (p, &w) in parts.iter().zip(cs) {
        copy_columns(rt, &y, p, rows, w, (total, off), (w, 0))?;
        off += w;
    }
    Ok(y)
}

pub(crate) fn split_channels(
    rt: &dyn Runtime,
    x: &Buffer,
    cs: &[usize],
    rows: usize,
) -> Result<Vec<Buffer>> {
    let total: usize = cs.iter().sum();
    let mut off = 0;
    cs.iter()
        .map(|&w| {
            let part = rt.alloc(rows * w)?;
            copy_columns(rt, &part, x, rows, w, (w, 0), (total, off))?;
            off += w;
            Ok(part)
        })
        .collect()
}

impl ResampleKernel for GpuBackend {
    fn upsample_nearest(&self, x: &Buffer, g: UpsampleGeom) -> Result<Buffer> {
        upsample(self.runtime(), x, g)
    }
    fn upsample_nearest_bwd(&self, dy: &Buffer, g: UpsampleGeom) -> Result<Buffer> {
        upsample_bwd(self.runtime(), dy, g)
    }
    fn max_pool(&self, x: &Buffer, g: PoolGeom) -> Result<Buffer> {
        max_pool(self.runtime(), x, g)
    }
    fn max_pool_bwd(&self, x: &Buffer, dy: &Buffer, g: PoolGeom) -> Result<Buffer> {
        max_pool_bwd(self.runtime(), x, dy, g)
    }
    fn global_avg_pool(&self, x: &Buffer, g: VolGeom) -> Result<Buffer> {
        global_avg_pool(self.runtime(), x, g)
    }
    fn global_avg_pool_bwd(&self, dy: &Buffer, g: VolGeom) -> Result<Buffer> {
        global_avg_pool_bwd(self.runtime(), dy, g)
    }
    fn concat_channels(&self, parts: &[&Buffer], cs: &[usize], rows: usize) -> Result<Buffer> {
        concat_channels(self.runtime(), parts, cs, rows)
    }
    fn split_channels(&self, x: &Buffer, cs: &[usize], rows: usize) -> Result<Vec<Buffer>> {
        split_channels(self.runtime(), x, cs, rows)
    }
}
