//! One epoch of training steps, the validation pass, and the per-epoch observation.

use crate::data::generators::{Batch, GenKind, Pair, VolumeSource, assemble};
use crate::data::loader::Loader;
use crate::eval::metrics::{dice, folding_pct, jacobian_determinants};
use crate::models::{Model, NetInputs, NetOutputs, warp_with_grid};
use crate::nn::ParamStore;
use crate::ops::Padding;
use crate::report::tensorboard::{EventWriter, STEP_TAG_PREFIX};
use crate::session::{PartialEpoch, SessionPaths};
use crate::tensor::Tensor;
use crate::train::config::TrainConfig;
use crate::train::error::{TrainError, TrainResult};
use crate::train::log::Logger;
use crate::train::losses::{non_finite, objective};
use crate::train::optim::Adam;
use crate::train::progress::Progress;
use crate::train::step::train_step;
use std::collections::BTreeMap;
use std::time::Instant;

/// Means of an epoch's training steps and how fast they ran.
pub struct EpochStats {
    /// `loss` (the total) and every term, averaged over the steps.
    pub means: BTreeMap<String, f64>,
    pub steps_per_s: f64,
    /// Share of the epoch's time the step waited for the data loader, in %.
    pub wait_pct: f64,
    /// Steps this call ran.
    pub steps_run: usize,
    /// How far the epoch got: its steps done, including those of an earlier run it resumes
    /// (fewer than planned after Ctrl-C), and its loss sums; what a checkpoint of a cut-short
    /// epoch keeps.
    pub partial: PartialEpoch,
    pub interrupted: bool,
}

fn inputs(batch: &Batch) -> NetInputs<'_> {
    NetInputs {
        src: &batch.src,
        tgt: &batch.tgt,
        src_seg: batch.src_mask.as_ref(),
    }
}

fn add_terms(sums: &mut BTreeMap<String, f64>, prefix: &str, total: f32, terms: &[(String, f32)]) {
    *sums.entry(format!("{prefix}loss")).or_default() += total as f64;
    for (name, v) in terms {
        *sums.entry(format!("{prefix}{name}")).or_default() += *v as f64;
    }
}

/// Runs the planned steps of one epoch (forward, loss, backward, Adam, BatchNorm statistics),
/// continuing `resumed` (the steps and loss sums of an earlier run of this epoch cut short;
/// default for a fresh epoch). Each step's loss and terms go to TensorBoard as `step/<term>`
/// at the run's global step (Adam's update count), once the epoch's steps are done (or Ctrl-C stopped them). A
/// NaN/Inf loss term stops with an error naming the epoch, step and term, before the update
/// is applied.
#[allow(clippy::too_many_arguments)]
pub fn run_epoch(
    epoch: u32,
    cfg: &TrainConfig,
    model: &Model,
    store: &mut ParamStore,
    adam: &mut Adam,
    mut loader: Loader,
    resumed: PartialEpoch,
    log: &mut Logger,
    tb: &mut EventWriter,
) -> TrainResult<EpochStats> {
    let regularized = model.regularized_weights();
    let first = resumed.steps_done as usize;
    let steps = first + loader.len();
    let mut progress = Progress::new(epoch, cfg.epochs, steps, first);
    let start = Instant::now();
    let mut sums = resumed.sums;
    let mut done = first;
    let mut interrupted = false;
    // Written once the steps are final (the epoch ends or Ctrl-C stops it): a run that fails
    // mid-epoch resumes from the epoch before, and must not find its steps already there.
    let mut step_points: Vec<(i64, Vec<(String, f32)>)> = Vec::new();
    let device = store.device();
    while let Some(batch) = loader.next_batch() {
        let batch = batch?.to_device(device)?;
        let ((total, terms), _) = train_step(store, adam, |p| -> TrainResult<_> {
            let out = model.forward(p, &inputs(&batch))?;
            let obj = objective(cfg, &out, &batch, p, &regularized)?;
            let total = obj.total.to_scalar()?;
            let bad =
                non_finite(&obj.terms).or((!total.is_finite()).then(|| ("total".into(), total)));
            if let Some((term, value)) = bad {
                return Err(TrainError::NonFinite {
                    epoch,
                    step: done + 1,
                    term,
                    value,
                });
            }
            Ok((obj.total, (total, obj.terms)))
        })?;
        add_terms(&mut sums, "", total, &terms);
        done += 1;
        // The run's global step: Adam's update count, which counts every step of every epoch
        // so far (whatever steps_per_epoch was) and is restored on resume.
        let global_step = adam.iterations;
        let step_scalars: Vec<(String, f32)> = std::iter::once(("loss", total))
            .chain(terms.iter().map(|(k, v)| (k.as_str(), *v)))
            .map(|(k, v)| (format!("{STEP_TAG_PREFIX}{k}"), v))
            .collect();
        step_points.push((global_step as i64, step_scalars));
        progress.step(done, sums["loss"] / done as f64, log);
        if crate::train::interrupt::requested() {
            interrupted = true;
            break;
        }
    }
    progress.finish();
    for (step, scalars) in &step_points {
        tb.add_scalars(*step, scalars)?;
    }
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    let means = sums
        .iter()
        .map(|(k, v)| (k.clone(), v / done.max(1) as f64))
        .collect();
    let steps_run = done - first;
    Ok(EpochStats {
        means,
        steps_per_s: steps_run as f64 / elapsed,
        wait_pct: 100.0 * loader.waited().as_secs_f64() / elapsed,
        steps_run,
        partial: PartialEpoch {
            steps_done: done as u64,
            sums,
        },
        interrupted,
    })
}

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

/// Evaluates `pairs` in inference mode (BatchNorm running statistics), batch by batch, and
/// runs the observation pair.
#[allow(clippy::too_many_arguments)]
pub fn validate(
    cfg: &TrainConfig,
    model: &Model,
    store: &ParamStore,
    kind: GenKind,
    pairs: &[Pair],
    observation: &Pair,
    source: &dyn VolumeSource,
    with_affine: bool,
    padding: Padding,
) -> TrainResult<ValStats> {
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

/// Writes the observation PNGs of `epoch` and adds the overview to TensorBoard (`tb`; `None`
/// for an epoch cut short, whose finished run will add it).
pub fn observe(
    paths: &SessionPaths,
    epoch: u32,
    obs: &ObservationData,
    tb: Option<&mut EventWriter>,
) -> TrainResult<()> {
    let view = crate::train::observe::Observation {
        dims: obs.dims,
        src: &obs.src,
        tgt: &obs.tgt,
        warped: &obs.warped,
        gradient: &obs.gradient,
        grid: &obs.grid,
        warped_seg: obs.warped_seg.as_deref(),
    };
    let overview =
        crate::train::observe::write_observations(&paths.observation_dir(epoch), epoch, &view)?;
    if let Some(tb) = tb {
        tb.add_raster("observation/overview", epoch as i64, &overview)?;
    }
    Ok(())
}
