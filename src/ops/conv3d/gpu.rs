//! Launches of `kernels/conv3d.cu` (CUDA GPU and emulator). NOT YET PORTED: placeholder.

#![allow(unused_variables, clippy::too_many_arguments)]

use crate::backend::gpu::{KernelSig, Runtime};
use crate::backend::{Buffer, Conv3dGeom};
use crate::error::{Error, Result};

/// This family's kernels, for the launch table.
pub(crate) static KERNELS: &[&KernelSig] = &[];

fn not_ported(op: &'static str) -> Error {
    Error::Kernel {
        kernel: op,
        msg: "not ported to the GPU yet".into(),
    }
}

pub(crate) fn forward(
    rt: &dyn Runtime,
    x: &Buffer,
    w: &Buffer,
    bias: Option<&Buffer>,
    g: &Conv3dGeom,
) -> Result<Buffer> {
    Err(not_ported("forward"))
}

pub(crate) fn backward_data(
    rt: &dyn Runtime,
    dy: &Buffer,
    w: &Buffer,
    g: &Conv3dGeom,
) -> Result<Buffer> {
    Err(not_ported("backward_data"))
}

pub(crate) fn backward_filter(
    rt: &dyn Runtime,
    x: &Buffer,
    dy: &Buffer,
    g: &Conv3dGeom,
) -> Result<Buffer> {
    Err(not_ported("backward_filter"))
}
