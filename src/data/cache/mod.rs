//! Disk cache of preprocessed volumes (SPEC 5.3): one file per (scan id, image or mask,
//! grid, [`PREPROCESS_VERSION`]).
//!
//! File format (all little-endian), [`HEADER_LEN`] = 44 bytes of header then the payload:
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 8 | magic `VXFCACHE` |
//! | 8 | 4 | format version ([`FORMAT_VERSION`]) |
//! | 12 | 4 | [`PREPROCESS_VERSION`] |
//! | 16 | 4 | kind: 0 image, 1 mask |
//! | 20 | 12 | grid `D, H, W` (u32 each) |
//! | 32 | 8 | value count (`D·H·W`) |
//! | 40 | 4 | CRC-32C of the payload |
//! | 44 | 4·count | the values, `f32`, array order `[D, H, W]` |
//!
//! An entry is trusted only if every field matches the request and the CRC matches; anything
//! else (truncation, a flipped byte, another version or grid) is stale: it is rebuilt, rewritten
//! atomically and reported ([`CacheStatus::Rebuilt`], [`CacheStats::rebuilt`]). Writes go through
//! a temporary file and a rename, so concurrent workers building the same entry leave one
//! complete file (the last writer's) and readers never see a partial one.

#[cfg(test)]
mod tests;

use crate::data::error::{DataError, DataResult};
use crate::data::io::atomic_write;
use crate::data::preprocess::{MAX_VOXELS, PREPROCESS_VERSION};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// First bytes of every cache file.
pub const MAGIC: [u8; 8] = *b"VXFCACHE";
/// Version of the cache file layout.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 44;

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
                write!(
                    f,
                    "rebuilt corrupt cache entry {}: {reason}",
                    path.display()
                )
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

/// Result of reading an entry.
enum Lookup {
    Hit(Vec<f32>),
    Missing,
    Stale(String),
}

/// `id` made safe as a file name: `A–Z a–z 0–9 . _ -` kept, every other byte as `%XX`.
fn escape_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

impl Cache {
    /// Opens (creating if needed) the cache directory `dir`.
    pub fn new(dir: &Path) -> DataResult<Cache> {
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
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
            escape_id(id),
            kind.name()
        ))
    }

    /// The values of entry (`id`, `kind`, `grid`): read from the cache when valid, otherwise
    /// produced by `build` (which must return `D·H·W` values) and written.
    pub fn get_or_build(
        &self,
        id: &str,
        kind: Kind,
        grid: [usize; 3],
        build: impl FnOnce() -> DataResult<Vec<f32>>,
    ) -> DataResult<Vec<f32>> {
        self.fetch(id, kind, grid, build).map(|(v, _)| v)
    }

    /// As [`Cache::get_or_build`], also saying how the entry was served, so a caller can log
    /// "rebuilt corrupt cache entry …".
    pub fn fetch(
        &self,
        id: &str,
        kind: Kind,
        grid: [usize; 3],
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
        let status = match read_entry(&path, kind, grid, count)? {
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
        atomic_write(&path, &encode(kind, grid, &values))?;
        let counter = match status {
            CacheStatus::Rebuilt { .. } => &self.rebuilt,
            _ => &self.built,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok((values, status))
    }
}

/// The file bytes of an entry.
fn encode(kind: Kind, grid: [usize; 3], values: &[f32]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(values.len() * 4);
    for v in values {
        payload.extend_from_slice(&v.to_le_bytes());
    }
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&PREPROCESS_VERSION.to_le_bytes());
    out.extend_from_slice(&kind.code().to_le_bytes());
    for d in grid {
        out.extend_from_slice(&(d as u32).to_le_bytes());
    }
    out.extend_from_slice(&(values.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Reads and validates an entry. The file size is checked against the request before the
/// payload is read, so a damaged header can never make us allocate more than was asked for.
fn read_entry(path: &Path, kind: Kind, grid: [usize; 3], count: usize) -> DataResult<Lookup> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lookup::Missing),
        Err(e) => return Err(DataError::io(path, e)),
    };
    let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let want = (HEADER_LEN + 4 * count) as u64;
    if len != want {
        return Ok(Lookup::Stale(format!(
            "{len} bytes, expected {want} for the grid {grid:?}"
        )));
    }
    let mut bytes = Vec::with_capacity(want as usize);
    file.read_to_end(&mut bytes)
        .map_err(|e| DataError::io(path, e))?;
    if bytes.len() as u64 != want {
        return Ok(Lookup::Stale(format!(
            "read {} bytes, expected {want}",
            bytes.len()
        )));
    }
    let (head, payload) = bytes.split_at(HEADER_LEN);
    if head[..8] != MAGIC {
        return Ok(Lookup::Stale(
            "not a voxflow cache file (wrong magic)".into(),
        ));
    }
    let checks = [
        ("format version", read_u32(head, 8), FORMAT_VERSION),
        (
            "preprocessing version",
            read_u32(head, 12),
            PREPROCESS_VERSION,
        ),
        ("kind", read_u32(head, 16), kind.code()),
        ("grid D", read_u32(head, 20), grid[0] as u32),
        ("grid H", read_u32(head, 24), grid[1] as u32),
        ("grid W", read_u32(head, 28), grid[2] as u32),
    ];
    for (what, got, expected) in checks {
        if got != expected {
            return Ok(Lookup::Stale(format!("{what} {got}, expected {expected}")));
        }
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(&head[32..40]);
    let stored_count = u64::from_le_bytes(n);
    if stored_count != count as u64 {
        return Ok(Lookup::Stale(format!(
            "value count {stored_count}, expected {count}"
        )));
    }
    let (stored, actual) = (read_u32(head, 40), crc32c::crc32c(payload));
    if stored != actual {
        return Ok(Lookup::Stale(format!(
            "payload CRC-32C {actual:08x} does not match the stored {stored:08x}"
        )));
    }
    let values = payload
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Lookup::Hit(values))
}
