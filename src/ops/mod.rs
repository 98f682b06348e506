//! The differentiable operations, one folder per op family: `mod.rs` holds the API (shape checks,
//! autograd recording, docs, tests) and `cpu.rs` the CPU math the CPU backend dispatches to.
//!
//! Every op validates its inputs and returns a typed [`crate::Error`] naming itself and
//! the shapes at fault; nothing reachable from the public API panics on bad shapes.

pub mod adam;
pub mod conv3d;
pub mod dense;
pub mod elementwise;
mod geom;
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
