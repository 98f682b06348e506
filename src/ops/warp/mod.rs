//! The spatial-transformer ops (SPEC.md section 4): the cumulative sum that integrates a
//! non-negative gradient field into sampling coordinates, the affine map of those coordinates
//! about the volume centre, and trilinear sampling of an image at them, each with its backward.
//!
//! Conventions (tested in `tests.rs`): volumes are `[N, D, H, W, C]`; spatial axis 0 is D, 1 is
//! H, 2 is W; coordinate channels are ordered (x, y, z) = (W index, H index, D index), in
//! voxels. So the transformer integrates flow channel 0 along axis 2, 1 along 1, 2 along 0.

pub mod cpu;
pub(crate) mod gpu;

use crate::autograd::{BackwardOp, record};
use crate::backend::Buffer;
use crate::error::{Error, Result};
use crate::ops::{VolGeom, same_device};
use crate::tensor::{Shape, Tensor};

/// What trilinear sampling reads outside the volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Padding {
    /// Coordinates are clamped to the volume, so the edge value repeats (the original's default).
    #[default]
    Border,
    /// Corners outside the volume read zero (the paper's choice).
    Zeros,
}

/// Trilinear sampling of `img [n, in_dims, c]` at `coords [n, out_dims, 3]` → `[n, out_dims, c]`.
/// Coordinate channel 0 indexes W (x), 1 indexes H (y), 2 indexes D (z), in voxels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleGeom {
    pub n: usize,
    pub in_dims: [usize; 3],
    pub out_dims: [usize; 3],
    pub c: usize,
    pub padding: Padding,
}

/// What a device computes for the spatial-transformer family. Part of
/// [`Backend`](crate::ops::Backend).
pub trait WarpKernel {
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
    /// Gradients `(dgrid, dtheta)` of [`WarpKernel::affine_grid`].
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
    /// Gradients `(dimg, dcoords)` of [`WarpKernel::grid_sample`]; `dimg` is accumulated in a
    /// fixed order, so it is bitwise reproducible.
    fn grid_sample_bwd(
        &self,
        img: &Buffer,
        coords: &Buffer,
        dy: &Buffer,
        g: SampleGeom,
    ) -> Result<(Buffer, Buffer)>;
    /// `dcoords` of [`WarpKernel::grid_sample`] alone, bitwise equal to the second result of
    /// [`WarpKernel::grid_sample_bwd`]: for the usual case of an image that needs no gradient
    /// (a registration's moving image), without the image gradient's scatter.
    fn grid_sample_bwd_coords(
        &self,
        img: &Buffer,
        coords: &Buffer,
        dy: &Buffer,
        g: SampleGeom,
    ) -> Result<Buffer>;
    /// `dimg` of [`WarpKernel::grid_sample`] alone, bitwise equal to the first result of
    /// [`WarpKernel::grid_sample_bwd`]: for coordinates that need no gradient (a displacement
    /// interpolated from control points at fixed positions).
    fn grid_sample_bwd_image(
        &self,
        img: &Buffer,
        coords: &Buffer,
        dy: &Buffer,
        g: SampleGeom,
    ) -> Result<Buffer>;
}

/// Inclusive cumulative sum of `x [N,D,H,W,C]` along spatial `axis` (0 = D, 1 = H, 2 = W),
/// separately for every channel: `y[.., i, ..] = Σ_{j ≤ i} x[.., j, ..]`.
pub fn cumsum(x: &Tensor, axis: usize) -> Result<Tensor> {
    let op = "cumsum";
    let g = VolGeom::from5(x.shape().dims5(op)?);
    if axis > 2 {
        return Err(Error::Invalid {
            op,
            msg: format!(
                "axis {axis} is out of range for input {}: spatial axes are 0 (D), 1 (H), 2 (W)",
                x.shape()
            ),
        });
    }
    let y = x.backend()?.cumsum(x.buffer(), g, axis, false)?;
    record(
        Tensor::from_buffer(y, x.shape().clone()),
        &[x],
        CumsumBwd { g, axis },
    )
}

