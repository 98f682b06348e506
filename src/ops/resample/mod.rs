//! Resampling (TO BE WRITTEN).
pub mod cpu;
use crate::error::Result;
use crate::tensor::Tensor;
/// Nearest ×2 upsampling of `x [N,D,H,W,C]` to spatial size `out` (each `2·in` or `2·in-1`).
pub fn upsample_nearest(x: &Tensor, out: [usize; 3]) -> Result<Tensor> {
    let _ = (x, out);
    todo!()
}
/// 2³ max pool, stride 2.
pub fn max_pool(x: &Tensor) -> Result<Tensor> {
    let _ = x;
    todo!()
}
/// `[N,D,H,W,C]` → `[N,C]` mean.
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    let _ = x;
    todo!()
}
/// Concatenation along the last (channel) dimension; all other dimensions equal.
pub fn concat_channels(xs: &[&Tensor]) -> Result<Tensor> {
    let _ = xs;
    todo!()
}
/// Channels `start..start+len` of the last dimension.
pub fn split_channels(x: &Tensor, start: usize, len: usize) -> Result<Tensor> {
    let _ = (x, start, len);
    todo!()
}
