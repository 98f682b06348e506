//! 3D convolution of channels-last volumes with a cubic, odd kernel, Keras/TensorFlow "same"
//! padding, stride and dilation, and its gradients to the input, the weight and the bias.

#[cfg(target_arch = "x86_64")]
mod avx;
pub mod cpu;
mod direct;
mod gather;
pub(crate) mod gpu;
mod kernel;
mod tiled;

#[cfg(test)]
mod tests;

use crate::autograd::{BackwardOp, record};
use crate::backend::Buffer;
use crate::error::{Error, Result};
use crate::ops::same_device;
use crate::tensor::{Shape, Tensor};

/// Geometry of a 3D convolution on channels-last data.
///
/// Input `[n, in_dims, cin]`, weight `[k, k, k, cin, cout]` (DHWIO, Keras' layout: the weight is
/// the `[k³·cin, cout]` matrix of an implicit GEMM), bias `[cout]`, output `[n, out_dims, cout]`.
/// Padding follows Keras/TensorFlow "same": `out = ceil(in / stride)`, and the total padding
/// `max((out-1)·stride + (k-1)·dilation + 1 - in, 0)` is split with the smaller half before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv3dGeom {
    pub n: usize,
    pub in_dims: [usize; 3],
    pub cin: usize,
    pub cout: usize,
    pub k: usize,
    pub stride: usize,
    pub dilation: usize,
    pub pad_before: [usize; 3],
    pub out_dims: [usize; 3],
}

impl Conv3dGeom {
    /// "same"-padded geometry for input `[n, d, h, w, cin]` and a `k³` kernel to `cout` channels.
    pub fn same(
        x: [usize; 5],
        k: usize,
        cout: usize,
        stride: usize,
        dilation: usize,
    ) -> Result<Self> {
        let op = "conv3d";
        if k == 0 || k.is_multiple_of(2) {
            return Err(Error::Invalid {
                op,
                msg: format!("kernel size must be odd, got {k}"),
            });
        }
        if stride == 0 || dilation == 0 {
            return Err(Error::Invalid {
                op,
                msg: format!("stride ({stride}) and dilation ({dilation}) must be at least 1"),
            });
        }
        let [n, d, h, w, cin] = x;
        if n == 0 || d == 0 || h == 0 || w == 0 || cin == 0 || cout == 0 {
            return Err(Error::Invalid {
                op,
                msg: format!("empty input {x:?} or zero output channels ({cout})"),
            });
        }
        let in_dims = [d, h, w];
        let mut out_dims = [0; 3];
        let mut pad_before = [0; 3];
        for a in 0..3 {
            let out = in_dims[a].div_ceil(stride);
            let total = ((out - 1) * stride + (k - 1) * dilation + 1).saturating_sub(in_dims[a]);
            out_dims[a] = out;
            pad_before[a] = total / 2;
        }
        Ok(Conv3dGeom {
            n,
            in_dims,
            cin,
            cout,
            k,
            stride,
            dilation,
            pad_before,
            out_dims,
        })
    }

    /// Input voxels per sample.
    pub fn in_voxels(&self) -> usize {
        self.in_dims.iter().product()
    }

    /// Output voxels per sample.
    pub fn out_voxels(&self) -> usize {
        self.out_dims.iter().product()
    }

    /// Number of weights, `k³·cin·cout`.
    pub fn weight_len(&self) -> usize {
        self.k * self.k * self.k * self.cin * self.cout
    }

    /// Multiply-adds of the forward pass times two.
    pub fn flops(&self) -> f64 {
        2.0 * (self.n * self.out_voxels()) as f64 * (self.k.pow(3) * self.cin * self.cout) as f64
    }
}

/// What a device computes for the convolution family. Part of
/// [`Backend`](crate::ops::Backend).
pub trait Conv3dKernel {
    /// Forward convolution (with bias when given).
    fn conv3d(
        &self,
        x: &Buffer,
        w: &Buffer,
        bias: Option<&Buffer>,
        g: &Conv3dGeom,
    ) -> Result<Buffer>;
    /// Gradient to the input ("dgrad").
    fn conv3d_bwd_data(&self, dy: &Buffer, w: &Buffer, g: &Conv3dGeom) -> Result<Buffer>;
    /// Gradient to the weight ("wgrad"); the bias gradient is
    /// [`ElementwiseKernel::channel_sum`](crate::ops::elementwise::ElementwiseKernel::channel_sum)
    /// of `dy`.
    fn conv3d_bwd_filter(&self, x: &Buffer, dy: &Buffer, g: &Conv3dGeom) -> Result<Buffer>;
}

