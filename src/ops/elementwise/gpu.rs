//! Launches of `kernels/elementwise.cu` (CUDA GPU and emulator): activations, arithmetic,
//! per-channel bias and scale, and the deterministic two-pass per-channel sum.
//!
//! At the end, [`ElementwiseKernel`] for `GpuBackend` calls the launches above.

use super::ElementwiseKernel;
use crate::backend::Buffer;
use crate::backend::gpu::{Arg, GpuBackend, KernelSig, LaunchCfg, Param::*, Runtime};
use crate::error::Result;
use crate::ops::{Binary, Unary, VolGeom};

const FAMILY: &str = "elementwise";
pub(crate) const FILL: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_fill",
    params: &[PtrF32, I64, F32],
};
pub(crate) const BROADCAST: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_broadcast_scalar",
    params: &[PtrF32, PtrF32, I64],
};
pub(crate) const UNARY: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_unary",
    params: &[PtrF32, PtrF32, I64, I32, F32, F32],
};
pub(crate) const UNARY_BWD: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_unary_bwd",
    params: &[PtrF32, PtrF32, PtrF32, I64, I32, F32],
};
pub(crate) const BINARY: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_binary",
    params: &[PtrF32, PtrF32, PtrF32, I64, I32],
};
pub(crate) const BIAS_ADD: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_bias_add",
    params: &[PtrF32, PtrF32, PtrF32, I64, I32],
};
pub(crate) const CHANNEL_MUL: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_channel_mul",
    params: &[PtrF32, PtrF32, PtrF32, I64, I32, I64],
};
pub(crate) const CHANNEL_SUM_PARTIAL: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_channel_sum_partial",
    params: &[PtrF32, PtrF32, PtrF32, I32, I64, I32],
};
pub(crate) const CHANNEL_SUM_FINAL: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_channel_sum_final",
    params: &[PtrF32, PtrF32, I32, I32, I32, I64],
};

/// This family's kernels, for the launch table.
pub(crate) static KERNELS: &[&KernelSig] = &[
    &FILL,
    &BROADCAST,
    &UNARY,
    &UNARY_BWD,
    &BINARY,
    &BIAS_ADD,
    &CHANNEL_MUL,
    &CHANNEL_SUM_PARTIAL,
    &CHANNEL_SUM_FINAL,
];

/// Rows per chunk of the channel sum (`kCsRows` in the kernel).
const CHANNEL_SUM_ROWS: usize = 1024;

fn i64_of(n: usize) -> i64 {
    n as i64
}

pub(crate) fn fill(rt: &dyn Runtime, len: usize, value: f32) -> Result<Buffer> {
    let y = rt.alloc(len)?;
    rt.launch(
        &FILL,
        LaunchCfg::elementwise(len),
        &[Arg::Buf(&y), Arg::I64(i64_of(len)), Arg::F32(value)],
    )?;
    Ok(y)
}

pub(crate) fn broadcast_scalar(rt: &dyn Runtime, scalar: &Buffer, len: usize) -> Result<Buffer> {
    let y = rt.alloc(len)?;
    rt.launch(
        &BROADCAST,
        LaunchCfg::elementwise(len),
        &[Arg::Buf(&y), Arg::Buf(scalar), Arg::I64(i64_of(len))],
    )?;
    Ok(y)
}

/// The kernel's op code and its two parameters.
fn unary_code(op: Unary) -> (i32, f32, f32) {
    match op {
        Unary::Relu => (0, 0.0, 0.0),
        Unary::LeakyRelu(a) => (1, a, 0.0),
        Unary::Sigmoid => (2, 0.0, 0.0),
        Unary::Affine(a, b) => (3, a, b),
    }
}

pub(crate) fn unary(rt: &dyn Runtime, op: Unary, x: &Buffer) -> Result<Buffer> {
    let n = x.len();
    let y = rt.alloc(n)?;
    let (code, a, b) = unary_code(op);
    rt.launch(
        &UNARY,
        LaunchCfg::elementwise(n),
        &[
            Arg::Buf(&y),
            Arg::Buf(x),
            Arg::I64(i64_of(n)),
            Arg::I32(code),
            Arg::F32(a),
            Arg::F32(b),
        ],
    )?;
    Ok(y)
}

pub(crate) fn unary_bwd(rt: &dyn Runtime, op: Unary, x: &Buffer, dy: &Buffer) -> Result<Buffer> {
    let n = x.len();
    let dx = rt.alloc(n)?;
    let (code, a, _) = unary_code(op);
    rt.launch(
        &UNARY_BWD,
        LaunchCfg::elementwise(n),
        &[
            Arg::Buf(&dx),
            Arg::Buf(x),
            Arg::Buf(dy),
            Arg::I64(i64_of(n)),
            Arg::I32(code),
            Arg::F32(a),
        ],
    )?;
    Ok(dx)
}

pub(crate) fn binary(rt: &dyn Runtime, op: Binary, a: &Buffer, b: &Buffer) -> Result<Buffer> {
    let n = a.len();
    let y = rt.alloc(n)?;
    let code = match op {
        Binary::Add => 0,
        Binary::Sub => 1,
        Binary::Mul => 2,
    };
    rt.launch(
        &BINARY,
        LaunchCfg::elementwise(n),
        &[
            Arg::Buf(&y),
            Arg::Buf(a),
            Arg::Buf(b),
            Arg::I64(i64_of(n)),
            Arg::I32(code),
        ],
    )?;
    Ok(y)
}

