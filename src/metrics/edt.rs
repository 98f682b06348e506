//! The exact Euclidean distance transform of a 3D boolean volume with anisotropic voxel
//! spacing, in millimetres (squared, `f64`).
//!
//! Algorithm: Felzenszwalb and Huttenlocher, "Distance Transforms of Sampled Functions"
//! (Theory of Computing 8, 2012). The squared Euclidean distance separates into a sum over the
//! axes, so the 3D transform is three 1D passes, one per axis, each the lower envelope of the
//! parabolas `(x − x_p)² + f(p)` rooted at the sample positions `x_p = p·spacing`. Every pass is
//! linear in the number of voxels, so the whole transform is `O(D·H·W)` with no dependence on
//! the distances involved; lines are independent and run in parallel (rayon).
//!
//! Passes run along z, then y, then x. The z pass works per `y` on the xz-plane (gathered row
//! by row, written back as whole rows); the y and x passes work in place within each z slice
//! or row.

use rayon::prelude::*;

/// Reusable buffers of the 1D transform of lines up to some length.
struct Scratch {
    f: Vec<f64>,
    out: Vec<f64>,
    /// Sample indices of the parabolas of the lower envelope.
    v: Vec<usize>,
    /// Boundaries between the envelope's parabolas (positions in mm).
    z: Vec<f64>,
}

impl Scratch {
    fn new(n: usize) -> Self {
        Scratch {
            f: vec![0.0; n],
            out: vec![0.0; n],
            v: vec![0; n],
            z: vec![0.0; n + 1],
        }
    }

    /// `self.out[q] = min_p ((q − p)·s)² + self.f[p]` over the first `n` samples; infinite
    /// `f` values are not parabolas (no feature); all infinite gives all infinite.
    fn transform(&mut self, n: usize, s: f64) {
        let (f, v, z) = (&self.f[..n], &mut self.v, &mut self.z);
        let mut k: Option<usize> = None;
        for q in 0..n {
            let fq = f[q];
            if fq == f64::INFINITY {
                continue;
            }
            let xq = q as f64 * s;
            let Some(mut kk) = k else {
                k = Some(0);
                v[0] = q;
                z[0] = f64::NEG_INFINITY;
                z[1] = f64::INFINITY;
                continue;
            };
            // Where the parabola of q meets the rightmost parabola of the envelope; pop those
            // it hides entirely. z[0] = −∞ (and q > p) stops the loop at the first parabola.
            let cross = |p: usize| {
                let xp = p as f64 * s;
                ((fq + xq * xq) - (f[p] + xp * xp)) / (2.0 * (xq - xp))
            };
            let mut c = cross(v[kk]);
            while c <= z[kk] {
                kk -= 1;
                c = cross(v[kk]);
            }
            kk += 1;
            v[kk] = q;
            z[kk] = c;
            z[kk + 1] = f64::INFINITY;
            k = Some(kk);
        }
        let out = &mut self.out[..n];
        if k.is_none() {
            out.fill(f64::INFINITY);
            return;
        }
        let mut kk = 0;
        for (q, o) in out.iter_mut().enumerate() {
            let x = q as f64 * s;
            while z[kk + 1] < x {
                kk += 1;
            }
            let dx = x - v[kk] as f64 * s;
            *o = dx * dx + f[v[kk]];
        }
    }
}

