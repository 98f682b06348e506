//! The differentiable operations, one folder per op family, and what a device must compute for
//! them.
//!
//! A family's folder holds:
//! - `mod.rs`: the API (shape checks, autograd recording, docs), the family's parameter types
//!   (geometries, modes) and its kernel trait, e.g. [`ElementwiseKernel`];
//! - `cpu.rs`: the CPU math as plain functions over slices, and the kernel trait for
//!   [`CpuBackend`](crate::backend::cpu::CpuBackend);
//! - `gpu.rs`: the family's kernel signatures (`KERNELS`), their launches, and the kernel trait
//!   for [`GpuBackend`](crate::backend::gpu::GpuBackend) (a CUDA GPU or the emulator);
//! - its tests (`tests.rs` or a `tests` module in `mod.rs`).
//!
//! [`Backend`] is the sum of [`Memory`] and the eight family traits;
//! [`backend`] gives it for a device. Every parameter type is re-exported here
//! (`ops::{Conv3dGeom, LossKind, Padding, ..}`), and [`VolGeom`], shared by several families,
//! lives here. [`kernels`] is the launch table: every family's `KERNELS`.
//!
//! Every op validates its inputs and returns a typed [`crate::Error`] naming itself and
//! the shapes at fault; nothing reachable from the public API panics on bad shapes.
//!
//! # Adding an op
//! A new op touches its family's folder and, at most, its `kernels/<family>.cu` file and the
//! launch table:
//! 1. `mod.rs`: the public function (checks, the backend call, the backward step recorded on
//!    the tape), a parameter type if it needs a new one, and a method with its doc on the
//!    family's kernel trait; re-export the function (and type) here if it is public;
//! 2. `cpu.rs`: the math, and the method in the trait's impl for `CpuBackend`;
//! 3. `kernels/<family>.cu`: the kernel, exported by `VF_EXPORT(name, register_budget);`
//!    (build.rs finds it; the emulator compiles it too);
//! 4. `gpu.rs`: its `KernelSig`, listed in the family's `KERNELS`, the launch, and the method
//!    in the trait's impl for `GpuBackend`;
//! 5. tests: forward against a reference and backward by finite differences, on the CPU and
//!    the emulator (`testing`'s devices). `kernels`' tests check the new signature against the
//!    compiled kernel.
//!
//! A new family adds a folder, its trait to [`Backend`]'s supertraits and blanket impl, its
//! `KERNELS` to [`kernels::FAMILIES`], and `kernels/<family>.cu`.
//!
//! # Where the kernel sources live
//! The CUDA sources stay in `kernels/` (one `<family>.cu` per family), not in the op folders:
//! build.rs reads that one folder, compiles each file to its family's fatbin and, for the
//! emulator, compiles them all with the shared shim (`kernels/emu/`) and `kernels/common.cuh`;
//! `selftest.cu` belongs to the backend, not to an op family. Moving them would scatter the
//! users of the shared headers and make build.rs walk `src/` for little gain in locality: a
//! kernel's Rust side is already one file, the family's `gpu.rs`.

pub mod adam;
pub mod conv3d;
pub mod dense;
pub mod elementwise;
mod geom;
pub mod kernels;
pub mod loss;
pub mod norm;
pub mod resample;
pub mod warp;

#[cfg(test)]
pub(crate) mod testing;

pub use adam::AdamStep;
pub use conv3d::{Conv3dGeom, conv3d};
pub use dense::{MatmulGeom, dense};
pub use elementwise::{
    Binary, Unary, add, affine, bias_add, channel_mul, leaky_relu, mul, relu, sigmoid, sub,
};
pub use geom::VolGeom;
pub use loss::{LossKind, l1, loss, sum};
pub use norm::{NormGeom, normalize, normalize_with};
pub use resample::{
    PoolGeom, UpsampleGeom, concat_channels, global_avg_pool, max_pool, split_channels,
    upsample_nearest,
};
pub use warp::{Padding, SampleGeom, affine_grid, cumsum, grid_sample};

pub use adam::AdamKernel;
pub use conv3d::Conv3dKernel;
pub use dense::DenseKernel;
pub use elementwise::ElementwiseKernel;
pub use loss::LossKernel;
pub use norm::NormKernel;
pub use resample::ResampleKernel;
pub use warp::WarpKernel;

use crate::backend::{DeviceBackend, Memory, device_backend};
use crate::error::{Error, Result};
use crate::tensor::{Device, Tensor};

/// Everything a device must compute to train voxflow's networks: its memory and every op
/// family's kernel trait.
///
/// Buffer arguments hold exactly the values their geometry describes (the ops check this);
/// a scalar produced by one op and consumed by the next (a loss, its incoming gradient) is a
/// one-element buffer, so no method forces a host synchronization.
///
/// Every type with memory and all the family traits is a `Backend`. The methods of a
/// `&dyn Backend` need no import (a trait object's supertrait methods resolve through it);
/// calling them on a concrete backend takes the family's trait in scope.
pub trait Backend:
    Memory
    + ElementwiseKernel
    + Conv3dKernel
    + NormKernel
    + ResampleKernel
    + DenseKernel
    + WarpKernel
    + LossKernel
    + AdamKernel
{
}

impl<T> Backend for T where
    T: Memory
        + ElementwiseKernel
        + Conv3dKernel
        + NormKernel
        + ResampleKernel
        + DenseKernel
        + WarpKernel
        + LossKernel
        + AdamKernel
        + ?Sized
{
}

/// The backend computing on `device`: the CPU; the emulator (always built); a CUDA GPU when the
/// crate was built with nvcc and the driver and device are present, else an error saying why.
pub fn backend(device: Device) -> Result<&'static dyn Backend> {
    Ok(match device_backend(device)? {
        DeviceBackend::Cpu(b) => b,
        DeviceBackend::Gpu(b) => b,
    })
}

/// The common device of an op's inputs, or a device-mismatch error naming `op`.
pub(crate) fn same_device(op: &'static str, ts: &[&Tensor]) -> Result<Device> {
    let d = ts[0].device();
    for t in &ts[1..] {
        if t.device() != d {
            return Err(Error::DeviceMismatch {
                op,
                a: d,
                b: t.device(),
            });
        }
    }
    Ok(d)
}

/// An error unless `a` and `b` have the same shape.
pub(crate) fn same_shape(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::Shape {
            op,
            msg: format!("{} and {} differ", a.shape(), b.shape()),
        });
    }
    Ok(())
}
