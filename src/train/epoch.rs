//! Advancing a [`Run`] by one epoch: its training steps on prefetched batches, validation, a
//! checkpoint, the history, TensorBoard scalars, the observation figures and the epoch's line.

use crate::data::generators::Batch;
use crate::data::loader::Loader;
use crate::models::{BuilderKind, NetInputs};
use crate::report::tensorboard::EventWriter;
use crate::report::tensorboard::{ResumePoint, STEP_TAG_PREFIX, drop_events_after};
use crate::session::log::{Logger, peak_memory_text};
use crate::session::{CheckpointData, PartialEpoch, SessionPaths, save_checkpoint};
use crate::tensor::Device;
use crate::train::error::{TrainError, TrainResult};
use crate::train::losses::{non_finite, objective};
use crate::train::progress::Progress;
use crate::train::start::Run;
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

pub(crate) fn inputs(batch: &Batch) -> NetInputs<'_> {
    NetInputs {
        src: &batch.src,
        tgt: &batch.tgt,
        src_seg: batch.src_mask.as_ref(),
    }
}

pub(crate) fn add_terms(
    sums: &mut BTreeMap<String, f64>,
    prefix: &str,
    total: f32,
    terms: &[(String, f32)],
) {
    *sums.entry(format!("{prefix}loss")).or_default() += total as f64;
    for (name, v) in terms {
        *sums.entry(format!("{prefix}{name}")).or_default() += *v as f64;
    }
}