/// The squared Euclidean distance in mm² from every voxel to the nearest voxel where
/// `features` is true (0 on the features themselves). `dims` is `[D, H, W]` (array order,
/// x fastest) and `spacing` the voxel size in mm along (x, y, z), as in
/// [`Volume`](crate::data::Volume). With no feature voxel at all, every distance is `+∞`.
///
/// Panics if `features.len()` is not `D·H·W` or a spacing is not positive and finite
/// (programming errors: callers pass arrays they built for `dims`).
pub fn squared_edt(features: &[bool], dims: [usize; 3], spacing: [f64; 3]) -> Vec<f64> {
    let [d, h, w] = dims;
    let n = d * h * w;
    assert_eq!(
        features.len(),
        n,
        "squared_edt: mask length vs dims {dims:?}"
    );
    assert!(
        spacing.iter().all(|s| s.is_finite() && *s > 0.0),
        "squared_edt: spacing {spacing:?} must be positive and finite"
    );
    let mut dist = vec![0.0f64; n];
    if n == 0 {
        return dist;
    }
    let [sx, sy, sz] = spacing;
    // Pass 1, along z: per y, the x lines of the xz-plane are gathered row by row (contiguous
    // reads), transformed, and written to a plane in [z][x] order, so the scatter below copies
    // whole rows.
    let planes: Vec<Vec<f64>> = (0..h)
        .into_par_iter()
        .map_init(
            || (Scratch::new(d), vec![0.0f64; w * d]),
            |(sc, lines), y| {
                for z in 0..d {
                    let row = &features[(z * h + y) * w..(z * h + y + 1) * w];
                    for (x, &f) in row.iter().enumerate() {
                        lines[x * d + z] = if f { 0.0 } else { f64::INFINITY };
                    }
                }
                let mut plane = vec![0.0; d * w];
                for x in 0..w {
                    sc.f[..d].copy_from_slice(&lines[x * d..(x + 1) * d]);
                    sc.transform(d, sz);
                    for (z, &v) in sc.out[..d].iter().enumerate() {
                        plane[z * w + x] = v;
                    }
                }
                plane
            },
        )
        .collect();
    dist.par_chunks_mut(h * w)
        .enumerate()
        .for_each(|(z, slice)| {
            for (row, plane) in slice.chunks_exact_mut(w).zip(&planes) {
                row.copy_from_slice(&plane[z * w..(z + 1) * w]);
            }
        });
    drop(planes);
    // Pass 2, along y, within each z slice.
    dist.par_chunks_mut(h * w).for_each_init(
        || Scratch::new(h),
        |sc, slice| {
            for x in 0..w {
                for y in 0..h {
                    sc.f[y] = slice[y * w + x];
                }
                sc.transform(h, sy);
                for y in 0..h {
                    slice[y * w + x] = sc.out[y];
                }
            }
        },
    );
    // Pass 3, along x, within each row.
    dist.par_chunks_mut(w).for_each_init(
        || Scratch::new(w),
        |sc, row| {
            sc.f[..w].copy_from_slice(row);
            sc.transform(w, sx);
            row.copy_from_slice(&sc.out[..w]);
        },
    );
    dist
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;

    /// The definition: the smallest squared distance to any feature, by brute force.
    fn brute(features: &[bool], dims: [usize; 3], s: [f64; 3]) -> Vec<f64> {
        let [d, h, w] = dims;
        let pts: Vec<[f64; 3]> = (0..d * h * w)
            .filter(|&i| features[i])
            .map(|i| {
                [
                    (i % w) as f64 * s[0],
                    (i / w % h) as f64 * s[1],
                    (i / (w * h)) as f64 * s[2],
                ]
            })
            .collect();
        (0..d * h * w)
            .map(|i| {
                let p = [
                    (i % w) as f64 * s[0],
                    (i / w % h) as f64 * s[1],
                    (i / (w * h)) as f64 * s[2],
                ];
                pts.iter()
                    .map(|q| (0..3).map(|a| (p[a] - q[a]).powi(2)).sum::<f64>())
                    .fold(f64::INFINITY, f64::min)
            })
            .collect()
    }

    #[test]
    fn matches_brute_force_on_random_sparse_and_dense_masks() {
        let mut rng = Rng::new(11);
        for (dims, density) in [
            ([5, 7, 9], 0.02),
            ([6, 4, 11], 0.3),
            ([1, 9, 8], 0.1),
            ([7, 1, 1], 0.3),
        ] {
            let n = dims.iter().product();
            let features: Vec<bool> = (0..n).map(|_| rng.uniform() < density).collect();
            let spacing = [0.7, 1.9, 2.5];
            let got = squared_edt(&features, dims, spacing);
            let want = brute(&features, dims, spacing);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    g == w || (g - w).abs() <= 1e-9 * w.max(1.0),
                    "{dims:?} voxel {i}: {g} vs {w}"
                );
            }
        }
    }

    #[test]
    fn a_single_point_gives_anisotropic_distances_and_no_feature_gives_infinity() {
        let dims = [3, 4, 5];
        let mut f = vec![false; 60];
        let at = |z: usize, y: usize, x: usize| (z * 4 + y) * 5 + x;
        f[at(1, 2, 3)] = true;
        let d = squared_edt(&f, dims, [0.5, 2.0, 3.0]);
        // voxel z 0, y 0, x 0: dx = 3·0.5, dy = 2·2, dz = 1·3.
        assert_eq!(d[0], 1.5f64.powi(2) + 4.0f64.powi(2) + 9.0);
        assert_eq!(d[at(1, 2, 3)], 0.0);
        assert!(
            squared_edt(&[false; 60], dims, [1.0; 3])
                .iter()
                .all(|v| v.is_infinite())
        );
    }
}
