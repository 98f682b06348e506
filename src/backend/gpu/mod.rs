//! The kernel-launching backend shared by the CUDA GPU and the emulator.
//!
//! [`GpuBackend`] computes by launching the kernels of `kernels/*.cu` through a [`Runtime`]: the
//! CUDA runtime (`backend::cuda`, memory on the GPU, launches through the driver) or the
//! emulator's (`backend::emu`, host memory, the same kernels compiled for the CPU and run by a
//! fiber scheduler). It implements [`Memory`] here; each op family implements its kernel trait
//! for it beside its launch code, in the family's `gpu.rs`, which also declares the family's
//! kernel signatures (the op families gather them into the launch table).

pub mod launch;
pub(crate) mod selftest;

pub use launch::{Arg, KernelSig, LaunchCfg, Param};

use super::*;

/// Memory and launches on one kernel-running device.
pub trait Runtime: Send + Sync {
    /// The device.
    fn device(&self) -> Device;
    /// A buffer of `len` `f32` values with undefined contents (the emulator fills it with NaN,
    /// so a kernel that forgets to write part of its output is caught).
    fn alloc(&self, len: usize) -> Result<Buffer>;
    /// Copies host values to a new buffer.
    fn upload(&self, data: &[f32]) -> Result<Buffer>;
    /// Copies a buffer to the host (the one host synchronization).
    fn download(&self, buf: &Buffer) -> Result<Vec<f32>>;
    /// Waits until every queued kernel has finished.
    fn synchronize(&self) -> Result<()>;
    /// Launches `kernel` (asynchronously on the GPU). A launch with an empty grid is skipped.
    fn launch(&self, kernel: &KernelSig, cfg: LaunchCfg, args: &[Arg]) -> Result<()>;
}

/// A backend that computes by launching kernels on a [`Runtime`].
pub struct GpuBackend {
    rt: &'static dyn Runtime,
}

impl GpuBackend {
    /// The backend over `rt` (runtimes live for the whole process, as devices do).
    pub fn new(rt: &'static dyn Runtime) -> GpuBackend {
        GpuBackend { rt }
    }

    /// The runtime.
    pub fn runtime(&self) -> &dyn Runtime {
        self.rt
    }
}

impl Memory for GpuBackend {
    fn device(&self) -> Device {
        self.rt.device()
    }
    fn synchronize(&self) -> Result<()> {
        self.rt.synchronize()
    }
    fn upload(&self, data: &[f32]) -> Result<Buffer> {
        self.rt.upload(data)
    }
    fn download(&self, buf: &Buffer) -> Result<Vec<f32>> {
        self.rt.download(buf)
    }
}
