//! Write → read round trips: every datatype, .nii and .nii.gz, oblique and flipped geometry,
//! qform consistent with sform, vector images, sheared directions.

use super::super::affine::ras_affine;
use super::super::*;
use super::{TempDir, assert_geometry, header_of, oblique_volume, rotation};
use crate::data::volume::Volume;

/// Values in range for every element type, so the round trip is exact.
fn sample(ty: ElementType, i: usize) -> f32 {
    let i = i as f32;
    match ty {
        ElementType::U8 => i * 4.0 + 3.0,
        ElementType::I8 => i * 4.0 - 120.0,
        ElementType::I16 => i * 1000.0 - 30000.0,
        ElementType::U16 => i * 1000.0 + 5000.0,
        ElementType::I32 | ElementType::I64 => i * 1e6 - 3e7,
        ElementType::U32 | ElementType::U64 => i * 1e6 + 7.0,
        ElementType::F32 | ElementType::F64 => (i - 30.0) * 0.37,
    }
}

#[test]
fn every_datatype_round_trips_with_oblique_flipped_geometry_nii_and_gz() {
    let dir = TempDir::new("roundtrip");
    for ty in ElementType::ALL {
        let vol = oblique_volume(|i| sample(ty, i));
        for ext in ["nii", "nii.gz"] {
            let path = dir.file(&format!("v_{:?}.{ext}", ty));
            write(&path, &vol, ty).unwrap();
            let back = read(&path).unwrap();
            assert_eq!(back.data, vol.data, "{ty:?} {ext}");
            assert_geometry(&back, &vol, 2e-5 * 300.0);
            let h = header_of(&path);
            assert_eq!(h.datatype, datatype_code(ty));
            assert_eq!(h.bitpix as usize, 8 * ty.size());
            assert_eq!(h.dim, [3, 5, 4, 3, 1, 1, 1, 1]);
            assert_eq!(
                (h.vox_offset, h.xyzt_units, h.big_endian),
                (352.0, 2, false)
            );
            assert_eq!((h.sform_code, h.qform_code), (1, 1));
            assert_eq!(element_type(h.datatype).unwrap(), ty);
        }
        // The .gz file really is gzip and the plain one is not.
        let gz = std::fs::read(dir.file(&format!("v_{:?}.nii.gz", ty))).unwrap();
        let plain = std::fs::read(dir.file(&format!("v_{:?}.nii", ty))).unwrap();
        assert!(gz.starts_with(&[0x1f, 0x8b]) && !plain.starts_with(&[0x1f, 0x8b]));
        assert_eq!(plain.len(), 352 + 60 * ty.size());
    }
}

#[test]
fn written_qform_gives_the_same_affine_as_the_sform() {
    let dir = TempDir::new("qform");
    let mut right_handed = oblique_volume(|i| i as f32);
    right_handed.direction = rotation([0.2, -1.0, 0.5], 2.9);
    for (name, vol) in [
        ("left", oblique_volume(|i| i as f32)),
        ("right", right_handed),
    ] {
        let path = dir.file(&format!("{name}.nii"));
        write(&path, &vol, ElementType::F32).unwrap();
        let h = header_of(&path);
        let sform = ras_affine(&h, &path).unwrap();
        let mut q = h.clone();
        q.sform_code = 0;
        let qform = ras_affine(&q, &path).unwrap();
        assert_eq!(h.pixdim[0], if name == "left" { -1.0 } else { 1.0 });
        for (rs, rq) in sform.iter().zip(&qform) {
            for (s, q) in rs.iter().zip(rq) {
                assert!((s - q).abs() < 1e-4, "{name}: {sform:?} vs {qform:?}");
            }
        }
    }
}

#[test]
fn vector_image_has_5d_dims_intent_and_components_in_order() {
    let dir = TempDir::new("vector");
    let comps: Vec<Volume> = (0..3)
        .map(|c| oblique_volume(|i| (i as f32 - 20.0) * 0.1 + c as f32 * 100.0))
        .collect();
    let refs: Vec<&Volume> = comps.iter().collect();
    for name in ["field.nii", "field.nii.gz"] {
        let path = dir.file(name);
        write_vector(&path, &refs).unwrap();
        let h = header_of(&path);
        assert_eq!(h.dim, [5, 5, 4, 3, 1, 3, 1, 1]);
        assert_eq!(
            (h.intent_code, h.datatype, h.bitpix),
            (INTENT_VECTOR, 16, 32)
        );
        let back = read_vector(&path).unwrap();
        assert_eq!(back.len(), 3);
        for (b, c) in back.iter().zip(&comps) {
            assert_eq!(b.data, c.data);
            assert_geometry(b, c, 1e-3);
        }
        let e = read(&path).unwrap_err().to_string();
        assert!(
            e.contains(name) && e.contains("3 volumes/components"),
            "{e}"
        );
    }
    // One component is still a 5D vector image.
    let path = dir.file("one.nii");
    write_vector(&path, &refs[..1]).unwrap();
    assert_eq!(header_of(&path).dim, [5, 5, 4, 3, 1, 1, 1, 1]);
    assert_eq!(read(&path).unwrap().data, comps[0].data);
}

#[test]
fn sheared_direction_keeps_exact_sform_and_a_rotation_qform() {
    let dir = TempDir::new("shear");
    let mut vol = oblique_volume(|i| i as f32);
    let s = 0.2f64;
    vol.direction[1] = [s, (1.0 - s * s).sqrt(), 0.0];
    vol.direction[0] = [1.0, 0.0, 0.0];
    vol.direction[2] = [0.0, 0.0, 1.0];
    let path = dir.file("shear.nii");
    write(&path, &vol, ElementType::I16).unwrap();
    assert_geometry(&read(&path).unwrap(), &vol, 1e-5 * 300.0);
    let mut q = header_of(&path);
    q.sform_code = 0;
    let m = ras_affine(&q, &path).unwrap();
    for a in 0..3 {
        for b in 0..3 {
            let dot: f64 =
                (0..3).map(|r| m[r][a] * m[r][b]).sum::<f64>() / (vol.spacing[a] * vol.spacing[b]);
            let want = if a == b { 1.0 } else { 0.0 };
            assert!(
                (dot - want).abs() < 1e-5,
                "qform columns not orthonormal: {m:?}"
            );
        }
    }
}
