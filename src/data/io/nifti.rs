//! NIfTI-1 reader and writer (TO BE WRITTEN).
use crate::data::error::DataResult;
use crate::data::volume::Volume;
use std::path::Path;
/// Reads a `.nii` or `.nii.gz` volume (converted to the LPS geometry of [`Volume`]).
pub fn read(path: &Path) -> DataResult<Volume> {
    let _ = path;
    todo!()
}
