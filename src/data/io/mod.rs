//! Volume file formats: MetaImage (`.mhd`/`.raw`/`.zraw`, `.mha`) and NIfTI-1 (`.nii`,
//! `.nii.gz`), and the atomic file write they share.

pub mod metaimage;
pub mod nifti;

use crate::data::error::{DataError, DataResult};
use std::path::Path;

/// [`crate::fsutil::atomic_write`] with errors naming `path`.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> DataResult<()> {
    crate::fsutil::atomic_write(path, bytes).map_err(|e| DataError::io(path, e))
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

/// The files a volume is read from: the file itself, and for a `.mhd` header its separate
/// data file (`ElementDataFile`).
pub fn volume_files(path: &Path) -> DataResult<Vec<std::path::PathBuf>> {
    let mut files = vec![path.to_path_buf()];
    let lower = path.to_string_lossy().to_ascii_lowercase();
    if lower.ends_with(".mhd")
        && let Some(data) = metaimage::data_file(path)?
    {
        files.push(data);
    }
    Ok(files)
}