pub(crate) fn bias_add(rt: &dyn Runtime, x: &Buffer, bias: &Buffer, c: usize) -> Result<Buffer> {
    let n = x.len();
    let y = rt.alloc(n)?;
    rt.launch(
        &BIAS_ADD,
        LaunchCfg::elementwise(n),
        &[
            Arg::Buf(&y),
            Arg::Buf(x),
            Arg::Buf(bias),
            Arg::I64(i64_of(n)),
            Arg::I32(c as i32),
        ],
    )?;
    Ok(y)
}

/// `Σ x (· x2) / divisor` over the rows of each of `samples` samples of `[rows, c]`:
/// `[samples, c]`, summed in `f64` in a fixed order (divisor 1: sums; `rows`: means).
pub(crate) fn channel_sums(
    rt: &dyn Runtime,
    x: &Buffer,
    x2: Option<&Buffer>,
    samples: usize,
    rows: usize,
    c: usize,
    divisor: usize,
) -> Result<Buffer> {
    let chunks = rows.div_ceil(CHANNEL_SUM_ROWS).max(1);
    // One f64 per (sample, chunk, channel), stored as two f32 slots.
    let partial = rt.alloc(2 * samples * chunks * c)?;
    let y = rt.alloc(samples * c)?;
    rt.launch(
        &CHANNEL_SUM_PARTIAL,
        LaunchCfg::new([chunks as u32, samples as u32, 1], [256, 1, 1], 0),
        &[
            Arg::Buf(&partial),
            Arg::Buf(x),
            Arg::Buf(x2.unwrap_or(x)),
            Arg::I32(x2.is_some() as i32),
            Arg::I64(i64_of(rows)),
            Arg::I32(c as i32),
        ],
    )?;
    rt.launch(
        &CHANNEL_SUM_FINAL,
        LaunchCfg::linear(samples * c, 128),
        &[
            Arg::Buf(&y),
            Arg::Buf(&partial),
            Arg::I32(chunks as i32),
            Arg::I32(c as i32),
            Arg::I32(samples as i32),
            Arg::I64(divisor as i64),
        ],
    )?;
    Ok(y)
}

pub(crate) fn channel_sum(rt: &dyn Runtime, x: &Buffer, c: usize) -> Result<Buffer> {
    channel_sums(rt, x, None, 1, x.len() / c, c, 1)
}

pub(crate) fn channel_mul(
    rt: &dyn Runtime,
    x: &Buffer,
    scale: &Buffer,
    g: VolGeom,
) -> Result<Buffer> {
    let n = x.len();
    let y = rt.alloc(n)?;
    rt.launch(
        &CHANNEL_MUL,
        LaunchCfg::elementwise(n),
        &[
            Arg::Buf(&y),
            Arg::Buf(x),
            Arg::Buf(scale),
            Arg::I64(i64_of(n)),
            Arg::I32(g.c as i32),
            Arg::I64(i64_of(g.voxels() * g.c)),
        ],
    )?;
    Ok(y)
}

pub(crate) fn channel_mul_bwd(
    rt: &dyn Runtime,
    x: &Buffer,
    scale: &Buffer,
    dy: &Buffer,
    g: VolGeom,
) -> Result<(Buffer, Buffer)> {
    let dx = channel_mul(rt, dy, scale, g)?;
    let ds = channel_sums(rt, x, Some(dy), g.n, g.voxels(), g.c, 1)?;
    Ok((dx, ds))
}

impl ElementwiseKernel for GpuBackend {
    fn fill(&self, len: usize, value: f32) -> Result<Buffer> {
        fill(self.runtime(), len, value)
    }
    fn broadcast_scalar(&self, scalar: &Buffer, len: usize) -> Result<Buffer> {
        broadcast_scalar(self.runtime(), scalar, len)
    }
    fn unary(&self, op: Unary, x: &Buffer) -> Result<Buffer> {
        unary(self.runtime(), op, x)
    }
    fn unary_bwd(&self, op: Unary, x: &Buffer, dy: &Buffer) -> Result<Buffer> {
        unary_bwd(self.runtime(), op, x, dy)
    }
    fn binary(&self, op: Binary, a: &Buffer, b: &Buffer) -> Result<Buffer> {
        binary(self.runtime(), op, a, b)
    }
    fn bias_add(&self, x: &Buffer, bias: &Buffer, c: usize) -> Result<Buffer> {
        bias_add(self.runtime(), x, bias, c)
    }
    fn channel_sum(&self, x: &Buffer, c: usize) -> Result<Buffer> {
        channel_sum(self.runtime(), x, c)
    }
    fn channel_mul(&self, x: &Buffer, scale: &Buffer, g: VolGeom) -> Result<Buffer> {
        channel_mul(self.runtime(), x, scale, g)
    }
    fn channel_mul_bwd(
        &self,
        x: &Buffer,
        scale: &Buffer,
        dy: &Buffer,
        g: VolGeom,
    ) -> Result<(Buffer, Buffer)> {
        channel_mul_bwd(self.runtime(), x, scale, dy, g)
    }
}
