//! Hand-made files (byte layout, big-endian, qform-only, pixdim-only, scaled, 4D/5D,
//! extensions) decoded and checked against values and geometry computed by hand.

use super::super::header::{HEADER_SIZE, Header};
use super::{assert_geometry, base_header, decode_bytes, nii_bytes};
use crate::data::volume::Volume;
use std::path::Path;

#[test]
fn sform_maps_to_lps_geometry_in_image_axis_order() {
    // RAS affine: x axis points to -R (so +L), y to +A, z to +S; origin (10, 20, -30).
    let mut h = base_header([5, 4, 3], 4, 16);
    h.sform_code = 2;
    h.srow = [
        [-0.7, 0.0, 0.0, 10.0],
        [0.0, 0.8, 0.0, 20.0],
        [0.0, 0.0, 2.5, -30.0],
    ];
    let data: Vec<u8> = (0..60i16).flat_map(|v| (v * 3).to_le_bytes()).collect();
    let vol = decode_bytes(&nii_bytes(&h, &data)).unwrap();
    assert_eq!(vol.dims, [3, 4, 5]);
    assert_eq!(
        vol.spacing.map(|s| (s * 1e4).round() / 1e4),
        [0.7, 0.8, 2.5]
    );
    assert_eq!(
        vol.direction,
        [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]]
    );
    assert_eq!(vol.origin, [-10.0, -20.0, -30.0]);
    // Voxel (x=4, y=1, z=2) is value index 4 + 5·(1 + 4·2) = 49.
    assert_eq!(vol.at(2, 1, 4), 147.0);
    let w = vol.voxel_to_world([4.0, 1.0, 2.0]);
    let ras = [10.0 - 0.7 * 4.0, 20.0 + 0.8, -30.0 + 5.0];
    for (lps, r) in w.iter().zip([-ras[0], -ras[1], ras[2]]) {
        assert!((lps - r).abs() < 1e-5, "{w:?} vs RAS {ras:?}");
    }
}

#[test]
fn header_fields_sit_at_the_standard_offsets_in_both_byte_orders() {
    let mut h = base_header([5, 4, 3], 16, 32);
    h.srow[0][0] = 1.5;
    h.vox_offset = 352.0;
    let le = h.encode();
    assert_eq!(le.len(), HEADER_SIZE);
    assert_eq!(&le[0..4], &348i32.to_le_bytes());
    assert_eq!(&le[40..44], &[3, 0, 5, 0]);
    assert_eq!(&le[70..72], &16i16.to_le_bytes());
    assert_eq!(&le[108..112], &352f32.to_le_bytes());
    assert_eq!(&le[280..284], &1.5f32.to_le_bytes());
    assert_eq!(&le[344..348], b"n+1\0");
    h.big_endian = true;
    let be = h.encode();
    assert_eq!(&be[0..4], &[0, 0, 1, 0x5c]);
    assert_eq!(&be[40..44], &[0, 3, 0, 5]);
    assert_eq!(&be[108..112], &352f32.to_be_bytes());
    assert_eq!(Header::parse(&be, Path::new("b")).unwrap(), h);
}

#[test]
fn big_endian_files_are_read_in_full() {
    let mut h = base_header([5, 4, 3], 4, 16);
    h.big_endian = true;
    h.qform_code = 1;
    h.quatern = [0.0, 0.0, std::f32::consts::FRAC_1_SQRT_2];
    h.qoffset = [1.0, 2.0, 3.0];
    h.pixdim = [1.0, 2.0, 3.0, 4.0, 1.0, 1.0, 1.0, 1.0];
    h.scl_slope = 0.5;
    h.scl_inter = 1.0;
    let data: Vec<u8> = (0..60i16)
        .flat_map(|v| (v * 100 - 3000).to_be_bytes())
        .collect();
    let vol = decode_bytes(&nii_bytes(&h, &data)).unwrap();
    let want: Vec<f32> = (0..60)
        .map(|v| (v * 100 - 3000) as f32 * 0.5 + 1.0)
        .collect();
    assert_eq!(vol.data, want);
    // 90° about z: x axis → +A (RAS y), y axis → −R; in LPS: x → −P... negate rows 0, 1.
    assert!((vol.spacing[0] - 2.0).abs() < 1e-6 && (vol.spacing[2] - 4.0).abs() < 1e-6);
    let d = vol.direction;
    let want_dir = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]];
    for a in 0..3 {
        for r in 0..3 {
            assert!((d[a][r] - want_dir[a][r]).abs() < 1e-6, "{d:?}");
        }
    }
    assert_eq!(vol.origin, [-1.0, -2.0, 3.0]);
    // Float64 big-endian too.
    let mut h = base_header([5, 4, 3], 64, 64);
    h.big_endian = true;
    let data: Vec<u8> = (0..60)
        .flat_map(|v| (v as f64 * 0.25).to_be_bytes())
        .collect();
    let vol = decode_bytes(&nii_bytes(&h, &data)).unwrap();
    assert_eq!(
        vol.data,
        (0..60).map(|v| v as f32 * 0.25).collect::<Vec<_>>()
    );
}

