//! Displacement fields in physical space (SPEC section 10): on the fixed image's grid, the
//! world displacement `u(x)` (LPS mm) that sends each fixed point `x` to the moving image's
//! point `x + u(x)`: ITK's `DisplacementFieldTransform` convention. Written as a NIfTI vector
//! image with intent DISPVECT, so SimpleITK, ANTs, ITK-SNAP and 3D Slicer load it as a
//! displacement field.

use super::grid::{Grid, nearest, trilinear};
use crate::data::error::DataResult;
use crate::data::volume::Volume;
use std::path::Path;

/// How a volume is sampled when warped: the preprocessing's choice, trilinear for images and
/// nearest for masks.
pub use crate::data::preprocess::Interp;

/// A world displacement field on a grid: `data[3·i + c]` is component `c` (x, y, z, LPS mm) at
/// voxel `i` (array order), as the engine's `[1, D, H, W, 3]` tensors hold it.
#[derive(Clone, Debug, PartialEq)]
pub struct DisplacementField {
    pub grid: Grid,
    pub data: Vec<f32>,
}

impl DisplacementField {
    /// The identity (no displacement) on `grid`.
    pub fn zeros(grid: Grid) -> Self {
        let n = grid.len() * 3;
        DisplacementField {
            grid,
            data: vec![0.0; n],
        }
    }

    /// The field on `grid` whose displacement at world point `p` is `f(p)`.
    pub fn from_fn(grid: Grid, f: impl Fn([f64; 3]) -> [f64; 3] + Sync) -> Self {
        let per_voxel = grid.map_points(|_, p| f(p).map(|c| c as f32));
        DisplacementField {
            grid,
            data: per_voxel.into_iter().flatten().collect(),
        }
    }

    /// The displacement at world point `p`: trilinear between the grid's voxels, the border
    /// values continued outside.
    pub fn sample(&self, p: [f64; 3]) -> [f64; 3] {
        let c = self.grid.world_to_voxel(p);
        let [d, h, w] = self.grid.dims;
        let size = [w, h, d];
        let mut base = [0usize; 3];
        let mut frac = [0f64; 3];
        for a in 0..3 {
            let x = c[a].clamp(0.0, size[a] as f64 - 1.0);
            let i = (x.floor() as usize).min(size[a].saturating_sub(2));
            base[a] = i;
            frac[a] = if size[a] == 1 { 0.0 } else { x - i as f64 };
        }
        let mut u = [0f64; 3];
        for corner in 0..8 {
            let off = [corner & 1, (corner >> 1) & 1, (corner >> 2) & 1];
            let mut weight = 1.0;
            let mut idx = [0usize; 3];
            for a in 0..3 {
                let o = off[a].min(usize::from(size[a] > 1));
                idx[a] = base[a] + o;
                weight *= if off[a] == 1 { frac[a] } else { 1.0 - frac[a] };
            }
            if weight == 0.0 {
                continue;
            }
            let v = ((idx[2] * h + idx[1]) * w + idx[0]) * 3;
            for (k, uk) in u.iter_mut().enumerate() {
                *uk += weight * self.data[v + k] as f64;
            }
        }
        u
    }

    /// Where the registration sends world point `p` of the fixed image: `p + u(p)`.
    pub fn map_point(&self, p: [f64; 3]) -> [f64; 3] {
        let u = self.sample(p);
        [p[0] + u[0], p[1] + u[1], p[2] + u[2]]
    }

    /// `moving` resampled onto the field's grid through the field: the value at fixed voxel
    /// `x` is `moving(x + u(x))`; `outside` where that point is outside `moving`.
    pub fn warp(&self, moving: &Volume, interp: Interp, outside: f32) -> Volume {
        let src = Grid::of(moving);
        let data = self.grid.map_points(|i, p| {
            let q = [
                p[0] + self.data[3 * i] as f64,
                p[1] + self.data[3 * i + 1] as f64,
                p[2] + self.data[3 * i + 2] as f64,
            ];
            let c = src.world_to_voxel(q);
            match interp {
                Interp::Linear => trilinear(moving, c, outside),
                Interp::Nearest => nearest(moving, c, outside),
            }
        });
        self.grid.volume(data)
    }

