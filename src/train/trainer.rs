//! The training loop of the `train` binary: open (or create) the session, build the network,
//! resume from a checkpoint if asked, then per epoch: the training steps on prefetched
//! batches, validation (losses, Dice of the warped masks, % folding), a checkpoint, the
//! history, TensorBoard scalars, and the observation figures.

use crate::data::generators::{GenKind, Pair, PairGenerator, VolumeSource, single_pass};
use crate::data::loader::Loader;
use crate::data::source::{PreparedSource, cache_dir};
use crate::models::{BuilderConfig, BuilderKind, Model};
use crate::nn::{NormKind, ParamStore};
use crate::report::tensorboard::{EventWriter, ResumePoint, drop_events_after};
use crate::session::lock::SessionLock;
use crate::session::{
    BuilderIdentity, CheckpointData, IdSet, SessionPaths, TrainingHistory, load_checkpoint,
    open_session, read_ids, save_checkpoint, sessions_root,
};
use crate::session::{PartialEpoch, SplitFractions};
use crate::tensor::{Device, Rng};
use crate::train::config::{DeviceChoice, Monitor, TrainConfig};
use crate::train::epoch::{EpochStats, run_epoch, validate};
use crate::train::error::{TrainError, TrainResult};
use crate::train::log::{Logger, peak_memory_text, reset_peak_memory};
use crate::train::optim::Adam;
use crate::train::setup::{
    Applied, NewSession, Overrides, check_listed_scans, log_cache_events, open_dataset,
    resolve_data_dir,
};
use crate::train::start::{
    check_checkpoint_paths, load_session_files, record_config, resume_point,
    warn_of_a_short_history,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What `train` was asked to do.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub session: String,
    pub sessions_dir: Option<PathBuf>,
    pub builder: BuilderKind,
    pub generator: GenKind,
    /// A checkpoint to resume from: a file name in the session's checkpoints/ or a path.
    pub weights: Option<PathBuf>,
    pub overrides: Overrides,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSummary {
    /// The last epoch checkpointed: completed, or cut short when `cut_short` is set.
    pub last_epoch: u32,
    /// True when Ctrl-C ended the run before `epochs` (then `last_epoch` is checkpointed).
    pub interrupted: bool,
    /// True when Ctrl-C ended `last_epoch` before its last step.
    pub cut_short: bool,
    /// True when early stopping ended the run before `epochs`.
    pub stopped_early: bool,
    /// The session directory.
    pub session_dir: PathBuf,
}

impl TrainSummary {
    /// How the run ended, for the last line it prints: "trained through epoch N in DIR" or
    /// "stopped in epoch N (Ctrl-C) in DIR", and "(early stopping)".
    pub fn describe(&self) -> String {
        let how = if self.cut_short {
            format!("stopped in epoch {} (Ctrl-C)", self.last_epoch)
        } else if self.interrupted {
            format!("stopped after epoch {} (Ctrl-C)", self.last_epoch)
        } else {
            format!("trained through epoch {}", self.last_epoch)
        };
        let early = if self.stopped_early {
            " (early stopping)"
        } else {
            ""
        };
        format!("{how} in {}{early}", self.session_dir.display())
    }
}

/// The device a configuration asks for (shared with `voxflow eval` and `show`): `auto` takes
/// GPU `gpu_id` when this build and machine can use it (kernels compiled with nvcc, driver and
/// device present), else the CPU.
pub(crate) fn device_of(cfg: &TrainConfig) -> Device {
    match cfg.device {
        DeviceChoice::Cpu => Device::Cpu,
        DeviceChoice::Cuda => Device::Cuda(cfg.gpu_id as usize),
        DeviceChoice::Auto => {
            let gpu = Device::Cuda(cfg.gpu_id as usize);
            if crate::ops::backend(gpu).is_ok() {
                gpu
            } else {
                Device::Cpu
            }
        }
    }
}

/// Opens the session, creating it with `voxflow new`'s defaults when it does not exist.
fn prepare(opts: &TrainOptions, log: &mut Logger) -> TrainResult<SessionPaths> {
    let root = sessions_root(opts.sessions_dir.clone());
    // A bad name is refused before anything (a phantom dataset, say) is generated.
    SessionPaths::new(&root, &opts.session)?;
    if !root.join(&opts.session).exists() {
        let shape = opts.overrides.shape.unwrap_or(match opts.builder {
            BuilderKind::Unet | BuilderKind::MariaNet => [64; 3],
        });
        crate::train::setup::new_session(
            &NewSession {
                name: opts.session.clone(),
                sessions_root: root.clone(),
                builder: opts.builder,
                generator: opts.generator,
                shape,
                data_dir: opts.overrides.data_dir.clone(),
                split: SplitFractions::new(0.6, 0.2, 0.2)?,
                seed: opts.overrides.seed.unwrap_or(777),
                atlas: None,
                force: false,
            },
            log,
        )?;
    }
    Ok(open_session(&root, &opts.session)?)
}

/// Runs (or resumes) training as SPEC section 2 describes. A Ctrl-C request is forgotten when
/// it returns (honored or not), so a program embedding the trainer can train again.
/// Everything it prints goes to the session's logs.txt, from the session's creation (when
/// it creates one) to how the run ended, its error included.
pub fn train(opts: &TrainOptions) -> TrainResult<TrainSummary> {
    let mut log = Logger::console();
    let result = run(opts, &mut log);
    crate::train::interrupt::clear();
    match &result {
        Ok(s) => log.line(&format!("done: {}", s.describe())),
        Err(e) => log.file_only(&format!("Error: {e}")),
    }
    result
}

fn run(opts: &TrainOptions, log: &mut Logger) -> TrainResult<TrainSummary> {
    let paths = prepare(opts, log)?;
    // Held until the run ends: a second run on this session stops here, before it writes a
    // line into the running one's log.
    let lock = SessionLock::acquire(&paths, "train")?;
    log.attach(&paths.logs())?;
    if let Some(why) = &lock.unavailable {
        log.line(&format!("warning: {why}"));
    }
    let root = sessions_root(opts.sessions_dir.clone());

    let (builder, builder_text, mut cfg, mut applied) = load_session_files(opts, &paths)?;
    let resume = resume_point(opts.weights.as_deref(), &paths, cfg.epochs)?;

    let device = device_of(&cfg);
    let mut rng = Rng::new(cfg.seed);
    let mut store = ParamStore::new();
    let model = Model::build(&builder, &mut store, &mut rng, device)?;
    let mut adam = Adam::new(cfg.adam());
    let (trainable, total) = store.count();
    log.line(&format!(
        "session {} | {} | {} generator | grid {:?} | {trainable} trainable of {total} parameters | \
         device {device}",
        paths.name(),
        builder.kind,
        cfg.generator.name(),
        cfg.shape
    ));
    let grid = cfg.shape.map(|s| s as usize);
    if builder.input_shape != grid {
        log.line(&format!(
            "note: training on config.toml's grid {grid:?}; builder.toml's input_shape {:?} is \
             only the size `voxflow inspect` describes the layers at",
            builder.input_shape
        ));
    }
    if let Some(w) = batch_norm_warning(&builder, &cfg) {
        log.line(&w);
    }

    let data = resolve_data_dir(
        opts.overrides.data_dir.as_deref(),
        cfg.data_dir.as_deref(),
        &root,
        log,
    )?;
    if cfg.data_dir.is_none() {
        // A hand-written config.toml: record the directory this run used.
        applied.push(Applied {
            key: "data_dir",
            line: format!("data_dir = {:?}", data.display().to_string()),
            changed: true,
        });
        cfg.data_dir = Some(data.clone());
    }
    let dataset = open_dataset(&data, log)?;
    let train_ids = read_ids(&paths.ids(IdSet::Train))?;
    let val_ids = read_ids(&paths.ids(IdSet::Val))?;
    let kind = cfg.generator;
    for (set, ids) in [(IdSet::Train, &train_ids), (IdSet::Val, &val_ids)] {
        check_listed_scans(&dataset, &paths.ids(set), ids, kind.uses_masks())?;
    }
    let prepared = Arc::new(PreparedSource::new(dataset, cache_dir(&data), cfg.grid())?);
    let source: Arc<dyn VolumeSource> = prepared.clone();
    let atlas = cfg.atlas_id.clone();
    // The observation pair is first needed after an epoch: a bad id must stop the run now.
    for id in cfg.observation_ids.iter().flatten() {
        let mask = kind.uses_masks() || source.has_mask(id);
        prepare_scan(source.as_ref(), id, mask).map_err(|e| {
            TrainError::Usage(format!(
                "{}: observation_ids: {e}",
                paths.config().display()
            ))
        })?;
    }
    prepare_scans(&prepared, &train_ids, &val_ids, atlas.as_deref(), kind, log)?;
    // The epoch lines' peak memory is training's, not the data preparation's.
    let _ = reset_peak_memory();
    let mut pairs_gen = PairGenerator::new(
        kind,
        train_ids.clone(),
        atlas.clone(),
        cfg.batch_size as usize,
        cfg.seed,
    )?;
    let steps = cfg.steps(pairs_gen.pairs_per_epoch());
    let val_pairs = single_pass(kind, &val_ids, atlas.as_deref()).map_err(|e| {
        TrainError::Usage(format!(
            "{}: validation set: {e}",
            paths.ids(IdSet::Val).display()
        ))
    })?;
    let val_steps = cfg.val_steps(steps).min(val_pairs.len());
    log.line(&format!(
        "{steps} steps per epoch; validation on the first {val_steps} of the {} validation \
         pairs (validation_steps; `voxflow eval --set val` scores them all)",
        val_pairs.len()
    ));
    let observation = match &cfg.observation_ids {
        Some([src, tgt]) => Pair {
            src: src.clone(),
            tgt: tgt.clone(),
        },
        None => val_pairs[0].clone(),
    };

    let identity = BuilderIdentity::of(&builder_text, &builder);
    let mut history = TrainingHistory::load_or_new(&paths.history())?;
    let mut start = 0;
    // Steps and loss sums of an epoch cut short by Ctrl-C, which the first epoch finishes.
    let mut resumed = PartialEpoch::default();
    match &resume {
        Some(path) => {
            let meta = load_checkpoint(path, &identity, &mut store, &mut adam)?;
            rng = meta.rng;
            pairs_gen.restore(meta.gen_state)?;
            start = meta.epoch;
            let mut how = format!("epoch {start}");
            if let Some(p) = meta.partial {
                start = start.saturating_sub(1);
                how = match p.steps_done as usize >= steps {
                    false => format!(
                        "epoch {} cut short after {} of {steps} steps: finishing it",
                        meta.epoch, p.steps_done
                    ),
                    true => format!(
                        "epoch {} cut short after {} steps, as many as the {steps} steps per \
                         epoch set now or more: ending it",
                        meta.epoch, p.steps_done
                    ),
                };
                resumed = p;
            }
            history.truncate_to(start);
            log.line(&format!("resumed from {} ({how})", path.display()));
            warn_of_a_short_history(&history, start, &paths, log);
        }
        None => {
            history = TrainingHistory::new();
        }
    }
    check_checkpoint_paths(&paths, start, cfg.epochs)?;
    record_config(&cfg, &applied, &paths, resume.is_some(), log)?;
    let mut tb = EventWriter::create(&paths.tensorboard_dir())?;
    // Where this run starts on both TensorBoard scales; an earlier run's events past it go
    // once this run's first epoch is checkpointed and in the history (a run failing before
    // that keeps them).
    let mut orphans = Some(ResumePoint {
        epoch: i64::from(start),
        step: adam.iterations as i64,
    });
    crate::train::interrupt::install();

    let mut last = start;
    let mut last_cut_short = false;
    let mut interrupted = false;
    let mut stopped_early = false;
    for epoch in start + 1..=cfg.epochs {
        let resumed = std::mem::take(&mut resumed);
        let remaining = steps.saturating_sub(resumed.steps_done as usize);
        // The generator's position after each planned batch, for a checkpoint mid-epoch.
        let mut positions = Vec::with_capacity(remaining);
        let plan: Vec<_> = (0..remaining)
            .map(|_| {
                let batch = pairs_gen.next_batch();
                positions.push(pairs_gen.state());
                batch
            })
            .collect();
        let loader = Loader::spawn(
            plan,
            kind,
            builder.kind == BuilderKind::MariaNet,
            source.clone(),
            cfg.workers as usize,
            cfg.prefetch as usize,
        )?;
        let stats: EpochStats = run_epoch(
            epoch, &cfg, &model, &mut store, &mut adam, loader, resumed, log, &mut tb,
        )?;
        let cut_short = stats.interrupted && (stats.partial.steps_done as usize) < steps;
        // Volumes beyond the memory budget are read from the disk cache every epoch.
        log_cache_events(&prepared, log);
        let val = validate(
            &cfg,
            &model,
            &store,
            kind,
            &val_pairs[..val_steps],
            &observation,
            source.as_ref(),
            builder.kind == BuilderKind::MariaNet,
            builder.padding,
        )?;
        save_checkpoint(
            &paths.checkpoint_path(epoch),
            &CheckpointData {
                epoch,
                params: &store,
                adam: &adam,
                rng: &rng,
                gen_state: match stats.steps_run {
                    n if cut_short && n > 0 => positions[n - 1],
                    _ => pairs_gen.state(),
                },
                partial: cut_short.then_some(&stats.partial),
                builder: identity,
            },
        )?;
        let mut values: BTreeMap<String, f64> = BTreeMap::new();
        for (k, v) in stats.means.iter().chain(val.means.iter()) {
            values.insert(k.clone(), *v);
        }
        values.insert("lr".into(), adam.current_lr() as f64);
        history.push_epoch(epoch, &values)?;
        history.save(&paths.history())?;
        if let Some(point) = orphans.take() {
            drop_orphaned_events(&paths, point, &tb, log);
        }
        let mut scalars: Vec<(String, f32)> =
            values.iter().map(|(k, v)| (k.clone(), *v as f32)).collect();
        scalars.push(("steps_per_s".into(), stats.steps_per_s as f32));
        scalars.push(("data_wait_pct".into(), stats.wait_pct as f32));
        // A cut-short epoch's means go to the history (replaced when the epoch is finished)
        // but not to TensorBoard, which would show two points at the epoch's step (its step
        // losses went there: they are final).
        if !cut_short {
            tb.add_scalars(epoch as i64, &scalars)?;
        }
        if let Some(obs) = &val.observation {
            let tb = (!cut_short).then_some(&mut tb);
            crate::train::epoch::observe(&paths, epoch, obs, tb)?;
        }
        tb.flush()?;
        log.line(&epoch_line(epoch, cfg.epochs, &values, &stats, device));
        last = epoch;
        // Early stopping first: an epoch that meets it ends the run as a straight run would,
        // even if Ctrl-C came during its validation (a cut-short epoch's means do not count).
        let early = if cut_short {
            None
        } else {
            should_stop(&history, &cfg)
        };
        if let Some(wait) = early {
            log.line(&format!(
                "early stopping: {} has not improved by {} for {wait} epoch{} (patience {})",
                monitor_key(&cfg),
                cfg.early_stopping.min_delta,
                if wait == 1 { "" } else { "s" },
                cfg.early_stopping.patience
            ));
            stopped_early = true;
            break;
        }
        if stops_here(
            stats.interrupted,
            crate::train::interrupt::requested(),
            cut_short,
            epoch == cfg.epochs,
        ) {
            let ckpt = paths.checkpoint_path(epoch);
            let name = ckpt.file_name().unwrap_or_default().to_string_lossy();
            log.line(&format!(
                "interrupted: epoch {epoch} ended after {} of {steps} steps; checkpoint {} \
                 written; --weights {name} resumes{}",
                stats.partial.steps_done,
                ckpt.display(),
                if cut_short {
                    " the epoch where it stopped (and rewrites this checkpoint once it is complete)"
                } else {
                    ""
                }
            ));
            last_cut_short = cut_short;
            interrupted = true;
            break;
        }
    }
    Ok(TrainSummary {
        last_epoch: last,
        interrupted,
        cut_short: last_cut_short,
        stopped_early,
        session_dir: paths.dir().to_path_buf(),
    })
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

/// Preprocesses (or loads from the cache) every scan the run uses before the first step, in
/// parallel, so that the loader serves training from memory and the step never waits on
/// preprocessing.
fn prepare_scans(
    source: &PreparedSource,
    train: &[String],
    val: &[String],
    atlas: Option<&str>,
    kind: GenKind,
    log: &mut Logger,
) -> TrainResult<()> {
    use rayon::prelude::*;
    let start = std::time::Instant::now();
    let mut ids: Vec<&str> = train
        .iter()
        .chain(val)
        .map(String::as_str)
        .chain(atlas)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    // Validation scores Dice on the masks the dataset has, whatever the generator: a bad one
    // among its scans (the validation ids and the atlas, every validation pair's target) stops
    // the run now rather than after the first epoch.
    let validated = |id: &str| val.iter().any(|v| v == id) || atlas == Some(id);
    ids.par_iter().try_for_each(|id| {
        let masks = kind.uses_masks() || (validated(id) && source.has_mask(id));
        prepare_scan(source, id, masks)
    })?;
    let (hits, built) = log_cache_events(source, log);
    log.line(&format!(
        "prepared {} scans for the grid {:?} in {:.1} s ({hits} volumes from the cache, {built} \
         built)",
        ids.len(),
        source.grid(),
        start.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Prepares scan `id`'s image, and with `mask` its mask.
fn prepare_scan(source: &dyn VolumeSource, id: &str, mask: bool) -> TrainResult<()> {
    source.image(id)?;
    if mask {
        source.mask(id)?;
    }
    Ok(())
}

/// MariaNet's squeeze-excite and affine heads read global average pools. With one sample per
/// batch, BatchNorm normalizes each sample by its own statistics while training, so those pools
/// only ever see per-sample-centred features; validation and evaluation use the running
/// statistics and feed the heads something they never saw. Measured on the phantom: training
/// loss falls while validation loss rises and pairwise Dice drops below no registration,
/// where instance norm (the same training) generalizes.
fn batch_norm_warning(builder: &BuilderConfig, cfg: &TrainConfig) -> Option<String> {
    (builder.kind == BuilderKind::MariaNet
        && builder.norm == NormKind::Batch
        && cfg.batch_size == 1)
        .then(|| {
            "warning: MariaNet with norm = \"batch\" and batch_size 1: its pooled heads see \
             per-sample statistics in training but running statistics in validation and \
             evaluation, which generalizes poorly; norm = \"instance\" in builder.toml trains \
             the same and evaluates consistently"
                .to_string()
        })
}

/// Whether a Ctrl-C ends the run after this epoch: one seen during its steps
/// (`during_steps`), or one that came during its validation, observations or checkpoint
/// (`requested_since`), stops the run, except after the run's very last epoch completed (then
/// it stopped nothing). A cut-short epoch always stops it.
fn stops_here(during_steps: bool, requested_since: bool, cut_short: bool, last: bool) -> bool {
    (during_steps || requested_since) && (cut_short || !last)
}

fn monitor_key(cfg: &TrainConfig) -> &'static str {
    match cfg.early_stopping.monitor {
        Monitor::Loss => "loss",
        Monitor::ValLoss => "val_loss",
    }
}

/// Keras' EarlyStopping on the history: stop after an epoch that did not improve the
/// monitored value's best by more than `min_delta` once `patience` epochs in a row have not
/// (an improving epoch never stops the run, even with patience 0). Derived from the history
/// alone, so a resumed run stops exactly where an uninterrupted one would. When it stops:
/// the number of epochs without improvement.
fn should_stop(history: &TrainingHistory, cfg: &TrainConfig) -> Option<u32> {
    let series = history.series(monitor_key(cfg))?;
    let mut best = f64::INFINITY;
    let mut wait = 0u32;
    for v in series.iter().flatten() {
        if *v < best - cfg.early_stopping.min_delta {
            best = *v;
            wait = 0;
        } else {
            wait += 1;
        }
    }
    (wait > 0 && wait >= cfg.early_stopping.patience).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generators::GenKind;

    #[test]
    fn batch_norm_at_batch_size_one_is_warned_about_for_marianet_only() {
        let cfg = |batch_size| TrainConfig {
            batch_size,
            ..TrainConfig::defaults(BuilderKind::MariaNet, GenKind::Luna)
        };
        let builder = |kind, norm| BuilderConfig {
            norm,
            ..BuilderConfig::defaults(kind)
        };
        let m = BuilderKind::MariaNet;
        let w = batch_norm_warning(&builder(m, NormKind::Batch), &cfg(1)).unwrap();
        assert!(w.contains("norm = \"instance\""), "{w}");
        assert!(batch_norm_warning(&builder(m, NormKind::Batch), &cfg(2)).is_none());
        assert!(batch_norm_warning(&builder(m, NormKind::Instance), &cfg(1)).is_none());
        let u = builder(BuilderKind::Unet, NormKind::Batch);
        assert!(batch_norm_warning(&u, &cfg(1)).is_none());
    }

    #[test]
    fn a_ctrl_c_after_an_epochs_last_step_stops_before_the_next_epoch() {
        // During the steps, or during validation and checkpointing: no further epoch.
        assert!(stops_here(true, true, false, false));
        assert!(stops_here(false, true, false, false));
        assert!(stops_here(true, true, true, true), "a cut-short last epoch");
        // After the last epoch's work there is nothing to stop; without Ctrl-C, nothing stops.
        assert!(!stops_here(false, true, false, true));
        assert!(!stops_here(true, true, false, true));
        assert!(!stops_here(false, false, false, false));
    }

    #[test]
    fn early_stopping_follows_keras() {
        let stops = |losses: &[f64], patience: u32| {
            let mut cfg = TrainConfig::defaults(BuilderKind::Unet, GenKind::Luna);
            cfg.early_stopping.patience = patience;
            let mut h = TrainingHistory::new();
            for (e, &l) in losses.iter().enumerate() {
                let values = [("loss".to_string(), l)].into_iter().collect();
                h.push_epoch(e as u32 + 1, &values).unwrap();
            }
            should_stop(&h, &cfg).is_some()
        };
        // min_delta 1e-3: 0.9995 is no improvement on 1.0.
        assert!(!stops(&[1.0], 0), "an improving epoch never stops the run");
        assert!(!stops(&[1.0, 0.5], 0));
        assert!(stops(&[1.0, 0.9995], 0));
        assert!(!stops(&[1.0, 0.9995], 2));
        assert!(stops(&[1.0, 0.9995, 1.2], 2));
        assert!(!stops(&[1.0, 0.9995, 1.2, 0.9], 2), "the count restarts");
        assert!(!stops(&[1.0, 1.0, 1.0, 0.9, 0.9], 2));
        assert!(stops(&[1.0, 1.0, 1.0, 0.9, 0.9, 0.9], 2));
        let mut cfg = TrainConfig::defaults(BuilderKind::Unet, GenKind::Luna);
        cfg.early_stopping.patience = 1;
        let mut h = TrainingHistory::new();
        for (e, l) in [1.0, 2.0, 3.0].into_iter().enumerate() {
            let values = [("loss".to_string(), l)].into_iter().collect();
            h.push_epoch(e as u32 + 1, &values).unwrap();
        }
        assert_eq!(should_stop(&h, &cfg), Some(2));
    }
}
