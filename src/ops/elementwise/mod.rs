//! Elementwise ops: activations (ReLU, LeakyReLU, sigmoid), `a·x + b`, add/sub/mul of equal
//! shapes, per-channel bias add, per-sample channel scaling, and reshape.

pub mod cpu;
pub(crate) mod gpu;

use crate::autograd::{BackwardOp, record};
use crate::backend::Buffer;
use crate::error::{Error, Result};
use crate::ops::{VolGeom, same_device, same_shape};
use crate::tensor::{Shape, Tensor};

/// Elementwise functions of one tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unary {
    Relu,
    LeakyRelu(f32),
    Sigmoid,
    /// `a·x + b`.
    Affine(f32, f32),
}

/// Elementwise functions of two equally shaped tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
}

/// What a device computes for the elementwise family (and the fills every tensor is made
/// from). Part of [`Backend`](crate::ops::Backend).
pub trait ElementwiseKernel {
    /// A buffer of `len` copies of `value`.
    fn fill(&self, len: usize, value: f32) -> Result<Buffer>;
    /// A buffer of `len` copies of the one value in `scalar`.
    fn broadcast_scalar(&self, scalar: &Buffer, len: usize) -> Result<Buffer>;
    /// `f(x)` elementwise.
    fn unary(&self, op: Unary, x: &Buffer) -> Result<Buffer>;
    /// `dy · f'(x)` elementwise.
    fn unary_bwd(&self, op: Unary, x: &Buffer, dy: &Buffer) -> Result<Buffer>;
    /// `a ∘ b` elementwise on equal lengths.
    fn binary(&self, op: Binary, a: &Buffer, b: &Buffer) -> Result<Buffer>;
    /// `x[.., ch] + bias[ch]` over the innermost dimension of size `c`.
    fn bias_add(&self, x: &Buffer, bias: &Buffer, c: usize) -> Result<Buffer>;
    /// Sum over all but the innermost dimension of size `c` (the bias gradient).
    fn channel_sum(&self, x: &Buffer, c: usize) -> Result<Buffer>;
    /// `x[i, s, ch] · scale[i, ch]` for `x` viewed as `[n, s, c]`.
    fn channel_mul(&self, x: &Buffer, scale: &Buffer, g: VolGeom) -> Result<Buffer>;
    /// Gradients `(dx, dscale)` of [`ElementwiseKernel::channel_mul`].
    fn channel_mul_bwd(
        &self,
        x: &Buffer,
        scale: &Buffer,
        dy: &Buffer,
        g: VolGeom,
    ) -> Result<(Buffer, Buffer)>;
}

fn unary_op(x: &Tensor, op: Unary) -> Result<Tensor> {
    let y = x.backend()?.unary(op, x.buffer())?;
    record(
        Tensor::from_buffer(y, x.shape().clone()),
        &[x],
        UnaryBwd { op, x: x.detach() },
    )
}

struct UnaryBwd {
    op: Unary,
    x: Tensor,
}

impl BackwardOp for UnaryBwd {
    fn name(&self) -> &'static str {
        "unary"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let dx = self
            .x
            .backend()?
            .unary_bwd(self.op, self.x.buffer(), dy.buffer())?;
        Ok(vec![Some(Tensor::from_buffer(dx, self.x.shape().clone()))])
    }
}

/// `max(x, 0)`.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    unary_op(x, Unary::Relu)
}

/// `x` where positive, `alpha·x` elsewhere (the networks use `alpha = 0.3`).
pub fn leaky_relu(x: &Tensor, alpha: f32) -> Result<Tensor> {
    unary_op(x, Unary::LeakyRelu(alpha))
}

/// `1 / (1 + e^-x)`.
pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    unary_op(x, Unary::Sigmoid)
}

/// `a·x + b` with scalars `a`, `b`.
pub fn affine(x: &Tensor, a: f32, b: f32) -> Result<Tensor> {
    unary_op(x, Unary::Affine(a, b))
}

fn binary_op(op: Binary, name: &'static str, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    same_device(name, &[a, b])?;
    same_shape(name, a, b)?;
    let y = a.backend()?.binary(op, a.buffer(), b.buffer())?;
    let save = op == Binary::Mul;
    record(
        Tensor::from_buffer(y, a.shape().clone()),
        &[a, b],
        BinaryBwd {
            op,
            a: save.then(|| a.detach()),
            b: save.then(|| b.detach()),
        },
    )
}

