//! Launches of `kernels/warp.cu` (CUDA GPU and emulator): cumulative sum, affine grid and its
//! gradient, trilinear sampling and its gradients (the image gradient through deterministic
//! 64-bit fixed-point integer atomics, see the kernel file; the coordinate gradient alone by a
//! gather when the image needs none).
//!
//! At the end, [`WarpKernel`] for `GpuBackend` calls the launches above.

use super::WarpKernel;
use crate::backend::Buffer;
use crate::backend::gpu::launch::size_i32;
use crate::backend::gpu::{Arg, GpuBackend, KernelSig, LaunchCfg, Param::*, Runtime};
use crate::error::Result;
use crate::ops::{Padding, SampleGeom, VolGeom};
use crate::ops::{elementwise, loss};

const FAMILY: &str = "warp";
/// The backward's output tile per block `[z, y, x]` (kBwdZ, kBwdY, kBwdX in warp.cu).
const BWD_TILE: [usize; 3] = [4, 4, 16];
pub(crate) const CUMSUM: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_cumsum",
    params: &[PtrF32, PtrF32, I64, I32, I64, I32],
};
pub(crate) const AFFINE: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_affine_grid",
    params: &[PtrF32, PtrF32, PtrF32, I64, I64, F32, F32, F32],
};
pub(crate) const AFFINE_BWD_PARTIAL: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_affine_grid_bwd_partial",
    params: &[PtrF32, PtrF32, PtrF32, PtrF32, PtrF32, I64, F32, F32, F32],
};
pub(crate) const AFFINE_BWD_FINAL: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_affine_grid_bwd_final",
    params: &[PtrF32, PtrF32, I32, I32],
};
pub(crate) const SAMPLE: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_grid_sample",
    params: &[PtrF32, PtrF32, PtrF32, I32, I32, I32, I32, I32, I32, I32],
};
pub(crate) const SAMPLE_BWD: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_grid_sample_bwd",
    params: &[
        PtrF32, PtrU64, PtrF32, PtrF32, PtrF32, PtrF32, I32, I32, I32, I32, I32, I32, I32, I32, I32,
    ],
};
pub(crate) const SAMPLE_BWD_COORDS: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_grid_sample_bwd_coords",
    params: &[
        PtrF32, PtrF32, PtrF32, PtrF32, I32, I32, I32, I32, I32, I32, I32,
    ],
};
pub(crate) const FIXED_TO_FLOAT: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_fixed_to_float",
    params: &[PtrF32, PtrU64, PtrF32, I64],
};

/// This family's kernels, for the launch table.
pub(crate) static KERNELS: &[&KernelSig] = &[
    &CUMSUM,
    &AFFINE,
    &AFFINE_BWD_PARTIAL,
    &AFFINE_BWD_FINAL,
    &SAMPLE,
    &SAMPLE_BWD,
    &SAMPLE_BWD_COORDS,
    &FIXED_TO_FLOAT,
];

/// Points per partial of the `dtheta` reduction (`kAffPoints` in the kernel).
const AFFINE_POINTS: usize = 4096;

pub(crate) fn cumsum(
    rt: &dyn Runtime,
    x: &Buffer,
    g: VolGeom,
    axis: usize,
    reverse: bool,
) -> Result<Buffer> {
    let outer = g.n * g.dims[..axis].iter().product::<usize>();
    let inner = g.dims[axis + 1..].iter().product::<usize>() * g.c;
    let y = rt.alloc(x.len())?;
    rt.launch(
        &CUMSUM,
        LaunchCfg::elementwise(outer * inner),
        &[
            Arg::Buf(&y),
            Arg::Buf(x),
            Arg::I64(outer as i64),
            Arg::I32(g.dims[axis] as i32),
            Arg::I64(inner as i64),
            Arg::I32(reverse as i32),
        ],
    )?;
    Ok(y)
}

pub(crate) fn affine_grid(
    rt: &dyn Runtime,
    grid: &Buffer,
    theta: &Buffer,
    centre: [f32; 3],
    g: VolGeom,
) -> Result<Buffer> {
    let points = g.n * g.voxels();
    let y = rt.alloc(grid.len())?;
    rt.launch(
        &AFFINE,
        LaunchCfg::elementwise(points),
        &[
            Arg::Buf(&y),
            Arg::Buf(grid),
            Arg::Buf(theta),
            Arg::I64(g.voxels() as i64),
            Arg::I64(points as i64),
            Arg::F32(centre[0]),
            Arg::F32(centre[1]),
            Arg::F32(centre[2]),
        ],
    )?;
    Ok(y)
}

