//! Validation after each epoch: the losses, Dice of the warped masks and % folding of the
//! validation pairs, and the observation pair drawn to PNGs and TensorBoard.

use crate::data::generators::{Batch, Pair, VolumeSource, assemble};
use crate::metrics::{dice, folding_pct, jacobian_determinants};
use crate::models::{BuilderKind, NetOutputs, warp_with_grid};
use crate::report::tensorboard::EventWriter;
use crate::session::SessionPaths;
use crate::tensor::Tensor;
use crate::train::epoch::{add_terms, inputs};
use crate::train::error::TrainResult;
use crate::train::losses::objective;
use crate::train::start::Run;
use std::collections::BTreeMap;

/// One sample of the observation pair, on the host.
pub struct ObservationData {
    pub dims: [usize; 3],
    pub src: Vec<f32>,
    pub tgt: Vec<f32>,
    pub warped: Vec<f32>,
    pub gradient: Vec<f32>,
    pub grid: Vec<f32>,
    pub warped_seg: Option<Vec<f32>>,
}

/// Validation results: `val_loss`, `val_<term>`, and when masks exist `val_dice` and
/// `val_dice_before`; `val_folding_pct` always.
pub struct ValStats {
    pub means: BTreeMap<String, f64>,
    pub observation: Option<ObservationData>,
}

/// The masks of a batch's sources and targets: the batch's own (`_seg` generators), else
/// from the source when every scan of the batch has one, else none. A mask that exists but
/// cannot be read or prepared is an error, not a Dice left out.
fn masks(batch: &Batch, source: &dyn VolumeSource) -> TrainResult<Option<(Tensor, Tensor)>> {
    if let (Some(s), Some(t)) = (&batch.src_mask, &batch.tgt_mask) {
        return Ok(Some((s.clone(), t.clone())));
    }
    let all_masked = batch
        .pairs
        .iter()
        .all(|p| source.has_mask(&p.src) && source.has_mask(&p.tgt));
    if !all_masked {
        return Ok(None);
    }
    let [d, h, w] = source.grid();
    let fetch = |pick: fn(&Pair) -> &str| -> TrainResult<Tensor> {
        let mut data = Vec::new();
        for p in &batch.pairs {
            data.extend_from_slice(&source.mask(pick(p))?);
        }
        let dims = [batch.pairs.len(), d, h, w, 1];
        Ok(Tensor::from_vec(data, dims, batch.src.device())?)
    };
    Ok(Some((fetch(|p| &p.src)?, fetch(|p| &p.tgt)?)))
}

impl Run {
    /// Evaluates the validation pairs in inference mode (BatchNorm running statistics),
    /// batch by batch, and runs the observation pair.
    pub(crate) fn validate(&self) -> TrainResult<ValStats> {
        let (cfg, model, store) = (&self.cfg, &self.learner.model, &self.learner.store);
        let (kind, pairs, observation) = (
            self.data.kind,
            &self.data.val_pairs[..],
            &self.data.observation,
        );
        let source = self.data.source.as_ref();
        let with_affine = self.builder.kind == BuilderKind::MariaNet;
        let padding = self.builder.padding;
        let regularized = model.regularized_weights();
        let p = store.frozen(false);
        let mut sums = BTreeMap::new();
        let (mut dice_sum, mut before_sum, mut n_dice, mut fold_sum, mut n) = (0.0, 0.0, 0, 0.0, 0);
        let [d, h, w] = source.grid();
        let per = d * h * w;
        let run = |chunk: Vec<Pair>| -> TrainResult<(Batch, NetOutputs)> {
            let batch = assemble(kind, chunk, source, with_affine)?.to_device(store.device())?;
            let out = model.forward(&p, &inputs(&batch))?;
            Ok((batch, out))
        };
        for chunk in pairs.chunks(cfg.batch_size.max(1) as usize) {
            let (batch, out) = run(chunk.to_vec())?;
            let obj = objective(cfg, &out, &batch, &p, &regularized)?;
            add_terms(&mut sums, "val_", obj.total.to_scalar()?, &obj.terms);
            let grid = out.grid.to_vec()?;
            for i in 0..chunk.len() {
                let dets = jacobian_determinants(&grid[i * per * 3..(i + 1) * per * 3], [d, h, w]);
                fold_sum += folding_pct(&dets);
            }
            if let Some((sm, tm)) = masks(&batch, source)? {
                let warped = warp_with_grid(&sm, &out.grid, padding)?.to_vec()?;
                let (sm, tm) = (sm.to_vec()?, tm.to_vec()?);
                for i in 0..chunk.len() {
                    let r = i * per..(i + 1) * per;
                    dice_sum += dice(&warped[r.clone()], &tm[r.clone()]);
                    before_sum += dice(&sm[r.clone()], &tm[r]);
                    n_dice += 1;
                }
            }
            n += chunk.len();
        }
        let batches = pairs.chunks(cfg.batch_size.max(1) as usize).count().max(1) as f64;
        let mut means: BTreeMap<String, f64> =
            sums.into_iter().map(|(k, v)| (k, v / batches)).collect();
        means.insert("val_folding_pct".into(), fold_sum / n.max(1) as f64);
        if n_dice > 0 {
            means.insert("val_dice".into(), dice_sum / n_dice as f64);
            means.insert("val_dice_before".into(), before_sum / n_dice as f64);
        }
        let (batch, out) = run(vec![observation.clone()])?;
        let warped_seg = match masks(&batch, source)? {
            Some((sm, _)) => Some(warp_with_grid(&sm, &out.grid, padding)?.to_vec()?),
            None => None,
        };
        let observation = ObservationData {
            dims: [d, h, w],
            src: batch.src.to_vec()?,
            tgt: batch.tgt.to_vec()?,
            warped: out.deformed.to_vec()?,
            gradient: out.gradient.to_vec()?,
            grid: out.grid.to_vec()?,
            warped_seg,
        };
        Ok(ValStats {
            means,
            observation: Some(observation),
        })
    }
}

/// Writes the observation PNGs of `epoch` and adds the overview to TensorBoard (`tb`; `None`
/// for an epoch cut short, whose finished run will add it).
pub fn observe(
    paths: &SessionPaths,
    epoch: u32,
    obs: &ObservationData,
    tb: Option<&mut EventWriter>,
) -> TrainResult<()> {
    let view = crate::report::observe::Observation {
        dims: obs.dims,
        src: &obs.src,
        tgt: &obs.tgt,
        warped: &obs.warped,
        gradient: &obs.gradient,
        grid: &obs.grid,
        warped_seg: obs.warped_seg.as_deref(),
    };
    let overview =
        crate::report::observe::write_observations(&paths.observation_dir(epoch), epoch, &view)?;
    if let Some(tb) = tb {
        tb.add_raster("observation/overview", epoch as i64, &overview)?;
    }
    Ok(())
}
