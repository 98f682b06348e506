//! The CPU backend: multi-threaded (rayon) Rust, and the reference for every other backend.
//!
//! This file holds [`CpuBackend`], its host memory and the helpers that wrap host results in
//! buffers. The math of each op family, and the family's kernel trait implemented for
//! `CpuBackend`, live beside the op, in the family's `cpu.rs`, as plain functions over slices
//! and a dispatch that unwraps buffers. Every parallel loop
//! splits its work into pieces whose boundaries do not depend on the number of threads, and
//! every reduction adds those pieces in a fixed order, so results are bitwise identical run
//! after run and for any `RAYON_NUM_THREADS`.

use super::*;

/// The CPU backend (stateless; scratch memory is per call or per thread).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

impl Memory for CpuBackend {
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn upload(&self, data: &[f32]) -> Result<Buffer> {
        out(data.to_vec())
    }
    fn download(&self, buf: &Buffer) -> Result<Vec<f32>> {
        Ok(buf.host()?.to_vec())
    }
}

/// A host buffer holding `v`, as a backend result.
pub(crate) fn out(v: Vec<f32>) -> Result<Buffer> {
    Ok(Buffer::from_host_vec(v))
}

/// The values of an optional host buffer.
pub(crate) fn opt_host(b: Option<&Buffer>) -> Result<Option<&[f32]>> {
    b.map(|b| b.host()).transpose()
}
