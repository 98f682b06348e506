//! The training objective: the weighted loss terms of config.toml between the network's
//! outputs and a batch's targets, plus the L1 kernel regularizer of the flow head.

use crate::backend::LossKind;
use crate::data::generators::Batch;
use crate::models::NetOutputs;
use crate::nn::Params;
use crate::ops;
use crate::tensor::Tensor;
use crate::train::config::{LossName, OutputName, TrainConfig};
use crate::train::error::{TrainError, TrainResult};

/// The window of the local NCC loss.
pub const LNCC_WINDOW: usize = 9;

/// The value of every term (weighted, as added to the total) and the total, as a tensor that
/// backward can start from.
pub struct Objective {
    pub total: Tensor,
    /// `(name, weighted value)`, e.g. `("deformed_mse", 0.012)`, in config order, then
    /// `l1_kernel`.
    pub terms: Vec<(String, f32)>,
}

fn kind(loss: LossName) -> LossKind {
    match loss {
        LossName::Mse => LossKind::Mse,
        LossName::Mae => LossKind::Mae,
        LossName::Ncc => LossKind::Ncc,
        LossName::Lncc => LossKind::Lncc {
            window: LNCC_WINDOW,
        },
        LossName::Dice => LossKind::Dice,
    }
}

/// As a `[N, 1, 1, 1, C]` volume, the layout the loss ops take, for the `[N, 12]` affine.
fn as_volume(t: &Tensor) -> TrainResult<Tensor> {
    match t.dims() {
        [n, c] => Ok(t.reshape([*n, 1, 1, 1, *c])?),
        _ => Ok(t.clone()),
    }
}

fn pick<'a>(
    output: OutputName,
    out: &'a NetOutputs,
    batch: &'a Batch,
) -> TrainResult<(&'a Tensor, &'a Tensor)> {
    let missing = |what: &str| {
        TrainError::Usage(format!(
            "config.toml has a loss on `{}`, but {what}",
            output.name()
        ))
    };
    Ok(match output {
        OutputName::Deformed => (&out.deformed, &batch.tgt),
        OutputName::Gradient => (&out.gradient, &batch.identity_gradient),
        OutputName::Linear => (
            out.linear
                .as_ref()
                .ok_or_else(|| missing("this network has no linear head"))?,
            batch
                .identity_affine
                .as_ref()
                .ok_or_else(|| missing("the batch has no affine target"))?,
        ),
        OutputName::DeformedSeg => (
            out.deformed_seg
                .as_ref()
                .ok_or_else(|| missing("the network warped no source mask"))?,
            batch
                .tgt_mask
                .as_ref()
                .ok_or_else(|| missing("the generator gives no target mask"))?,
        ),
    })
}

/// Computes the objective of one batch. `regularized` are the flow-head weights the
/// `l1_kernel` term applies to (read from `p`).
pub fn objective(
    cfg: &TrainConfig,
    out: &NetOutputs,
    batch: &Batch,
    p: &Params,
    regularized: &[String],
) -> TrainResult<Objective> {
    let mut total: Option<Tensor> = None;
    let mut terms = Vec::with_capacity(cfg.losses.len() + 1);
    let mut add = |name: String, weighted: Tensor| -> TrainResult<()> {
        terms.push((name, weighted.to_scalar()?));
        total = Some(match total.take() {
            Some(t) => ops::add(&t, &weighted)?,
            None => weighted,
        });
        Ok(())
    };
    for term in &cfg.losses {
        let (pred, target) = pick(term.output, out, batch)?;
        let l = ops::loss(kind(term.loss), &as_volume(pred)?, &as_volume(target)?)?;
        let name = format!("{}_{}", term.output.name(), term.loss.name());
        add(name, ops::affine(&l, term.weight, 0.0)?)?;
    }
    if cfg.l1_kernel > 0.0 {
        for w in regularized {
            let l = ops::l1(&p.get(w)?)?;
            add("l1_kernel".into(), ops::affine(&l, cfg.l1_kernel, 0.0)?)?;
        }
    }
    let total =
        total.ok_or_else(|| TrainError::Usage("config.toml defines no loss terms".into()))?;
    Ok(Objective { total, terms })
}

/// The first term that is NaN or infinite, if any.
pub fn non_finite(terms: &[(String, f32)]) -> Option<(String, f32)> {
    terms
        .iter()
        .find(|(_, v)| !v.is_finite())
        .map(|(n, v)| (n.clone(), *v))
}
