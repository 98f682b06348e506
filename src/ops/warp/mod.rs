//! Warp ops (TO BE WRITTEN).
pub mod cpu;
use crate::backend::Padding;
use crate::error::Result;
use crate::tensor::Tensor;
/// Inclusive cumulative sum of `x [N,D,H,W,C]` along spatial `axis` (0 = D, 1 = H, 2 = W).
pub fn cumsum(x: &Tensor, axis: usize) -> Result<Tensor> {
    let _ = (x, axis);
    todo!()
}
/// Applies `theta [N,12]` (row-major 3×4, rows/cols ordered x, y, z) to `grid [N,D,H,W,3]`
/// about the volume centre `((W-1)/2, (H-1)/2, (D-1)/2)`.
pub fn affine_grid(grid: &Tensor, theta: &Tensor) -> Result<Tensor> {
    let _ = (grid, theta);
    todo!()
}
/// Trilinear sampling of `img [N,Di,Hi,Wi,C]` at voxel coordinates `coords [N,Do,Ho,Wo,3]`.
pub fn grid_sample(img: &Tensor, coords: &Tensor, padding: Padding) -> Result<Tensor> {
    let _ = (img, coords, padding);
    todo!()
}
