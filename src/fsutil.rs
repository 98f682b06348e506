//! File-system helpers shared by every layer that writes user-visible files.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` through a temporary file in the same directory, an fsync and a
/// rename, so readers never see a partial file under `path` and a crash leaves the old file.
/// Each call uses its own temporary name (process id and a counter), so concurrent writers of
/// one path never share a temporary file: the last rename wins and every rename publishes a
/// whole file. Errors are plain I/O errors; callers add the path in their own error type.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"))?;
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_file_name(format!(
        ".{}.tmp{}.{seq}",
        name.to_string_lossy(),
        std::process::id()
    ));
    write_then_rename(&tmp, path, bytes)
}

/// Writes `bytes` to `tmp`, fsyncs it and renames it over `path`; on failure `tmp` is
/// removed. The rename is atomic when both are in one directory.
pub fn write_then_rename(tmp: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(tmp, path)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(tmp);
    })
}

/// The 64-bit FNV-1a hash (Fowler, Noll, Vo).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A fingerprint of files as they are now: their paths, sizes and modification times. It
/// changes when any of them is rewritten (or replaced, or touched), so a result derived from
/// them can tell it is out of date; a file that cannot be read counts as absent.
pub fn files_fingerprint(paths: &[&Path]) -> u64 {
    let mut bytes = Vec::new();
    for p in paths {
        bytes.extend_from_slice(p.as_os_str().as_encoded_bytes());
        bytes.push(0);
        if let Ok(m) = std::fs::metadata(p) {
            bytes.extend_from_slice(&m.len().to_le_bytes());
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            bytes.extend_from_slice(&modified.to_le_bytes());
        }
    }
    fnv1a64(&bytes)
}
