//! The diffeomorphic transformer (SPEC §4): integrates the network's non-negative spatial
//! gradient into a sampling grid, optionally maps it by an affine matrix about the volume
//! centre, and samples the image there. Every step is an engine op, so gradients flow to the
//! image, the gradient field and the affine residual.
//!
//! Conventions: tensors are `[N, D, H, W, C]`; the gradient and grid channels are ordered
//! (x, y, z) = (along W, along H, along D), in voxels. Channel 0 of `Φ = 2·s` is summed along W,
//! channel 1 along H, channel 2 along D, each sum starting at 0, so `s = 0.5` (`Φ = 1`) is
//! exactly the identity grid. The affine residual `r [N, 12]` gives
//! `A = reshape(r + [1,0,0,0, 0,1,0,0, 0,0,1,0], 3×4)` (rows and columns x, y, z) and
//! `p' = A·[p − c, 1] + c` with `c = ((W−1)/2, (H−1)/2, (D−1)/2)`.

use crate::error::{Error, Result};
use crate::ops;
use crate::ops::Padding;
use crate::tensor::{Device, Tensor};

/// The transformer's result: the warped image and the grid it was sampled at.
#[derive(Clone, Debug)]
pub struct Warp {
    /// The image sampled at `grid`: `[N, D, H, W, C]`.
    pub warped: Tensor,
    /// Sampling coordinates `[N, D, H, W, 3]` (x, y, z in voxels of the image).
    pub grid: Tensor,
}

/// The identity affine matrix `[1,0,0,0, 0,1,0,0, 0,0,1,0]` for each of `n` samples: `[n, 12]`.
pub fn identity_affine(n: usize, device: Device) -> Result<Tensor> {
    const ID: [f32; 12] = [1., 0., 0., 0., 0., 1., 0., 0., 0., 0., 1., 0.];
    Tensor::from_vec(ID.repeat(n), [n, 12], device)
}

/// The identity grid `[n, D, H, W, 3]` of spatial size `dims = [D, H, W]`: the value at
/// `(d, h, w)` is `(w, h, d)`.
pub fn identity_grid(n: usize, dims: [usize; 3], device: Device) -> Result<Tensor> {
    let [d, h, w] = dims;
    let mut v = Vec::with_capacity(n * d * h * w * 3);
    for _ in 0..n {
        for z in 0..d {
            for y in 0..h {
                for x in 0..w {
                    v.extend_from_slice(&[x as f32, y as f32, z as f32]);
                }
            }
        }
    }
    Tensor::from_vec(v, [n, d, h, w, 3], device)
}

/// `[N, D, H, W]` of a grid-shaped tensor `[N, D, H, W, 3]`, or an error naming `op` and `what`.
fn grid_dims(op: &'static str, what: &str, t: &Tensor) -> Result<[usize; 4]> {
    let [n, d, h, w, c] = t.shape().dims5(op)?;
    if c != 3 {
        return Err(Error::Shape {
            op,
            msg: format!("{what} {} must have 3 channels (x, y, z)", t.shape()),
        });
    }
    Ok([n, d, h, w])
}

/// Warps `img [N,D,H,W,C]` with the gradient field `gradient [N,D,H,W,3]` (the sigmoid output
/// `s`; `Φ = 2·s`) and, for MariaNet, the affine residual `affine [N,12]`, reading outside
/// the volume as `padding` says. `s` may be any value (the transformer does not require
/// `0 < s < 1`); `s = 0.5` with no (or a zero) affine returns `img` exactly.
pub fn transform(
    img: &Tensor,
    gradient: &Tensor,
    affine: Option<&Tensor>,
    padding: Padding,
) -> Result<Warp> {
    let op = "transform";
    let [n, d, h, w] = grid_dims(op, "gradient", gradient)?;
    let dims = img.shape().dims5(op)?;
    if dims[..4] != [n, d, h, w] {
        return Err(Error::Shape {
            op,
            msg: format!(
                "image {} and gradient {} must agree on N, D, H and W",
                img.shape(),
                gradient.shape()
            ),
        });
    }
    let phi = ops::affine(gradient, 2.0, 0.0)?;
    let mut grid = ops::warp::integrate_gradient(&phi)?;
    if let Some(residual) = affine {
        if residual.dims() != [n, 12] {
            return Err(Error::Shape {
                op,
                msg: format!(
                    "affine {} must be [N, 12] = [{n}, 12] for gradient {}",
                    residual.shape(),
                    gradient.shape()
                ),
            });
        }
        let theta = ops::add(residual, &identity_affine(n, residual.device())?)?;
        grid = ops::affine_grid(&grid, &theta)?;
    }
    let warped = ops::grid_sample(img, &grid, padding)?;
    Ok(Warp { warped, grid })
}

/// Samples `img [N,D,H,W,C]` at an existing `grid [N,D',H',W',3]` (e.g. a mask warped with the
/// grid [`transform`] returned for its image).
pub fn warp_with_grid(img: &Tensor, grid: &Tensor, padding: Padding) -> Result<Tensor> {
    ops::grid_sample(img, grid, padding)
}

/// The displacement field in voxels: `grid − identity`, `[N,D,H,W,3]` (x, y, z).
pub fn displacement(grid: &Tensor) -> Result<Tensor> {
    let [n, d, h, w] = grid_dims("displacement", "grid", grid)?;
    ops::sub(grid, &identity_grid(n, [d, h, w], grid.device())?)
}

/// The displacement field in millimetres: [`displacement`] with channel x scaled by
/// `spacing[0]`, y by `spacing[1]` and z by `spacing[2]` (voxel spacing in mm, x, y, z order).
pub fn displacement_mm(grid: &Tensor, spacing: [f32; 3]) -> Result<Tensor> {
    if spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(Error::Invalid {
            op: "displacement_mm",
            msg: format!("voxel spacing must be finite and positive, got {spacing:?}"),
        });
    }
    let disp = displacement(grid)?;
    let parts = (0..3)
        .map(|c| ops::affine(&ops::split_channels(&disp, c, 1)?, spacing[c], 0.0))
        .collect::<Result<Vec<_>>>()?;
    ops::concat_channels(&parts.iter().collect::<Vec<_>>())
}
