//! Intensity normalization, mask binarization, the full pipelines and bad inputs.

use super::super::*;
use super::{close, noise, vol};
use crate::data::volume::IDENTITY_DIRECTION;

#[test]
fn normalize_z_scores_then_clips_at_the_middle_row_borders() {
    // 1-D: [2, 0, 4, 6]: mean 3, population variance 5; borders x=0 → -1/√5, x=3 → 3/√5.
    let out = normalize_image(vol(vec![2.0, 0.0, 4.0, 6.0], [1, 1, 4], [1.0; 3]));
    let s = 5f32.sqrt();
    close(&out.data, &[-1.0 / s, -1.0 / s, 1.0 / s, 3.0 / s], 1e-6);
    // [2, 3, 3]: the middle slice is z = 1, its middle row y = 1. Mean 0, std 1, so z-scores
    // equal the values; the clip level is min(-1, 2) = -1, raising only the -3 at [0, 0, 0].
    let mut data = vec![0.0f32; 18];
    let idx = |z: usize, y: usize, x: usize| (z * 3 + y) * 3 + x;
    data[idx(1, 1, 0)] = -1.0;
    data[idx(1, 1, 2)] = 2.0;
    data[idx(0, 0, 0)] = -3.0;
    data[idx(0, 2, 2)] = 2.0;
    let out = normalize_image(vol(data.clone(), [2, 3, 3], [1.0; 3]));
    let mut want = data;
    want[idx(0, 0, 0)] = -1.0;
    close(&out.data, &want, 1e-6);
    // Constant: zeros, not NaN.
    let out = normalize_image(vol(vec![-1000.0; 27], [3, 3, 3], [1.0; 3]));
    assert!(out.data.iter().all(|&v| v == 0.0));
    // Constant up to the rounding of a resampling: zeros too, not a blown-up pattern.
    let rounded: Vec<f32> = (0..27)
        .map(|i| if i % 2 == 0 { -1000.0 } else { -1000.0001 })
        .collect();
    let out = normalize_image(vol(rounded, [3, 3, 3], [1.0; 3]));
    assert!(out.data.iter().all(|&v| v == 0.0), "{:?}", out.data);
}

#[test]
fn normalize_gives_mean_zero_std_one_without_clipping() {
    // Random data whose minimum lies at a middle-row border: the clip changes nothing.
    let mut data = noise(5 * 6 * 7, 11);
    data[(2 * 6 + 3) * 7] = -5000.0;
    let out = normalize_image(vol(data, [5, 6, 7], [1.0; 3]));
    let n = out.data.len() as f64;
    let mean = out.data.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = out
        .data
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    assert!(
        mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5,
        "{mean} {var}"
    );
}

#[test]
fn binarize_keeps_only_lungs() {
    let v = vol(
        vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 3.5, -4.0],
        [1, 1, 9],
        [1.0; 3],
    );
    let want = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0];
    assert_eq!(binarize_mask(v).data, want);
}

#[test]
fn pipelines_produce_the_grid_and_the_steps_in_order() {
    let mut v = vol(noise(6 * 8 * 10, 21), [6, 8, 10], [2.3, 2.3, 3.0]);
    v.origin = [10.0, -20.0, 30.0];
    let img = preprocess_image(&v, [4, 5, 6]).unwrap();
    assert_eq!((img.dims, img.origin), ([4, 5, 6], v.origin));
    let iso = resample_to_spacing(&v, [1.0; 3], Interp::Linear).unwrap();
    assert_eq!(iso.dims, [18, 18, 23]);
    let step = normalize_image(resize_to_grid(&iso, [4, 5, 6], Interp::Linear).unwrap());
    assert_eq!(img, step);
    // The grid's physical extent is the 1 mm volume's: (23 − 1)/(6 − 1) mm along x.
    assert!((img.spacing[0] - 22.0 / 5.0).abs() < 1e-12);
    // A mask whose left half (x < 5) is lung 3, right half airway 5: half ones after the
    // pipeline, split at the same place.
    let mut m = vec![0.0f32; 6 * 8 * 10];
    for (i, l) in m.iter_mut().enumerate() {
        *l = if i % 10 < 5 { 3.0 } else { 5.0 };
    }
    let out = preprocess_mask(&vol(m, [6, 8, 10], [2.3, 2.3, 3.0]), [4, 5, 6]).unwrap();
    for (i, &l) in out.data.iter().enumerate() {
        assert_eq!(l, if i % 6 < 3 { 1.0 } else { 0.0 }, "voxel {i}");
    }
}

#[test]
fn bad_geometry_and_grids_are_errors_not_panics() {
    let v = vol(vec![1.0; 8], [2, 2, 2], [1.0; 3]);
    let e = resample_to_spacing(&v, [0.0, 1.0, 1.0], Interp::Linear).unwrap_err();
    assert!(e.to_string().contains("spacing"), "{e}");
    let e = resample_to_spacing(&v, [1e-9; 3], Interp::Linear).unwrap_err();
    assert!(e.to_string().contains("voxels"), "{e}");
    let e = resize_to_grid(&v, [0, 4, 4], Interp::Nearest).unwrap_err();
    assert!(e.to_string().contains("[0, 4, 4]"), "{e}");
    let mut bad = v.clone();
    bad.spacing = [1.0, f64::NAN, 1.0];
    assert!(preprocess_image(&bad, [2, 2, 2]).is_err());
    let empty = Volume {
        data: vec![],
        dims: [0, 2, 2],
        spacing: [1.0; 3],
        origin: [0.0; 3],
        direction: IDENTITY_DIRECTION,
    };
    assert!(preprocess_mask(&empty, [2, 2, 2]).is_err());
    // Spacing in metres: the whole scan would fit one 1 mm voxel.
    let metres = vol(vec![1.0; 8 * 8 * 4], [4, 8, 8], [0.0021, 0.0021, 0.0034]);
    for e in [
        preprocess_image(&metres, [2, 2, 2]).unwrap_err(),
        preprocess_mask(&metres, [2, 2, 2]).unwrap_err(),
    ] {
        let e = e.to_string();
        assert!(
            e.contains("spans only 0.017 x 0.017 x 0.014 mm") && e.contains("in mm?"),
            "{e}"
        );
    }
}
