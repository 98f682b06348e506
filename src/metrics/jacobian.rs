//! The Jacobian determinant of a sampling grid (central differences), and the folding
//! percentage and SDlogJ derived from it.

/// Determinant of the Jacobian of the map `p ↦ grid(p)` at every voxel of one sample:
/// `grid` is `[D, H, W, 3]` (x, y, z in voxels); derivatives by central differences
/// (one-sided at the borders; an axis of size 1 contributes the identity).
pub fn jacobian_determinants(grid: &[f32], dims: [usize; 3]) -> Vec<f64> {
    let [d, h, w] = dims;
    let at = |z: usize, y: usize, x: usize, c: usize| grid[((z * h + y) * w + x) * 3 + c] as f64;
    // Partial derivatives of the 3 components along image axis `axis` (0 = x, 1 = y, 2 = z).
    let diff = |z: usize, y: usize, x: usize, axis: usize| -> [f64; 3] {
        let (pos, len) = match axis {
            0 => (x, w),
            1 => (y, h),
            _ => (z, d),
        };
        if len == 1 {
            let mut e = [0.0; 3];
            e[axis] = 1.0;
            return e;
        }
        let (lo, hi) = (pos.saturating_sub(1), (pos + 1).min(len - 1));
        let step = (hi - lo) as f64;
        let pick = |p: usize| match axis {
            0 => (z, y, p),
            1 => (z, p, x),
            _ => (p, y, x),
        };
        let (a, b) = (pick(lo), pick(hi));
        [0, 1, 2].map(|c| (at(b.0, b.1, b.2, c) - at(a.0, a.1, a.2, c)) / step)
    };
    let mut out = Vec::with_capacity(d * h * w);
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                let [jx, jy, jz] = [0, 1, 2].map(|a| diff(z, y, x, a));
                // Columns are the derivatives along x, y, z; det of [jx jy jz].
                let det = jx[0] * (jy[1] * jz[2] - jy[2] * jz[1])
                    - jy[0] * (jx[1] * jz[2] - jx[2] * jz[1])
                    + jz[0] * (jx[1] * jy[2] - jx[2] * jy[1]);
                out.push(det);
            }
        }
    }
    out
}

/// Percentage of determinants `≤ 0` (folded voxels).
pub fn folding_pct(dets: &[f64]) -> f64 {
    if dets.is_empty() {
        return 0.0;
    }
    100.0 * dets.iter().filter(|&&v| v <= 0.0).count() as f64 / dets.len() as f64
}

/// Standard deviation of `log(det)`, with determinants clipped below at 1e-9 so folded voxels
/// count as strongly compressed instead of producing NaN.
pub fn sdlogj(dets: &[f64]) -> f64 {
    if dets.is_empty() {
        return 0.0;
    }
    let logs: Vec<f64> = dets.iter().map(|&v| v.max(1e-9).ln()).collect();
    let mean = logs.iter().sum::<f64>() / logs.len() as f64;
    (logs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / logs.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid_from(dims: [usize; 3], f: impl Fn(f64, f64, f64) -> [f64; 3]) -> Vec<f32> {
        let [d, h, w] = dims;
        let mut g = Vec::new();
        for z in 0..d {
            for y in 0..h {
                for x in 0..w {
                    g.extend(f(x as f64, y as f64, z as f64).map(|v| v as f32));
                }
            }
        }
        g
    }

    #[test]
    fn jacobian_of_a_known_affine_map() {
        let dims = [4, 5, 6];
        // p' = A p with A = [[2, 0.5, 0], [0, 1, 0], [0, 0, 1.5]]: det = 3.
        let g = grid_from(dims, |x, y, z| [2.0 * x + 0.5 * y, y, 1.5 * z]);
        let dets = jacobian_determinants(&g, dims);
        assert!(
            dets.iter().all(|v| (v - 3.0).abs() < 1e-5),
            "{:?}",
            &dets[..4]
        );
        assert_eq!(folding_pct(&dets), 0.0);
        assert!(sdlogj(&dets) < 1e-6);
        // A mirrored axis folds everything.
        let g = grid_from(dims, |x, y, z| [-x, y, z]);
        assert_eq!(folding_pct(&jacobian_determinants(&g, dims)), 100.0);
    }

    #[test]
    fn identity_grid_has_unit_determinant_and_a_local_fold_is_counted() {
        let dims = [3, 3, 8];
        let mut g = grid_from(dims, |x, y, z| [x, y, z]);
        assert!(
            jacobian_determinants(&g, dims)
                .iter()
                .all(|&v| (v - 1.0).abs() < 1e-9)
        );
        // Reverse the x coordinates of voxels 2..=5 in every row: x runs backwards there.
        for r in 0..9 {
            for (a, b) in [(2, 5), (3, 4)] {
                g.swap(r * 24 + a * 3, r * 24 + b * 3);
            }
        }
        let dets = jacobian_determinants(&g, dims);
        let pct = folding_pct(&dets);
        assert!(pct > 0.0 && pct < 100.0, "{pct}");
        assert!(sdlogj(&dets) > 1.0);
    }
}
