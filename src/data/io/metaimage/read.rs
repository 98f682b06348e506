//! MetaImage reader: `.mhd` + separate data file (`.raw`, `.zraw`, any name, relative to the
//! header's directory or absolute) and `.mha` (`ElementDataFile = LOCAL`), as ITK, SimpleITK
//! and LUNA16 write them.
//!
//! The header is read with a size cap and validated key by key (`header.rs`, `keys.rs`); the
//! data size it implies is checked against the real file before anything is allocated
//! (`payload.rs`). Geometry maps to [`Volume`] as ITK does: `ElementSpacing` and `Offset` are
//! in image-axis order (x, y, z); `TransformMatrix` lists, for each image axis in turn, that
//! axis's world direction (3 numbers). The matrix must be orthonormal (to 1e-3), as a rotation
//! with possible axis flips is what [`Volume::world_to_voxel`] inverts.
//!
//! `NDims = 2` images are read as a single slice: `dims = [1, H, W]`, z spacing 1, z origin 0,
//! z direction (0, 0, 1). Other `NDims` are errors.

use super::header::{DataFile, Header, read_header};
use super::payload::read_values;
use crate::data::error::{DataError, DataResult};
use crate::data::volume::Volume;
use std::path::Path;

/// How far from orthonormal a `TransformMatrix` may be (rounding in written headers).
const ORTHO_TOLERANCE: f64 = 1e-3;

/// Reads a `.mhd` (+ data file) or `.mha` volume; values are converted to `f32`.
pub fn read(path: &Path) -> DataResult<Volume> {
    let h = read_header(path)?;
    let geometry = geometry(path, &h)?;
    let data = read_values(path, &h)?;
    let dims = [geometry.dims[2], geometry.dims[1], geometry.dims[0]];
    let mut vol = Volume::new(data, dims, path)?;
    vol.spacing = geometry.spacing;
    vol.origin = geometry.origin;
    vol.direction = geometry.direction;
    Ok(vol)
}

/// The separate data file a MetaImage header names (`ElementDataFile`), or `None` when the
/// data is in the header's own file (`LOCAL`, as in `.mha`).
pub fn data_file(path: &Path) -> DataResult<Option<std::path::PathBuf>> {
    Ok(match read_header(path)?.data_file {
        DataFile::Local => None,
        DataFile::Path(p) => Some(p),
    })
}

/// Header geometry lifted to 3D, image-axis order (x, y, z).
struct Geometry {
    dims: [usize; 3],
    spacing: [f64; 3],
    origin: [f64; 3],
    direction: [[f64; 3]; 3],
}

/// Lifts the header's (2D or 3D) geometry to 3D and checks the direction matrix.
fn geometry(path: &Path, h: &Header) -> DataResult<Geometry> {
    let n = h.ndims;
    let mut g = Geometry {
        dims: [1; 3],
        spacing: [1.0; 3],
        origin: [0.0; 3],
        direction: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
    };
    for a in 0..n.min(3) {
        g.dims[a] = h.dim_size[a];
        g.spacing[a] = h.spacing[a];
        g.origin[a] = h.offset[a];
        for w in 0..n.min(3) {
            g.direction[a][w] = h.matrix[a * n + w];
        }
    }
    for a in 0..3 {
        for b in a..3 {
            let dot: f64 = (0..3).map(|w| g.direction[a][w] * g.direction[b][w]).sum();
            let want = if a == b { 1.0 } else { 0.0 };
            if (dot - want).abs() > ORTHO_TOLERANCE {
                return Err(DataError::format(
                    path,
                    format!(
                        "TransformMatrix {:?} is not a rotation (axis directions must be unit \
                         vectors at right angles)",
                        h.matrix
                    ),
                ));
            }
        }
    }
    Ok(g)
}
