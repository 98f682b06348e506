//! `voxflow new`: a session made from defaults for a builder and generator, with the seeded
//! split of a dataset's ids checked before anything is written.

use super::config::TrainConfig;
use super::dataset::{open_dataset, resolve_data_dir};
use super::log::Logger;
use super::split::{Split, split_ids};
use super::{Result, SessionError, SessionPaths, SplitFractions, create_session};
use crate::data::generators::{GenKind, single_pass};
use crate::models::{BuilderConfig, BuilderKind};
use std::path::PathBuf;

/// What `voxflow new` needs.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub name: String,
    pub sessions_root: PathBuf,
    pub builder: BuilderKind,
    pub generator: GenKind,
    pub shape: [u32; 3],
    pub data_dir: Option<PathBuf>,
    pub split: SplitFractions,
    pub seed: u64,
    pub atlas: Option<String>,
    pub force: bool,
}

/// Creates a session: builder.toml and config.toml with the defaults for the builder and
/// generator at `shape`, and the seeded train/val/test split of the dataset's ids. For the
/// atlas generators without `atlas`, the first id (sorted) is the atlas.
pub fn new_session(opts: &NewSession, log: &mut Logger) -> Result<SessionPaths> {
    let data = resolve_data_dir(opts.data_dir.as_deref(), None, &opts.sessions_root, log)?;
    let dataset = open_dataset(&data, log)?;
    let ids = dataset.ids();
    if opts.generator.uses_masks() && !dataset.has_masks() {
        return Err(SessionError::Usage(format!(
            "--gen {} needs lung masks, but {} lacks some (seg-lungs-LUNA16/<id>.mhd)",
            opts.generator.name(),
            data.display()
        )));
    }
    let mut builder = BuilderConfig::defaults(opts.builder);
    builder.input_shape = opts.shape.map(|s| s as usize);
    builder.use_segmentation = opts.generator.uses_masks();
    let mut config = TrainConfig::defaults(opts.builder, opts.generator);
    config.shape = opts.shape;
    config.seed = opts.seed;
    // The directory actually used (from the flag, VOXFLOW_DATA or the phantom), so that later
    // runs of this session read the same scans whatever their environment.
    config.data_dir = Some(data.clone());
    if opts.atlas.is_some() && !opts.generator.uses_atlas() {
        return Err(SessionError::Usage(format!(
            "--atlas applies to the atlas generators (atlas, atlas_seg), not --gen {}",
            opts.generator.name()
        )));
    }
    if opts.generator.uses_atlas() {
        let atlas = match &opts.atlas {
            Some(a) => a.clone(),
            None => ids.first().cloned().unwrap_or_default(),
        };
        if !ids.contains(&atlas) {
            return Err(SessionError::Usage(format!(
                "atlas id {atlas} is not in {}",
                data.display()
            )));
        }
        config.atlas_id = Some(atlas);
    }
    let split = checked_split(&ids, opts, config.atlas_id.as_deref(), log)?;
    let (paths, moved) = create_session(
        &opts.sessions_root,
        &opts.name,
        &builder,
        &config,
        &split,
        opts.force,
    )?;
    if let Some(aside) = moved {
        log.line(&format!(
            "--force: the earlier builder.toml, config.toml and id lists, and the earlier \
             run's outputs if it had any (checkpoints, history, TensorBoard events, \
             observations, scores), set aside in {}",
            aside.display()
        ));
    }
    if let Some(atlas) = &config.atlas_id {
        log.line(&format!("atlas scan: {atlas}"));
    }
    log.line(&format!(
        "created session {} ({} builder, {} generator, {} scans from {})",
        paths.dir().display(),
        opts.builder,
        opts.generator.name(),
        ids.len(),
        data.display()
    ));
    Ok(paths)
}

/// The seeded split of `ids`, checked before anything is written to give the generator what
/// training and evaluation need: training pairs, validation pairs, and (a warning only) test
/// pairs.
fn checked_split(
    ids: &[String],
    opts: &NewSession,
    atlas: Option<&str>,
    log: &mut Logger,
) -> Result<Split> {
    let split = split_ids(ids, opts.split, opts.seed)?;
    let kind = opts.generator;
    let sets = [
        ("training", &split.train),
        ("validation", &split.val),
        ("test", &split.test),
    ];
    for (set, set_ids) in sets {
        if let Err(e) = single_pass(kind, set_ids, atlas) {
            let msg = format!(
                "--split {},{},{} of {} scans leaves the {set} set {} scans ({e})",
                opts.split.train,
                opts.split.val,
                opts.split.test,
                ids.len(),
                set_ids.len()
            );
            if set == "test" {
                log.line(&format!(
                    "warning: {msg}: `voxflow eval --set test` will have nothing to score"
                ));
            } else {
                return Err(SessionError::Usage(format!(
                    "{msg}: training needs {set} pairs; give it a larger share"
                )));
            }
        }
    }
    Ok(split)
}
