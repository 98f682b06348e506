//! MetaImage reader tests: round trips with our writer, hand-made files (byte order,
//! `HeaderSize`, `LOCAL`, synonyms), every bad-file case, seeded fuzzing, and SimpleITK fixtures.

mod bad;
mod bad_keys;
mod fixtures;
mod fuzz;
mod handmade;
mod roundtrip;

use crate::data::error::DataError;
use crate::data::io::metaimage::{ElementType, read};
use crate::data::volume::Volume;
pub(super) use crate::testutil::TempDir;
use std::path::{Path, PathBuf};

/// A uniquely named directory under the system temp dir, removed on drop.
impl TempDir {
    /// `name` inside the directory.
    pub fn at(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `bytes` as `name` and returns its path.
    pub fn put(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.at(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

/// A `[3, 4, 5]` volume whose values fit `ty` exactly, with non-trivial geometry (anisotropic
/// spacing, non-zero origin, a rotation with a flipped axis).
pub(super) fn sample(ty: ElementType) -> Volume {
    let signed = matches!(
        ty,
        ElementType::I8 | ElementType::I16 | ElementType::I32 | ElementType::I64
    );
    let data = (0..60)
        .map(|i| match ty {
            ElementType::F32 | ElementType::F64 => (i as f32) * 0.375 - 7.125,
            _ if signed => ((i * 37) % 201) as f32 - 100.0,
            _ => ((i * 53) % 251) as f32,
        })
        .collect();
    let mut v = Volume::new(data, [3, 4, 5], Path::new("sample")).unwrap();
    v.spacing = [0.7, 0.8, 2.5];
    v.origin = [-100.5, 50.25, -300.0];
    let (c, s) = (0.6, 0.8);
    v.direction = [[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]];
    v
}

/// The values `v` as bytes of `ty`, in either byte order.
pub(super) fn encode(v: &[f32], ty: ElementType, big_endian: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for &x in v {
        let start = out.len();
        ty.encode_le(x, &mut out);
        if big_endian {
            out[start..].reverse();
        }
    }
    out
}

/// A plain header for a 5×4×3 volume of `ty`; `extra` lines go before `ElementDataFile`.
pub(super) fn header(ty: ElementType, extra: &str, data_file: &str) -> String {
    format!(
        "ObjectType = Image\nNDims = 3\nDimSize = 5 4 3\nElementSpacing = 0.7 0.8 2.5\n\
         Offset = 1 2 3\nElementType = {}\n{extra}ElementDataFile = {data_file}\n",
        ty.met_name()
    )
}

/// The error of reading `path`, checked to name `file` and contain each of `needles`.
#[track_caller]
pub(super) fn read_err(path: &Path, file: &str, needles: &[&str]) -> DataError {
    let e = match read(path) {
        Ok(v) => panic!("{} read as {:?} instead of failing", path.display(), v.dims),
        Err(e) => e,
    };
    let msg = e.to_string();
    assert!(msg.contains(file), "error does not name {file}: {msg}");
    for n in needles {
        assert!(msg.contains(n), "error lacks {n:?}: {msg}");
    }
    e
}

/// Asserts that two volumes agree: values exactly, geometry to `tol`.
#[track_caller]
pub(super) fn assert_same(a: &Volume, b: &Volume, tol: f64) {
    assert_eq!(a.dims, b.dims);
    assert_eq!(a.data, b.data);
    let close = |x: &[f64], y: &[f64]| x.iter().zip(y).all(|(p, q)| (p - q).abs() <= tol);
    assert!(
        close(&a.spacing, &b.spacing),
        "{:?} {:?}",
        a.spacing,
        b.spacing
    );
    assert!(close(&a.origin, &b.origin), "{:?} {:?}", a.origin, b.origin);
    assert!(
        close(a.direction.as_flattened(), b.direction.as_flattened()),
        "{:?} {:?}",
        a.direction,
        b.direction
    );
}
