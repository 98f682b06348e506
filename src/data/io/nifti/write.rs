//! NIfTI-1 writers: scalar 3D volumes and 5D vector images (displacement fields), little-endian,
//! sform and qform both set, gzip by extension, atomic.

use super::affine::{check_geometry, qform_of, ras_from_geometry};
use super::header::{HEADER_SIZE, Header, UNITS_MM, VOX_OFFSET, XFORM_SCANNER_ANAT};
use super::{INTENT_DISPVECT, INTENT_VECTOR, datatype_code};
use crate::data::error::{DataError, DataResult};
use crate::data::io::atomic_write;
use crate::data::io::metaimage::ElementType;
use crate::data::volume::Volume;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::Path;

/// Writes `vol` as a NIfTI-1 file with values of type `ty` (integers rounded and clamped),
/// gzip-compressed when `path` ends in `.gz`. The sform and qform (code 1) both give the
/// volume's geometry.
pub fn write(path: &Path, vol: &Volume, ty: ElementType) -> DataResult<()> {
    let mut bytes = header_bytes(path, vol, ty, None)?;
    bytes.reserve(vol.len() * ty.size());
    for &v in &vol.data {
        ty.encode_le(v, &mut bytes);
    }
    finish(path, bytes)
}

/// Writes a vector image (`dim = [5, X, Y, Z, 1, C]`, `intent_code` = `NIFTI_INTENT_VECTOR`,
/// float32) whose component `c` is `components[c]`, e.g. the x, y, z displacements of a field.
/// The geometry is that of the first component; all must have its dims. Values are written as
/// given (no change of frame).
pub fn write_vector(path: &Path, components: &[&Volume]) -> DataResult<()> {
    write_vector_intent(path, components, INTENT_VECTOR)
}

/// A displacement field: `components` are its world displacement (x, y, z) in mm in voxflow's
/// LPS frame; the file holds them in RAS, as NIfTI defines world space (x and y negated), with
/// `intent_code` = `NIFTI_INTENT_DISPVECT` (1006). ITK (so SimpleITK, ANTs, 3D Slicer) turns a
/// DISPVECT image's vectors back into LPS when it reads one (checked with SimpleITK 2.5:
/// stored (−1, −2, 3) reads as (1, 2, 3)), so `sitk.DisplacementFieldTransform` of the file is
/// voxflow's map; nibabel shows the RAS components.
pub fn write_displacement(path: &Path, components: &[&Volume]) -> DataResult<()> {
    if components.len() != 3 {
        return Err(DataError::format(
            path,
            format!(
                "a displacement field has 3 components, not {}",
                components.len()
            ),
        ));
    }
    let ras = |v: &Volume| Volume {
        data: v.data.iter().map(|x| -x).collect(),
        ..v.clone()
    };
    let (x, y) = (ras(components[0]), ras(components[1]));
    write_vector_intent(path, &[&x, &y, components[2]], INTENT_DISPVECT)
}

fn write_vector_intent(path: &Path, components: &[&Volume], intent: i16) -> DataResult<()> {
    let Some(first) = components.first() else {
        return Err(DataError::format(
            path,
            "a vector image needs at least one component",
        ));
    };
    if let Some((c, v)) = components
        .iter()
        .enumerate()
        .find(|(_, v)| v.dims != first.dims)
    {
        return Err(DataError::format(
            path,
            format!(
                "component {c} has dims {:?}, component 0 has {:?}",
                v.dims, first.dims
            ),
        ));
    }
    let ty = ElementType::F32;
    let mut bytes = header_bytes(path, first, ty, Some((components.len(), intent)))?;
    bytes.reserve(first.len() * components.len() * 4);
    for comp in components {
        for &v in &comp.data {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    finish(path, bytes)
}

/// The header (plus the empty extension flag) for `vol`: a 3D scalar image, or with
/// `Some((components, intent_code))` a 5D vector image.
fn header_bytes(
    path: &Path,
    vol: &Volume,
    ty: ElementType,
    vector: Option<(usize, i16)>,
) -> DataResult<Vec<u8>> {
    let components = vector.map_or(1, |v| v.0);
    let n = vol.dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if n != Some(vol.data.len()) {
        return Err(DataError::format(
            path,
            format!(
                "{} values cannot fill a {:?} volume",
                vol.data.len(),
                vol.dims
            ),
        ));
    }
    let max = i16::MAX as usize;
    if vol.dims.iter().any(|&d| d == 0 || d > max) || components > max {
        return Err(DataError::format(
            path,
            format!(
                "dims {:?} with {components} components do not fit NIfTI-1 (1 to {max} each)",
                vol.dims
            ),
        ));
    }
    check_geometry(vol, path)?;
    let [d, h, w] = vol.dims.map(|v| v as i16);
    let dim = if vector.is_some() {
        [5, w, h, d, 1, components as i16, 1, 1]
    } else {
        [3, w, h, d, 1, 1, 1, 1]
    };
    let (quatern, qfac, qoffset) = qform_of(vol);
    let m = ras_from_geometry(vol);
    let s = vol.spacing;
    let header = Header {
        big_endian: false,
        dim,
        intent_code: vector.map_or(0, |v| v.1),
        datatype: datatype_code(ty),
        bitpix: 8 * ty.size() as i16,
        pixdim: [
            qfac as f32,
            s[0] as f32,
            s[1] as f32,
            s[2] as f32,
            1.0,
            1.0,
            1.0,
            1.0,
        ],
        vox_offset: VOX_OFFSET as f32,
        scl_slope: 1.0,
        scl_inter: 0.0,
        xyzt_units: UNITS_MM,
        qform_code: XFORM_SCANNER_ANAT,
        sform_code: XFORM_SCANNER_ANAT,
        quatern: quatern.map(|v| v as f32),
        qoffset: qoffset.map(|v| v as f32),
        srow: m.map(|r| r.map(|v| v as f32)),
        descrip: "voxflow".into(),
        magic: *b"n+1\0",
    };
    let mut bytes = header.encode();
    bytes.resize(HEADER_SIZE, 0);
    bytes.extend_from_slice(&[0u8; VOX_OFFSET - HEADER_SIZE]);
    Ok(bytes)
}

/// Gzips `bytes` when `path` ends in `.gz` (level 1, nibabel's default: float volumes shrink
/// little more at higher levels, which take several times longer), then writes them
/// atomically.
fn finish(path: &Path, bytes: Vec<u8>) -> DataResult<()> {
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    if !gz {
        return atomic_write(path, &bytes);
    }
    let mut z = GzEncoder::new(Vec::with_capacity(bytes.len() / 2), Compression::new(1));
    z.write_all(&bytes).map_err(|e| DataError::io(path, e))?;
    let packed = z.finish().map_err(|e| DataError::io(path, e))?;
    atomic_write(path, &packed)
}
