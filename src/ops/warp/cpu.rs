//! CPU warp ops (TO BE WRITTEN).
use crate::backend::{SampleGeom, VolGeom};
pub fn cumsum(x: &[f32], g: VolGeom, axis: usize, reverse: bool) -> Vec<f32> {
    let _ = (x, g, axis, reverse);
    todo!()
}
pub fn affine_grid(grid: &[f32], theta: &[f32], centre: [f32; 3], g: VolGeom) -> Vec<f32> {
    let _ = (grid, theta, centre, g);
    todo!()
}
pub fn affine_grid_bwd(
    grid: &[f32],
    theta: &[f32],
    dy: &[f32],
    centre: [f32; 3],
    g: VolGeom,
) -> (Vec<f32>, Vec<f32>) {
    let _ = (grid, theta, dy, centre, g);
    todo!()
}
pub fn grid_sample(img: &[f32], coords: &[f32], g: SampleGeom) -> Vec<f32> {
    let _ = (img, coords, g);
    todo!()
}
pub fn grid_sample_bwd(
    img: &[f32],
    coords: &[f32],
    dy: &[f32],
    g: SampleGeom,
) -> (Vec<f32>, Vec<f32>) {
    let _ = (img, coords, dy, g);
    todo!()
}
