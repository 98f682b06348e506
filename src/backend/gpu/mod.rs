//! The kernel-launching backend shared by the CUDA GPU and the emulator.
//!
//! [`GpuBackend`] implements [`Backend`] once, by launching the kernels of `kernels/*.cu`
//! through a [`Runtime`]: the CUDA runtime (`backend::cuda`, memory on the GPU, launches through
//! the driver) or the emulator's (`backend::emu`, host memory, the same kernels compiled for
//! the CPU and run by a fiber scheduler). The launch code of each op family lives beside the op,
//! in `crate::ops::<family>::gpu`; the table of every kernel's parameters is [`table`].

pub mod launch;
pub(crate) mod selftest;
pub mod table;

pub use launch::{Arg, KernelSig, LaunchCfg, Param};

use super::*;
use crate::ops::{adam, conv3d, dense, elementwise, loss, norm, resample, warp};

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

/// A [`Backend`] that computes by launching kernels on a [`Runtime`].
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

impl Backend for GpuBackend {
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
    fn fill(&self, len: usize, value: f32) -> Result<Buffer> {
        elementwise::gpu::fill(self.runtime(), len, value)
    }
    fn broadcast_scalar(&self, scalar: &Buffer, len: usize) -> Result<Buffer> {
        elementwise::gpu::broadcast_scalar(self.runtime(), scalar, len)
    }

    fn unary(&self, op: Unary, x: &Buffer) -> Result<Buffer> {
        elementwise::gpu::unary(self.runtime(), op, x)
    }
    fn unary_bwd(&self, op: Unary, x: &Buffer, dy: &Buffer) -> Result<Buffer> {
        elementwise::gpu::unary_bwd(self.runtime(), op, x, dy)
    }
    fn binary(&self, op: Binary, a: &Buffer, b: &Buffer) -> Result<Buffer> {
        elementwise::gpu::binary(self.runtime(), op, a, b)
    }
    fn bias_add(&self, x: &Buffer, bias: &Buffer, c: usize) -> Result<Buffer> {
        elementwise::gpu::bias_add(self.runtime(), x, bias, c)
    }
    fn channel_sum(&self, x: &Buffer, c: usize) -> Result<Buffer> {
        elementwise::gpu::channel_sum(self.runtime(), x, c)
    }
    fn channel_mul(&self, x: &Buffer, scale: &Buffer, g: VolGeom) -> Result<Buffer> {
        elementwise::gpu::channel_mul(self.runtime(), x, scale, g)
    }
    fn channel_mul_bwd(
        &self,
        x: &Buffer,
        scale: &Buffer,
        dy: &Buffer,
        g: VolGeom,
    ) -> Result<(Buffer, Buffer)> {
        elementwise::gpu::channel_mul_bwd(self.runtime(), x, scale, dy, g)
    }

    fn conv3d(
        &self,
        x: &Buffer,
        w: &Buffer,
        bias: Option<&Buffer>,
        g: &Conv3dGeom,
    ) -> Result<Buffer> {
        conv3d::gpu::forward(self.runtime(), x, w, bias, g)
    }
    fn conv3d_bwd_data(&self, dy: &Buffer, w: &Buffer, g: &Conv3dGeom) -> Result<Buffer> {
        conv3d::gpu::backward_data(self.runtime(), dy, w, g)
    }
    fn conv3d_bwd_filter(&self, x: &Buffer, dy: &Buffer, g: &Conv3dGeom) -> Result<Buffer> {
        conv3d::gpu::backward_filter(self.runtime(), x, dy, g)
    }

    fn norm_stats(&self, x: &Buffer, g: NormGeom) -> Result<(Buffer, Buffer)> {
        norm::gpu::stats(self.runtime(), x, g)
    }
    fn norm_apply(
        &self,
        x: &Buffer,
        mean: &Buffer,
        var: &Buffer,
        gamma: Option<&Buffer>,
        beta: Option<&Buffer>,
        eps: f32,
        g: NormGeom,
    ) -> Result<Buffer> {
        norm::gpu::apply(self.runtime(), x, mean, var, gamma, beta, eps, g)
    }
    fn norm_bwd(
        &self,
        x: &Buffer,
        mean: &Buffer,
        var: &Buffer,
        gamma: Option<&Buffer>,
        dy: &Buffer,
        eps: f32,
        batch_stats: bool,
        g: NormGeom,
    ) -> Result<(Buffer, Buffer, Buffer)> {
        norm::gpu::backward(self.runtime(), x, mean, var, gamma, dy, eps, batch_stats, g)
    }

