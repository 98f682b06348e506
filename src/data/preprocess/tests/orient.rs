//! Reorientation: every voxel keeps its world position and value; only signed-permutation
//! directions are changed; the whole pipeline gives the same result for a scan stored flipped.

use super::{noise, vol};
use crate::data::preprocess::{preprocess_image, preprocess_mask, reorient_to_identity};
use crate::data::volume::{IDENTITY_DIRECTION, Volume};

/// World position of array voxel `[z, y, x]`.
fn world(v: &Volume, [z, y, x]: [usize; 3]) -> [f64; 3] {
    let idx = [x as f64, y as f64, z as f64];
    let mut p = v.origin;
    for (a, i) in idx.iter().enumerate() {
        for (w, pw) in p.iter_mut().enumerate() {
            *pw += v.direction[a][w] * v.spacing[a] * i;
        }
    }
    p
}

fn sample(direction: [[f64; 3]; 3]) -> Volume {
    let mut v = vol(noise(3 * 4 * 5, 7), [3, 4, 5], [0.7, 0.8, 2.5]);
    v.origin = [10.0, -20.0, 30.0];
    v.direction = direction;
    v
}

/// Every voxel of `old` is found in `new` (identity direction) at its world position.
fn same_world_values(old: &Volume, new: &Volume) {
    assert_eq!(new.direction, IDENTITY_DIRECTION);
    let [d, h, w] = old.dims;
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                let p = world(old, [z, y, x]);
                let i: Vec<usize> = (0..3)
                    .map(|a| {
                        let f = (p[a] - new.origin[a]) / new.spacing[a];
                        assert!((f - f.round()).abs() < 1e-9 && f > -0.5, "axis {a}: {f}");
                        f.round() as usize
                    })
                    .collect();
                assert_eq!(
                    new.at(i[2], i[1], i[0]),
                    old.at(z, y, x),
                    "voxel {:?}",
                    [z, y, x]
                );
            }
        }
    }
}

#[test]
fn flipped_and_swapped_axes_are_undone_keeping_world_positions() {
    let flipped_xy = [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]];
    // Image x runs along world z, image y backwards along world x, image z along world y.
    let swapped = [[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
    for direction in [flipped_xy, swapped] {
        let old = sample(direction);
        let new = reorient_to_identity(&old);
        same_world_values(&old, &new);
        assert_eq!(new.data.len(), old.data.len());
    }
    let new = reorient_to_identity(&sample(swapped));
    assert_eq!(new.dims, [5, 3, 4], "new z, y, x: the old x, z, y sizes");
    assert_eq!(new.spacing, [0.8, 2.5, 0.7]);
}

#[test]
fn identity_and_oblique_directions_are_left_alone() {
    let id = sample(IDENTITY_DIRECTION);
    assert_eq!(reorient_to_identity(&id), id);
    let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
    let oblique = sample([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]]);
    assert_eq!(reorient_to_identity(&oblique), oblique);
    // Nearly axis-aligned within 1e-6 counts as aligned (header round-off).
    let mut almost = sample([[-1.0, 1e-9, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
    almost.direction[0][0] = -1.0 + 1e-9;
    assert_eq!(reorient_to_identity(&almost).direction, IDENTITY_DIRECTION);
}

/// `a · b` for 3×3 matrices.
fn matmul(a: [[f64; 3]; 3], b: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

#[test]
fn an_oblique_volume_goes_to_its_nearest_axis_aligned_orientation_keeping_its_tilt() {
    // The swapped scan of the test above, tilted 20° about world z.
    let swapped = [[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
    let (c, s) = (20f64.to_radians().cos(), 20f64.to_radians().sin());
    let tilt = [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]];
    let old = sample(matmul(swapped, tilt));
    let new = reorient_to_identity(&old);
    // The voxels move as for the untilted scan: same array, sizes and spacing.
    let straight = reorient_to_identity(&sample(swapped));
    assert_eq!(
        (&new.data, new.dims, new.spacing),
        (&straight.data, straight.dims, straight.spacing)
    );
    // The tilt stays in the direction (now nearest the identity), and every corner keeps its
    // world position.
    assert_eq!(new.direction, tilt);
    let corners = |v: &Volume| -> Vec<[f64; 3]> {
        let [d, h, w] = v.dims;
        let mut p: Vec<[f64; 3]> = (0..8)
            .map(|i| {
                world(
                    v,
                    [
                        (i & 1) * (d - 1),
                        (i >> 1 & 1) * (h - 1),
                        (i >> 2) * (w - 1),
                    ],
                )
            })
            .map(|q| q.map(|x| (x * 1e6).round() / 1e6))
            .collect();
        p.sort_by(|a, b| a.partial_cmp(b).unwrap());
        p
    };
    assert_eq!(corners(&new), corners(&old));
    // An axis at 45° between two world axes has no nearest orientation: left as it is.
    let h = 45f64.to_radians().cos();
    let diagonal = sample([[h, h, 0.0], [-h, h, 0.0], [0.0, 0.0, 1.0]]);
    assert_eq!(reorient_to_identity(&diagonal), diagonal);
}

#[test]
fn the_pipeline_gives_the_same_volume_for_a_scan_stored_flipped() {
    let upright = {
        let mut v = vol(noise(6 * 7 * 9, 3), [6, 7, 9], [0.7, 0.9, 2.0]);
        v.origin = [-5.0, 4.0, 1.0];
        v
    };
    // The same scan stored with x and y running backwards: array flipped, origin at the far
    // corner.
    let [d, h, w] = upright.dims;
    let mut data = Vec::with_capacity(upright.data.len());
    for z in 0..d {
        for y in (0..h).rev() {
            for x in (0..w).rev() {
                data.push(upright.at(z, y, x));
            }
        }
    }
    let mut flipped = vol(data, upright.dims, upright.spacing);
    flipped.origin = [
        upright.origin[0] + (w - 1) as f64 * 0.7,
        upright.origin[1] + (h - 1) as f64 * 0.9,
        upright.origin[2],
    ];
    flipped.direction = [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]];
    assert_eq!(reorient_to_identity(&flipped), upright);
    let grid = [4, 5, 6];
    assert_eq!(
        preprocess_image(&flipped, grid).unwrap(),
        preprocess_image(&upright, grid).unwrap()
    );
    let labels = |v: &Volume| {
        let mut m = v.clone();
        m.data = v
            .data
            .iter()
            .map(|x| if *x > 0.0 { 3.0 } else { 0.0 })
            .collect();
        m
    };
    assert_eq!(
        preprocess_mask(&labels(&flipped), grid).unwrap(),
        preprocess_mask(&labels(&upright), grid).unwrap()
    );
}
