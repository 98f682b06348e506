//! Launches of `kernels/loss.cu` (CUDA GPU and emulator): deterministic two-pass reductions and
//! the losses with their gradients.
#![allow(unused_variables)]

use crate::backend::gpu::{Arg, KernelSig, LaunchCfg, Param::*, Runtime};
use crate::backend::{Buffer, LossKind, VolGeom};
use crate::error::{Error, Result};

const FAMILY: &str = "loss";
pub(crate) const REDUCE_PARTIAL: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_reduce_partial",
    params: &[PtrF32, PtrF32, I64, I32],
};
pub(crate) const REDUCE_FINAL: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_reduce_final",
    params: &[PtrF32, PtrF32, I32, F32],
};

/// This family's kernels, for the launch table.
pub(crate) static KERNELS: &[&KernelSig] = &[&REDUCE_PARTIAL, &REDUCE_FINAL];

/// Values per block of the first reduction pass (`kRedChunk` in the kernel).
const REDUCE_CHUNK: usize = 8192;

/// How [`reduce`] maps each value before adding.
#[derive(Clone, Copy)]
enum Reduce {
    Sum = 0,
    Abs = 1,
}

/// `scale · Σ f(x)` as a one-element buffer, in a fixed order.
fn reduce(rt: &dyn Runtime, x: &Buffer, mode: Reduce, scale: f32) -> Result<Buffer> {
    let n = x.len();
    let blocks = n.div_ceil(REDUCE_CHUNK).max(1);
    // One f64 per block, stored as two f32 slots.
    let partial = rt.alloc(2 * blocks)?;
    let y = rt.alloc(1)?;
    rt.launch(
        &REDUCE_PARTIAL,
        LaunchCfg::new([blocks as u32, 1, 1], [256, 1, 1], 0),
        &[
            Arg::Buf(&partial),
            Arg::Buf(x),
            Arg::I64(n as i64),
            Arg::I32(mode as i32),
        ],
    )?;
    rt.launch(
        &REDUCE_FINAL,
        LaunchCfg::new([1, 1, 1], [256, 1, 1], 0),
        &[
            Arg::Buf(&y),
            Arg::Buf(&partial),
            Arg::I32(blocks as i32),
            Arg::F32(scale),
        ],
    )?;
    Ok(y)
}

pub(crate) fn sum(rt: &dyn Runtime, x: &Buffer) -> Result<Buffer> {
    reduce(rt, x, Reduce::Sum, 1.0)
}

pub(crate) fn l1(rt: &dyn Runtime, x: &Buffer) -> Result<Buffer> {
    reduce(rt, x, Reduce::Abs, 1.0)
}

fn not_ported(op: &'static str) -> Error {
    Error::Kernel {
        kernel: op,
        msg: "not ported to the GPU yet".into(),
    }
}

pub(crate) fn l1_bwd(rt: &dyn Runtime, x: &Buffer, dl: &Buffer) -> Result<Buffer> {
    Err(not_ported("l1_bwd"))
}

pub(crate) fn loss(
    rt: &dyn Runtime,
    kind: LossKind,
    a: &Buffer,
    b: &Buffer,
    g: VolGeom,
) -> Result<Buffer> {
    Err(not_ported("loss"))
}

pub(crate) fn loss_bwd(
    rt: &dyn Runtime,
    kind: LossKind,
    a: &Buffer,
    b: &Buffer,
    dl: &Buffer,
    g: VolGeom,
) -> Result<(Buffer, Buffer)> {
    Err(not_ported("loss_bwd"))
}
