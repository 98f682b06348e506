//! File-system helpers shared by every layer that writes user-visible files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What the operating system refused (missing file, permission, disk full ...), naming the
/// file or directory: the one I/O error every layer's error type carries (`DataError::Io`,
/// `SessionError::Io`, `ReportError::Io`, `ConfigError::Io`).
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct IoError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    /// `source` on `path`.
    pub fn new(path: &Path, source: std::io::Error) -> Self {
        IoError {
            path: path.to_path_buf(),
            source,
        }
    }
}

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

/// The longest escaped id used whole in a file name: with the kind, grid and version after
/// it, names stay well under the usual 255-byte limit.
pub const MAX_ESCAPED_ID: usize = 120;

/// `id` (a scan id, say) made safe as a file name, distinct ids giving distinct names:
/// `A–Z a–z 0–9 . _ -` kept, every other byte as `%XX`. An id whose escaped form is longer
/// than [`MAX_ESCAPED_ID`] becomes its first 80 characters, `~` (never part of an escaped id)
/// and a 64-bit hash of the whole id.
pub fn file_name_for(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() > MAX_ESCAPED_ID {
        out.truncate(80);
        out.push_str(&format!("~{:016x}", fnv1a64(id.as_bytes())));
    }
    out
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

#[cfg(test)]
mod tests {
    use super::file_name_for;

    #[test]
    fn file_names_for_ids_are_safe_distinct_and_short() {
        assert_eq!(file_name_for("1.3.6.1-a_b"), "1.3.6.1-a_b");
        assert_eq!(file_name_for("../x y"), "..%2Fx%20y");
        assert_eq!(file_name_for("a%2F"), "a%252F");
        assert_ne!(file_name_for("a/b"), file_name_for("a%2Fb"));
        // Ids of the same length differing only outside ASCII stay apart (no `_` for both).
        assert_ne!(file_name_for("lung é"), file_name_for("lung è"));
        let long = "v".repeat(250);
        let name = file_name_for(&long);
        assert!(
            name.len() <= 97 && name.starts_with(&"v".repeat(80)),
            "{name}"
        );
        assert_ne!(name, file_name_for(&format!("{long}w")));
    }
}
