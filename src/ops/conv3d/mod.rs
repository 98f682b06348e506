//! 3D convolution (TO BE WRITTEN).
pub mod cpu;
use crate::error::Result;
use crate::tensor::Tensor;
/// `x [N,D,H,W,Cin]` * `w [k,k,k,Cin,Cout]` (+ `bias [Cout]`), "same" padding → `[N,D',H',W',Cout]`.
pub fn conv3d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    dilation: usize,
) -> Result<Tensor> {
    let _ = (x, w, bias, stride, dilation);
    todo!()
}
