//! Launches of `kernels/resample.cu` (CUDA GPU and emulator). NOT YET PORTED: placeholder.

#![allow(unused_variables, clippy::too_many_arguments)]

use crate::backend::gpu::{KernelSig, Runtime};
use crate::backend::{Buffer, PoolGeom, UpsampleGeom, VolGeom};
use crate::error::{Error, Result};

/// This family's kernels, for the launch table.
pub(crate) static KERNELS: &[&KernelSig] = &[];

fn not_ported(op: &'static str) -> Error {
    Error::Kernel {
        kernel: op,
        msg: "not ported to the GPU yet".into(),
    }
}

pub(crate) fn upsample(rt: &dyn Runtime, x: &Buffer, g: UpsampleGeom) -> Result<Buffer> {
    Err(not_ported("upsample"))
}

pub(crate) fn upsample_bwd(rt: &dyn Runtime, dy: &Buffer, g: UpsampleGeom) -> Result<Buffer> {
    Err(not_ported("upsample_bwd"))
}

pub(crate) fn max_pool(rt: &dyn Runtime, x: &Buffer, g: PoolGeom) -> Result<Buffer> {
    Err(not_ported("max_pool"))
}

pub(crate) fn max_pool_bwd(
    rt: &dyn Runtime,
    x: &Buffer,
    dy: &Buffer,
    g: PoolGeom,
) -> Result<Buffer> {
    Err(not_ported("max_pool_bwd"))
}

pub(crate) fn global_avg_pool(rt: &dyn Runtime, x: &Buffer, g: VolGeom) -> Result<Buffer> {
    Err(not_ported("global_avg_pool"))
}

pub(crate) fn global_avg_pool_bwd(rt: &dyn Runtime, dy: &Buffer, g: VolGeom) -> Result<Buffer> {
    Err(not_ported("global_avg_pool_bwd"))
}

pub(crate) fn concat_channels(
    rt: &dyn Runtime,
    parts: &[&Buffer],
    cs: &[usize],
    rows: usize,
) -> Result<Buffer> {
    Err(not_ported("concat_channels"))
}

pub(crate) fn split_channels(
    rt: &dyn Runtime,
    x: &Buffer,
    cs: &[usize],
    rows: usize,
) -> Result<Vec<Buffer>> {
    Err(not_ported("split_channels"))
}