pub(crate) fn affine_grid_bwd(
    rt: &dyn Runtime,
    grid: &Buffer,
    theta: &Buffer,
    dy: &Buffer,
    centre: [f32; 3],
    g: VolGeom,
) -> Result<(Buffer, Buffer)> {
    let blocks = g.voxels().div_ceil(AFFINE_POINTS).max(1);
    let dgrid = rt.alloc(grid.len())?;
    // One f64 per (sample, block, entry): two f32 slots each.
    let partial = rt.alloc(2 * g.n * blocks * 12)?;
    let dtheta = rt.alloc(g.n * 12)?;
    rt.launch(
        &AFFINE_BWD_PARTIAL,
        LaunchCfg::new([blocks as u32, g.n as u32, 1], [256, 1, 1], 0),
        &[
            Arg::Buf(&dgrid),
            Arg::Buf(&partial),
            Arg::Buf(grid),
            Arg::Buf(theta),
            Arg::Buf(dy),
            Arg::I64(g.voxels() as i64),
            Arg::F32(centre[0]),
            Arg::F32(centre[1]),
            Arg::F32(centre[2]),
        ],
    )?;
    rt.launch(
        &AFFINE_BWD_FINAL,
        LaunchCfg::linear(g.n * 12, 64),
        &[
            Arg::Buf(&dtheta),
            Arg::Buf(&partial),
            Arg::I32(blocks as i32),
            Arg::I32(g.n as i32),
        ],
    )?;
    Ok((dgrid, dtheta))
}

/// The sampling kernels' shared trailing arguments. Their index math is 32-bit: an error names
/// the size that does not fit.
fn sample_args(kernel: &'static str, g: &SampleGeom) -> Result<[Arg<'static>; 7]> {
    let vout = g.out_dims.iter().product::<usize>();
    let vin = g.in_dims.iter().product::<usize>() * g.c;
    size_i32(kernel, "3 · output voxels", 3 * g.n * vout)?;
    size_i32(kernel, "output values", g.n * vout * g.c)?;
    size_i32(kernel, "image values", g.n * vin)?;
    Ok([
        Arg::I32(vout as i32),
        Arg::I32((g.n * vout) as i32),
        Arg::I32(g.in_dims[0] as i32),
        Arg::I32(g.in_dims[1] as i32),
        Arg::I32(g.in_dims[2] as i32),
        Arg::I32(g.c as i32),
        Arg::I32(match g.padding {
            Padding::Border => 0,
            Padding::Zeros => 1,
        }),
    ])
}

fn voxels(g: &SampleGeom) -> usize {
    g.n * g.out_dims.iter().product::<usize>()
}

pub(crate) fn grid_sample(
    rt: &dyn Runtime,
    img: &Buffer,
    coords: &Buffer,
    g: SampleGeom,
) -> Result<Buffer> {
    let out = rt.alloc(voxels(&g) * g.c)?;
    let mut args = vec![Arg::Buf(&out), Arg::Buf(img), Arg::Buf(coords)];
    args.extend(sample_args(SAMPLE.name, &g)?);
    rt.launch(&SAMPLE, LaunchCfg::elementwise(voxels(&g)), &args)?;
    Ok(out)
}

/// The coordinate gradient alone: a gather, launched like the forward.
pub(crate) fn grid_sample_bwd_coords(
    rt: &dyn Runtime,
    img: &Buffer,
    coords: &Buffer,
    dy: &Buffer,
    g: SampleGeom,
) -> Result<Buffer> {
    let dcoords = rt.alloc(coords.len())?;
    let mut args = vec![
        Arg::Buf(&dcoords),
        Arg::Buf(img),
        Arg::Buf(coords),
        Arg::Buf(dy),
    ];
    args.extend(sample_args(SAMPLE_BWD_COORDS.name, &g)?);
    rt.launch(
        &SAMPLE_BWD_COORDS,
        LaunchCfg::elementwise(voxels(&g)),
        &args,
    )?;
    Ok(dcoords)
}

