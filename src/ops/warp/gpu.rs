//! Launches of `kernels/warp.cu` (CUDA GPU and emulator). NOT YET PORTED: placeholder.

#![allow(unused_variables, clippy::too_many_arguments)]

use crate::backend::gpu::{KernelSig, Runtime};
use crate::backend::{Buffer, SampleGeom, VolGeom};
use crate::error::{Error, Result};

/// This family's kernels, for the launch table.
pub(crate) static KERNELS: &[&KernelSig] = &[];

fn not_ported(op: &'static str) -> Error {
    Error::Kernel {
        kernel: op,
        msg: "not ported to the GPU yet".into(),
    }
}

pub(crate) fn cumsum(
    rt: &dyn Runtime,
    x: &Buffer,
    g: VolGeom,
    axis: usize,
    reverse: bool,
) -> Result<Buffer> {
    Err(not_ported("cumsum"))
}

pub(crate) fn affine_grid(
    rt: &dyn Runtime,
    grid: &Buffer,
    theta: &Buffer,
    centre: [f32; 3],
    g: VolGeom,
) -> Result<Buffer> {
    Err(not_ported("affine_grid"))
}

pub(crate) fn affine_grid_bwd(
    rt: &dyn Runtime,
    grid: &Buffer,
    theta: &Buffer,
    dy: &Buffer,
    centre: [f32; 3],
    g: VolGeom,
) -> Result<(Buffer, Buffer)> {
    Err(not_ported("affine_grid_bwd"))
}

pub(crate) fn grid_sample(
    rt: &dyn Runtime,
    img: &Buffer,
    coords: &Buffer,
    g: SampleGeom,
) -> Result<Buffer> {
    Err(not_ported("grid_sample"))
}

pub(crate) fn grid_sample_bwd(
    rt: &dyn Runtime,
    img: &Buffer,
    coords: &Buffer,
    dy: &Buffer,
    g: SampleGeom,
) -> Result<(Buffer, Buffer)> {
    Err(not_ported("grid_sample_bwd"))
}
