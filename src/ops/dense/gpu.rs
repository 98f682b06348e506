//! Launches of `kernels/dense.cu` (CUDA GPU and emulator). NOT YET PORTED: placeholder.

#![allow(unused_variables, clippy::too_many_arguments)]

use crate::backend::gpu::{KernelSig, Runtime};
use crate::backend::{Buffer, MatmulGeom};
use crate::error::{Error, Result};

/// This family's kernels, for the launch table.
pub(crate) static KERNELS: &[&KernelSig] = &[];

fn not_ported(op: &'static str) -> Error {
    Error::Kernel {
        kernel: op,
        msg: "not ported to the GPU yet".into(),
    }
}

pub(crate) fn matmul(rt: &dyn Runtime, a: &Buffer, b: &Buffer, g: MatmulGeom) -> Result<Buffer> {
    Err(not_ported("matmul"))
}
