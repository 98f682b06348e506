//! Opening a [`Run`]: the session (created with `voxflow new`'s defaults when it does not
//! exist) locked and its files checked, the network built, the data prepared, and, when
//! resuming, the checkpoint's weights, optimizer, RNG and data position restored.

use crate::models::{BuilderConfig, BuilderKind, Model};
use crate::nn::{Adam, NormKind, ParamStore};
use crate::report::tensorboard::{EventWriter, ResumePoint};
use crate::session::config::TrainConfig;
use crate::session::lock::SessionLock;
use crate::session::log::{Logger, reset_peak_memory};
use crate::session::{
    BuilderIdentity, NewSession, PartialEpoch, SessionPaths, SplitFractions, TrainingHistory,
    load_checkpoint, open_session, sessions_root,
};
use crate::tensor::{Device, Rng};
use crate::train::TrainOptions;
use crate::train::checks::{
    check_checkpoint_paths, load_session_files, record_config, resume_point,
    warn_of_a_short_history,
};
use crate::train::data::RunData;
use crate::train::error::TrainResult;
use std::path::Path;

/// A training run in progress: the session it writes, the network and its optimizer, the
/// data, and where the run stands. [`Run::open`] makes one; [`Run::epoch`] advances it by an
/// epoch; [`stopping`](super::stopping) decides when it ends.
pub struct Run {
    pub(crate) paths: SessionPaths,
    /// Held until the run ends: a second run on this session stops at its acquire.
    _lock: SessionLock,
    pub(crate) builder: BuilderConfig,
    pub(crate) cfg: TrainConfig,
    pub(crate) device: Device,
    pub(crate) learner: Learner,
    pub(crate) identity: BuilderIdentity,
    pub(crate) data: RunData,
    pub(crate) history: TrainingHistory,
    /// The last epoch done before this run: its first epoch is `start + 1`.
    pub(crate) start: u32,
    /// Steps and loss sums of an epoch cut short by Ctrl-C, which the first epoch finishes.
    pub(crate) resumed: PartialEpoch,
    pub(crate) tb: EventWriter,
    /// Where this run starts on both TensorBoard scales; an earlier run's events past it go
    /// once this run's first epoch is checkpointed and in the history (a run failing before
    /// that keeps them).
    pub(crate) orphans: Option<ResumePoint>,
}

/// What a checkpoint holds of a run: the network's parameters, the optimizer and the RNG (the
/// data position is the generator's, in [`RunData`]).
pub(crate) struct Learner {
    pub(crate) model: Model,
    pub(crate) store: ParamStore,
    pub(crate) adam: Adam,
    pub(crate) rng: Rng,
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
        crate::session::new_session(
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

impl Run {
    /// Opens the run `opts` asks for, printing what it trains; everything is checked and the
    /// data prepared before the first step, and config.toml records the run's overrides.
    pub fn open(opts: &TrainOptions, log: &mut Logger) -> TrainResult<Run> {
        let paths = prepare(opts, log)?;
        // Held until the run ends: a second run on this session stops here, before it writes
        // a line into the running one's log.
        let lock = SessionLock::acquire(&paths, "train")?;
        log.attach(&paths.logs())?;
        if let Some(why) = &lock.unavailable {
            log.line(&format!("warning: {why}"));
        }
        let root = sessions_root(opts.sessions_dir.clone());

        let (builder, builder_text, mut cfg, mut applied) = load_session_files(opts, &paths)?;
        let resume = resume_point(opts.weights.as_deref(), &paths, cfg.epochs)?;

        let device = cfg.device();
        let mut rng = Rng::new(cfg.seed);
        let mut store = ParamStore::new();
        let model = Model::build(&builder, &mut store, &mut rng, device)?;
        let adam = Adam::new(cfg.adam());
        announce(&paths, &builder, &cfg, &store, device, log);
        let mut learner = Learner {
            model,
            store,
            adam,
            rng,
        };

        let mut data = RunData::open(opts, &mut cfg, &mut applied, &paths, &root, log)?;
        // The epoch lines' peak memory is training's, not the data preparation's.
        let _ = reset_peak_memory();
        let identity = BuilderIdentity::of(&builder_text, &builder);
        let mut history = TrainingHistory::load_or_new(&paths.history())?;
        let (start, resumed) = match &resume {
            Some(path) => {
                let at = (&paths, &identity);
                learner.resume(path, at, &mut data, &mut history, log)?
            }
            None => {
                history = TrainingHistory::new();
                (0, PartialEpoch::default())
            }
        };
        check_checkpoint_paths(&paths, start, cfg.epochs)?;
        record_config(&cfg, &applied, &paths, resume.is_some(), log)?;
        let tb = EventWriter::create(&paths.tensorboard_dir())?;
        let orphans = Some(ResumePoint {
            epoch: i64::from(start),
            step: learner.adam.iterations as i64,
        });
        crate::interrupt::install("finishing the current step, then writing a checkpoint");
        Ok(Run {
            paths,
            _lock: lock,
            builder,
            cfg,
            device,
            learner,
            identity,
            data,
            history,
            start,
            resumed,
            tb,
            orphans,
        })
    }
}

impl Learner {
    /// Restores the checkpoint at `path` of the session and network `at`: weights, optimizer,
    /// RNG and the data position; truncates `history` to it. Returns the last epoch done and,
    /// for a checkpoint of an epoch cut short, how far that epoch got (the first epoch
    /// finishes it).
    fn resume(
        &mut self,
        path: &Path,
        at: (&SessionPaths, &BuilderIdentity),
        data: &mut RunData,
        history: &mut TrainingHistory,
        log: &mut Logger,
    ) -> TrainResult<(u32, PartialEpoch)> {
        let (paths, identity) = at;
        let steps = data.steps;
        let meta = load_checkpoint(path, identity, &mut self.store, &mut self.adam)?;
        self.rng = meta.rng;
        data.pairs_gen.restore(meta.gen_state)?;
        let mut start = meta.epoch;
        let mut resumed = PartialEpoch::default();
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
        warn_of_a_short_history(history, start, paths, log);
        Ok((start, resumed))
    }
}

/// The run's first lines: session, network, grid, device, and what to know about them.
fn announce(
    paths: &SessionPaths,
    builder: &BuilderConfig,
    cfg: &TrainConfig,
    store: &ParamStore,
    device: Device,
    log: &mut Logger,
) {
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
    if let Some(w) = batch_norm_warning(builder, cfg) {
        log.line(&w);
    }
}

/// MariaNet's squeeze-excite and affine heads read global average pools. With one sample per
/// batch, BatchNorm normalizes each sample by its own statistics while training, so those pools
/// only ever see per-sample-centred features; validation and evaluation use the running
/// statistics and feed the heads something they never saw. Measured on the phantom: training
/// loss falls while validation loss rises and pairwise Dice drops below no registration,
/// where instance norm (the same training) generalizes.
pub(crate) fn batch_norm_warning(builder: &BuilderConfig, cfg: &TrainConfig) -> Option<String> {
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
}