    /// The map `x ↦ x + u(x)` as sampling coordinates in the grid's own voxel units (x, y, z
    /// per voxel), the form [`crate::metrics::jacobian_determinants`] reads. Its Jacobian
    /// determinant equals the world map's (the change of frame is a similarity).
    pub fn voxel_map(&self) -> Vec<f32> {
        let g = &self.grid;
        let [d, h, w] = g.dims;
        let mut out = Vec::with_capacity(self.data.len());
        for z in 0..d {
            for y in 0..h {
                for x in 0..w {
                    let i = (z * h + y) * w + x;
                    let u = &self.data[3 * i..3 * i + 3];
                    let idx = [x as f64, y as f64, z as f64];
                    for (a, (dir, s)) in g.direction.iter().zip(g.spacing).enumerate() {
                        let proj: f64 = (0..3).map(|k| dir[k] * u[k] as f64).sum();
                        out.push((idx[a] + proj / s) as f32);
                    }
                }
            }
        }
        out
    }

    /// The share of voxels (in %) where the map folds (Jacobian determinant ≤ 0).
    pub fn folding_pct(&self) -> f64 {
        let dets = crate::metrics::jacobian_determinants(&self.voxel_map(), self.grid.dims);
        crate::metrics::folding_pct(&dets)
    }

    /// The three components as scalar volumes on the grid (x, y, z; LPS mm).
    pub fn components(&self) -> [Volume; 3] {
        [0, 1, 2].map(|c| {
            self.grid
                .volume(self.data.iter().skip(c).step_by(3).copied().collect())
        })
    }

    /// Writes the field as a NIfTI displacement image (intent DISPVECT, float32).
    pub fn write_nifti(&self, path: &Path) -> DataResult<()> {
        let [x, y, z] = self.components();
        crate::data::io::nifti::write_displacement(path, &[&x, &y, &z])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        Grid {
            dims: [6, 7, 8],
            spacing: [1.5, 2.0, 2.5],
            origin: [10.0, -20.0, 5.0],
            direction: [[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]],
        }
    }

    #[test]
    fn sampling_is_exact_for_affine_fields_and_warping_follows_the_field() {
        let g = grid();
        let f = |p: [f64; 3]| [0.1 * p[1] + 2.0, -0.05 * p[0], 0.02 * p[2] - 1.0];
        let field = DisplacementField::from_fn(g.clone(), f);
        for ijk in [[0.0, 0.0, 0.0], [3.3, 1.2, 4.9], [7.0, 6.0, 5.0]] {
            let p = g.voxel_to_world(ijk);
            let (got, want) = (field.sample(p), f(p));
            assert!(
                (0..3).all(|k| (got[k] - want[k]).abs() < 1e-4),
                "{got:?} {want:?}"
            );
        }
        // A pure translation by one voxel of a moving image on the same grid shifts it.
        let mut moving = g.volume((0..g.len()).map(|i| i as f32).collect());
        moving.direction = g.direction;
        let one_x = g.direction[0].map(|c| c * g.spacing[0]);
        let shift = DisplacementField::from_fn(g.clone(), |_| one_x);
        let warped = shift.warp(&moving, Interp::Nearest, -1.0);
        assert_eq!(warped.at(2, 3, 4), moving.at(2, 3, 5));
        assert_eq!(warped.at(2, 3, 7), -1.0, "past the last column");
        assert_eq!(shift.folding_pct(), 0.0);
        // A field that reverses x folds everywhere.
        let fold = DisplacementField::from_fn(g.clone(), |p| [-2.0 * (p[0] - 10.0), 0.0, 0.0]);
        assert!(fold.folding_pct() > 99.0);
        let comps = field.components();
        assert_eq!(comps[1].data[5], field.data[3 * 5 + 1]);
    }
}
