//! Launches of `kernels/conv3d.cu` (CUDA GPU and emulator): the forward convolution, its data
//! gradient (per stride residue class) and its weight gradient (fixed voxel chunks, partials
//! added in chunk order), all implicit GEMMs with 128 × 32 block tiles of 128 threads.
//!
//! Every result is bitwise reproducible: no atomics, fixed summation orders.
//!
//! At the end, [`Conv3dKernel`] for `GpuBackend` calls the launches above.

use super::Conv3dKernel;
use crate::backend::Buffer;
use crate::backend::gpu::launch::size_i32;
use crate::backend::gpu::{Arg, GpuBackend, KernelSig, LaunchCfg, Param::*, Runtime};
use crate::error::{Error, Result};
use crate::ops::Conv3dGeom;

const FAMILY: &str = "conv3d";

/// Parameters: output, inputs, then (fprop) bias and has_bias, then the geometry's 15 `int`s:
/// n, id, ih, iw, cin, od, oh, ow, cout, k, stride, dil, pad_d, pad_h, pad_w.
pub(crate) const FPROP: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_conv3d_fprop",
    params: &[
        PtrF32, PtrF32, PtrF32, PtrF32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32,
        I32, I32, I32, I32,
    ],
};
pub(crate) const DGRAD: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_conv3d_dgrad",
    params: &[
        PtrF32, PtrF32, PtrF32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32,
        I32, I32,
    ],
};
pub(crate) const WGRAD_PARTIAL: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_conv3d_wgrad_partial",
    params: &[
        PtrF32, PtrF32, PtrF32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32,
        I32, I32,
    ],
};
pub(crate) const WGRAD_FINAL: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_conv3d_wgrad_final",
    params: &[PtrF32, PtrF32, I32, I64],
};

/// This family's kernels, for the launch table.
pub(crate) static KERNELS: &[&KernelSig] = &[&FPROP, &DGRAD, &WGRAD_PARTIAL, &WGRAD_FINAL];

/// GEMM rows and columns of one block (`kBM`, `kBN`), threads per block (`kThreads`).
const BM: usize = 128;
const BN: usize = 32;
const THREADS: u32 = 128;
/// Largest kernel size the kernels' tap tables hold (`kMaxK`).
const MAX_K: usize = 7;
/// Output voxels per weight-gradient chunk (`kWgRows`).
const WGRAD_ROWS: usize = 1024;

/// The geometry as the kernels' 15 `int`s, after checking that every index fits in 32 bits.
fn geom_args(kernel: &'static str, g: &Conv3dGeom) -> Result<[Arg<'static>; 15]> {
    if g.k > MAX_K {
        return Err(Error::Kernel {
            kernel,
            msg: format!(
                "kernel size {} exceeds the GPU kernels' maximum {MAX_K}",
                g.k
            ),
        });
    }
    // Linear element indices of x, y and the weight are computed in 32 bits.
    size_i32(kernel, "input elements", g.n * g.in_voxels() * g.cin)?;
    size_i32(kernel, "output elements", g.n * g.out_voxels() * g.cout)?;
    size_i32(
        kernel,
        "input elements (dgrad)",
        g.n * g.in_voxels() * g.cout.max(g.cin),
    )?;
    size_i32(
        kernel,
        "output elements (dgrad)",
        g.n * g.out_voxels() * g.cin.max(g.cout),
    )?;
    size_i32(kernel, "weights", g.weight_len())?;
    let v = |x: usize| size_i32(kernel, "size", x).map(Arg::I32);
    Ok([
        v(g.n)?,
        v(g.in_dims[0])?,
        v(g.in_dims[1])?,
        v(g.in_dims[2])?,
        v(g.cin)?,
        v(g.out_dims[0])?,
        v(g.out_dims[1])?,
        v(g.out_dims[2])?,
        v(g.cout)?,
        v(g.k)?,
        v(g.stride)?,
        v(g.dilation)?,
        v(g.pad_before[0])?,
        v(g.pad_before[1])?,
        v(g.pad_before[2])?,
    ])
}

fn grid_dim(kernel: &'static str, blocks: usize) -> Result<u32> {
    u32::try_from(blocks)
        .ok()
        .filter(|&b| b <= i32::MAX as u32)
        .ok_or_else(|| Error::Kernel {
            kernel,
            msg: format!("{blocks} blocks exceed the grid limit"),
        })
}

