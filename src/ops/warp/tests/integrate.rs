//! `cumsum`, `integrate_gradient` and `affine_grid`.

use super::{bits, identity_grid, vals, with_threads};
use crate::ops::VolGeom;
use crate::ops::testing::{Check, assert_close, check_op, uniform};
use crate::ops::warp::{affine_grid, cpu, cumsum, integrate_gradient};
use crate::tensor::{Device, Rng, Shape, Tensor};

/// Inclusive cumulative sum of `x [n, d, h, w, c]` along `axis`, in `f64`.
fn cumsum_ref(x: &[f64], dims: [usize; 5], axis: usize) -> Vec<f64> {
    let [n, d, h, w, c] = dims;
    let idx =
        |i: usize, p: [usize; 3], ch: usize| (((i * d + p[0]) * h + p[1]) * w + p[2]) * c + ch;
    let mut y = vec![0.0; x.len()];
    for i in 0..n {
        for z in 0..d {
            for yy in 0..h {
                for xx in 0..w {
                    let p = [z, yy, xx];
                    for ch in 0..c {
                        let mut s = 0.0;
                        for j in 0..=p[axis] {
                            let mut q = p;
                            q[axis] = j;
                            s += x[idx(i, q, ch)];
                        }
                        y[idx(i, p, ch)] = s;
                    }
                }
            }
        }
    }
    y
}

#[test]
fn cumsum_matches_reference_and_gradients_on_every_axis() {
    // The last shape has rows of 24·60·3 = 4320 values along D: the row-parallel path.
    for dims in [[2, 3, 4, 5, 2], [1, 5, 1, 7, 3], [1, 3, 24, 60, 3]] {
        for axis in 0..3 {
            let mut rng = Rng::new(10 + axis as u64);
            let shape = Shape::new(dims);
            let x = uniform(&mut rng, shape.numel(), -1.0, 1.0);
            check_op(
                &[(shape, x)],
                |t| cumsum(&t[0], axis),
                |v| cumsum_ref(&v[0], dims, axis),
                Check::default(),
            );
        }
    }
}