impl Run {
    /// Runs the planned steps of one epoch (forward, loss, backward, Adam, BatchNorm statistics),
    /// continuing `resumed` (the steps and loss sums of an earlier run of this epoch cut short;
    /// default for a fresh epoch). Each step's loss and terms go to TensorBoard as `step/<term>`
    /// at the run's global step (Adam's update count), once the epoch's steps are done (or Ctrl-C stopped them). A
    /// NaN/Inf loss term stops with an error naming the epoch, step and term, before the update
    /// is applied.
    fn train_steps(
        &mut self,
        epoch: u32,
        mut loader: Loader,
        resumed: PartialEpoch,
        log: &mut Logger,
    ) -> TrainResult<EpochStats> {
        let (cfg, tb) = (&self.cfg, &mut self.tb);
        let (model, store, adam) = (
            &self.learner.model,
            &mut self.learner.store,
            &mut self.learner.adam,
        );
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
                let bad = non_finite(&obj.terms)
                    .or((!total.is_finite()).then(|| ("total".into(), total)));
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
            if crate::interrupt::requested() {
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
}

/// How an epoch ended: its training statistics, and whether Ctrl-C cut it short (before its
/// last step).
pub struct EpochEnd {
    pub stats: EpochStats,
    pub cut_short: bool,
}

impl Run {
    /// Trains epoch `epoch` (finishing the epoch a resumed checkpoint cut short), validates,
    /// writes its checkpoint, history, TensorBoard scalars and observations, and prints its
    /// line.
    pub fn epoch(&mut self, epoch: u32, log: &mut Logger) -> TrainResult<EpochEnd> {
        let resumed = std::mem::take(&mut self.resumed);
        let steps = self.data.steps;
        let remaining = steps.saturating_sub(resumed.steps_done as usize);
        // The generator's position after each planned batch, for a checkpoint mid-epoch.
        let mut positions = Vec::with_capacity(remaining);
        let gen_ = &mut self.data.pairs_gen;
        let plan: Vec<_> = (0..remaining)
            .map(|_| {
                let batch = gen_.next_batch();
                positions.push(gen_.state());
                batch
            })
            .collect();
        let loader = Loader::spawn(
            plan,
            self.data.kind,
            self.builder.kind == BuilderKind::MariaNet,
            self.data.source.clone(),
            self.cfg.workers as usize,
            self.cfg.prefetch as usize,
        )?;
        let stats = self.train_steps(epoch, loader, resumed, log)?;
        let cut_short = stats.interrupted && (stats.partial.steps_done as usize) < steps;
        // Volumes beyond the memory budget are read from the disk cache every epoch.
        crate::session::log_cache_events(&self.data.prepared, log);
        let val = self.validate()?;
        let gen_state = match stats.steps_run {
            n if cut_short && n > 0 => positions[n - 1],
            _ => self.data.pairs_gen.state(),
        };
        save_checkpoint(
            &self.paths.checkpoint_path(epoch),
            &CheckpointData {
                epoch,
                params: &self.learner.store,
                adam: &self.learner.adam,
                rng: &self.learner.rng,
                gen_state,
                partial: cut_short.then_some(&stats.partial),
                builder: self.identity,
            },
        )?;
        let mut values: BTreeMap<String, f64> = BTreeMap::new();
        for (k, v) in stats.means.iter().chain(val.means.iter()) {
            values.insert(k.clone(), *v);
        }
        values.insert("lr".into(), self.learner.adam.current_lr() as f64);
        self.history.push_epoch(epoch, &values)?;
        self.history.save(&self.paths.history())?;
        if let Some(point) = self.orphans.take() {
            drop_orphaned_events(&self.paths, point, &self.tb, log);
        }
        let mut scalars: Vec<(String, f32)> =
            values.iter().map(|(k, v)| (k.clone(), *v as f32)).collect();
        scalars.push(("steps_per_s".into(), stats.steps_per_s as f32));
        scalars.push(("data_wait_pct".into(), stats.wait_pct as f32));
        // A cut-short epoch's means go to the history (replaced when the epoch is finished)
        // but not to TensorBoard, which would show two points at the epoch's step (its step
        // losses went there: they are final).
        if !cut_short {
            self.tb.add_scalars(epoch as i64, &scalars)?;
        }
        if let Some(obs) = &val.observation {
            let tb = (!cut_short).then_some(&mut self.tb);
            crate::train::validate::observe(&self.paths, epoch, obs, tb)?;
        }
        self.tb.flush()?;
        let line = epoch_line(epoch, self.cfg.epochs, &values, &stats, self.device);
        log.line(&line);
        Ok(EpochEnd { stats, cut_short })
    }
}

/// The line an epoch ends with: its losses, validation Dice and folding, speed and peak memory
/// (host, and GPU on a GPU).
fn epoch_line(
    epoch: u32,
    epochs: u32,
    values: &BTreeMap<String, f64>,
    stats: &EpochStats,
    device: Device,
) -> String {
    format!(
        "epoch {epoch}/{} | loss {:.5} | val_loss {:.5} | val_dice {} | folding {:.3}% | \
         {:.2} steps/s | data wait {:.1}% | peak memory {}",
        epochs,
        values.get("loss").copied().unwrap_or(f64::NAN),
        values.get("val_loss").copied().unwrap_or(f64::NAN),
        values
            .get("val_dice")
            .map(|d| format!(
                "{d:.4} (before {:.4})",
                values.get("val_dice_before").copied().unwrap_or(f64::NAN)
            ))
            .unwrap_or_else(|| "n/a".into()),
        values.get("val_folding_pct").copied().unwrap_or(0.0),
        stats.steps_per_s,
        stats.wait_pct,
        peak_memory_text(device)
    )
}

/// Drops the TensorBoard events earlier runs wrote past `point`, where this run started
/// (its own file, `tb`, aside): this run writes those steps again (a resume from an earlier
/// checkpoint whose later ones were deleted, or a fresh start), as the history is truncated.
fn drop_orphaned_events(
    paths: &SessionPaths,
    point: ResumePoint,
    tb: &EventWriter,
    log: &mut Logger,
) {
    let pruned = match drop_events_after(&paths.tensorboard_dir(), point, tb.path()) {
        Ok(pruned) => pruned,
        Err(e) => {
            log.line(&format!(
                "warning: tensorboard: {e}: earlier runs' events left as they are"
            ));
            return;
        }
    };
    if pruned.dropped > 0 {
        log.line(&format!(
            "tensorboard: dropped {} events an earlier run wrote past epoch {}, step {} \
             (this run writes those steps again)",
            pruned.dropped, point.epoch, point.step
        ));
    }
    if pruned.torn > 0 {
        log.line(&format!(
            "tensorboard: removed the torn last record of {} event file{} (a write cut short)",
            pruned.torn,
            if pruned.torn == 1 { "" } else { "s" }
        ));
    }
    for file in pruned.unreadable {
        log.line(&format!("warning: tensorboard: {file} (left as it is)"));
    }
}
