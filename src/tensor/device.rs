//! `Device`: where a tensor's data lives, and how to pick its backend.

use std::fmt;

/// Where a tensor's data lives. `Cpu` and `Emu` (the CUDA kernels run on the CPU by the
/// emulator) are always available; `Cuda(n)` when the crate was built with nvcc and the machine
/// has a driver and GPU `n` (otherwise using it is an error saying which is missing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// Host memory, computed by the multi-threaded CPU backend (the reference backend).
    #[default]
    Cpu,
    /// An NVIDIA GPU, by ordinal.
    Cuda(usize),
    /// The CUDA kernels executed on the CPU by the emulator.
    Emu,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
            Device::Emu => write!(f, "emu"),
        }
    }
}