/// Forward convolution `y = conv(x, w) + bias`, `[n, out_dims, cout]`.
pub(crate) fn forward(
    rt: &dyn Runtime,
    x: &Buffer,
    w: &Buffer,
    bias: Option<&Buffer>,
    g: &Conv3dGeom,
) -> Result<Buffer> {
    let geom = geom_args(FPROP.name, g)?;
    let rows = g.n * g.out_voxels();
    let y = rt.alloc(rows * g.cout)?;
    let mut args = vec![
        Arg::Buf(&y),
        Arg::Buf(x),
        Arg::Buf(w),
        Arg::Buf(bias.unwrap_or(w)),
        Arg::I32(bias.is_some() as i32),
    ];
    args.extend(geom);
    let grid = [
        grid_dim(FPROP.name, rows.div_ceil(BM))?,
        grid_dim(FPROP.name, g.cout.div_ceil(BN))?,
        1,
    ];
    rt.launch(&FPROP, LaunchCfg::new(grid, [THREADS, 1, 1], 0), &args)?;
    Ok(y)
}

/// Gradient to the input, `[n, in_dims, cin]`: one grid layer per stride residue class.
pub(crate) fn backward_data(
    rt: &dyn Runtime,
    dy: &Buffer,
    w: &Buffer,
    g: &Conv3dGeom,
) -> Result<Buffer> {
    let geom = geom_args(DGRAD.name, g)?;
    let s = g.stride;
    let dx = rt.alloc(g.n * g.in_voxels() * g.cin)?;
    let mut args = vec![Arg::Buf(&dx), Arg::Buf(dy), Arg::Buf(w)];
    args.extend(geom);
    // The largest class is residue 0: ceil(in / stride) voxels per axis.
    let max_rows = g.n * g.in_dims.iter().map(|d| d.div_ceil(s)).product::<usize>();
    let grid = [
        grid_dim(DGRAD.name, max_rows.div_ceil(BM))?,
        grid_dim(DGRAD.name, g.cin.div_ceil(BN))?,
        grid_dim(DGRAD.name, s * s * s)?,
    ];
    rt.launch(&DGRAD, LaunchCfg::new(grid, [THREADS, 1, 1], 0), &args)?;
    Ok(dx)
}

/// Gradient to the weight, `[k³·cin, cout]`: chunk partials, then their sum in chunk order.
pub(crate) fn backward_filter(
    rt: &dyn Runtime,
    x: &Buffer,
    dy: &Buffer,
    g: &Conv3dGeom,
) -> Result<Buffer> {
    let geom = geom_args(WGRAD_PARTIAL.name, g)?;
    let kdim = g.k.pow(3) * g.cin;
    let len = kdim * g.cout;
    let chunks = (g.n * g.out_voxels()).div_ceil(WGRAD_ROWS);
    let partial = rt.alloc(chunks * len)?;
    let mut args = vec![Arg::Buf(&partial), Arg::Buf(x), Arg::Buf(dy)];
    args.extend(geom);
    let grid = [
        grid_dim(WGRAD_PARTIAL.name, kdim.div_ceil(BM))?,
        grid_dim(WGRAD_PARTIAL.name, g.cout.div_ceil(BN))?,
        grid_dim(WGRAD_PARTIAL.name, chunks)?,
    ];
    rt.launch(
        &WGRAD_PARTIAL,
        LaunchCfg::new(grid, [THREADS, 1, 1], 0),
        &args,
    )?;
    let dw = rt.alloc(len)?;
    rt.launch(
        &WGRAD_FINAL,
        LaunchCfg::elementwise(len),
        &[
            Arg::Buf(&dw),
            Arg::Buf(&partial),
            Arg::I32(size_i32(WGRAD_FINAL.name, "chunks", chunks)?),
            Arg::I64(len as i64),
        ],
    )?;
    Ok(dw)
}

impl Conv3dKernel for GpuBackend {
    fn conv3d(
        &self,
        x: &Buffer,
        w: &Buffer,
        bias: Option<&Buffer>,
        g: &Conv3dGeom,
    ) -> Result<Buffer> {
        forward(self.runtime(), x, w, bias, g)
    }
    fn conv3d_bwd_data(&self, dy: &Buffer, w: &Buffer, g: &Conv3dGeom) -> Result<Buffer> {
        backward_data(self.runtime(), dy, w, g)
    }
    fn conv3d_bwd_filter(&self, x: &Buffer, dy: &Buffer, g: &Conv3dGeom) -> Result<Buffer> {
        backward_filter(self.runtime(), x, dy, g)
    }
}
