//! The `Backend` trait: one method per op family (forward and backward) over opaque device
//! buffers, and the function that picks a backend for a [`Device`].
//!
//! Ops (`crate::ops`) validate shapes, build a geometry from [`geom`], call a backend and record
//! the backward step on the autograd tape. Backends only compute: they trust the geometry and
//! never see shapes as user input. The CPU backend is the reference every other backend is
//! tested against. The CUDA backend and the emulator (which runs the same CUDA kernels on the
//! CPU) implement this same trait, so each method is shaped for a kernel launch: flat buffers
//! in, freshly allocated buffers out, scalars that feed the next op kept on the device.

pub mod cpu;
pub mod cuda;
pub mod emu;
pub mod gpu;

use crate::error::{Error, Result};
use crate::ops::{
    AdamStep, Binary, Conv3dGeom, LossKind, MatmulGeom, NormGeom, PoolGeom, SampleGeom, Unary,
    UpsampleGeom, VolGeom,
};
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

/// Everything a device must compute to train voxflow's networks.
///
/// Buffer arguments hold exactly the values their geometry describes (the ops check this);
/// a scalar produced by one op and consumed by the next (a loss, its incoming gradient) is a
/// one-element buffer, so no method forces a host synchronization.
pub trait Backend: Send + Sync {
    /// The device this backend computes on.
    fn device(&self) -> Device;