#[test]
fn cumsum_of_ones_counts_along_its_axis_only() {
    let dims = [2, 3, 4, 5, 2];
    let ones = Tensor::full(1.0, dims, Device::Cpu).unwrap();
    for axis in 0..3 {
        let y = vals(&cumsum(&ones, axis).unwrap());
        let mut i = 0;
        for _ in 0..dims[0] {
            for d in 0..dims[1] {
                for h in 0..dims[2] {
                    for w in 0..dims[3] {
                        let want = [d, h, w][axis] as f32 + 1.0;
                        for _ in 0..dims[4] {
                            assert_eq!(y[i], want, "axis {axis} at (d {d}, h {h}, w {w})");
                            i += 1;
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn cumsum_reverse_sums_from_the_far_end() {
    let g = VolGeom::from5([1, 1, 1, 4, 1]);
    assert_eq!(
        cpu::cumsum(&[1.0, 2.0, 3.0, 4.0], g, 2, true),
        vec![10.0, 9.0, 7.0, 4.0]
    );
    assert_eq!(
        cpu::cumsum(&[1.0, 2.0, 3.0, 4.0], g, 2, false),
        vec![1.0, 3.0, 6.0, 10.0]
    );
}

/// `p' = A·[p − c, 1] + c` per point, in `f64`.
fn affine_ref(grid: &[f64], theta: &[f64], dims: [usize; 3]) -> Vec<f64> {
    let c = [
        (dims[2] as f64 - 1.0) / 2.0,
        (dims[1] as f64 - 1.0) / 2.0,
        (dims[0] as f64 - 1.0) / 2.0,
    ];
    let per = dims.iter().product::<usize>() * 3;
    let mut y = vec![0.0; grid.len()];
    for (k, (out, p)) in y.chunks_mut(3).zip(grid.chunks(3)).enumerate() {
        let a = &theta[(k * 3 / per) * 12..];
        for r in 0..3 {
            out[r] =
                (0..3).map(|j| a[4 * r + j] * (p[j] - c[j])).sum::<f64>() + a[4 * r + 3] + c[r];
        }
    }
    y
}

#[test]
fn affine_grid_matches_reference_and_gradients() {
    for (n, dims) in [(2, [3, 4, 5]), (1, [6, 1, 2])] {
        let mut rng = Rng::new(20);
        let gs = Shape::new([n, dims[0], dims[1], dims[2], 3]);
        let grid = uniform(&mut rng, gs.numel(), -2.0, 7.0);
        let theta = uniform(&mut rng, n * 12, -1.5, 1.5);
        check_op(
            &[(gs, grid), (Shape::new([n, 12]), theta)],
            |t| affine_grid(&t[0], &t[1]),
            |v| affine_ref(&v[0], &v[1], dims),
            Check::default(),
        );
    }
}

const IDENTITY: [f32; 12] = [1., 0., 0., 0., 0., 1., 0., 0., 0., 0., 1., 0.];

#[test]
fn affine_grid_identity_theta_is_the_identity() {
    let dims = [4, 5, 6];
    let grid = identity_grid(2, dims);
    let g = Tensor::from_vec(grid.clone(), [2, 4, 5, 6, 3], Device::Cpu).unwrap();
    let theta = Tensor::from_vec([IDENTITY, IDENTITY].concat(), [2, 12], Device::Cpu).unwrap();
    assert_eq!(bits(&vals(&affine_grid(&g, &theta).unwrap())), bits(&grid));
}

#[test]
fn affine_grid_rotation_and_scale_fix_the_centre() {
    // Odd sizes: the centre (x 4, y 3, z 2) is a voxel. 90° about z, then ×2 in x, +1 in z.
    let dims = [5, 7, 9];
    let grid = identity_grid(1, dims);
    let g = Tensor::from_vec(grid, [1, 5, 7, 9, 3], Device::Cpu).unwrap();
    #[rustfmt::skip]
    let rot = [0., -2., 0., 0.,
               1., 0., 0., 0.,
               0., 0., 1., 1.];
    let theta = Tensor::from_vec(rot.to_vec(), [1, 12], Device::Cpu).unwrap();
    let y = vals(&affine_grid(&g, &theta).unwrap());
    let at = |z: usize, yy: usize, x: usize| {
        let i = ((z * 7 + yy) * 9 + x) * 3;
        [y[i], y[i + 1], y[i + 2]]
    };
    // The centre keeps x and y; z moves by the translation only.
    assert_eq!(at(2, 3, 4), [4.0, 3.0, 3.0]);
    // (x 8, y 3, z 0) is +4 in x from the centre: rotated to +4 in y.
    assert_eq!(at(0, 3, 8), [4.0, 7.0, 1.0]);
    // (x 4, y 5, z 4) is +2 in y: rotated to −2 in x, then scaled ×2.
    assert_eq!(at(4, 5, 4), [0.0, 3.0, 5.0]);
    // Pure scale about the centre fixes the centre exactly.
    let scale = [1.5, 0., 0., 0., 0., 0.5, 0., 0., 0., 0., 3., 0.];
    let theta = Tensor::from_vec(scale.to_vec(), [1, 12], Device::Cpu).unwrap();
    let y = vals(&affine_grid(&g, &theta).unwrap());
    let i = ((2 * 7 + 3) * 9 + 4) * 3;
    assert_eq!(&y[i..i + 3], &[4.0, 3.0, 2.0]);
}

#[test]
fn integrate_ops_are_bitwise_reproducible_across_thread_counts() {
    let mut rng = Rng::new(30);
    // dtheta sums two blocks of points per sample; cumsum along D takes the row-parallel path.
    let g = VolGeom::from5([2, 9, 24, 25, 3]);
    let grid = uniform(&mut rng, g.len(), -3.0, 30.0);
    let dy = uniform(&mut rng, g.len(), -1.0, 1.0);
    let theta = uniform(&mut rng, 24, -1.0, 1.0);
    let c = [12.0, 11.5, 4.0];
    let run = |t| {
        with_threads(t, || {
            let (dg, dt) = cpu::affine_grid_bwd(&grid, &theta, &dy, c, g);
            let y = cpu::affine_grid(&grid, &theta, c, g);
            let cs: Vec<Vec<f32>> = (0..3).map(|a| cpu::cumsum(&grid, g, a, a == 1)).collect();
            (
                bits(&dg),
                bits(&dt),
                bits(&y),
                cs.iter().map(|v| bits(v)).collect::<Vec<_>>(),
            )
        })
    };
    assert_eq!(run(1), run(3));
    // The dtheta reduction is an f64 sum: it matches an f64 reference closely.
    let (_, dt) = cpu::affine_grid_bwd(&grid, &theta, &dy, c, g);
    let mut want = vec![0.0f64; 24];
    for (k, (p, d)) in grid.chunks(3).zip(dy.chunks(3)).enumerate() {
        let i = k / g.voxels();
        let q = [
            (p[0] - c[0]) as f64,
            (p[1] - c[1]) as f64,
            (p[2] - c[2]) as f64,
            1.0,
        ];
        for r in 0..3 {
            for j in 0..4 {
                want[i * 12 + 4 * r + j] += d[r] as f64 * q[j];
            }
        }
    }
    assert_close("dtheta", &dt, &want, 1e-6);
}

#[test]
fn integrate_ops_reject_bad_shapes() {
    let x = Tensor::zeros([1, 2, 3, 4, 3], Device::Cpu).unwrap();
    let e = cumsum(&x, 3).unwrap_err().to_string();
    assert!(
        e.contains("cumsum") && e.contains("axis 3") && e.contains("[1, 2, 3, 4, 3]"),
        "{e}"
    );
    let e = cumsum(&x.reshape([2, 3, 4, 3]).unwrap(), 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cumsum") && e.contains("rank-5"), "{e}");
    let theta = Tensor::zeros([1, 9], Device::Cpu).unwrap();
    let e = affine_grid(&x, &theta).unwrap_err().to_string();
    assert!(
        e.contains("affine_grid") && e.contains("[1, 9]") && e.contains("[1, 2, 3, 4, 3]"),
        "{e}"
    );
    let theta = Tensor::zeros([2, 12], Device::Cpu).unwrap();
    let e = affine_grid(&x, &theta).unwrap_err().to_string();
    assert!(e.contains("affine_grid") && e.contains("[2, 12]"), "{e}");
    let g2 = Tensor::zeros([1, 2, 3, 4, 2], Device::Cpu).unwrap();
    let theta = Tensor::zeros([1, 12], Device::Cpu).unwrap();
    let e = affine_grid(&g2, &theta).unwrap_err().to_string();
    assert!(
        e.contains("affine_grid") && e.contains("[1, 2, 3, 4, 2]") && e.contains("3 coordinate"),
        "{e}"
    );
}

#[test]
fn integrating_the_identity_gradient_gives_the_identity_grid() {
    let (d, h, w) = (3, 4, 5);
    let phi = Tensor::full(1.0, [2, d, h, w, 3], Device::Cpu).unwrap();
    let grid = integrate_gradient(&phi).unwrap().to_vec().unwrap();
    for n in 0..2 {
        for z in 0..d {
            for y in 0..h {
                for x in 0..w {
                    let i = (((n * d + z) * h + y) * w + x) * 3;
                    assert_eq!(
                        &grid[i..i + 3],
                        &[x as f32, y as f32, z as f32],
                        "at n{n} z{z} y{y} x{x}"
                    );
                }
            }
        }
    }
    let e = integrate_gradient(&Tensor::zeros([1, 2, 2, 2, 2], Device::Cpu).unwrap()).unwrap_err();
    assert!(e.to_string().contains("3 coordinate channels"), "{e}");
}

#[test]
fn integrate_gradient_matches_reference_and_gradients() {
    let (n, d, h, w) = (1, 3, 4, 5);
    let mut rng = Rng::new(21);
    let shape = Shape::new([n, d, h, w, 3]);
    let phi = uniform(&mut rng, shape.numel(), 0.0, 2.0);
    check_op(
        &[(shape, phi)],
        |t| integrate_gradient(&t[0]),
        |x| {
            let p = &x[0];
            let at = |z: usize, y: usize, xx: usize, c: usize| p[((z * h + y) * w + xx) * 3 + c];
            let mut out = vec![0.0; p.len()];
            for z in 0..d {
                for y in 0..h {
                    for xx in 0..w {
                        let i = ((z * h + y) * w + xx) * 3;
                        out[i] = (0..=xx).map(|j| at(z, y, j, 0)).sum::<f64>() - 1.0;
                        out[i + 1] = (0..=y).map(|j| at(z, j, xx, 1)).sum::<f64>() - 1.0;
                        out[i + 2] = (0..=z).map(|j| at(j, y, xx, 2)).sum::<f64>() - 1.0;
                    }
                }
            }
            out
        },
        Check::default(),
    );
}