struct BinaryBwd {
    op: Binary,
    a: Option<Tensor>,
    b: Option<Tensor>,
}

impl BackwardOp for BinaryBwd {
    fn name(&self) -> &'static str {
        "binary"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(match (self.op, &self.a, &self.b) {
            (Binary::Add, _, _) => vec![Some(dy.clone()), Some(dy.clone())],
            (Binary::Sub, _, _) => vec![Some(dy.clone()), Some(affine(dy, -1.0, 0.0)?)],
            (Binary::Mul, Some(a), Some(b)) => vec![Some(mul(dy, b)?), Some(mul(dy, a)?)],
            (Binary::Mul, _, _) => {
                return Err(Error::Autograd("mul: operands were not saved".into()));
            }
        })
    }
}

/// `a + b` (same shape).
pub fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary_op(Binary::Add, "add", a, b)
}

/// `a - b` (same shape).
pub fn sub(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary_op(Binary::Sub, "sub", a, b)
}

/// `a · b` elementwise (same shape).
pub fn mul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary_op(Binary::Mul, "mul", a, b)
}

/// Adds `bias [C]` along the last dimension of `x [.., C]`.
pub fn bias_add(x: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let op = "bias_add";
    same_device(op, &[x, bias])?;
    let c = *x.dims().last().ok_or_else(|| Error::Shape {
        op,
        msg: "input is a scalar".into(),
    })?;
    if bias.dims() != [c] {
        return Err(Error::Shape {
            op,
            msg: format!(
                "bias {} does not match the last dimension of input {}",
                bias.shape(),
                x.shape()
            ),
        });
    }
    let y = x.backend()?.bias_add(x.buffer(), bias.buffer(), c)?;
    record(
        Tensor::from_buffer(y, x.shape().clone()),
        &[x, bias],
        BiasAddBwd { c },
    )
}

struct BiasAddBwd {
    c: usize,
}

impl BackwardOp for BiasAddBwd {
    fn name(&self) -> &'static str {
        "bias_add"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let db = dy.backend()?.channel_sum(dy.buffer(), self.c)?;
        Ok(vec![
            Some(dy.clone()),
            Some(Tensor::from_buffer(db, Shape::new([self.c]))),
        ])
    }
}

/// `x[n, .., c] · scale[n, c]`: scales each channel of each sample (squeeze-excite).
pub fn channel_mul(x: &Tensor, scale: &Tensor) -> Result<Tensor> {
    let op = "channel_mul";
    same_device(op, &[x, scale])?;
    let g = VolGeom::from5(x.shape().dims5(op)?);
    if scale.dims() != [g.n, g.c] {
        return Err(Error::Shape {
            op,
            msg: format!(
                "scale {} must be [N, C] = [{}, {}] for input {}",
                scale.shape(),
                g.n,
                g.c,
                x.shape()
            ),
        });
    }
    let y = x.backend()?.channel_mul(x.buffer(), scale.buffer(), g)?;
    record(
        Tensor::from_buffer(y, x.shape().clone()),
        &[x, scale],
        ChannelMulBwd {
            x: x.detach(),
            scale: scale.detach(),
            g,
        },
    )
}

struct ChannelMulBwd {
    x: Tensor,
    scale: Tensor,
    g: VolGeom,
}

impl BackwardOp for ChannelMulBwd {
    fn name(&self) -> &'static str {
        "channel_mul"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (dx, ds) = self.x.backend()?.channel_mul_bwd(
            self.x.buffer(),
            self.scale.buffer(),
            dy.buffer(),
            self.g,
        )?;
        Ok(vec![
            Some(Tensor::from_buffer(dx, self.x.shape().clone())),
            Some(Tensor::from_buffer(ds, self.scale.shape().clone())),
        ])
    }
}

/// Backward of [`Tensor::reshape`]: the gradient takes the input's shape back.
pub(crate) struct Reshape {
    shape: Shape,
}

impl Reshape {
    pub(crate) fn new(input: &Tensor) -> Self {
        Reshape {
            shape: input.shape().clone(),
        }
    }
}

impl BackwardOp for Reshape {
    fn name(&self) -> &'static str {
        "reshape"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(dy.detach().reshape(self.shape.clone())?)])
    }
}

#[cfg(test)]
mod tests;
