//! `Device`: where a tensor's data lives, and how to pick its backend.

use std::fmt;

/// Where a tensor's data lives. Only `Cpu` is built today; `Cuda` and `Emu` (the CUDA kernels
/// run on the CPU by the emulator) come with the CUDA backend and report themselves unavailable
/// until then.
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
