//! What is checked before the first step of `train`: the session's builder.toml and config.toml
//! against the command line, the checkpoint a resume starts from against the session, and
//! config.toml written once the run is known to start.

use crate::models::BuilderConfig;
use crate::session::config::{DeviceChoice, TrainConfig};
use crate::session::dataset::recorded_dir;
use crate::session::log::Logger;
use crate::session::paths::parse_checkpoint_name;
use crate::session::{Applied, Overrides, apply_overrides};
use crate::session::{SessionPaths, TrainingHistory, latest_checkpoint, read_checkpoint_info};
use crate::train::TrainOptions;
use crate::train::error::{TrainError, TrainResult};
use std::path::{Path, PathBuf};

/// Reads the session's builder.toml (returned with its text, for the checkpoint hash) and
/// config.toml, checks them against the command line, refuses a fresh run over existing
/// checkpoints, and applies the command line's overrides (returned; config.toml is written
/// once the run is known to start, by [`record_config`]).
pub(crate) fn load_session_files(
    opts: &TrainOptions,
    paths: &SessionPaths,
) -> TrainResult<(BuilderConfig, String, TrainConfig, Vec<Applied>)> {
    let builder_text = std::fs::read_to_string(paths.builder())
        .map_err(|e| crate::session::SessionError::io(&paths.builder(), e))?;
    let builder = BuilderConfig::from_toml(&builder_text, &paths.builder())?;
    if builder.kind != opts.builder {
        return Err(TrainError::Usage(format!(
            "session {} was created for the {} builder; --builder {} does not match",
            paths.name(),
            builder.kind,
            opts.builder
        )));
    }
    let mut cfg = TrainConfig::load(&paths.config())?;
    if cfg.generator != opts.generator {
        return Err(TrainError::Usage(format!(
            "session {} uses --gen {}; --gen {} does not match (create another session)",
            paths.name(),
            cfg.generator.name(),
            opts.generator.name()
        )));
    }
    if builder.use_segmentation != cfg.generator.uses_masks() {
        return Err(TrainError::Usage(format!(
            "{}: use_segmentation = {}, but --gen {} {} lung masks: set use_segmentation = {}",
            paths.builder().display(),
            builder.use_segmentation,
            cfg.generator.name(),
            if cfg.generator.uses_masks() {
                "trains with"
            } else {
                "has no"
            },
            cfg.generator.uses_masks()
        )));
    }
    // A fresh run would overwrite the session's checkpoints: refuse before touching anything.
    if opts.weights.is_none()
        && let Some((epoch, p)) = latest_checkpoint(paths)?
    {
        return Err(TrainError::HasCheckpoints {
            session: paths.name().to_string(),
            latest: p,
            epoch,
        });
    }
    // A relative --data-dir is recorded absolute, as `voxflow new` records it.
    let overrides = Overrides {
        data_dir: opts.overrides.data_dir.as_deref().map(recorded_dir),
        ..opts.overrides.clone()
    };
    let applied = apply_overrides(&mut cfg, &overrides);
    if let Err(e) = cfg.validate(&paths.config()) {
        let given: Vec<&str> = applied.iter().map(|a| a.line.as_str()).collect();
        return Err(TrainError::Usage(format!(
            "with the command line's {}: {e}",
            given.join(", ")
        )));
    }
    cfg.check_builder(builder.kind, &paths.config())?;
    // config.toml records only a device this run can use.
    if cfg.device == DeviceChoice::Cuda {
        crate::ops::backend(cfg.device())?;
    }
    Ok((builder, builder_text, cfg, applied))
}

/// Once the run is known to start: prints the command line's overrides and writes them (and
/// a data directory recorded for the first time) into config.toml when anything changed, so
/// the session is the record of what ran and a run that fails before training changes nothing.
pub(crate) fn record_config(
    cfg: &TrainConfig,
    applied: &[Applied],
    paths: &SessionPaths,
    resuming: bool,
    log: &mut Logger,
) -> TrainResult<()> {
    if applied.is_empty() {
        return Ok(());
    }
    // On resume, a new value of these changes what the earlier epochs mean.
    let changes_the_run = [
        (
            "seed",
            "a new seed on resume: the epochs already trained ran with the earlier one, and \
             config.toml will record only the new one (the continuation differs from a \
             straight run with either seed)",
        ),
        (
            "shape",
            "a new grid on resume: the epochs already trained ran on the earlier one; the \
             history mixes the two, and `voxflow eval` runs every checkpoint on the new grid",
        ),
    ];
    for (key, why) in changes_the_run {
        if resuming && applied.iter().any(|a| a.key == key && a.changed) {
            log.line(&format!("warning: {why}"));
        }
    }
    let lines: Vec<String> = applied
        .iter()
        .map(|a| {
            let same = if a.changed { "" } else { " (as before)" };
            format!("{}{same}", a.line)
        })
        .collect();
    let changed: Vec<&str> = applied
        .iter()
        .filter(|a| a.changed)
        .map(|a| a.key)
        .collect();
    if !changed.is_empty() {
        // Only these keys change: the user's comments and layout stay.
        cfg.save_keys(&paths.config(), &changed)?;
        log.line(&format!("config.toml updated: {}", lines.join(", ")));
    } else {
        log.line(&format!("overrides: {}", lines.join(", ")));
    }
    Ok(())
}