/// `x [N,D,H,W,Cin]` * `w [k,k,k,Cin,Cout]` (+ `bias [Cout]`), "same" padding → `[N,D',H',W',Cout]`.
///
/// `k` must be odd; `D' = ⌈D / stride⌉` (likewise H', W'), and the padding of each axis is
/// split as [`Conv3dGeom::same`] documents (the smaller half before). The weight is laid out
/// like Keras' `Conv3D` kernel (DHWIO). Differentiable in `x`, `w` and `bias`.
pub fn conv3d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    dilation: usize,
) -> Result<Tensor> {
    let op = "conv3d";
    let mut all = vec![x, w];
    all.extend(bias);
    same_device(op, &all)?;
    let xd = x.shape().dims5(op)?;
    let [k, k1, k2, wcin, cout] = w.shape().dims_n::<5>(op, " [k,k,k,Cin,Cout] weight")?;
    if k != k1 || k != k2 {
        return Err(Error::Shape {
            op,
            msg: format!(
                "weight {} is not a cubic kernel [k,k,k,Cin,Cout]",
                w.shape()
            ),
        });
    }
    if wcin != xd[4] {
        return Err(Error::Shape {
            op,
            msg: format!(
                "input {} has {} channels but weight {} expects {wcin}",
                x.shape(),
                xd[4],
                w.shape()
            ),
        });
    }
    if let Some(b) = bias
        && b.dims() != [cout]
    {
        return Err(Error::Shape {
            op,
            msg: format!(
                "bias {} should be [{cout}] for weight {}",
                b.shape(),
                w.shape()
            ),
        });
    }
    let g = Conv3dGeom::same(xd, k, cout, stride, dilation)?;
    let y = x
        .backend()?
        .conv3d(x.buffer(), w.buffer(), bias.map(|b| b.buffer()), &g)?;
    let [od, oh, ow] = g.out_dims;
    let y = Tensor::from_buffer(y, Shape::new([g.n, od, oh, ow, cout]));
    // Keep only what the wanted gradients need: dx needs w, dw needs x.
    let back = Conv3dBwd {
        x: w.is_tracked().then(|| x.detach()),
        w: x.is_tracked().then(|| w.detach()),
        bias: bias.map(Tensor::is_tracked),
        g,
    };
    record(y, &all, back)
}

struct Conv3dBwd {
    /// The input, when the weight's gradient is wanted.
    x: Option<Tensor>,
    /// The weight, when the input's gradient is wanted.
    w: Option<Tensor>,
    /// With a bias: whether its gradient is wanted.
    bias: Option<bool>,
    g: Conv3dGeom,
}

impl BackwardOp for Conv3dBwd {
    fn name(&self) -> &'static str {
        "conv3d"
    }

    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let g = &self.g;
        let be = dy.backend()?;
        let dx = match &self.w {
            Some(w) => {
                let [d, h, ww] = g.in_dims;
                let dx = be.conv3d_bwd_data(dy.buffer(), w.buffer(), g)?;
                Some(Tensor::from_buffer(dx, Shape::new([g.n, d, h, ww, g.cin])))
            }
            None => None,
        };
        let dw = match &self.x {
            Some(x) => {
                let dw = be.conv3d_bwd_filter(x.buffer(), dy.buffer(), g)?;
                Some(Tensor::from_buffer(
                    dw,
                    Shape::new([g.k, g.k, g.k, g.cin, g.cout]),
                ))
            }
            None => None,
        };
        let mut grads = vec![dx, dw];
        match self.bias {
            Some(true) => {
                let db = be.channel_sum(dy.buffer(), g.cout)?;
                grads.push(Some(Tensor::from_buffer(db, Shape::new([g.cout]))));
            }
            Some(false) => grads.push(None),
            None => {}
        }
        Ok(grads)
    }
}
