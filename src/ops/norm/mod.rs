//! Normalization math of BatchNorm3d and InstanceNorm3d on channels-last volumes:
//! `y = (x - mean)/√(var + eps)·γ + β`, with the statistics either computed from `x` itself
//! (training BatchNorm, InstanceNorm; gradients flow through them) or given as constants
//! (inference with running statistics). The layers that keep running statistics build on this.

pub mod cpu;
pub(crate) mod gpu;

use crate::autograd::{BackwardOp, record};
use crate::backend::Buffer;
use crate::error::{Error, Result};
use crate::ops::same_device;
use crate::tensor::{Shape, Tensor};

/// How a normalization groups its statistics over a `[n, s, c]` view of the data
/// (`s` = spatial voxels per sample).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormGeom {
    pub n: usize,
    pub s: usize,
    pub c: usize,
    /// `false`: one mean/variance per channel over `n·s` values (BatchNorm);
    /// `true`: one per sample and channel over `s` values (InstanceNorm).
    pub per_sample: bool,
}

impl NormGeom {
    /// Number of statistics (`c` or `n·c`).
    pub fn groups(&self) -> usize {
        if self.per_sample {
            self.n * self.c
        } else {
            self.c
        }
    }
    /// Values reduced per statistic.
    pub fn group_len(&self) -> usize {
        if self.per_sample {
            self.s
        } else {
            self.n * self.s
        }
    }
}

/// What a device computes for the normalization family. Part of
/// [`Backend`](crate::ops::Backend).
pub trait NormKernel {
    /// Mean and biased variance of each group of `g`.
    fn norm_stats(&self, x: &Buffer, g: NormGeom) -> Result<(Buffer, Buffer)>;
    /// `(x - mean)/√(var + eps)·γ + β`; `gamma`/`beta` are per channel (`[c]`) when given.
    #[allow(clippy::too_many_arguments)]
    fn norm_apply(
        &self,
        x: &Buffer,
        mean: &Buffer,
        var: &Buffer,
        gamma: Option<&Buffer>,
        beta: Option<&Buffer>,
        eps: f32,
        g: NormGeom,
    ) -> Result<Buffer>;
    /// Gradients `(dx, dγ, dβ)` of [`NormKernel::norm_apply`]. With `batch_stats`, mean and var
    /// are the statistics of `x` itself and are differentiated through; otherwise constants.
    #[allow(clippy::too_many_arguments)]
    fn norm_bwd(
        &self,
        x: &Buffer,
        mean: &Buffer,
        var: &Buffer,
        gamma: Option<&Buffer>,
        dy: &Buffer,
        eps: f32,
        batch_stats: bool,
        g: NormGeom,
    ) -> Result<(Buffer, Buffer, Buffer)>;
}

/// Checks `x` (a non-empty volume), the optional per-channel `gamma`/`beta` and `eps`;
/// returns `[N, D, H, W, C]`.
fn check_inputs(
    op: &'static str,
    x: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f32,
) -> Result<[usize; 5]> {
    let dims = x.shape().dims5(op)?;
    if x.numel() == 0 {
        return Err(Error::Invalid {
            op,
            msg: format!("input {} is empty", x.shape()),
        });
    }
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(Error::Invalid {
            op,
            msg: format!("eps must be finite and non-negative, got {eps}"),
        });
    }
    let c = dims[4];
    for (name, t) in [("gamma", gamma), ("beta", beta)] {
        if let Some(t) = t {
            same_device(op, &[x, t])?;
            if t.dims() != [c] {
                return Err(Error::Shape {
                    op,
                    msg: format!(
                        "{name} {} must be [C] = [{c}] for input {}",
                        t.shape(),
                        x.shape()
                    ),
                });
            }
        }
    }
    Ok(dims)
}

