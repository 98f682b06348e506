//! `Volume`: a 3D scalar image as `f32` values on a `[D, H, W]` grid, with its physical
//! geometry, and the voxel ↔ world mapping.
//!
//! Geometry follows ITK (and so MetaImage and LUNA16's annotations): world coordinates are in
//! millimetres in the LPS frame, and `spacing`, `origin` and `direction` are given in image-axis
//! order (x, y, z) = (W, H, D) — the reverse of the array order. NIfTI (RAS) is converted to
//! and from this frame by its reader and writer.

use crate::data::error::{DataError, DataResult};
use std::path::Path;

/// A scalar volume and its geometry.
#[derive(Clone, Debug, PartialEq)]
pub struct Volume {
    /// Values in array order: index `(z·H + y)·W + x`.
    pub data: Vec<f32>,
    /// Array shape `[D, H, W]`.
    pub dims: [usize; 3],
    /// Voxel size in mm along image axes (x, y, z).
    pub spacing: [f64; 3],
    /// World position (LPS, mm) of voxel `(0, 0, 0)`.
    pub origin: [f64; 3],
    /// `direction[a]` is the world unit vector of image axis `a` (x, y, z); identity for the
    /// common case, flipped axes occur in LUNA16.
    pub direction: [[f64; 3]; 3],
}

/// The identity direction matrix.
pub const IDENTITY_DIRECTION: [[f64; 3]; 3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

impl Volume {
    /// A volume with unit spacing, zero origin and identity direction. `path` only names the
    /// source in the error if `data` does not fit `dims`.
    pub fn new(data: Vec<f32>, dims: [usize; 3], path: &Path) -> DataResult<Self> {
        let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if n != Some(data.len()) {
            return Err(DataError::format(
                path,
                format!("{} values cannot fill a {dims:?} volume", data.len()),
            ));
        }
        Ok(Volume {
            data,
            dims,
            spacing: [1.0; 3],
            origin: [0.0; 3],
            direction: IDENTITY_DIRECTION,
        })
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the volume has no voxels.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The value at array index `[z, y, x]`.
    pub fn at(&self, z: usize, y: usize, x: usize) -> f32 {
        self.data[(z * self.dims[1] + y) * self.dims[2] + x]
    }

    /// World position (LPS mm) of a continuous voxel index given as (x, y, z).
    pub fn voxel_to_world(&self, ijk: [f64; 3]) -> [f64; 3] {
        let mut p = self.origin;
        for (a, dir) in self.direction.iter().enumerate() {
            let step = ijk[a] * self.spacing[a];
            for (pw, dw) in p.iter_mut().zip(dir) {
                *pw += dw * step;
            }
        }
        p
    }

    /// Continuous voxel index (x, y, z) of a world position (LPS mm). Exact inverse of
    /// [`Volume::voxel_to_world`] for an orthonormal direction matrix.
    pub fn world_to_voxel(&self, world: [f64; 3]) -> [f64; 3] {
        let d = [
            world[0] - self.origin[0],
            world[1] - self.origin[1],
            world[2] - self.origin[2],
        ];
        let mut ijk = [0.0; 3];
        for (a, dir) in self.direction.iter().enumerate() {
            let proj: f64 = dir.iter().zip(&d).map(|(u, v)| u * v).sum();
            ijk[a] = proj / self.spacing[a];
        }
        ijk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_and_voxel_coordinates_round_trip_with_flipped_axes() {
        let mut v = Volume::new(vec![0.0; 24], [2, 3, 4], Path::new("t")).unwrap();
        v.spacing = [0.7, 0.8, 2.5];
        v.origin = [-100.0, 50.0, -300.0];
        v.direction = [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]];
        let w = v.voxel_to_world([2.0, 1.0, 1.0]);
        assert_eq!(w, [-100.0 - 1.4, 50.0 - 0.8, -300.0 + 2.5]);
        let back = v.world_to_voxel(w);
        for (a, b) in back.iter().zip([2.0, 1.0, 1.0]) {
            assert!((a - b).abs() < 1e-12);
        }
        let e = Volume::new(vec![0.0; 5], [2, 3, 4], Path::new("scan.mhd")).unwrap_err();
        assert!(e.to_string().contains("scan.mhd") && e.to_string().contains("5 values"));
    }
}