/// `--weights` must name a checkpoint of this session: resuming continues its epochs,
/// history and checkpoints.
fn check_resume_point(paths: &SessionPaths, ckpt: &Path) -> TrainResult<()> {
    if ckpt.is_file() && !paths.owns_checkpoint(ckpt) {
        return Err(TrainError::Usage(format!(
            "{} is not a checkpoint of session {} (its checkpoints are in {}): resuming \
             continues a session's own epochs and history",
            ckpt.display(),
            paths.name(),
            paths.checkpoints_dir().display()
        )));
    }
    Ok(())
}

/// The checkpoint `--weights` names, checked before any data is read: it belongs to this
/// session ([`check_resume_point`]), no later checkpoint would be overwritten, and epochs are
/// left to train. `None` for a fresh run.
pub(crate) fn resume_point(
    weights: Option<&Path>,
    paths: &SessionPaths,
    epochs: u32,
) -> TrainResult<Option<PathBuf>> {
    let Some(w) = weights else {
        return Ok(None);
    };
    let path = paths.resolve_checkpoint(w);
    check_resume_point(paths, &path)?;
    let meta = read_checkpoint_info(&path)?.meta;
    // Resuming writes the next epochs' checkpoints by number: a file whose name says another
    // epoch than it holds (renamed or copied) would mix two runs.
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_checkpoint_name);
    if let Some(named) = named
        && named != meta.epoch
    {
        return Err(TrainError::Usage(format!(
            "{} holds epoch {} although its name says epoch {named} (renamed or copied?): \
             resume from the checkpoint named for its epoch",
            path.display(),
            meta.epoch
        )));
    }
    if let Some((latest, p)) = latest_checkpoint(paths)?
        && latest > meta.epoch
    {
        return Err(TrainError::Usage(format!(
            "session {} has checkpoints up to {} (epoch {latest}); resuming from epoch {} \
             would overwrite them: resume from the latest, or move the later ones away first",
            paths.name(),
            p.display(),
            meta.epoch
        )));
    }
    // A cut-short epoch is trained again from where it stopped.
    let done = meta.epoch - u32::from(meta.partial.is_some());
    if done >= epochs {
        return Err(TrainError::NothingToTrain { done, epochs });
    }
    Ok(Some(path))
}

/// Refuses something other than a file where this run will write the checkpoint of an epoch
/// after `start` (up to `epochs`): it would fail the run at that epoch.
pub(crate) fn check_checkpoint_paths(
    paths: &SessionPaths,
    start: u32,
    epochs: u32,
) -> TrainResult<()> {
    match (start + 1..=epochs)
        .map(|e| paths.checkpoint_path(e))
        .find(|p| p.exists() && !p.is_file())
    {
        Some(p) => Err(TrainError::Usage(format!(
            "{} is in the way: this run writes a checkpoint there, and it is not a file",
            p.display()
        ))),
        None => Ok(()),
    }
}

/// On resume from epoch `start`: warns when the history (`history`, truncated to `start`)
/// lacks some of those epochs (deleted, or older than the checkpoint).
pub(crate) fn warn_of_a_short_history(
    history: &TrainingHistory,
    start: u32,
    paths: &SessionPaths,
    log: &mut Logger,
) {
    let kept = history.last_epoch().unwrap_or(0);
    if kept >= start {
        return;
    }
    let holds = match kept {
        0 => "no epochs".to_string(),
        k => format!("epochs up to {k} only"),
    };
    log.line(&format!(
        "warning: {} holds {holds} (missing, or older than the checkpoint): epochs {}..{start} \
         stay out of the history, and early stopping counts from here",
        paths.history().display(),
        kept + 1
    ));
}
