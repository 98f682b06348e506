//! CPU convolution (TO BE WRITTEN).
use crate::backend::Conv3dGeom;
pub fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &Conv3dGeom) -> Vec<f32> {
    let _ = (x, w, bias, g);
    todo!()
}
pub fn backward_data(dy: &[f32], w: &[f32], g: &Conv3dGeom) -> Vec<f32> {
    let _ = (dy, w, g);
    todo!()
}
pub fn backward_filter(x: &[f32], dy: &[f32], g: &Conv3dGeom) -> Vec<f32> {
    let _ = (x, dy, g);
    todo!()
}