/// Applies the normalization and records its backward step with inputs `[x, γ?, β?]`.
#[allow(clippy::too_many_arguments)]
fn apply_and_record(
    x: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f32,
    batch_stats: bool,
    g: NormGeom,
) -> Result<Tensor> {
    let y = x.backend()?.norm_apply(
        x.buffer(),
        mean.buffer(),
        var.buffer(),
        gamma.map(|t| t.buffer()),
        beta.map(|t| t.buffer()),
        eps,
        g,
    )?;
    let mut inputs = vec![x];
    inputs.extend(gamma);
    inputs.extend(beta);
    record(
        Tensor::from_buffer(y, x.shape().clone()),
        &inputs,
        NormBwd {
            x: x.detach(),
            mean: mean.detach(),
            var: var.detach(),
            gamma: gamma.map(|t| t.detach()),
            has_beta: beta.is_some(),
            eps,
            batch_stats,
            g,
        },
    )
}

/// Normalizes `x [N,D,H,W,C]` with its own statistics (per channel over N·D·H·W, or per sample
/// and channel with `per_sample`), then `·γ + β` (`[C]`, optional). Returns the (tracked)
/// output and the detached mean and biased variance (`[C]` or `[N, C]`).
///
/// The output's gradient reaches `x` both directly and through the statistics (training
/// BatchNorm, InstanceNorm). Errors: `x` not a non-empty rank-5 tensor, `γ`/`β` not `[C]` or
/// on another device, `eps` negative or not finite.
pub fn normalize(
    x: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f32,
    per_sample: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    let op = "normalize";
    let [n, d, h, w, c] = check_inputs(op, x, gamma, beta, eps)?;
    let g = NormGeom {
        n,
        s: d * h * w,
        c,
        per_sample,
    };
    let (mean, var) = x.backend()?.norm_stats(x.buffer(), g)?;
    let stat_shape = if per_sample {
        Shape::new([n, c])
    } else {
        Shape::new([c])
    };
    let mean = Tensor::from_buffer(mean, stat_shape.clone());
    let var = Tensor::from_buffer(var, stat_shape);
    let y = apply_and_record(x, &mean, &var, gamma, beta, eps, true, g)?;
    Ok((y, mean, var))
}

/// Normalizes `x` with given constant per-channel statistics `mean`, `var` (`[C]`).
///
/// Gradients reach `x` (the statistics held constant), `γ` and `β`; `mean` and `var` get none.
/// Errors: as [`normalize`], and `mean`/`var` not `[C]` or on another device.
pub fn normalize_with(
    x: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f32,
) -> Result<Tensor> {
    let op = "normalize_with";
    let [n, d, h, w, c] = check_inputs(op, x, gamma, beta, eps)?;
    same_device(op, &[x, mean, var])?;
    for (name, t) in [("mean", mean), ("var", var)] {
        if t.dims() != [c] {
            return Err(Error::Shape {
                op,
                msg: format!(
                    "{name} {} must be [C] = [{c}] for input {}",
                    t.shape(),
                    x.shape()
                ),
            });
        }
    }
    let g = NormGeom {
        n,
        s: d * h * w,
        c,
        per_sample: false,
    };
    apply_and_record(x, mean, var, gamma, beta, eps, false, g)
}

struct NormBwd {
    x: Tensor,
    mean: Tensor,
    var: Tensor,
    gamma: Option<Tensor>,
    has_beta: bool,
    eps: f32,
    batch_stats: bool,
    g: NormGeom,
}

impl BackwardOp for NormBwd {
    fn name(&self) -> &'static str {
        "normalize"
    }
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (dx, dgamma, dbeta) = self.x.backend()?.norm_bwd(
            self.x.buffer(),
            self.mean.buffer(),
            self.var.buffer(),
            self.gamma.as_ref().map(|t| t.buffer()),
            dy.buffer(),
            self.eps,
            self.batch_stats,
            self.g,
        )?;
        let c = Shape::new([self.g.c]);
        let mut grads = vec![Some(Tensor::from_buffer(dx, self.x.shape().clone()))];
        if self.gamma.is_some() {
            grads.push(Some(Tensor::from_buffer(dgamma, c.clone())));
        }
        if self.has_beta {
            grads.push(Some(Tensor::from_buffer(dbeta, c)));
        }
        Ok(grads)
    }
}

#[cfg(test)]
mod tests;
