//! Disk cache of preprocessed volumes (SPEC 5.3): one file per (scan id, image or mask,
//! grid, [`PREPROCESS_VERSION`]).
//!
//! File format (all little-endian), [`HEADER_LEN`] = 52 bytes of header then the payload:
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 8 | magic `VXFCACHE` |
//! | 8 | 4 | format version ([`FORMAT_VERSION`]) |
//! | 12 | 4 | [`PREPROCESS_VERSION`] |
//! | 16 | 4 | kind: 0 image, 1 mask |
//! | 20 | 12 | grid `D, H, W` (u32 each) |
//! | 32 | 8 | value count (`D·H·W`) |
//! | 40 | 8 | fingerprint of the source files (paths, sizes, modification times) |
//! | 48 | 4 | CRC-32C of the payload |
//! | 52 | 4·count | the values, `f32`, array order `[D, H, W]` |
//!
//! An entry is trusted only if every field matches the request and the CRC matches; anything
//! else (truncation, a flipped byte, another version or grid, a scan file rewritten since) is
//! stale: it is rebuilt, rewritten
//! atomically and reported ([`CacheStatus::Rebuilt`], [`CacheStats::rebuilt`]). Writes go through
//! a temporary file and a rename, so concurrent workers building the same entry leave one
//! complete file (the last writer's) and readers never see a partial one.
//!
//! The fingerprint sees a rewrite through the file's size or modification time: a same-size
//! copy that keeps the old time (`cp -p`, `rsync -t`) goes unnoticed; delete the cache then.

mod format;
#[cfg(test)]
mod tests;

use crate::data::error::{DataError, DataResult};
use crate::data::preprocess::{MAX_VOXELS, PREPROCESS_VERSION};
use crate::data::source::CACHE_ENV;
use crate::fsutil::file_name_for;
pub use format::{FORMAT_VERSION, HEADER_LEN, MAGIC};
use format::{Lookup, encode, read_entry};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a cache entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A preprocessed image.
    Image,
    /// A preprocessed (binarized) mask.
    Mask,
}

impl Kind {
    fn code(self) -> u32 {
        match self {
            Kind::Image => 0,
            Kind::Mask => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Mask => "mask",
        }
    }
}

/// How a lookup was served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    /// Read from a valid entry.
    Hit,
    /// No entry existed; built and written.
    Built,
    /// An entry existed but was not valid; rebuilt and rewritten. `reason` says what was wrong.
    Rebuilt { path: PathBuf, reason: String },
}

impl std::fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheStatus::Hit => write!(f, "cache hit"),
            CacheStatus::Built => write!(f, "built new cache entry"),
            CacheStatus::Rebuilt { path, reason } => {
                write!(f, "rebuilt cache entry {}: {reason}", path.display())
            }
        }
    }
}

/// Counts of lookups by outcome since the cache was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: usize,
    pub built: usize,
    pub rebuilt: usize,
}

/// A directory of preprocessed volumes. Shareable between threads (`&Cache` is `Sync`).
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    hits: AtomicUsize,
    built: AtomicUsize,
    rebuilt: AtomicUsize,
}

/// An I/O error at `path` in the cache; where the cache cannot be written, with the way out.
fn cache_io(path: &Path, e: std::io::Error) -> DataError {
    use std::io::ErrorKind::{PermissionDenied, ReadOnlyFilesystem};
    if matches!(e.kind(), PermissionDenied | ReadOnlyFilesystem) {
        DataError::Dataset(format!(
            "{}: {e}: the preprocessing cache cannot be written there; for a read-only \
             dataset, set {CACHE_ENV} to a writable directory",
            path.display()
        ))
    } else {
        DataError::io(path, e)
    }
}

impl Cache {
    /// Opens (creating if needed) the cache directory `dir`.
    pub fn new(dir: &Path) -> DataResult<Cache> {
        if dir.exists() && !dir.is_dir() {
            return Err(DataError::Dataset(format!(
                "{}: the preprocessing cache's place holds something that is not a directory; \
                 move it, or set {CACHE_ENV} to a directory for the cache",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| cache_io(dir, e))?;
        Ok(Cache {
            dir: dir.to_path_buf(),
            hits: AtomicUsize::new(0),
            built: AtomicUsize::new(0),
            rebuilt: AtomicUsize::new(0),
        })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Lookup counts so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            built: self.built.load(Ordering::Relaxed),
            rebuilt: self.rebuilt.load(Ordering::Relaxed),
        }
    }

    /// The file of an entry: `<id>.<kind>.<D>x<H>x<W>.v<PREPROCESS_VERSION>.vxc`.
    pub fn entry_path(&self, id: &str, kind: Kind, grid: [usize; 3]) -> PathBuf {
        let [d, h, w] = grid;
        self.dir.join(format!(
            "{}.{}.{d}x{h}x{w}.v{PREPROCESS_VERSION}.vxc",
            file_name_for(id),
            kind.name()
        ))
    }

    /// The values of entry (`id`, `kind`, `grid`) built from source files with fingerprint
    /// `source` ([`crate::fsutil::files_fingerprint`]): read from the cache when valid,
    /// otherwise produced by `build` (which must return `D·H·W` values) and written.
    pub fn get_or_build(
        &self,
        id: &str,
        kind: Kind,
        grid: [usize; 3],
        source: u64,
        build: impl FnOnce() -> DataResult<Vec<f32>>,
    ) -> DataResult<Vec<f32>> {
        self.fetch(id, kind, grid, source, build).map(|(v, _)| v)
    }

    /// As [`Cache::get_or_build`], also saying how the entry was served, so a caller can log
    /// "rebuilt corrupt cache entry …".
    pub fn fetch(
        &self,
        id: &str,
        kind: Kind,
        grid: [usize; 3],
        source: u64,
        build: impl FnOnce() -> DataResult<Vec<f32>>,
    ) -> DataResult<(Vec<f32>, CacheStatus)> {
        let path = self.entry_path(id, kind, grid);
        let count = grid
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|&n| n > 0 && n <= MAX_VOXELS && grid.iter().all(|&d| d <= u32::MAX as usize))
            .ok_or_else(|| {
                DataError::Dataset(format!(
                    "cache entry {}: invalid grid {grid:?}",
                    path.display()
                ))
            })?;
        let status = match read_entry(&path, kind, grid, source, count)? {
            Lookup::Hit(values) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok((values, CacheStatus::Hit));
            }
            Lookup::Missing => CacheStatus::Built,
            Lookup::Stale(reason) => CacheStatus::Rebuilt {
                path: path.clone(),
                reason,
            },
        };
        let values = build()?;
        if values.len() != count {
            return Err(DataError::Dataset(format!(
                "building cache entry {}: got {} values, expected {count} for the grid {grid:?}",
                path.display(),
                values.len()
            )));
        }
        crate::fsutil::atomic_write(&path, &encode(kind, grid, source, &values))
            .map_err(|e| cache_io(&path, e))?;
        let counter = match status {
            CacheStatus::Rebuilt { .. } => &self.rebuilt,
            _ => &self.built,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok((values, status))
    }
}
