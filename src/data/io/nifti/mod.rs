//! NIfTI-1 single-file volumes (`.nii`, `.nii.gz`): a reader for scalar 3D images and writers
//! for scalar 3D images and 5D vector images (displacement fields). Our own parser of the
//! 348-byte header (NIfTI-1 standard, `nifti1.h`); no third-party NIfTI code.
//!
//! Reading ([`read`]):
//! - single-file NIfTI-1 only (magic `n+1`); a `.hdr`/`.img` pair (magic `ni1`) and NIfTI-2
//!   (`sizeof_hdr` 540) are rejected with a message saying so;
//! - byte order from `sizeof_hdr` (348 read little- or big-endian), applied to every header
//!   field and to the voxel values;
//! - gzip detected from the content (magic `1f 8b`); a file named `.gz` that is not gzip is an
//!   error. Inflation is streamed and stops at the size the header implies, so nothing the
//!   header claims is allocated before the data is there;
//! - datatypes UINT8, INT8, INT16, UINT16, INT32, UINT32, INT64, UINT64, FLOAT32, FLOAT64;
//!   `bitpix` is not trusted (the datatype decides the value size);
//! - `dim[0]` must be 3, or 4/5 with `dim[4..=dim[0]]` all 1: anything with more than one
//!   time point or component is an error naming the dims;
//! - values are `scl_slope · v + scl_inter` unless the slope is 0 or not finite;
//! - affine (NIfTI-1 rules): `sform_code > 0` → `srow_x/y/z`; else `qform_code > 0` → the
//!   quaternion, `qoffset`, `pixdim[1..=3]` and `qfac = pixdim[0]` (−1, anything else counts as
//!   +1); else `diag(pixdim[1..=3])` with a zero origin ("method 1"; nibabel instead centres
//!   and flips such images). The RAS affine becomes the LPS geometry of [`Volume`]: the first
//!   two world rows are negated, spacing = column norms, direction = normalised columns,
//!   origin = translation. A sheared sform keeps its (non-orthogonal) column directions.
//!
//! [`read_vector`] reads the 5D vector images that [`write_vector`] writes (one [`Volume`] per
//! component, values as stored).
//!
//! Writing ([`write()`], [`write_vector`]): little-endian, `vox_offset` 352 with an empty
//! extension flag, `xyzt_units` = mm, sform and qform both with code 1 (scanner anatomical)
//! describing the volume's geometry (the qform uses the nearest rotation when the direction
//! matrix is not orthonormal), `scl_slope` 1 / `scl_inter` 0, gzip when the name ends in
//! `.gz`, written atomically. The value type is a [`ElementType`] (the scalar types shared with
//! MetaImage; integers are rounded and clamped).

mod affine;
mod header;
mod read;
mod write;

#[cfg(test)]
mod tests;

pub use crate::data::io::metaimage::ElementType;
#[cfg(doc)]
use crate::data::volume::Volume;
pub use read::{read, read_vector};
pub use write::{write, write_displacement, write_vector};

/// `intent_code` of a vector image (`NIFTI_INTENT_VECTOR`), as written by [`write_vector`].
pub const INTENT_VECTOR: i16 = 1007;
/// `intent_code` of a displacement field (`NIFTI_INTENT_DISPVECT`), as written by
/// [`write_displacement`].
pub const INTENT_DISPVECT: i16 = 1006;

/// The NIfTI-1 `datatype` code of a scalar element type.
pub fn datatype_code(ty: ElementType) -> i16 {
    match ty {
        ElementType::U8 => 2,
        ElementType::I16 => 4,
        ElementType::I32 => 8,
        ElementType::F32 => 16,
        ElementType::F64 => 64,
        ElementType::I8 => 256,
        ElementType::U16 => 512,
        ElementType::U32 => 768,
        ElementType::I64 => 1024,
        ElementType::U64 => 1280,
    }
}

/// The NIfTI-1 name of a scalar element type (`INT16`, `FLOAT32`, ...).
pub fn datatype_name(ty: ElementType) -> &'static str {
    match ty {
        ElementType::U8 => "UINT8",
        ElementType::I8 => "INT8",
        ElementType::I16 => "INT16",
        ElementType::U16 => "UINT16",
        ElementType::I32 => "INT32",
        ElementType::U32 => "UINT32",
        ElementType::I64 => "INT64",
        ElementType::U64 => "UINT64",
        ElementType::F32 => "FLOAT32",
        ElementType::F64 => "FLOAT64",
    }
}

/// The element type of a NIfTI-1 `datatype` code, or an error message naming the code (and
/// the type, for the standard codes we do not read: complex, RGB, binary, float128).
pub fn element_type(code: i16) -> Result<ElementType, String> {
    let ty = match code {
        2 => ElementType::U8,
        4 => ElementType::I16,
        8 => ElementType::I32,
        16 => ElementType::F32,
        64 => ElementType::F64,
        256 => ElementType::I8,
        512 => ElementType::U16,
        768 => ElementType::U32,
        1024 => ElementType::I64,
        1280 => ElementType::U64,
        _ => {
            let name = match code {
                0 => " (DT_UNKNOWN)",
                1 => " (DT_BINARY)",
                32 => " (DT_COMPLEX64)",
                128 => " (DT_RGB24)",
                1536 => " (DT_FLOAT128)",
                1792 => " (DT_COMPLEX128)",
                2048 => " (DT_COMPLEX256)",
                2304 => " (DT_RGBA32)",
                _ => "",
            };
            return Err(format!(
                "unsupported datatype code {code}{name}: only 8-64 bit integer and 32/64 bit \
                 float scalars are read"
            ));
        }
    };
    Ok(ty)
}
