//! Grids in physical space and host-side resampling: a volume's voxel ↔ world map as a value,
//! the same box at another spacing (the optimization's pyramid levels), trilinear and nearest
//! sampling at world points, separable Gaussian smoothing, and robust intensity scaling.

use crate::data::volume::Volume;
use rayon::prelude::*;

/// A voxel grid in world space (ITK conventions, as [`Volume`]): array shape `[D, H, W]`,
/// spacing, origin and direction along image axes (x, y, z).
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub dims: [usize; 3],
    pub spacing: [f64; 3],
    pub origin: [f64; 3],
    /// `direction[a]`: the world unit vector of image axis `a`.
    pub direction: [[f64; 3]; 3],
}

impl Grid {
    /// The grid of `v`.
    pub fn of(v: &Volume) -> Grid {
        Grid {
            dims: v.dims,
            spacing: v.spacing,
            origin: v.origin,
            direction: v.direction,
        }
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// True for a grid without voxels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// World position of continuous voxel index `ijk` = (x, y, z).
    pub fn voxel_to_world(&self, ijk: [f64; 3]) -> [f64; 3] {
        let mut p = self.origin;
        for ((i, s), dir) in ijk.iter().zip(self.spacing).zip(&self.direction) {
            for (pw, dw) in p.iter_mut().zip(dir) {
                *pw += dw * i * s;
            }
        }
        p
    }

    /// Continuous voxel index (x, y, z) of world point `p` (orthonormal direction).
    pub fn world_to_voxel(&self, p: [f64; 3]) -> [f64; 3] {
        let d = [
            p[0] - self.origin[0],
            p[1] - self.origin[1],
            p[2] - self.origin[2],
        ];
        [0, 1, 2].map(|a| {
            let proj: f64 = (0..3).map(|w| self.direction[a][w] * d[w]).sum();
            proj / self.spacing[a]
        })
    }

    /// The world centre of the grid's box.
    pub fn centre(&self) -> [f64; 3] {
        self.voxel_to_world([0, 1, 2].map(|a| (self.dims[2 - a] as f64 - 1.0) / 2.0))
    }

    /// The same box (same direction and centre, each axis's extent `n·spacing` kept as
    /// closely as whole voxels allow) at spacing `s` mm along every axis, or the grid's own
    /// spacing along an axis already coarser than `s`.
    pub fn at_spacing(&self, s: f64) -> Grid {
        let mut dims = self.dims;
        let mut spacing = self.spacing;
        for a in 0..3 {
            if self.spacing[a] < s {
                let extent = self.dims[2 - a] as f64 * self.spacing[a];
                let n = (extent / s).round().max(1.0) as usize;
                dims[2 - a] = n;
                spacing[a] = extent / n as f64;
            }
        }
        let mut g = Grid {
            dims,
            spacing,
            origin: [0.0; 3],
            direction: self.direction,
        };
        // Place the box so its centre is the original's.
        let c = self.centre();
        let c0 = g.centre();
        g.origin = [c[0] - c0[0], c[1] - c0[1], c[2] - c0[2]];
        g
    }

    /// A volume of `data` on this grid.
    pub fn volume(&self, data: Vec<f32>) -> Volume {
        Volume {
            data,
            dims: self.dims,
            spacing: self.spacing,
            origin: self.origin,
            direction: self.direction,
        }
    }

    /// Calls `f(i, p)` for every voxel, `i` its array index and `p` its world position,
    /// collecting the results in array order (in parallel by slice).
    pub fn map_points<T: Send + Copy + Default>(
        &self,
        f: impl Fn(usize, [f64; 3]) -> T + Sync,
    ) -> Vec<T> {
        let [d, h, w] = self.dims;
        let mut out = vec![T::default(); d * h * w];
        out.par_chunks_mut((h * w).max(1))
            .enumerate()
            .for_each(|(z, slice)| {
                for y in 0..h {
                    for x in 0..w {
                        let i = y * w + x;
                        let p = self.voxel_to_world([x as f64, y as f64, z as f64]);
                        slice[i] = f((z * h + y) * w + x, p);
                    }
                }
            });
        out
    }
}

/// Trilinear interpolation of `v` at continuous voxel index `c` = (x, y, z); `outside` beyond
/// the grid (a point within half a voxel of the border is clamped onto it).
pub fn trilinear(v: &Volume, c: [f64; 3], outside: f32) -> f32 {
    let [d, h, w] = v.dims;
    let size = [w, h, d];
    let mut base = [0usize; 3];
    let mut frac = [0f64; 3];
    for a in 0..3 {
        let n = size[a] as f64;
        if !(c[a] >= -0.5 && c[a] <= n - 0.5) {
            return outside;
        }
        let x = c[a].clamp(0.0, n - 1.0);
        let i = (x.floor() as usize).min(size[a].saturating_sub(2));
        base[a] = i;
        frac[a] = if size[a] == 1 { 0.0 } else { x - i as f64 };
    }
    let at = |x: usize, y: usize, z: usize| v.data[(z * h + y) * w + x] as f64;
    let step = |a: usize| usize::from(size[a] > 1);
    let (x0, y0, z0) = (base[0], base[1], base[2]);
    let (x1, y1, z1) = (x0 + step(0), y0 + step(1), z0 + step(2));
    let [fx, fy, fz] = frac;
    let lerp = |a: f64, b: f64, t: f64| a + (b - a) * t;
    let c00 = lerp(at(x0, y0, z0), at(x1, y0, z0), fx);
    let c10 = lerp(at(x0, y1, z0), at(x1, y1, z0), fx);
    let c01 = lerp(at(x0, y0, z1), at(x1, y0, z1), fx);
    let c11 = lerp(at(x0, y1, z1), at(x1, y1, z1), fx);
    lerp(lerp(c00, c10, fy), lerp(c01, c11, fy), fz) as f32
}

/// The value of `v` at the voxel nearest to continuous index `c`; `outside` beyond the grid.
pub fn nearest(v: &Volume, c: [f64; 3], outside: f32) -> f32 {
    let [d, h, w] = v.dims;
    let size = [w, h, d];
    let mut idx = [0usize; 3];
    for a in 0..3 {
        let r = c[a].round();
        if !(r >= 0.0 && r <= size[a] as f64 - 1.0) {
            return outside;
        }
        idx[a] = r as usize;
    }
    v.data[(idx[2] * h + idx[1]) * w + idx[0]]
}

/// `v` resampled onto `grid` by trilinear interpolation (`outside` beyond `v`'s grid).
pub fn resample_onto(v: &Volume, grid: &Grid, outside: f32) -> Volume {
    let src = Grid::of(v);
    grid.volume(grid.map_points(|_, p| trilinear(v, src.world_to_voxel(p), outside)))
}

/// Separable Gaussian smoothing with standard deviation `sigma_mm` (in mm, along every axis),
/// borders clamped. Axes whose spacing exceeds `2·sigma_mm` are left alone.
pub fn gaussian_smooth(v: &Volume, sigma_mm: f64) -> Volume {
    let mut out = v.clone();
    for a in 0..3 {
        let sigma = sigma_mm / v.spacing[a];
        if sigma < 0.5 {
            continue;
        }
        let r = (3.0 * sigma).ceil() as isize;
        let kernel: Vec<f64> = (-r..=r)
            .map(|k| (-0.5 * (k as f64 / sigma).powi(2)).exp())
            .collect();
        let sum: f64 = kernel.iter().sum();
        let kernel: Vec<f32> = kernel.iter().map(|k| (k / sum) as f32).collect();
        out.data = smooth_axis(&out.data, v.dims, 2 - a, &kernel);
    }
    out
}

/// One pass of a 1D kernel (odd length, centred) along array axis `axis` (0 = D, 1 = H,
/// 2 = W) of `data [D, H, W]`, borders clamped.
pub fn smooth_axis(data: &[f32], dims: [usize; 3], axis: usize, kernel: &[f32]) -> Vec<f32> {
    let [d, h, w] = dims;
    let r = (kernel.len() / 2) as isize;
    let strides = [h * w, w, 1];
    let n = dims[axis] as isize;
    let stride = strides[axis];
    let mut out = vec![0f32; data.len()];
    out.par_chunks_mut((h * w).max(1))
        .enumerate()
        .for_each(|(z, slice)| {
            for y in 0..h {
                for x in 0..w {
                    let pos = [z, y, x][axis] as isize;
                    let i = (z * h + y) * w + x;
                    let base = i as isize - pos * stride as isize;
                    let mut acc = 0f32;
                    for (k, &kv) in kernel.iter().enumerate() {
                        let j = (pos + k as isize - r).clamp(0, n - 1);
                        acc += kv * data[(base + j * stride as isize) as usize];
                    }
                    slice[y * w + x] = acc;
                }
            }
        });
    let _ = d;
    out
}

/// Scales intensities so the 1st percentile maps to 0 and the 99th to 1, clamped to
/// [−0.2, 1.2]: CT (Hounsfield units) and MRI (arbitrary units) alike. A constant volume maps
/// to zeros.
pub fn robust_scale(v: &Volume) -> Volume {
    let mut sample: Vec<f32> = v
        .data
        .iter()
        .step_by((v.data.len() / 200_000).max(1))
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    sample.sort_by(f32::total_cmp);
    let q = |f: f64| {
        sample
            .get(((sample.len().saturating_sub(1)) as f64 * f).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let (lo, hi) = (q(0.01), q(0.99));
    let span = hi - lo;
    let mut out = v.clone();
    if span.is_finite() && span > 0.0 {
        for x in &mut out.data {
            *x = ((*x - lo) / span).clamp(-0.2, 1.2);
        }
    } else {
        out.data.iter_mut().for_each(|x| *x = 0.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn oblique() -> Volume {
        let mut v = Volume::new(
            (0..4 * 5 * 6).map(|i| i as f32).collect(),
            [4, 5, 6],
            Path::new("x"),
        )
        .unwrap();
        v.spacing = [0.7, 1.1, 2.5];
        v.origin = [-10.0, 4.0, 30.0];
        v.direction = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]];
        v
    }

    #[test]
    fn world_voxel_round_trip_and_the_same_box_at_another_spacing() {
        let v = oblique();
        let g = Grid::of(&v);
        let ijk = [1.25, 3.5, 2.0];
        let p = g.voxel_to_world(ijk);
        assert_eq!(p, v.voxel_to_world(ijk));
        let back = g.world_to_voxel(p);
        assert!((0..3).all(|a| (back[a] - ijk[a]).abs() < 1e-12));
        let c = g.at_spacing(2.0);
        assert_eq!(
            c.dims,
            [4, 3, 2],
            "x: 6·0.7/2 → 2, y: 5·1.1/2 → 3, z coarser already"
        );
        assert!((c.spacing[0] - 2.1).abs() < 1e-12 && c.spacing[2] == 2.5);
        let (a, b) = (g.centre(), c.centre());
        assert!((0..3).all(|k| (a[k] - b[k]).abs() < 1e-9), "{a:?} {b:?}");
    }

    #[test]
    fn trilinear_is_exact_on_linear_images_and_nearest_picks_the_voxel() {
        let v = oblique();
        // The image is the linear function x + 6y + 30z of the index.
        let f = |c: [f64; 3]| c[0] + 6.0 * c[1] + 30.0 * c[2];
        for c in [
            [0.0, 0.0, 0.0],
            [2.3, 1.7, 0.4],
            [5.0, 4.0, 3.0],
            [4.9, 0.1, 2.99],
        ] {
            assert!((trilinear(&v, c, -1.0) as f64 - f(c)).abs() < 1e-3, "{c:?}");
        }
        assert_eq!(trilinear(&v, [-0.6, 0.0, 0.0], -7.0), -7.0);
        assert_eq!(
            trilinear(&v, [-0.4, 0.0, 0.0], -7.0),
            0.0,
            "clamped within half a voxel"
        );
        assert_eq!(
            nearest(&v, [2.4, 1.6, 0.6], -1.0),
            f([2.0, 2.0, 1.0]) as f32
        );
        // Resampling onto its own grid gives the image back.
        let r = resample_onto(&v, &Grid::of(&v), 0.0);
        assert_eq!(r.data, v.data);
    }

    #[test]
    fn smoothing_keeps_constants_and_the_mean_and_scaling_maps_percentiles() {
        let mut v = oblique();
        v.spacing = [1.0; 3];
        let flat = Volume {
            data: vec![3.0; v.len()],
            ..v.clone()
        };
        let s = gaussian_smooth(&flat, 1.5);
        assert!(s.data.iter().all(|&x| (x - 3.0).abs() < 1e-5));
        // An impulse spreads into a symmetric bump of total mass 1 (away from the borders).
        let mut big = Volume::new(vec![0.0; 15 * 15 * 15], [15, 15, 15], Path::new("x")).unwrap();
        big.data[(7 * 15 + 7) * 15 + 7] = 1.0;
        let b = gaussian_smooth(&big, 1.0);
        let total: f32 = b.data.iter().sum();
        assert!((total - 1.0).abs() < 1e-4, "{total}");
        assert_eq!(b.at(7, 7, 6), b.at(7, 7, 8));
        assert!(b.at(7, 7, 7) > b.at(7, 7, 8) && b.at(7, 7, 8) > 0.0);
        let scaled = robust_scale(&v);
        let (lo, hi) = scaled
            .data
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        assert!(lo >= -0.2 && hi <= 1.2 && hi > 0.9 && lo < 0.1, "{lo} {hi}");
    }
}
