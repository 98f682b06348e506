//! A network's prediction as a map in physical space.
//!
//! The network registers a pair on its own grid: each scan preprocessed to `[D, H, W]`
//! voxels covering its own field of view (SPEC 5.3), so the source's grid and the target's
//! are two different boxes in the world. Its output is a sampling grid: target grid voxel `g`
//! takes the source grid's value at `g + d(g)` (voxels). With `T` the target grid's voxel →
//! world map and `S` the source grid's, the world map is `x ↦ S(T⁻¹x + d(T⁻¹x))`: the affine
//! map `S∘T⁻¹` between the two boxes plus the displacement `S`'s linear part turns `d` into,
//! trilinear on the target grid. That holds for any two scans, whatever their origins, fields
//! of view and spacings, which the network grid's `d × spacing` alone does only when both
//! scans cover the same box.

use super::field::DisplacementField;
use super::grid::Grid;
use super::optimize::{Affine, Solution};
use crate::data::error::DataResult;
use crate::data::preprocess::{Interp, reorient_to_identity, to_one_mm};
use crate::data::volume::Volume;

/// The grid a scan has on the network grid `dims` after preprocessing (SPEC 5.3): the
/// geometry of [`crate::data::preprocess::preprocess_image`]'s result, computed from the
/// header (reorientation, 1 mm, then corner-aligned onto `dims`) without resampling values.
pub fn network_grid(scan: &Volume, dims: [usize; 3]) -> DataResult<Grid> {
    let turned = reorient_to_identity(scan);
    let mut spacing = [0.0; 3];
    for a in 0..3 {
        let extent = turned.dims[2 - a] as f64 * turned.spacing[a];
        if !(extent.is_finite() && extent >= 2.0) {
            // The pipeline's own error for a scan it cannot preprocess.
            to_one_mm(scan, Interp::Nearest)?;
        }
        let iso = (extent.round() as usize).max(1);
        let new = dims[2 - a];
        spacing[a] = if iso > 1 && new > 1 {
            (iso - 1) as f64 / (new - 1) as f64
        } else {
            iso as f64 / new as f64
        };
    }
    Ok(Grid {
        dims,
        spacing,
        origin: turned.origin,
        direction: turned.direction,
    })
}

/// The world map of a network's sampling grid (`[D, H, W, 3]` interleaved, x, y, z in source
/// grid voxels, as [`crate::models::NetOutputs::grid`] holds it) between a target whose
/// network grid is `target` and a source whose network grid is `source`, as a [`Solution`]
/// about `centre` (the fixed scan's centre): the boxes' affine map, the network's displacement
/// as its prior, and a zero dense part on `dense_grid`.
pub fn network_solution(
    sampling: &[f32],
    target: &Grid,
    source: &Grid,
    centre: [f64; 3],
    dense_grid: Grid,
) -> Solution {
    let affine = Affine::from_map(centre, |p| source.voxel_to_world(target.world_to_voxel(p)));
    let origin = source.voxel_to_world([0.0; 3]);
    let [d, h, w] = target.dims;
    let mut data = vec![0f32; 3 * target.len()];
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                let i = (z * h + y) * w + x;
                let s = &sampling[3 * i..3 * i + 3];
                let disp = [
                    s[0] as f64 - x as f64,
                    s[1] as f64 - y as f64,
                    s[2] as f64 - z as f64,
                ];
                let q = source.voxel_to_world(disp);
                for c in 0..3 {
                    data[3 * i + c] = (q[c] - origin[c]) as f32;
                }
            }
        }
    }
    Solution {
        affine,
        prior: Some(DisplacementField {
            grid: target.clone(),
            data,
        }),
        dense: DisplacementField::zeros(dense_grid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(dims: [usize; 3], spacing: [f64; 3], origin: [f64; 3]) -> Grid {
        Grid {
            dims,
            spacing,
            origin,
            direction: crate::data::volume::IDENTITY_DIRECTION,
        }
    }

    #[test]
    fn the_identity_sampling_grid_maps_the_target_box_onto_the_source_box() {
        // Two scans of different boxes: the network's identity maps corner to corner.
        let t = grid([4, 5, 6], [2.0, 3.0, 4.0], [-10.0, 5.0, 0.0]);
        let s = grid([4, 5, 6], [1.0, 1.5, 3.0], [20.0, -5.0, 7.0]);
        let [d, h, w] = t.dims;
        let mut sampling = vec![];
        for z in 0..d {
            for y in 0..h {
                for x in 0..w {
                    sampling.extend([x as f32, y as f32, z as f32]);
                }
            }
        }
        let zero = grid([2, 2, 2], [50.0; 3], [-20.0, -20.0, -20.0]);
        let sol = network_solution(&sampling, &t, &s, t.centre(), zero);
        for ijk in [[0.0, 0.0, 0.0], [5.0, 4.0, 3.0], [2.5, 1.25, 0.5]] {
            let got = sol.map_point(t.voxel_to_world(ijk));
            let want = s.voxel_to_world(ijk);
            for c in 0..3 {
                assert!(
                    (got[c] - want[c]).abs() < 1e-4,
                    "{ijk:?}: {got:?} vs {want:?}"
                );
            }
        }
    }

    #[test]
    fn a_shift_in_source_voxels_becomes_world_millimetres_of_the_source_grid() {
        let t = grid([3, 3, 3], [1.0; 3], [0.0; 3]);
        let s = grid([3, 3, 3], [2.0, 3.0, 5.0], [0.0; 3]);
        let mut sampling = vec![];
        for z in 0..3 {
            for y in 0..3 {
                for x in 0..3 {
                    sampling.extend([x as f32 + 0.5, y as f32, z as f32 - 0.25]);
                }
            }
        }
        let zero = grid([1, 1, 1], [10.0; 3], [0.0; 3]);
        let sol = network_solution(&sampling, &t, &s, t.centre(), zero);
        let got = sol.map_point([1.0, 1.0, 1.0]);
        // Target voxel (1,1,1) samples source voxel (1.5, 1, 0.75).
        let want = [3.0, 3.0, 3.75];
        for c in 0..3 {
            assert!((got[c] - want[c]).abs() < 1e-4, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn network_grids_are_the_geometry_preprocessing_gives() {
        use crate::data::preprocess::preprocess_image;
        let mut scan = Volume {
            data: (0..7 * 9 * 11).map(|i| (i % 13) as f32).collect(),
            dims: [7, 9, 11],
            spacing: [1.7, 0.9, 3.2],
            origin: [10.0, -4.0, 30.0],
            direction: [[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]],
        };
        for _ in 0..2 {
            let want = Grid::of(&preprocess_image(&scan, [5, 6, 4]).unwrap());
            let got = network_grid(&scan, [5, 6, 4]).unwrap();
            assert_eq!(got.dims, want.dims);
            for a in 0..3 {
                assert!(
                    (got.spacing[a] - want.spacing[a]).abs() < 1e-12,
                    "{got:?} {want:?}"
                );
                assert!(
                    (got.origin[a] - want.origin[a]).abs() < 1e-9,
                    "{got:?} {want:?}"
                );
            }
            assert_eq!(got.direction, want.direction);
            scan.direction = crate::data::volume::IDENTITY_DIRECTION;
        }
    }
}
