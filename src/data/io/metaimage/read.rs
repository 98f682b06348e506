//! MetaImage reader (TO BE WRITTEN).
use crate::data::error::DataResult;
use crate::data::volume::Volume;
use std::path::Path;
/// Reads a `.mhd` (+ data file) or `.mha` volume.
pub fn read(path: &Path) -> DataResult<Volume> {
    let _ = path;
    todo!()
}
