//! Before training: where the data is (a LUNA16-layout directory, or the built-in phantom
//! generated on first use), creating a session with `voxflow new`'s defaults, and applying
//! command-line overrides to config.toml so the session stays the record of what ran.

use crate::data::cache::CacheStatus;
use crate::data::generators::{GenKind, single_pass};
use crate::data::luna::LunaDataset;
use crate::data::phantom::{PhantomConfig, write_dataset};
use crate::data::source::PreparedSource;
use crate::models::{BuilderConfig, BuilderKind};
use crate::session::split::{Split, split_ids};
use crate::session::{SessionPaths, SplitFractions, create_session};
use crate::train::config::{DeviceChoice, TrainConfig};
use crate::train::error::{TrainError, TrainResult};
use crate::train::log::Logger;
use std::path::{Path, PathBuf};

/// The environment variable naming a default data directory.
pub const DATA_ENV: &str = "VOXFLOW_DATA";

/// Where the phantom dataset lives when no data directory is configured: `_phantom` in the
/// sessions root (generated once, reused by every session there).
pub fn phantom_dir(sessions_root: &Path) -> PathBuf {
    sessions_root.join("_phantom")
}

/// The data directory, absolute (so its scans' cache fingerprints do not depend on how it was
/// named): the flag, else config.toml's `data_dir`, else `VOXFLOW_DATA` (when set and not
/// empty), else the phantom dataset (generated now if it is not there yet).
pub fn resolve_data_dir(
    flag: Option<&Path>,
    config: Option<&Path>,
    sessions_root: &Path,
    log: &mut Logger,
) -> TrainResult<PathBuf> {
    if let Some(p) = flag.or(config) {
        return Ok(recorded_dir(p));
    }
    if let Some(p) = std::env::var_os(DATA_ENV).filter(|p| !p.is_empty()) {
        return Ok(recorded_dir(Path::new(&p)));
    }
    let dir = recorded_dir(&phantom_dir(sessions_root));
    let start = std::time::Instant::now();
    let summary = write_dataset(&dir, &PhantomConfig::default())?;
    if !summary.reused {
        log.line(&format!(
            "no data directory given: generated the phantom dataset ({} subjects, {:.1} MB) in {} \
             in {:.1} s",
            summary.subjects.len(),
            summary.bytes_written as f64 / 1e6,
            dir.display(),
            start.elapsed().as_secs_f64()
        ));
    }
    Ok(dir)
}

/// `dir` as config.toml records it: absolute (so the session reads the same data from any
/// working directory), as given where that cannot be determined.
pub fn recorded_dir(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Opens a LUNA16-layout dataset, logging its warnings (except, for the phantom dataset,
/// the expected absence of the subsets it does not use).
pub fn open_dataset(root: &Path, log: &mut Logger) -> TrainResult<LunaDataset> {
    let (dataset, warnings) = LunaDataset::discover(root)?;
    let phantom = root.join("phantom.json").is_file();
    for w in warnings {
        if phantom && w.contains("missing subset") {
            continue;
        }
        log.line(&format!("warning: {w}"));
    }
    Ok(dataset)
}

/// Logs each disk-cache entry `source` rebuilt since the last call (corrupt, or its scan's
/// files changed) and returns how many volumes it read from the cache and how many it built.
pub fn log_cache_events(source: &PreparedSource, log: &mut Logger) -> (usize, usize) {
    let (mut hits, mut built) = (0, 0);
    for event in source.drain_events() {
        match event.status {
            CacheStatus::Hit => hits += 1,
            CacheStatus::Built => built += 1,
            CacheStatus::Rebuilt { .. } => {
                built += 1;
                log.line(&format!("note: {event}"));
            }
        }
    }
    (hits, built)
}

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
pub fn new_session(opts: &NewSession, log: &mut Logger) -> TrainResult<SessionPaths> {
    let data = resolve_data_dir(opts.data_dir.as_deref(), None, &opts.sessions_root, log)?;
    let dataset = open_dataset(&data, log)?;
    let ids = dataset.ids();
    if opts.generator.uses_masks() && !dataset.has_masks() {
        return Err(TrainError::Usage(format!(
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
        return Err(TrainError::Usage(format!(
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
            return Err(TrainError::Usage(format!(
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
) -> TrainResult<Split> {
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
                return Err(TrainError::Usage(format!(
                    "{msg}: training needs {set} pairs; give it a larger share"
                )));
            }
        }
    }
    Ok(split)
}

/// Every scan (and with `masks`, every mask) of the id list `list` (holding `ids`) must be
/// in the dataset: an error names the list and the id.
pub fn check_listed_scans(
    dataset: &LunaDataset,
    list: &Path,
    ids: &[String],
    masks: bool,
) -> TrainResult<()> {
    for id in ids {
        let found = dataset.image_path(id).and_then(|_| {
            if masks {
                dataset.mask_path(id)?;
            }
            Ok(())
        });
        found.map_err(|e| TrainError::Usage(format!("{}: {e}", list.display())))?;
    }
    Ok(())
}

/// Command-line values that replace config.toml's.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub device: Option<DeviceChoice>,
    pub gpu_id: Option<u32>,
    pub epochs: Option<u32>,
    pub steps_per_epoch: Option<u32>,
    pub shape: Option<[u32; 3]>,
    pub seed: Option<u64>,
}

/// One command-line override as applied: `key = value`, and whether it changed the value.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// The config.toml key.
    pub key: &'static str,
    pub line: String,
    pub changed: bool,
}

/// Applies `o` to `cfg`; returns one [`Applied`] per override given.
pub fn apply_overrides(cfg: &mut TrainConfig, o: &Overrides) -> Vec<Applied> {
    let mut changed = vec![];
    macro_rules! set {
        ($field:ident, $value:expr, $show:expr) => {
            if let Some(v) = $value {
                let differs = cfg.$field != v;
                cfg.$field = v;
                changed.push(Applied {
                    key: stringify!($field),
                    line: format!("{} = {}", stringify!($field), $show(&cfg.$field)),
                    changed: differs,
                });
            }
        };
    }
    set!(data_dir, o.data_dir.clone().map(Some), |v: &Option<
        PathBuf,
    >| {
        format!(
            "{:?}",
            v.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        )
    });
    set!(device, o.device, |v: &DeviceChoice| format!("{v:?}")
        .to_lowercase());
    set!(gpu_id, o.gpu_id, |v: &u32| v.to_string());
    set!(epochs, o.epochs, |v: &u32| v.to_string());
    set!(steps_per_epoch, o.steps_per_epoch, |v: &u32| v.to_string());
    set!(shape, o.shape, |v: &[u32; 3]| format!("{v:?}"));
    set!(seed, o.seed, |v: &u64| v.to_string());
    changed
}