struct CumsumBwd {
    g: VolGeom,
    axis: usize,
}

impl BackwardOp for CumsumBwd {
    fn name(&self) -> &'static str {
        "cumsum"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let dx = dy.backend()?.cumsum(dy.buffer(), self.g, self.axis, true)?;
        Ok(vec![Some(Tensor::from_buffer(dx, dy.shape().clone()))])
    }
}

/// Integrates a spatial gradient `phi [N,D,H,W,3]` (channels x, y, z) into sampling
/// coordinates: channel 0 is summed along W, 1 along H, 2 along D, and each sum starts at 0
/// (`coord[i] = Σ_{j ≤ i} phi[j] − 1`), so `phi = 1` everywhere gives exactly the identity grid
/// (SPEC §4.1; the original's inclusive sum shifted everything by one voxel). Composed of
/// differentiable ops, so gradients flow back to `phi`.
pub fn integrate_gradient(phi: &Tensor) -> Result<Tensor> {
    coords_geom("integrate_gradient", "gradient", phi)?;
    let coords = (0..3)
        .map(|c| {
            let along = crate::ops::split_channels(phi, c, 1)?;
            crate::ops::affine(&cumsum(&along, 2 - c)?, 1.0, -1.0)
        })
        .collect::<Result<Vec<_>>>()?;
    crate::ops::concat_channels(&coords.iter().collect::<Vec<_>>())
}

/// A `[N, D, H, W, 3]` coordinate tensor's geometry, or an error naming `op` and `what`.
fn coords_geom(op: &'static str, what: &str, t: &Tensor) -> Result<VolGeom> {
    let g = VolGeom::from5(t.shape().dims_n::<5>(op, " [N,D,H,W,3]")?);
    if g.c != 3 {
        return Err(Error::Shape {
            op,
            msg: format!(
                "{what} {} must have 3 coordinate channels (x, y, z) in its last dimension",
                t.shape()
            ),
        });
    }
    Ok(g)
}

/// The centre `((W−1)/2, (H−1)/2, (D−1)/2)` of a volume with spatial `dims = [D, H, W]`.
fn centre(dims: [usize; 3]) -> [f32; 3] {
    let half = |s: usize| (s as f32 - 1.0) / 2.0;
    [half(dims[2]), half(dims[1]), half(dims[0])]
}

/// Applies `theta [N,12]` (row-major 3×4, rows/cols ordered x, y, z) to `grid [N,D,H,W,3]`
/// about the volume centre `((W-1)/2, (H-1)/2, (D-1)/2)`: `p' = A·[p − c, 1] + c` at every
/// point, with `A = theta[i]` reshaped to 3×4 and `c` taken from the grid's own D, H, W.
pub fn affine_grid(grid: &Tensor, theta: &Tensor) -> Result<Tensor> {
    let op = "affine_grid";
    same_device(op, &[grid, theta])?;
    let g = coords_geom(op, "grid", grid)?;
    if theta.dims() != [g.n, 12] {
        return Err(Error::Shape {
            op,
            msg: format!(
                "theta {} must be [N, 12] = [{}, 12] (a row-major 3×4 matrix per sample) for \
                 grid {}",
                theta.shape(),
                g.n,
                grid.shape()
            ),
        });
    }
    let c = centre(g.dims);
    let y = grid
        .backend()?
        .affine_grid(grid.buffer(), theta.buffer(), c, g)?;
    record(
        Tensor::from_buffer(y, grid.shape().clone()),
        &[grid, theta],
        AffineGridBwd {
            grid: grid.detach(),
            theta: theta.detach(),
            centre: c,
            g,
        },
    )
}

struct AffineGridBwd {
    grid: Tensor,
    theta: Tensor,
    centre: [f32; 3],
    g: VolGeom,
}

