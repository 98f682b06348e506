//! The training data source: preprocessed LUNA16 volumes by scan id (a [`VolumeSource`] for
//! the generators and the background [`Loader`](crate::data::loader::Loader)).
//!
//! [`PreparedSource`] serves `image(id)` / `mask(id)` in three tiers:
//!
//! 1. an in-memory map of volumes already prepared in this process (bounded by a byte budget,
//!    [`DEFAULT_MEMORY_LIMIT`] unless set with [`PreparedSource::with_memory_limit`]; once the
//!    budget is spent, further volumes are served from disk every time);
//! 2. the disk [`Cache`] (one file per id, image or mask, grid and preprocessing version);
//! 3. building: reading the scan's file with the dataset's reader and running
//!    [`preprocess_image`] / [`preprocess_mask`]; the result is written to the disk cache.
//!
//! It is shared by the loader's worker threads. Locks are never held while reading or
//! building, so two threads asking for the same new id may both build it; the pipeline is
//! deterministic, the cache write is atomic, and the first result stored in memory is kept, so
//! every caller sees identical values.
//!
//! Disk-cache lookups are recorded as [`CacheEvent`]s (hit, built, rebuilt with the reason)
//! for the caller to [`drain`](PreparedSource::drain_events) and log, e.g. "rebuilt cache
//! entry …". Memory hits are not recorded, so at most about one event per id and kind
//! accumulates between drains (more only while threads race on a new id, or once the memory
//! budget is spent).

#[cfg(test)]
mod tests;

use crate::data::cache::{Cache, CacheStats, CacheStatus, Kind};
use crate::data::error::{DataError, DataResult};
use crate::data::generators::VolumeSource;
use crate::data::luna::LunaDataset;
use crate::data::preprocess::{MAX_VOXELS, grid_fits_usize, preprocess_image, preprocess_mask};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Name of the cache directory [`default_cache_dir`] puts under a dataset root.
pub const CACHE_DIR_NAME: &str = ".voxflow-cache";

/// Default in-memory budget of a [`PreparedSource`]: 4 GiB of `f32` values (e.g. 4096
/// volumes at 64³, or 64 at 256³).
pub const DEFAULT_MEMORY_LIMIT: usize = 4 << 30;

/// The default disk-cache directory of a dataset: `<data_root>/.voxflow-cache`.
///
/// It lives beside `subset0..subset9`, so every run on the same data shares it; entries are
/// keyed by id, image or mask, grid and preprocessing version, so runs with other grids or a
/// newer pipeline never read each other's values. The leading dot keeps it out of dataset
/// discovery and of most directory listings. Deleting it is always safe (it is rebuilt).
pub fn default_cache_dir(data_root: &Path) -> PathBuf {
    data_root.join(CACHE_DIR_NAME)
}

/// The environment variable naming a cache root for read-only (or shared) datasets.
pub const CACHE_ENV: &str = "VOXFLOW_CACHE";

/// The cache directory of a dataset: under `$VOXFLOW_CACHE` when set (one subfolder per
/// dataset, named by a hash of its absolute path, for datasets that cannot be written to),
/// else [`default_cache_dir`].
pub fn cache_dir(data_root: &Path) -> PathBuf {
    cache_dir_under(data_root, std::env::var_os(CACHE_ENV).map(PathBuf::from))
}

/// [`cache_dir`] with the environment's value given.
pub fn cache_dir_under(data_root: &Path, cache_root: Option<PathBuf>) -> PathBuf {
    match cache_root.filter(|r| !r.as_os_str().is_empty()) {
        Some(root) => {
            let abs = std::path::absolute(data_root).unwrap_or_else(|_| data_root.to_path_buf());
            let key = crate::fsutil::fnv1a64(abs.as_os_str().as_encoded_bytes());
            root.join(format!("{key:016x}"))
        }
        None => default_cache_dir(data_root),
    }
}

/// One disk-cache lookup of a [`PreparedSource`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEvent {
    /// The scan id.
    pub id: String,
    /// Image or mask.
    pub kind: Kind,
    /// How the disk cache served it.
    pub status: CacheStatus,
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Image => "image",
        Kind::Mask => "mask",
    }
}

impl std::fmt::Display for CacheEvent {
    /// E.g. `scan 1.3.6.1 mask: rebuilt cache entry /data/.voxflow-cache/…: reason`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scan {} {}: {}",
            self.id,
            kind_name(self.kind),
            self.status
        )
    }
}

/// Counts of a [`PreparedSource`]'s lookups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Served from the in-memory map.
    pub memory_hits: usize,
    /// Disk-cache outcomes (hits, builds, rebuilds of damaged entries).
    pub cache: CacheStats,
}

/// Volumes kept in memory, by (id, kind), with their total size.
#[derive(Default)]
struct Memo {
    images: HashMap<String, Arc<Vec<f32>>>,
    masks: HashMap<String, Arc<Vec<f32>>>,
    bytes: usize,
    hits: usize,
}

impl Memo {
    fn map(&mut self, kind: Kind) -> &mut HashMap<String, Arc<Vec<f32>>> {
        match kind {
            Kind::Image => &mut self.images,
            Kind::Mask => &mut self.masks,
        }
    }
}

