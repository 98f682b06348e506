//! Tests of the NIfTI reader and writer, by topic: [`roundtrip`] (write → read), [`errors`]
//! (malformed and truncated files), [`fixtures`] (files written by nibabel and SimpleITK),
//! [`fuzz`] and [`hand`] (hand-made headers). This module holds their helpers: scratch
//! directories, an oblique test volume, hand-made headers and files.

mod errors;
mod fixtures;
mod fuzz;
mod hand;
mod roundtrip;

use super::header::Header;
use super::read::{Shape, decode};
use crate::data::volume::Volume;
use std::path::Path;

pub(super) use crate::testutil::TempDir;

/// Rotation by `angle` about the unit vector along `axis` (Rodrigues), as columns.
pub(super) fn rotation(axis: [f64; 3], angle: f64) -> [[f64; 3]; 3] {
    let n = axis.iter().map(|v| v * v).sum::<f64>().sqrt();
    let [x, y, z] = axis.map(|v| v / n);
    let (s, c) = angle.sin_cos();
    let t = 1.0 - c;
    // Row-major matrix; return its columns.
    let m = [
        [t * x * x + c, t * x * y - s * z, t * x * z + s * y],
        [t * x * y + s * z, t * y * y + c, t * y * z - s * x],
        [t * x * z - s * y, t * y * z + s * x, t * z * z + c],
    ];
    std::array::from_fn(|a| [m[0][a], m[1][a], m[2][a]])
}

/// A [D, H, W] = [3, 4, 5] volume with a rotated, flipped geometry and values from `f(i)`.
pub(super) fn oblique_volume(f: impl Fn(usize) -> f32) -> Volume {
    let mut v = Volume::new((0..60).map(f).collect(), [3, 4, 5], Path::new("t")).unwrap();
    let mut dir = rotation([1.0, 2.0, 3.0], 0.3);
    dir[1] = dir[1].map(|c| -c);
    v.direction = dir;
    v.spacing = [0.7, 0.8, 2.5];
    v.origin = [-100.5, 50.25, -300.0];
    v
}

pub(super) fn assert_geometry(got: &Volume, want: &Volume, tol: f64) {
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol);
    assert!(
        close(&got.spacing, &want.spacing),
        "{:?} {:?}",
        got.spacing,
        want.spacing
    );
    assert!(
        close(&got.origin, &want.origin),
        "{:?} {:?}",
        got.origin,
        want.origin
    );
    for a in 0..3 {
        assert!(
            close(&got.direction[a], &want.direction[a]),
            "{:?} {:?}",
            got.direction,
            want.direction
        );
    }
    assert_eq!(got.dims, want.dims);
}

/// A little-endian 3D header (`n+1`, vox_offset 352, no sform/qform, pixdim 1).
pub(super) fn base_header(xyz: [i16; 3], datatype: i16, bitpix: i16) -> Header {
    Header {
        big_endian: false,
        dim: [3, xyz[0], xyz[1], xyz[2], 1, 1, 1, 1],
        intent_code: 0,
        datatype,
        bitpix,
        pixdim: [1.0; 8],
        vox_offset: 352.0,
        scl_slope: 0.0,
        scl_inter: 0.0,
        xyzt_units: 2,
        qform_code: 0,
        sform_code: 0,
        quatern: [0.0; 3],
        qoffset: [0.0; 3],
        srow: [[0.0; 4]; 3],
        descrip: String::new(),
        magic: *b"n+1\0",
    }
}

/// A single-file image: the header, zero padding up to `vox_offset`, then `data`.
pub(super) fn nii_bytes(h: &Header, data: &[u8]) -> Vec<u8> {
    let mut b = h.encode();
    b.resize(h.vox_offset as usize, 0);
    b.extend_from_slice(data);
    b
}

pub(super) fn decode_bytes(bytes: &[u8]) -> crate::data::DataResult<Volume> {
    let (img, g) = decode(
        Path::new("mem.nii"),
        &mut &bytes[..],
        Some(bytes.len() as u64),
        Shape::Scalar,
    )?;
    Ok(Volume {
        data: img.values,
        dims: img.dims,
        spacing: g.spacing,
        origin: g.origin,
        direction: g.direction,
    })
}

/// The header of a file we wrote (gunzipped when needed).
pub(super) fn header_of(path: &Path) -> Header {
    let raw = std::fs::read(path).unwrap();
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut out).unwrap();
        out
    } else {
        raw
    };
    Header::parse(&bytes, path).unwrap()
}