impl BackwardOp for AffineGridBwd {
    fn name(&self) -> &'static str {
        "affine_grid"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (dg, dt) = self.grid.backend()?.affine_grid_bwd(
            self.grid.buffer(),
            self.theta.buffer(),
            dy.buffer(),
            self.centre,
            self.g,
        )?;
        Ok(vec![
            Some(Tensor::from_buffer(dg, self.grid.shape().clone())),
            Some(Tensor::from_buffer(dt, self.theta.shape().clone())),
        ])
    }
}

/// Trilinear sampling of `img [N,Di,Hi,Wi,C]` at voxel coordinates `coords [N,Do,Ho,Wo,3]`
/// → `[N,Do,Ho,Wo,C]`. Coordinate channel 0 indexes W, 1 H, 2 D; the image and output sizes
/// may differ. [`Padding::Border`] clamps each coordinate to `[0, size − 1]` (zero gradient to a
/// clamped component), [`Padding::Zeros`] reads zero at corners outside the image.
pub fn grid_sample(img: &Tensor, coords: &Tensor, padding: Padding) -> Result<Tensor> {
    let op = "grid_sample";
    same_device(op, &[img, coords])?;
    let [n, di, hi, wi, c] = img.shape().dims5(op)?;
    let cg = coords_geom(op, "coords", coords)?;
    if cg.n != n {
        return Err(Error::Shape {
            op,
            msg: format!(
                "batch sizes differ: image {} and coords {}",
                img.shape(),
                coords.shape()
            ),
        });
    }
    if di == 0 || hi == 0 || wi == 0 {
        return Err(Error::Invalid {
            op,
            msg: format!("cannot sample an empty image {}", img.shape()),
        });
    }
    if cg.voxels() > u32::MAX as usize {
        return Err(Error::Invalid {
            op,
            msg: format!("coords {} has too many voxels per sample", coords.shape()),
        });
    }
    let g = SampleGeom {
        n,
        in_dims: [di, hi, wi],
        out_dims: cg.dims,
        c,
        padding,
    };
    let y = img
        .backend()?
        .grid_sample(img.buffer(), coords.buffer(), g)?;
    let [od, oh, ow] = g.out_dims;
    record(
        Tensor::from_buffer(y, Shape::new([n, od, oh, ow, c])),
        &[img, coords],
        GridSampleBwd {
            img: img.detach(),
            coords: coords.detach(),
            g,
            image_grad: img.is_tracked(),
            coords_grad: coords.is_tracked(),
        },
    )
}

struct GridSampleBwd {
    img: Tensor,
    coords: Tensor,
    g: SampleGeom,
    /// Whether the image is tracked. A registration's moving image is data, not a parameter:
    /// its gradient (a scatter, the costly half of the backward) is then not computed.
    image_grad: bool,
    /// Whether the coordinates are tracked (else only the image gradient is computed).
    coords_grad: bool,
}

impl BackwardOp for GridSampleBwd {
    fn name(&self) -> &'static str {
        "grid_sample"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let be = self.img.backend()?;
        let (img, coords, dy) = (self.img.buffer(), self.coords.buffer(), dy.buffer());
        let (di, dc) = match (self.image_grad, self.coords_grad) {
            (true, true) => {
                let (di, dc) = be.grid_sample_bwd(img, coords, dy, self.g)?;
                (Some(di), Some(dc))
            }
            (true, false) => (
                Some(be.grid_sample_bwd_image(img, coords, dy, self.g)?),
                None,
            ),
            (false, _) => (
                None,
                Some(be.grid_sample_bwd_coords(img, coords, dy, self.g)?),
            ),
        };
        Ok(vec![
            di.map(|di| Tensor::from_buffer(di, self.img.shape().clone())),
            dc.map(|dc| Tensor::from_buffer(dc, self.coords.shape().clone())),
        ])
    }
}

#[cfg(test)]
mod tests;
