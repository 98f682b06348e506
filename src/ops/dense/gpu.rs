//! Launches of `kernels/dense.cu` (CUDA GPU and emulator): the shared-memory tiled matrix
//! product with either operand transposed.
//!
//! At the end, [`DenseKernel`] for `GpuBackend` calls the launches above.

use super::DenseKernel;
use crate::backend::Buffer;
use crate::backend::gpu::launch::size_i32;
use crate::backend::gpu::{Arg, GpuBackend, KernelSig, LaunchCfg, Param::*, Runtime};
use crate::error::{Error, Result};
use crate::ops::MatmulGeom;

const FAMILY: &str = "dense";
pub(crate) const MATMUL: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_matmul",
    params: &[PtrF32, PtrF32, PtrF32, I32, I32, I32, I32, I32],
};

/// This family's kernels, for the launch table.
pub(crate) static KERNELS: &[&KernelSig] = &[&MATMUL];

/// Rows and columns of the output tile of one block (`kMmTile`).
const TILE: usize = 32;

pub(crate) fn matmul(rt: &dyn Runtime, a: &Buffer, b: &Buffer, g: MatmulGeom) -> Result<Buffer> {
    let name = MATMUL.name;
    let c = rt.alloc(g.m * g.n)?;
    if g.m == 0 || g.n == 0 {
        return Ok(c);
    }
    let row_tiles = g.m.div_ceil(TILE);
    if row_tiles > 65_535 {
        return Err(Error::Kernel {
            kernel: name,
            msg: format!("m = {} exceeds the grid's 65,535 row tiles", g.m),
        });
    }
    let col_tiles = size_i32(name, "column tiles", g.n.div_ceil(TILE))?;
    rt.launch(
        &MATMUL,
        LaunchCfg::new([col_tiles as u32, row_tiles as u32, 1], [16, 16, 1], 0),
        &[
            Arg::Buf(&c),
            Arg::Buf(a),
            Arg::Buf(b),
            Arg::I32(size_i32(name, "m", g.m)?),
            Arg::I32(size_i32(name, "k", g.k)?),
            Arg::I32(size_i32(name, "n", g.n)?),
            Arg::I32(g.trans_a as i32),
            Arg::I32(g.trans_b as i32),
        ],
    )?;
    Ok(c)
}

impl DenseKernel for GpuBackend {
    fn matmul(&self, a: &Buffer, b: &Buffer, g: MatmulGeom) -> Result<Buffer> {
        matmul(self.runtime(), a, b, g)
    }
}
