//! Launches of `kernels/norm.cu` (CUDA GPU and emulator). NOT YET PORTED: placeholder.

#![allow(unused_variables, clippy::too_many_arguments)]

use crate::backend::gpu::{KernelSig, Runtime};
use crate::backend::{Buffer, NormGeom};
use crate::error::{Error, Result};

/// This family's kernels, for the launch table.
pub(crate) static KERNELS: &[&KernelSig] = &[];

fn not_ported(op: &'static str) -> Error {
    Error::Kernel {
        kernel: op,
        msg: "not ported to the GPU yet".into(),
    }
}

pub(crate) fn stats(rt: &dyn Runtime, x: &Buffer, g: NormGeom) -> Result<(Buffer, Buffer)> {
    Err(not_ported("stats"))
}

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
    Err(not_ported("apply"))
}

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
    Err(not_ported("backward"))
}
