//! CPU normalization (TO BE WRITTEN).
use crate::backend::NormGeom;
pub fn stats(x: &[f32], g: NormGeom) -> (Vec<f32>, Vec<f32>) {
    let _ = (x, g);
    todo!()
}
pub fn apply(
    x: &[f32],
    mean: &[f32],
    var: &[f32],
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    eps: f32,
    g: NormGeom,
) -> Vec<f32> {
    let _ = (x, mean, var, gamma, beta, eps, g);
    todo!()
}
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: &[f32],
    mean: &[f32],
    var: &[f32],
    gamma: Option<&[f32]>,
    dy: &[f32],
    eps: f32,
    batch_stats: bool,
    g: NormGeom,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let _ = (x, mean, var, gamma, dy, eps, batch_stats, g);
    todo!()
}
