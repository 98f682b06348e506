//! The session's dataset: where the data is (a LUNA16-layout directory, or the built-in
//! phantom generated on first use), opening it, checking that the scans an id list names are
//! there, and the disk cache's events as log lines. Shared by `train`, `eval` and `show`.

use super::log::Logger;
use super::{Result, SessionError};
use crate::data::cache::CacheStatus;
use crate::data::luna::LunaDataset;
use crate::data::phantom::{PhantomConfig, write_dataset};
use crate::data::source::PreparedSource;
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
) -> Result<PathBuf> {
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
pub fn open_dataset(root: &Path, log: &mut Logger) -> Result<LunaDataset> {
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

/// Every scan (and with `masks`, every mask) of the id list `list` (holding `ids`) must be
/// in the dataset: an error names the list and the id.
pub fn check_listed_scans(
    dataset: &LunaDataset,
    list: &Path,
    ids: &[String],
    masks: bool,
) -> Result<()> {
    for id in ids {
        let found = dataset.image_path(id).and_then(|_| {
            if masks {
                dataset.mask_path(id)?;
            }
            Ok(())
        });
        found.map_err(|e| SessionError::Usage(format!("{}: {e}", list.display())))?;
    }
    Ok(())
}
