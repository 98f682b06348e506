//! Volume file formats: MetaImage (`.mhd`/`.raw`/`.zraw`, `.mha`) and NIfTI-1 (`.nii`,
//! `.nii.gz`), and the atomic file write they share.

pub mod metaimage;
pub mod nifti;

use crate::data::error::{DataError, DataResult};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// readers never see a partial file under `path`; concurrent writers of one path (threads or
/// processes) each use their own temporary file.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> DataResult<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| DataError::format(path, "not a file name"))?;
    // Unique per call (process id and a counter), so threads writing the same path never
    // share a temporary file: the last rename wins and every rename publishes a whole file.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.tmp{}.{seq}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        DataError::io(path, e)
    })
}

/// Reads a volume, choosing the format by extension: `.mhd`/`.mha` (MetaImage) or
/// `.nii`/`.nii.gz` (NIfTI-1).
pub fn read_volume(path: &Path) -> DataResult<crate::data::Volume> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".mhd") || lower.ends_with(".mha") {
        metaimage::read(path)
    } else if lower.ends_with(".nii") || lower.ends_with(".nii.gz") {
        nifti::read(path)
    } else {
        Err(DataError::format(
            path,
            "unknown volume format (expected .mhd, .mha, .nii or .nii.gz)",
        ))
    }
}
