//! Normalization (TO BE WRITTEN).
pub mod cpu;
use crate::error::Result;
use crate::tensor::Tensor;
/// Normalizes `x [N,D,H,W,C]` with its own statistics (per channel over N·D·H·W, or per sample
/// and channel with `per_sample`), then `·γ + β` (`[C]`, optional). Returns the (tracked)
/// output and the detached mean and biased variance (`[C]` or `[N, C]`).
pub fn normalize(
    x: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f32,
    per_sample: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    let _ = (x, gamma, beta, eps, per_sample);
    todo!()
}
/// Normalizes `x` with given constant per-channel statistics `mean`, `var` (`[C]`).
pub fn normalize_with(
    x: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f32,
) -> Result<Tensor> {
    let _ = (x, mean, var, gamma, beta, eps);
    todo!()
}
