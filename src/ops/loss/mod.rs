//! Reductions and losses, each to a one-element tensor: `sum`, `l1` (the kernel regularizer
//! `Σ|w|`), and the registration losses of [`LossKind`] between a prediction and a target.

pub mod cpu;
pub(crate) mod gpu;
mod lncc;

use crate::autograd::{BackwardOp, record};
use crate::backend::Buffer;
use crate::error::{Error, Result};
use crate::ops::{VolGeom, same_device, same_shape};
use crate::tensor::{Shape, Tensor};

/// Losses between a prediction `a` and a target `b` of the same shape, reduced to one scalar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LossKind {
    /// Mean of `(a-b)²` over all values.
    Mse,
    /// Mean of `|a-b|` over all values.
    Mae,
    /// `-r`, the Pearson correlation of each sample over all its values (voxels and channels),
    /// averaged over samples: `r = cov / √(var_a·var_b + 1e-10)` with population moments
    /// (`1/m`), so a constant image gives `r = 0` rather than NaN.
    Ncc,
    /// `-mean(cc)` over all voxels, channels and samples: local squared correlation in a
    /// `window³` box (odd `window`, centred, "same" zero padding) per channel,
    /// `cc = cross² / (var_a·var_b + 1e-5)` with box sums `cross = Σab - ΣaΣb/n`,
    /// `var_a = Σa² - (Σa)²/n` (clamped at 0 against rounding), `var_b` likewise, and
    /// `n = window³` also at the border (the padded zeros count, as VoxelMorph's convolution
    /// with ones).
    Lncc { window: usize },
    /// `1 - (2Σab + ε) / (Σa + Σb + ε)` per sample (sums over all its voxels and channels) with
    /// `ε = 1e-5`, averaged over samples.
    Dice,
}

/// What a device computes for the reductions and losses (results are one-element buffers).
/// Part of [`Backend`](crate::ops::Backend).
pub trait LossKernel {
    /// Sum of all values, in a fixed order.
    fn sum(&self, x: &Buffer) -> Result<Buffer>;
    /// `Σ|x|`.
    fn l1(&self, x: &Buffer) -> Result<Buffer>;
    /// `dl · sign(x)`.
    fn l1_bwd(&self, x: &Buffer, dl: &Buffer) -> Result<Buffer>;
    /// A loss between prediction `a` and target `b`.
    fn loss(&self, kind: LossKind, a: &Buffer, b: &Buffer, g: VolGeom) -> Result<Buffer>;
    /// Gradients `(da, db)` of [`LossKernel::loss`] scaled by the incoming gradient `dl`.
    fn loss_bwd(
        &self,
        kind: LossKind,
        a: &Buffer,
        b: &Buffer,
        dl: &Buffer,
        g: VolGeom,
    ) -> Result<(Buffer, Buffer)>;
}

fn scalar_out(buf: Buffer) -> Tensor {
    Tensor::from_buffer(buf, Shape::new(vec![]))
}

/// Sum of all elements, as a `[]` tensor.
pub fn sum(x: &Tensor) -> Result<Tensor> {
    let y = x.backend()?.sum(x.buffer())?;
    record(
        scalar_out(y),
        &[x],
        SumBwd {
            shape: x.shape().clone(),
        },
    )
}

struct SumBwd {
    shape: Shape,
}

impl BackwardOp for SumBwd {
    fn name(&self) -> &'static str {
        "sum"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let dx = dy
            .backend()?
            .broadcast_scalar(dy.buffer(), self.shape.numel())?;
        Ok(vec![Some(Tensor::from_buffer(dx, self.shape.clone()))])
    }
}

/// `Σ|x|` (the L1 kernel regularizer before its weight).
pub fn l1(x: &Tensor) -> Result<Tensor> {
    let y = x.backend()?.l1(x.buffer())?;
    record(scalar_out(y), &[x], L1Bwd { x: x.detach() })
}

struct L1Bwd {
    x: Tensor,
}

impl BackwardOp for L1Bwd {
    fn name(&self) -> &'static str {
        "l1"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let dx = self.x.backend()?.l1_bwd(self.x.buffer(), dy.buffer())?;
        Ok(vec![Some(Tensor::from_buffer(dx, self.x.shape().clone()))])
    }
}

/// The loss `kind` between prediction `a` and target `b`, both `[N, D, H, W, C]` and not
/// empty; an `Lncc` window must be odd. Gradients flow to both.
pub fn loss(kind: LossKind, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let op = "loss";
    same_device(op, &[a, b])?;
    same_shape(op, a, b)?;
    let g = VolGeom::from5(a.shape().dims5(op)?);
    if g.is_empty() {
        return Err(Error::Invalid {
            op,
            msg: format!("loss of an empty tensor {}", a.shape()),
        });
    }
    if let LossKind::Lncc { window } = kind
        && window.is_multiple_of(2)
    {
        return Err(Error::Invalid {
            op,
            msg: format!("lncc window must be odd, got {window}"),
        });
    }
    let y = a.backend()?.loss(kind, a.buffer(), b.buffer(), g)?;
    record(
        scalar_out(y),
        &[a, b],
        LossBwd {
            kind,
            a: a.detach(),
            b: b.detach(),
            g,
        },
    )
}

struct LossBwd {
    kind: LossKind,
    a: Tensor,
    b: Tensor,
    g: VolGeom,
}

impl BackwardOp for LossBwd {
    fn name(&self) -> &'static str {
        "loss"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (da, db) = self.a.backend()?.loss_bwd(
            self.kind,
            self.a.buffer(),
            self.b.buffer(),
            dy.buffer(),
            self.g,
        )?;
        Ok(vec![
            Some(Tensor::from_buffer(da, self.a.shape().clone())),
            Some(Tensor::from_buffer(db, self.b.shape().clone())),
        ])
    }
}

#[cfg(test)]
mod tests;