    /// Waits until all queued work has finished (benchmarks call it before reading a timer);
    /// a no-op where work is synchronous.
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }

    // ---- memory ----
    /// Copies host values to a new device buffer.
    fn upload(&self, data: &[f32]) -> Result<Buffer>;
    /// Copies a device buffer to the host.
    fn download(&self, buf: &Buffer) -> Result<Vec<f32>>;
    /// A buffer of `len` copies of `value`.
    fn fill(&self, len: usize, value: f32) -> Result<Buffer>;
    /// A buffer of `len` copies of the one value in `scalar`.
    fn broadcast_scalar(&self, scalar: &Buffer, len: usize) -> Result<Buffer>;

    // ---- elementwise ----
    /// `f(x)` elementwise.
    fn unary(&self, op: Unary, x: &Buffer) -> Result<Buffer>;
    /// `dy · f'(x)` elementwise.
    fn unary_bwd(&self, op: Unary, x: &Buffer, dy: &Buffer) -> Result<Buffer>;
    /// `a ∘ b` elementwise on equal lengths.
    fn binary(&self, op: Binary, a: &Buffer, b: &Buffer) -> Result<Buffer>;
    /// `x[.., ch] + bias[ch]` over the innermost dimension of size `c`.
    fn bias_add(&self, x: &Buffer, bias: &Buffer, c: usize) -> Result<Buffer>;
    /// Sum over all but the innermost dimension of size `c` (the bias gradient).
    fn channel_sum(&self, x: &Buffer, c: usize) -> Result<Buffer>;
    /// `x[i, s, ch] · scale[i, ch]` for `x` viewed as `[n, s, c]`.
    fn channel_mul(&self, x: &Buffer, scale: &Buffer, g: VolGeom) -> Result<Buffer>;
    /// Gradients `(dx, dscale)` of [`Backend::channel_mul`].
    fn channel_mul_bwd(
        &self,
        x: &Buffer,
        scale: &Buffer,
        dy: &Buffer,
        g: VolGeom,
    ) -> Result<(Buffer, Buffer)>;

    // ---- convolution ----
    /// Forward convolution (with bias when given).
    fn conv3d(
        &self,
        x: &Buffer,
        w: &Buffer,
        bias: Option<&Buffer>,
        g: &Conv3dGeom,
    ) -> Result<Buffer>;
    /// Gradient to the input ("dgrad").
    fn conv3d_bwd_data(&self, dy: &Buffer, w: &Buffer, g: &Conv3dGeom) -> Result<Buffer>;
    /// Gradient to the weight ("wgrad"); the bias gradient is [`Backend::channel_sum`] of `dy`.
    fn conv3d_bwd_filter(&self, x: &Buffer, dy: &Buffer, g: &Conv3dGeom) -> Result<Buffer>;

    // ---- normalization ----
    /// Mean and biased variance of each group of `g`.
    fn norm_stats(&self, x: &Buffer, g: NormGeom) -> Result<(Buffer, Buffer)>;
    /// `(x - mean)/√(var + eps)·γ + β`; `gamma`/`beta` are per channel (`[c]`) when given.
    #[allow(clippy::too_many_arguments)]
    fn norm_apply(
        &self,
        x: &Buffer,
        mean: &Buffer,
        var: &Buffer,
        gamma: Option<&Buffer>,
        beta: Option<&Buffer>,
        eps: f32,
        g: NormGeom,
    ) -> Result<Buffer>;
    /// Gradients `(dx, dγ, dβ)` of [`Backend::norm_apply`]. With `batch_stats`, mean and var
    /// are the statistics of `x` itself and are differentiated through; otherwise constants.
    #[allow(clippy::too_many_arguments)]
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
    ) -> Result<(Buffer, Buffer, Buffer)>;

    // ---- resampling and pooling ----
    /// Nearest ×2 upsampling.
    fn upsample_nearest(&self, x: &Buffer, g: UpsampleGeom) -> Result<Buffer>;
    /// Its gradient: each input voxel sums the output voxels that read it.
    fn upsample_nearest_bwd(&self, dy: &Buffer, g: UpsampleGeom) -> Result<Buffer>;
    /// 2³ max pooling, stride 2.
    fn max_pool(&self, x: &Buffer, g: PoolGeom) -> Result<Buffer>;
    /// Its gradient, routed to the first maximum of each window (recomputed from `x`).
    fn max_pool_bwd(&self, x: &Buffer, dy: &Buffer, g: PoolGeom) -> Result<Buffer>;
    /// Mean over the voxels of each sample and channel: `[n, s, c]` → `[n, c]`.
    fn global_avg_pool(&self, x: &Buffer, g: VolGeom) -> Result<Buffer>;
    /// Its gradient, `dy[i, ch] / s` at every voxel.
    fn global_avg_pool_bwd(&self, dy: &Buffer, g: VolGeom) -> Result<Buffer>;
    /// Concatenates along the innermost dimension: part `i` is `[rows, cs[i]]`.
    fn concat_channels(&self, parts: &[&Buffer], cs: &[usize], rows: usize) -> Result<Buffer>;
    /// The inverse of [`Backend::concat_channels`].
    fn split_channels(&self, x: &Buffer, cs: &[usize], rows: usize) -> Result<Vec<Buffer>>;
    /// Matrix product.
    fn matmul(&self, a: &Buffer, b: &Buffer, g: MatmulGeom) -> Result<Buffer>;

    // ---- spatial transformer ----
    /// Inclusive cumulative sum along spatial `axis` (0 = D, 1 = H, 2 = W) of every channel;
    /// with `reverse`, summed from the far end (the backward pass).
    fn cumsum(&self, x: &Buffer, g: VolGeom, axis: usize, reverse: bool) -> Result<Buffer>;
    /// `p' = A·[p - centre, 1] + centre` at every point of `grid [n, dims, 3]`, with `A` the
    /// row-major 3×4 matrix `theta[i, 0..12]`; channels and `centre` are ordered (x, y, z).
    fn affine_grid(
        &self,
        grid: &Buffer,
        theta: &Buffer,
        centre: [f32; 3],
        g: VolGeom,
    ) -> Result<Buffer>;
    /// Gradients `(dgrid, dtheta)` of [`Backend::affine_grid`].
    fn affine_grid_bwd(
        &self,
        grid: &Buffer,
        theta: &Buffer,
        dy: &Buffer,
        centre: [f32; 3],
        g: VolGeom,
    ) -> Result<(Buffer, Buffer)>;
    /// Trilinear sampling.
    fn grid_sample(&self, img: &Buffer, coords: &Buffer, g: SampleGeom) -> Result<Buffer>;
    /// Gradients `(dimg, dcoords)` of [`Backend::grid_sample`]; `dimg` is accumulated in a
    /// fixed order, so it is bitwise reproducible.
    fn grid_sample_bwd(
        &self,
        img: &Buffer,
        coords: &Buffer,
        dy: &Buffer,
        g: SampleGeom,
    ) -> Result<(Buffer, Buffer)>;
    /// `dcoords` of [`Backend::grid_sample`] alone, bitwise equal to the second result of
    /// [`Backend::grid_sample_bwd`]: for the usual case of an image that needs no gradient
    /// (a registration's moving image), without the image gradient's scatter.
    fn grid_sample_bwd_coords(
        &self,
        img: &Buffer,
        coords: &Buffer,
        dy: &Buffer,
        g: SampleGeom,
    ) -> Result<Buffer>;

    // ---- reductions and losses (results are one-element buffers) ----
    /// Sum of all values, in a fixed order.
    fn sum(&self, x: &Buffer) -> Result<Buffer>;
    /// `Σ|x|`.
    fn l1(&self, x: &Buffer) -> Result<Buffer>;
    /// `dl · sign(x)`.
    fn l1_bwd(&self, x: &Buffer, dl: &Buffer) -> Result<Buffer>;
    /// A loss between prediction `a` and target `b`.
    fn loss(&self, kind: LossKind, a: &Buffer, b: &Buffer, g: VolGeom) -> Result<Buffer>;
    /// Gradients `(da, db)` of [`Backend::loss`] scaled by the incoming gradient `dl`.
    fn loss_bwd(
        &self,
        kind: LossKind,
        a: &Buffer,
        b: &Buffer,
        dl: &Buffer,
        g: VolGeom,
    ) -> Result<(Buffer, Buffer)>;

    // ---- optimizer ----
    /// One Adam update; returns the new `(param, m, v)`.
    fn adam(
        &self,
        param: &Buffer,
        grad: &Buffer,
        m: &Buffer,
        v: &Buffer,
        step: AdamStep,
    ) -> Result<(Buffer, Buffer, Buffer)>;
}

/// The backend computing on `device`: the CPU; the emulator (always built); a CUDA GPU when the
/// crate was built with nvcc and the driver and device are present, else an error saying why.
pub fn backend(device: Device) -> Result<&'static dyn Backend> {
    match device {
        Device::Cpu => Ok(&cpu::CpuBackend),
        Device::Emu => {
            static EMU: std::sync::OnceLock<gpu::GpuBackend> = std::sync::OnceLock::new();
            Ok(EMU.get_or_init(|| gpu::GpuBackend::new(&emu::EmuRuntime)))
        }
        Device::Cuda(ordinal) => cuda::backend(ordinal),
    }
}