pub(crate) fn grid_sample_bwd(
    rt: &dyn Runtime,
    img: &Buffer,
    coords: &Buffer,
    dy: &Buffer,
    g: SampleGeom,
) -> Result<(Buffer, Buffer)> {
    // dcoords by gather; the image gradient as fixed-point integers scaled by Σ|dy| (kept on
    // the device), in the same pass.
    let dcoords = rt.alloc(coords.len())?;
    let len = img.len();
    let sabs = loss::gpu::l1(rt, dy)?;
    let acc = elementwise::gpu::fill(rt, 2 * len, 0.0)?;
    let [_, _, di, hi, wi, c, padding] = sample_args(SAMPLE_BWD.name, &g)?;
    let [dout, hout, wout] = g.out_dims.map(|s| Arg::I32(s as i32));
    let args = [
        Arg::Buf(&dcoords),
        Arg::Buf(&acc),
        Arg::Buf(img),
        Arg::Buf(coords),
        Arg::Buf(dy),
        Arg::Buf(&sabs),
        Arg::I32(g.n as i32),
        dout,
        hout,
        wout,
        di,
        hi,
        wi,
        c,
        padding,
    ];
    // One block of BWD_TILE threads per output tile (the kernel's kBwdX × kBwdY × kBwdZ).
    let [td, th, tw] = BWD_TILE;
    let tiles =
        g.n * g.out_dims[0].div_ceil(td) * g.out_dims[1].div_ceil(th) * g.out_dims[2].div_ceil(tw);
    let grid = tiles.clamp(1, i32::MAX as usize) as u32;
    let block = (td * th * tw) as u32;
    rt.launch(
        &SAMPLE_BWD,
        LaunchCfg::new([grid, 1, 1], [block, 1, 1], 0),
        &args,
    )?;
    let dimg = rt.alloc(len)?;
    rt.launch(
        &FIXED_TO_FLOAT,
        LaunchCfg::elementwise(len),
        &[
            Arg::Buf(&dimg),
            Arg::Buf(&acc),
            Arg::Buf(&sabs),
            Arg::I64(len as i64),
        ],
    )?;
    Ok((dimg, dcoords))
}

impl WarpKernel for GpuBackend {
    fn cumsum(&self, x: &Buffer, g: VolGeom, axis: usize, reverse: bool) -> Result<Buffer> {
        cumsum(self.runtime(), x, g, axis, reverse)
    }
    fn affine_grid(
        &self,
        grid: &Buffer,
        theta: &Buffer,
        centre: [f32; 3],
        g: VolGeom,
    ) -> Result<Buffer> {
        affine_grid(self.runtime(), grid, theta, centre, g)
    }
    fn affine_grid_bwd(
        &self,
        grid: &Buffer,
        theta: &Buffer,
        dy: &Buffer,
        centre: [f32; 3],
        g: VolGeom,
    ) -> Result<(Buffer, Buffer)> {
        affine_grid_bwd(self.runtime(), grid, theta, dy, centre, g)
    }
    fn grid_sample(&self, img: &Buffer, coords: &Buffer, g: SampleGeom) -> Result<Buffer> {
        grid_sample(self.runtime(), img, coords, g)
    }
    fn grid_sample_bwd(
        &self,
        img: &Buffer,
        coords: &Buffer,
        dy: &Buffer,
        g: SampleGeom,
    ) -> Result<(Buffer, Buffer)> {
        grid_sample_bwd(self.runtime(), img, coords, dy, g)
    }
    fn grid_sample_bwd_coords(
        &self,
        img: &Buffer,
        coords: &Buffer,
        dy: &Buffer,
        g: SampleGeom,
    ) -> Result<Buffer> {
        grid_sample_bwd_coords(self.runtime(), img, coords, dy, g)
    }
    /// One pass computes both gradients on the GPU; the coordinate gradient is dropped.
    fn grid_sample_bwd_image(
        &self,
        img: &Buffer,
        coords: &Buffer,
        dy: &Buffer,
        g: SampleGeom,
    ) -> Result<Buffer> {
        Ok(grid_sample_bwd(self.runtime(), img, coords, dy, g)?.0)
    }
}
