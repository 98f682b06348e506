//! CPU resampling (TO BE WRITTEN).
use crate::backend::{PoolGeom, UpsampleGeom, VolGeom};
pub fn upsample(x: &[f32], g: UpsampleGeom) -> Vec<f32> {
    let _ = (x, g);
    todo!()
}
pub fn upsample_bwd(dy: &[f32], g: UpsampleGeom) -> Vec<f32> {
    let _ = (dy, g);
    todo!()
}
pub fn max_pool(x: &[f32], g: PoolGeom) -> Vec<f32> {
    let _ = (x, g);
    todo!()
}
pub fn max_pool_bwd(x: &[f32], dy: &[f32], g: PoolGeom) -> Vec<f32> {
    let _ = (x, dy, g);
    todo!()
}
pub fn global_avg_pool(x: &[f32], g: VolGeom) -> Vec<f32> {
    let _ = (x, g);
    todo!()
}
pub fn global_avg_pool_bwd(dy: &[f32], g: VolGeom) -> Vec<f32> {
    let _ = (dy, g);
    todo!()
}
pub fn concat_channels(parts: &[&[f32]], cs: &[usize], rows: usize) -> Vec<f32> {
    let _ = (parts, cs, rows);
    todo!()
}
pub fn split_channels(x: &[f32], cs: &[usize], rows: usize) -> Vec<Vec<f32>> {
    let _ = (x, cs, rows);
    todo!()
}
