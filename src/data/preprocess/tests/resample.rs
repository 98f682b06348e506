//! Resampling and resizing: hand-computed ramps, linear functions, labels and geometry.

use super::super::*;
use super::{close, noise, vol};

#[test]
fn ramp_along_each_axis_is_upsampled_linearly_with_edge_clamp() {
    // 2 mm → 1 mm: size 4 → 8, new i samples old index i/2; i = 7 (3.5) clamps to 3.
    let ramp = vec![0.0, 10.0, 20.0, 30.0];
    let want = [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 30.0];
    for a in 0..3 {
        let mut dims = [1; 3];
        dims[2 - a] = 4;
        let mut spacing = [1.0; 3];
        spacing[a] = 2.0;
        let out = resample_to_spacing(&vol(ramp.clone(), dims, spacing), [1.0; 3], Interp::Linear)
            .unwrap();
        let mut want_dims = [1; 3];
        want_dims[2 - a] = 8;
        assert_eq!(out.dims, want_dims, "axis {a}");
        close(&out.data, &want, 0.0);
        assert_eq!(out.spacing, [1.0; 3]);
    }
}

#[test]
fn downsampling_picks_every_other_voxel_and_rounds_the_size() {
    // 0.5 mm → 1 mm: size round(5·0.5) = round(2.5) = 3, samples old indices 0, 2, 4.
    let v = vol(vec![0.0, 1.0, 2.0, 3.0, 4.0], [1, 1, 5], [0.5, 1.0, 1.0]);
    let out = resample_to_spacing(&v, [1.0; 3], Interp::Linear).unwrap();
    assert_eq!(out.dims, [1, 1, 3]);
    close(&out.data, &[0.0, 2.0, 4.0], 0.0);
    // A tiny axis still keeps one voxel.
    let v = vol(vec![7.0, 9.0], [1, 1, 2], [0.1, 1.0, 1.0]);
    let out = resample_to_spacing(&v, [1.0; 3], Interp::Linear).unwrap();
    assert_eq!((out.dims, out.data), ([1, 1, 1], vec![7.0]));
}

#[test]
fn anisotropic_linear_function_is_reproduced_exactly() {
    // f = 100z + 10y + x on [3, 4, 5] with spacing (x 0.5, y 1, z 2): new dims
    // [round(6), 4, round(2.5)] = [6, 4, 3]; t_x = 2i, t_y = i, t_z = i/2 clamped at 2.
    let (d, h, w) = (3, 4, 5);
    let mut data = Vec::new();
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                data.push((100 * z + 10 * y + x) as f32);
            }
        }
    }
    let out = resample_to_spacing(
        &vol(data, [d, h, w], [0.5, 1.0, 2.0]),
        [1.0; 3],
        Interp::Linear,
    )
    .unwrap();
    assert_eq!(out.dims, [6, 4, 3]);
    let mut want = Vec::new();
    for z in 0..6 {
        for y in 0..4 {
            for x in 0..3 {
                want.push(100.0 * (z as f32 / 2.0).min(2.0) + 10.0 * y as f32 + 2.0 * x as f32);
            }
        }
    }
    close(&out.data, &want, 1e-4);
}

/// Direct trilinear interpolation of `v` at continuous index (x, y, z), clamped per axis.
fn trilinear(v: &Volume, p: [f64; 3]) -> f64 {
    let [d, h, w] = v.dims;
    let n = [w, h, d];
    let mut lo = [0usize; 3];
    let mut hi = [0usize; 3];
    let mut f = [0f64; 3];
    for a in 0..3 {
        let t = p[a].clamp(0.0, (n[a] - 1) as f64);
        lo[a] = t.floor() as usize;
        hi[a] = (lo[a] + 1).min(n[a] - 1);
        f[a] = t - lo[a] as f64;
    }
    let mut acc = 0.0;
    for c in 0..8 {
        let pick = |a: usize| if c >> a & 1 == 1 { hi[a] } else { lo[a] };
        let wgt: f64 = (0..3)
            .map(|a| if c >> a & 1 == 1 { f[a] } else { 1.0 - f[a] })
            .product();
        acc += wgt * v.at(pick(2), pick(1), pick(0)) as f64;
    }
    acc
}

#[test]
fn separable_resampling_matches_direct_trilinear_on_random_data() {
    let v = vol(noise(7 * 6 * 5, 3), [7, 6, 5], [1.7, 0.6, 2.3]);
    let out = resample_to_spacing(&v, [1.0; 3], Interp::Linear).unwrap();
    assert_eq!(out.dims, [16, 4, 9]); // round(16.1), round(3.6), round(8.5)
    let mut want = Vec::new();
    for z in 0..16 {
        for y in 0..4 {
            for x in 0..9 {
                let p = [x as f64 / 1.7, y as f64 / 0.6, z as f64 / 2.3];
                want.push(trilinear(&v, p) as f32);
            }
        }
    }
    close(&out.data, &want, 1e-3);
    // The same for a non-cubic resize, up along one axis and down along another.
    let out = resize_to_grid(&v, [4, 9, 5], Interp::Linear).unwrap();
    let mut want = Vec::new();
    for z in 0..4 {
        for y in 0..9 {
            for x in 0..5 {
                let p = [x as f64, y as f64 * 5.0 / 8.0, z as f64 * 6.0 / 3.0];
                want.push(trilinear(&v, p) as f32);
            }
        }
    }
    close(&out.data, &want, 1e-3);
}