#[test]
fn qform_only_file_uses_quaternion_qfac_and_offset() {
    let mut h = base_header([5, 4, 3], 16, 32);
    h.qform_code = 1;
    h.quatern = [0.0, 0.0, std::f32::consts::FRAC_1_SQRT_2];
    h.qoffset = [-5.0, 6.0, 7.0];
    h.pixdim = [-1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0];
    // Garbage srow with sform_code 0 must be ignored.
    h.srow = [[9.0; 4]; 3];
    let data: Vec<u8> = (0..60).flat_map(|v| (v as f32).to_le_bytes()).collect();
    let vol = decode_bytes(&nii_bytes(&h, &data)).unwrap();
    // RAS columns: x → (0, 2, 0), y → (−3, 0, 0), z → (0, 0, −4) (qfac −1).
    let want = Volume {
        data: vol.data.clone(),
        dims: [3, 4, 5],
        spacing: [2.0, 3.0, 4.0],
        origin: [5.0, -6.0, 7.0],
        direction: [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]],
    };
    assert_geometry(&vol, &want, 1e-6);
    // A sform (code > 0) wins over a garbage qform.
    h.sform_code = 1;
    h.srow = [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
    ];
    h.quatern = [5.0, 7.0, -3.0];
    let vol = decode_bytes(&nii_bytes(&h, &data)).unwrap();
    assert_eq!(
        vol.direction,
        [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]]
    );
}

#[test]
fn pixdim_only_file_uses_diagonal_affine_with_zero_origin() {
    let mut h = base_header([5, 4, 3], 2, 8);
    h.pixdim = [0.0, 0.5, 0.75, 3.0, 1.0, 1.0, 1.0, 1.0];
    h.quatern = [0.3, 0.3, 0.3]; // ignored: qform_code 0
    let vol = decode_bytes(&nii_bytes(&h, &[7u8; 60])).unwrap();
    assert_eq!(vol.spacing, [0.5, 0.75, 3.0]);
    assert_eq!(vol.origin, [0.0, 0.0, 0.0]);
    assert_eq!(
        vol.direction,
        [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]]
    );
    assert_eq!(vol.data, vec![7.0; 60]);
}

#[test]
fn scl_slope_and_inter_apply_unless_slope_is_zero_or_nan() {
    let data: Vec<u8> = (0..60i16).flat_map(|v| (v - 30).to_le_bytes()).collect();
    let raw: Vec<f32> = (0..60).map(|v| (v - 30) as f32).collect();
    for (slope, inter, want) in [
        (
            2.5f32,
            -10.0f32,
            raw.iter().map(|v| v * 2.5 - 10.0).collect::<Vec<_>>(),
        ),
        (0.0, 5.0, raw.clone()),
        (f32::NAN, 5.0, raw.clone()),
        (1.0, 0.5, raw.iter().map(|v| v + 0.5).collect()),
    ] {
        let mut h = base_header([5, 4, 3], 4, 16);
        (h.scl_slope, h.scl_inter) = (slope, inter);
        assert_eq!(
            decode_bytes(&nii_bytes(&h, &data)).unwrap().data,
            want,
            "{slope}"
        );
    }
    let mut h = base_header([5, 4, 3], 4, 16);
    (h.scl_slope, h.scl_inter) = (2.0, f32::NAN);
    let e = decode_bytes(&nii_bytes(&h, &data)).unwrap_err().to_string();
    assert!(e.contains("mem.nii") && e.contains("scl_inter NaN"), "{e}");
}

#[test]
fn single_volume_4d_and_5d_files_read_but_several_volumes_do_not() {
    let data = [1u8; 120];
    let mut h = base_header([5, 4, 3], 2, 8);
    h.dim = [4, 5, 4, 3, 1, 9, 9, 9];
    assert_eq!(decode_bytes(&nii_bytes(&h, &data)).unwrap().dims, [3, 4, 5]);
    h.dim = [5, 5, 4, 3, 1, 1, 9, 9];
    assert_eq!(decode_bytes(&nii_bytes(&h, &data)).unwrap().dims, [3, 4, 5]);
    for dim in [
        [4, 5, 4, 3, 2, 1, 1, 1],
        [5, 5, 4, 3, 1, 2, 1, 1],
        [6, 5, 4, 3, 1, 1, 1, 1],
    ] {
        h.dim = dim;
        let e = decode_bytes(&nii_bytes(&h, &data)).unwrap_err().to_string();
        assert!(
            e.contains("mem.nii") && e.contains(&format!("{dim:?}")),
            "{e}"
        );
    }
}

#[test]
fn vox_offset_is_honoured_past_an_extension() {
    let mut h = base_header([5, 4, 3], 2, 8);
    h.vox_offset = 432.0;
    let mut b = h.encode();
    b.extend_from_slice(&[1, 0, 0, 0]); // extension flag
    b.extend_from_slice(&80i32.to_le_bytes()); // esize
    b.extend_from_slice(&4i32.to_le_bytes()); // ecode
    b.resize(432, 0xAB);
    b.extend((0..60u8).map(|v| v * 2));
    let vol = decode_bytes(&b).unwrap();
    assert_eq!(
        vol.data,
        (0..60).map(|v| v as f32 * 2.0).collect::<Vec<_>>()
    );
}
