//! Devices without the ops: opaque device [`Buffer`]s, the [`Memory`] trait every backend
//! implements, the runtimes (`cpu/`, `cuda/` for a GPU through the driver, `emu/` the emulator
//! that runs the CUDA kernels on the CPU), kernel launching (`gpu/`: the [`gpu::Runtime`]
//! trait, argument packing, [`gpu::GpuBackend`], the self-test of the execution model), and
//! [`device_backend`], which picks the concrete backend of a [`Device`].
//!
//! This module imports no op. What a backend computes is declared by the op families, one
//! kernel trait per family in the family's folder, implemented there for [`cpu::CpuBackend`]
//! and [`gpu::GpuBackend`]; the ops validate shapes, build the family's geometry, call the
//! backend and record the backward step on the autograd tape. Backends only compute: they
//! trust the geometry and never see shapes as user input. The CPU backend is the reference
//! every other backend is tested against. The CUDA backend and the emulator share the launch
//! code, so each kernel method is shaped for a launch: flat buffers in, freshly allocated
//! buffers out, scalars that feed the next op kept on the device.

pub mod cpu;
pub mod cuda;
pub mod emu;
pub mod gpu;

use crate::error::{Error, Result};
use crate::tensor::Device;

/// Device memory holding `f32` values. Opaque outside the backends.
#[derive(Clone, Debug)]
pub struct Buffer {
    inner: BufferInner,
}

#[derive(Clone, Debug)]
enum BufferInner {
    Cpu(Vec<f32>),
    Emu(std::sync::Arc<emu::EmuMem>),
    Cuda(std::sync::Arc<cuda::CudaMem>),
}

impl Buffer {
    /// Number of `f32` values.
    pub fn len(&self) -> usize {
        match &self.inner {
            BufferInner::Cpu(v) => v.len(),
            BufferInner::Emu(m) => m.len(),
            BufferInner::Cuda(m) => m.len(),
        }
    }

    /// True when the buffer holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The device the memory lives on.
    pub fn device(&self) -> Device {
        match &self.inner {
            BufferInner::Cpu(_) => Device::Cpu,
            BufferInner::Emu(_) => Device::Emu,
            BufferInner::Cuda(m) => Device::Cuda(m.ordinal()),
        }
    }

    pub(crate) fn from_host_vec(v: Vec<f32>) -> Self {
        Buffer {
            inner: BufferInner::Cpu(v),
        }
    }

    /// The values of a host buffer; an error for device memory.
    pub(crate) fn host(&self) -> Result<&[f32]> {
        match &self.inner {
            BufferInner::Cpu(v) => Ok(v),
            _ => Err(Error::DeviceUnavailable {
                device: self.device(),
                msg: "host access to device memory (copy it to the CPU first)".into(),
            }),
        }
    }
}

/// Memory on one device: what every backend does besides computing ops.
///
/// The ops' side of a backend is one kernel trait per op family, declared in the family's
/// folder and implemented there for [`CpuBackend`](cpu::CpuBackend) and
/// [`GpuBackend`](gpu::GpuBackend); the op families sum them with this trait into the trait
/// their ops call.
pub trait Memory: Send + Sync {
    /// The device this backend computes on.
    fn device(&self) -> Device;

    /// Waits until all queued work has finished (benchmarks call it before reading a timer);
    /// a no-op where work is synchronous.
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }

    /// Copies host values to a new device buffer.
    fn upload(&self, data: &[f32]) -> Result<Buffer>;
    /// Copies a device buffer to the host.
    fn download(&self, buf: &Buffer) -> Result<Vec<f32>>;
}

/// The concrete backend of a device: the CPU's, or the kernel-launching one over a runtime
/// (the emulator's or a CUDA GPU's). The op families turn it into the trait object they call.
#[derive(Clone, Copy)]
pub enum DeviceBackend {
    /// The CPU (reference) backend.
    Cpu(&'static cpu::CpuBackend),
    /// Kernels launched on the emulator or a CUDA GPU.
    Gpu(&'static gpu::GpuBackend),
}

/// The backend computing on `device`: the CPU; the emulator (always built); a CUDA GPU when the
/// crate was built with nvcc and the driver and device are present, else an error saying why.
pub fn device_backend(device: Device) -> Result<DeviceBackend> {
    match device {
        Device::Cpu => Ok(DeviceBackend::Cpu(&cpu::CpuBackend)),
        Device::Emu => {
            static EMU: std::sync::OnceLock<gpu::GpuBackend> = std::sync::OnceLock::new();
            Ok(DeviceBackend::Gpu(
                EMU.get_or_init(|| gpu::GpuBackend::new(&emu::EmuRuntime)),
            ))
        }
        Device::Cuda(ordinal) => Ok(DeviceBackend::Gpu(cuda::backend(ordinal)?)),
    }
}