/// Preprocessed volumes of a [`LunaDataset`] on one grid, memoized in memory and cached on
/// disk (see the module doc).
pub struct PreparedSource {
    dataset: LunaDataset,
    cache: Cache,
    grid: [usize; 3],
    memory_limit: usize,
    memo: Mutex<Memo>,
    events: Mutex<Vec<CacheEvent>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded maps stay consistent even if a holder panicked (every update is one insert).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PreparedSource {
    /// A source over `dataset` at `grid` `[D, H, W]`, caching in `cache_dir` (created if
    /// needed; see [`default_cache_dir`]). Errors: a grid with a zero size or more than
    /// [`MAX_VOXELS`] voxels, or a cache directory that cannot be created.
    pub fn new(dataset: LunaDataset, cache_dir: PathBuf, grid: [usize; 3]) -> DataResult<Self> {
        if !grid_fits_usize(grid) {
            return Err(DataError::Dataset(format!(
                "invalid network grid {grid:?} for the preprocessed volumes of {}: sizes must \
                 be at least 1 and the grid at most {MAX_VOXELS} voxels",
                dataset.root.display()
            )));
        }
        let cache = Cache::new(&cache_dir)?;
        Ok(PreparedSource {
            dataset,
            cache,
            grid,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            memo: Mutex::new(Memo::default()),
            events: Mutex::new(Vec::new()),
        })
    }

    /// Sets the in-memory budget in bytes (0: keep nothing in memory, always read the disk
    /// cache).
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// The dataset.
    pub fn dataset(&self) -> &LunaDataset {
        &self.dataset
    }

    /// The disk-cache directory.
    pub fn cache_dir(&self) -> &Path {
        self.cache.dir()
    }

    /// Lookup counts so far.
    pub fn stats(&self) -> SourceStats {
        SourceStats {
            memory_hits: lock(&self.memo).hits,
            cache: self.cache.stats(),
        }
    }

    /// Takes the disk-cache events recorded since the last call, oldest first.
    pub fn drain_events(&self) -> Vec<CacheEvent> {
        std::mem::take(&mut *lock(&self.events))
    }

    /// The prepared volume (`kind`) of scan `id`: memory, else disk cache, else built.
    fn get(&self, id: &str, kind: Kind) -> DataResult<Arc<Vec<f32>>> {
        {
            let mut memo = lock(&self.memo);
            if let Some(v) = memo.map(kind).get(id).cloned() {
                memo.hits += 1;
                return Ok(v);
            }
        }
        // Resolve the file first: an unknown id or a missing mask is an error, never a build.
        let image = self.dataset.image_path(id)?;
        let path = match kind {
            Kind::Image => image,
            Kind::Mask => self.dataset.mask_path(id)?,
        };
        // A mask is prepared with its image's geometry: both files count.
        let mut files = crate::data::io::volume_files(image)?;
        if kind == Kind::Mask {
            files.extend(crate::data::io::volume_files(path)?);
        }
        let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let source = crate::fsutil::files_fingerprint(&refs);
        let (values, status) = self
            .cache
            .fetch(id, kind, self.grid, source, || self.build(id, kind, path))?;
        lock(&self.events).push(CacheEvent {
            id: id.to_string(),
            kind,
            status,
        });
        let values = Arc::new(values);
        let bytes = values.len() * std::mem::size_of::<f32>();
        let mut memo = lock(&self.memo);
        if let Some(first) = memo.map(kind).get(id) {
            // Another thread stored it meanwhile: keep one copy, the first.
            return Ok(first.clone());
        }
        if memo.bytes.saturating_add(bytes) <= self.memory_limit {
            memo.bytes += bytes;
            memo.map(kind).insert(id.to_string(), values.clone());
        }
        Ok(values)
    }

    /// Reads scan `id`'s file and runs the pipeline. A mask is read together with its image
    /// and must share its grid (as [`LunaDataset::load_pair`] checks), so a misregistered
    /// mask is never resized silently into place.
    fn build(&self, id: &str, kind: Kind, path: &Path) -> DataResult<Vec<f32>> {
        let raw = match kind {
            Kind::Image => self.dataset.load_image(id)?,
            Kind::Mask => self.dataset.load_pair(id)?.1,
        };
        let bad = raw.data.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            // NaN would pass the pipeline's clip as a constant and train on nothing.
            return Err(DataError::format(
                path,
                format!(
                    "{} NaN or infinite (or beyond f32's range); refusing to train on this {}",
                    match bad {
                        1 => "1 voxel is".to_string(),
                        n => format!("{n} voxels are"),
                    },
                    kind_name(kind)
                ),
            ));
        }
        let prepared = match kind {
            Kind::Image => preprocess_image(&raw, self.grid),
            Kind::Mask => preprocess_mask(&raw, self.grid),
        };
        let vol = prepared.map_err(|e| {
            DataError::Dataset(format!(
                "preparing the {} of scan {id} ({}) for the grid {:?}: {e}",
                kind_name(kind),
                path.display(),
                self.grid
            ))
        })?;
        Ok(vol.data)
    }
}

impl VolumeSource for PreparedSource {
    fn grid(&self) -> [usize; 3] {
        self.grid
    }

    fn image(&self, id: &str) -> DataResult<Arc<Vec<f32>>> {
        self.get(id, Kind::Image)
    }

    fn mask(&self, id: &str) -> DataResult<Arc<Vec<f32>>> {
        self.get(id, Kind::Mask)
    }

    fn has_mask(&self, id: &str) -> bool {
        self.dataset.mask_path(id).is_ok()
    }
}