    fn upsample_nearest(&self, x: &Buffer, g: UpsampleGeom) -> Result<Buffer> {
        resample::gpu::upsample(self.runtime(), x, g)
    }
    fn upsample_nearest_bwd(&self, dy: &Buffer, g: UpsampleGeom) -> Result<Buffer> {
        resample::gpu::upsample_bwd(self.runtime(), dy, g)
    }
    fn max_pool(&self, x: &Buffer, g: PoolGeom) -> Result<Buffer> {
        resample::gpu::max_pool(self.runtime(), x, g)
    }
    fn max_pool_bwd(&self, x: &Buffer, dy: &Buffer, g: PoolGeom) -> Result<Buffer> {
        resample::gpu::max_pool_bwd(self.runtime(), x, dy, g)
    }
    fn global_avg_pool(&self, x: &Buffer, g: VolGeom) -> Result<Buffer> {
        resample::gpu::global_avg_pool(self.runtime(), x, g)
    }
    fn global_avg_pool_bwd(&self, dy: &Buffer, g: VolGeom) -> Result<Buffer> {
        resample::gpu::global_avg_pool_bwd(self.runtime(), dy, g)
    }
    fn concat_channels(&self, parts: &[&Buffer], cs: &[usize], rows: usize) -> Result<Buffer> {
        resample::gpu::concat_channels(self.runtime(), parts, cs, rows)
    }
    fn split_channels(&self, x: &Buffer, cs: &[usize], rows: usize) -> Result<Vec<Buffer>> {
        resample::gpu::split_channels(self.runtime(), x, cs, rows)
    }
    fn matmul(&self, a: &Buffer, b: &Buffer, g: MatmulGeom) -> Result<Buffer> {
        dense::gpu::matmul(self.runtime(), a, b, g)
    }

    fn cumsum(&self, x: &Buffer, g: VolGeom, axis: usize, reverse: bool) -> Result<Buffer> {
        warp::gpu::cumsum(self.runtime(), x, g, axis, reverse)
    }
    fn affine_grid(
        &self,
        grid: &Buffer,
        theta: &Buffer,
        centre: [f32; 3],
        g: VolGeom,
    ) -> Result<Buffer> {
        warp::gpu::affine_grid(self.runtime(), grid, theta, centre, g)
    }
    fn affine_grid_bwd(
        &self,
        grid: &Buffer,
        theta: &Buffer,
        dy: &Buffer,
        centre: [f32; 3],
        g: VolGeom,
    ) -> Result<(Buffer, Buffer)> {
        warp::gpu::affine_grid_bwd(self.runtime(), grid, theta, dy, centre, g)
    }
    fn grid_sample(&self, img: &Buffer, coords: &Buffer, g: SampleGeom) -> Result<Buffer> {
        warp::gpu::grid_sample(self.runtime(), img, coords, g)
    }
    fn grid_sample_bwd(
        &self,
        img: &Buffer,
        coords: &Buffer,
        dy: &Buffer,
        g: SampleGeom,
    ) -> Result<(Buffer, Buffer)> {
        warp::gpu::grid_sample_bwd(self.runtime(), img, coords, dy, g)
    }
    fn grid_sample_bwd_coords(
        &self,
        img: &Buffer,
        coords: &Buffer,
        dy: &Buffer,
        g: SampleGeom,
    ) -> Result<Buffer> {
        warp::gpu::grid_sample_bwd_coords(self.runtime(), img, coords, dy, g)
    }

    fn sum(&self, x: &Buffer) -> Result<Buffer> {
        loss::gpu::sum(self.runtime(), x)
    }
    fn l1(&self, x: &Buffer) -> Result<Buffer> {
        loss::gpu::l1(self.runtime(), x)
    }
    fn l1_bwd(&self, x: &Buffer, dl: &Buffer) -> Result<Buffer> {
        loss::gpu::l1_bwd(self.runtime(), x, dl)
    }
    fn loss(&self, kind: LossKind, a: &Buffer, b: &Buffer, g: VolGeom) -> Result<Buffer> {
        loss::gpu::loss(self.runtime(), kind, a, b, g)
    }
    fn loss_bwd(
        &self,
        kind: LossKind,
        a: &Buffer,
        b: &Buffer,
        dl: &Buffer,
        g: VolGeom,
    ) -> Result<(Buffer, Buffer)> {
        loss::gpu::loss_bwd(self.runtime(), kind, a, b, dl, g)
    }

    fn adam(
        &self,
        param: &Buffer,
        grad: &Buffer,
        m: &Buffer,
        v: &Buffer,
        step: AdamStep,
    ) -> Result<(Buffer, Buffer, Buffer)> {
        adam::gpu::update(self.runtime(), param, grad, m, v, step)
    }
}
