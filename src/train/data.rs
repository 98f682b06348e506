//! The data of a run: the session's dataset opened and its listed scans checked, every scan
//! the run uses prepared before the first step, the training pair generator, the validation
//! pairs and the observation pair.

use crate::data::generators::{GenKind, Pair, PairGenerator, VolumeSource, single_pass};
use crate::data::source::{PreparedSource, cache_dir};
use crate::session::config::TrainConfig;
use crate::session::dataset::check_listed_scans;
use crate::session::log::Logger;
use crate::session::{
    Applied, IdSet, SessionPaths, log_cache_events, open_dataset, read_ids, resolve_data_dir,
};
use crate::train::TrainOptions;
use crate::train::error::{TrainError, TrainResult};
use std::path::Path;
use std::sync::Arc;

/// What a run trains and validates on.
pub(crate) struct RunData {
    /// The prepared scans (the loader's source), for its cache events.
    pub(crate) prepared: Arc<PreparedSource>,
    pub(crate) source: Arc<dyn VolumeSource>,
    pub(crate) kind: GenKind,
    /// The training pairs, batch by batch, from a restorable position.
    pub(crate) pairs_gen: PairGenerator,
    /// Training steps per epoch.
    pub(crate) steps: usize,
    /// The validation pairs each epoch scores (the first `validation_steps` of the set).
    pub(crate) val_pairs: Vec<Pair>,
    /// The fixed pair drawn after each epoch.
    pub(crate) observation: Pair,
}

impl RunData {
    /// Opens the data `cfg` names (recording a directory found for the first time in
    /// `applied`, for config.toml), checks the id lists against it and prepares every scan.
    pub(crate) fn open(
        opts: &TrainOptions,
        cfg: &mut TrainConfig,
        applied: &mut Vec<Applied>,
        paths: &SessionPaths,
        root: &Path,
        log: &mut Logger,
    ) -> TrainResult<RunData> {
        let data = resolve_data_dir(
            opts.overrides.data_dir.as_deref(),
            cfg.data_dir.as_deref(),
            root,
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
        let pairs_gen = PairGenerator::new(
            kind,
            train_ids.clone(),
            atlas.clone(),
            cfg.batch_size as usize,
            cfg.seed,
        )?;
        let steps = cfg.steps(pairs_gen.pairs_per_epoch());
        let mut val_pairs = single_pass(kind, &val_ids, atlas.as_deref()).map_err(|e| {
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
        val_pairs.truncate(val_steps);
        Ok(RunData {
            prepared,
            source,
            kind,
            pairs_gen,
            steps,
            val_pairs,
            observation,
        })
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
