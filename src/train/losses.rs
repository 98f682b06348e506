//! The training objective: the weighted loss terms of config.toml between the network's
//! outputs and a batch's targets, plus the L1 kernel regularizer of the flow head.

use crate::data::generators::Batch;
use crate::models::NetOutputs;
use crate::nn::Params;
use crate::ops;
use crate::ops::LossKind;
use crate::session::config::{LossName, OutputName, TrainConfig};
use crate::tensor::Tensor;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generators::{GenKind, Pair};
    use crate::nn::ParamStore;
    use crate::tensor::Device;

    fn t(v: f32, dims: [usize; 5]) -> Tensor {
        Tensor::full(v, dims, Device::Cpu).unwrap()
    }

    #[test]
    fn terms_are_weighted_named_and_non_finite_ones_found() {
        let dims = [1, 2, 2, 2, 1];
        let batch = Batch {
            pairs: vec![Pair {
                src: "a".into(),
                tgt: "b".into(),
            }],
            src: t(0.0, dims),
            tgt: t(1.0, dims),
            src_mask: None,
            tgt_mask: None,
            identity_gradient: t(0.5, [1, 2, 2, 2, 3]),
            identity_affine: None,
        };
        let out = |deformed: f32| NetOutputs {
            deformed: t(deformed, dims),
            gradient: t(0.75, [1, 2, 2, 2, 3]),
            linear: None,
            deformed_seg: None,
            grid: t(0.0, [1, 2, 2, 2, 3]),
        };
        let cfg = TrainConfig::defaults(crate::models::BuilderKind::Unet, GenKind::Luna);
        let store = ParamStore::new();
        let p = store.frozen(true);
        let obj = objective(&cfg, &out(3.0), &batch, &p, &[]).unwrap();
        // mse (3-1)² = 4 with weight 1; mae |0.75-0.5| = 0.25 with weight 1e-5.
        assert_eq!(obj.terms[0], ("deformed_mse".to_string(), 4.0));
        assert_eq!(obj.terms[1].0, "gradient_mae");
        assert!((obj.terms[1].1 - 0.25e-5).abs() < 1e-9);
        assert!((obj.total.to_scalar().unwrap() - 4.0000025).abs() < 1e-5);
        assert_eq!(non_finite(&obj.terms), None);
        let bad = objective(&cfg, &out(f32::NAN), &batch, &p, &[]).unwrap();
        let (term, v) = non_finite(&bad.terms).unwrap();
        assert_eq!(term, "deformed_mse");
        assert!(v.is_nan());
        let e = objective(
            &TrainConfig::defaults(crate::models::BuilderKind::MariaNet, GenKind::Luna),
            &out(1.0),
            &batch,
            &p,
            &[],
        );
        assert!(e.is_err_and(|e| e.to_string().contains("linear")));
    }
}