#[test]
fn nearest_resampling_keeps_labels() {
    // Index i/2 rounded half up: 0, 1, 1, 2, 2, 3, 3, 3 (3.5 clamps to 3).
    let v = vol(vec![0.0, 3.0, 4.0, 5.0], [1, 1, 4], [2.0, 1.0, 1.0]);
    let out = resample_to_spacing(&v, [1.0; 3], Interp::Nearest).unwrap();
    assert_eq!(out.data, [0.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0, 5.0]);
    // Random labels through an anisotropic resample and a resize stay in the label set.
    let labels: Vec<f32> = noise(5 * 6 * 7, 9)
        .iter()
        .map(|v| [0.0, 3.0, 4.0, 5.0][(v.abs() as usize) % 4])
        .collect();
    let v = vol(labels, [5, 6, 7], [0.7, 0.7, 2.5]);
    let iso = resample_to_spacing(&v, [1.0; 3], Interp::Nearest).unwrap();
    let out = resize_to_grid(&iso, [8, 3, 5], Interp::Nearest).unwrap();
    assert!(out.data.iter().all(|l| [0.0, 3.0, 4.0, 5.0].contains(l)));
    // Corners map onto corners.
    assert_eq!(out.at(0, 0, 0), v.at(0, 0, 0));
    assert_eq!(
        out.at(7, 2, 4),
        iso.at(iso.dims[0] - 1, iso.dims[1] - 1, iso.dims[2] - 1)
    );
}

#[test]
fn geometry_after_resampling_keeps_voxel_zero_in_place() {
    let mut v = vol(noise(4 * 5 * 6, 1), [4, 5, 6], [0.7, 0.8, 2.5]);
    v.origin = [-120.5, 33.0, -310.25];
    v.direction = [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]];
    let out = resample_to_spacing(&v, [1.0; 3], Interp::Linear).unwrap();
    assert_eq!(out.dims, [10, 4, 4]); // round(4·2.5), round(5·0.8), round(6·0.7)
    assert_eq!(
        (out.origin, out.direction, out.spacing),
        (v.origin, v.direction, [1.0; 3])
    );
    assert_eq!(out.voxel_to_world([0.0; 3]), v.voxel_to_world([0.0; 3]));
    // New voxel (3, 2, 7) lies at the world point of old continuous index (3/0.7, 2/0.8, 7/2.5).
    let a = out.voxel_to_world([3.0, 2.0, 7.0]);
    let b = v.voxel_to_world([3.0 / 0.7, 2.0 / 0.8, 7.0 / 2.5]);
    for (p, q) in a.iter().zip(b) {
        assert!((p - q).abs() < 1e-9);
    }
    // Resize: the last voxel stays on the old last voxel's world point.
    let g = resize_to_grid(&out, [3, 7, 2], Interp::Linear).unwrap();
    assert_eq!(g.origin, v.origin);
    let spacing_want = [1.0 * 3.0 / 1.0, 1.0 * 3.0 / 6.0, 1.0 * 9.0 / 2.0];
    for (s, t) in g.spacing.iter().zip(spacing_want) {
        assert!((s - t).abs() < 1e-12);
    }
    let a = g.voxel_to_world([1.0, 6.0, 2.0]);
    let b = out.voxel_to_world([3.0, 3.0, 9.0]);
    for (p, q) in a.iter().zip(b) {
        assert!((p - q).abs() < 1e-9);
    }
}

#[test]
fn resize_maps_corners_and_handles_size_one() {
    // 3 → 5 along x: index i·2/4 = 0, .5, 1, 1.5, 2; spacing 1 → 0.5 keeps the extent 2 mm.
    let v = vol(vec![0.0, 10.0, 20.0], [1, 1, 3], [1.0; 3]);
    let out = resize_to_grid(&v, [1, 1, 5], Interp::Linear).unwrap();
    close(&out.data, &[0.0, 5.0, 10.0, 15.0, 20.0], 0.0);
    assert_eq!(out.spacing, [0.5, 1.0, 1.0]);
    // Non-cubic linear function: f = 100z + 10y + x on [2, 3, 4] → [3, 5, 2].
    let mut data = Vec::new();
    for z in 0..2 {
        for y in 0..3 {
            for x in 0..4 {
                data.push((100 * z + 10 * y + x) as f32);
            }
        }
    }
    let v = vol(data, [2, 3, 4], [2.0, 3.0, 4.0]);
    let out = resize_to_grid(&v, [3, 5, 2], Interp::Linear).unwrap();
    let mut want = Vec::new();
    for z in 0..3 {
        for y in 0..5 {
            for x in 0..2 {
                want.push(100.0 * z as f32 / 2.0 + 10.0 * y as f32 / 2.0 + 3.0 * x as f32);
            }
        }
    }
    close(&out.data, &want, 1e-4);
    assert_eq!(out.spacing, [2.0 * 3.0, 3.0 * 2.0 / 4.0, 4.0 / 2.0]);
    // Size 1 → 3 repeats the voxel (whole-voxel extent kept); 3 → 1 takes index 0.
    let v = vol(vec![4.0, 8.0, 9.0], [3, 1, 1], [1.0, 1.0, 3.0]);
    let out = resize_to_grid(&v, [1, 3, 1], Interp::Linear).unwrap();
    assert_eq!(
        (out.data, out.spacing),
        (vec![4.0; 3], [1.0, 1.0 / 3.0, 9.0])
    );
    // Same grid: values unchanged.
    let v = vol(noise(24, 5), [2, 3, 4], [1.0; 3]);
    assert_eq!(
        resize_to_grid(&v, [2, 3, 4], Interp::Linear).unwrap().data,
        v.data
    );
}

#[test]
fn an_absurd_spacing_is_refused_saying_which_size_overflowed() {
    let v = vol(noise(2 * 3 * 4, 1), [2, 3, 4], [1.0, 1.0, 1e300]);
    let e = resample_to_spacing(&v, [1.0; 3], Interp::Linear)
        .unwrap_err()
        .to_string();
    assert!(e.contains("dims [(overflow), 3, 4]"), "{e}");
}
