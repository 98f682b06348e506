//! The transformer: identity, known shifts per axis on non-cubic volumes, known affines,
//! displacements, errors, and gradients against an `f64` reference of the whole transform.

use super::{CPU, max_diff, vals, volume};
use crate::autograd::Tape;
use crate::models::transformer::{identity_grid, transform, warp_with_grid};
use crate::models::{displacement, displacement_mm};
use crate::ops;
use crate::ops::Padding;
use crate::tensor::{Rng, Tensor};

/// `100·z + 10·y + x` (+ 1000 in channel 1): every voxel tells where it is.
fn coded(dims: [usize; 3], c: usize) -> Tensor {
    let [d, h, w] = dims;
    volume([1, d, h, w, c], |_, z, y, x, ch| {
        (1000 * ch + 100 * z + 10 * y + x) as f32
    })
}

/// The sigmoid output `s`: 0.5 everywhere except `value` in channel `ch` on the first slice
/// along that channel's axis (x = 0 for channel 0, y = 0 for 1, z = 0 for 2).
fn first_slice(dims: [usize; 3], ch: usize, value: f32) -> Tensor {
    let [d, h, w] = dims;
    volume([1, d, h, w, 3], |_, z, y, x, c| {
        let at = [x, y, z][c];
        if c == ch && at == 0 { value } else { 0.5 }
    })
}

#[test]
fn identity_gradient_and_zero_affine_return_the_input_exactly() {
    let mut rng = Rng::new(3);
    let dims = [3, 4, 5];
    let img = Tensor::randn([2, 3, 4, 5, 2], 0.0, 1.0, &mut rng, CPU).unwrap();
    let s = Tensor::full(0.5, [2, 3, 4, 5, 3], CPU).unwrap();
    let zero = Tensor::zeros([2, 12], CPU).unwrap();
    for padding in [Padding::Border, Padding::Zeros] {
        for affine in [None, Some(&zero)] {
            let w = transform(&img, &s, affine, padding).unwrap();
            assert!(w.warped.bitwise_eq(&img).unwrap());
            assert!(
                w.grid
                    .bitwise_eq(&identity_grid(2, dims, CPU).unwrap())
                    .unwrap()
            );
            assert!(
                vals(&displacement(&w.grid).unwrap())
                    .iter()
                    .all(|&v| v == 0.0)
            );
        }
    }
}

#[test]
fn an_extra_two_on_the_first_slice_shifts_along_that_channels_axis() {
    // D, H, W all differ, so a wrong channel↔axis mapping cannot pass.
    let dims = [3, 4, 5];
    let img = coded(dims, 2);
    let src = vals(&img);
    let idx = |z: usize, y: usize, x: usize, c: usize| ((z * 4 + y) * 5 + x) * 2 + c;
    for ch in 0..3 {
        // Φ = 3 on the first slice ⇒ every coordinate along that axis is +2.
        let s = first_slice(dims, ch, 1.5);
        let border = vals(&transform(&img, &s, None, Padding::Border).unwrap().warped);
        let zeros = vals(&transform(&img, &s, None, Padding::Zeros).unwrap().warped);
        let size = [5, 4, 3][ch];
        for z in 0..3 {
            for y in 0..4 {
                for x in 0..5 {
                    let mut p = [x, y, z];
                    p[ch] += 2;
                    for c in 0..2 {
                        let i = idx(z, y, x, c);
                        let mut q = p;
                        q[ch] = q[ch].min(size - 1);
                        assert_eq!(border[i], src[idx(q[2], q[1], q[0], c)], "ch {ch}");
                        let want = if p[ch] < size {
                            src[idx(p[2], p[1], p[0], c)]
                        } else {
                            0.0
                        };
                        assert_eq!(zeros[i], want, "ch {ch} at {z},{y},{x}");
                    }
                }
            }
        }
    }
}

#[test]
fn a_half_voxel_shift_interpolates_neighbours() {
    let dims = [3, 4, 5];
    let img = coded(dims, 1);
    let src = vals(&img);
    let s = first_slice(dims, 1, 0.75); // Φ = 1.5 at y = 0: y' = y + 0.5
    let out = vals(&transform(&img, &s, None, Padding::Zeros).unwrap().warped);
    for z in 0..3 {
        for y in 0..4 {
            for x in 0..5 {
                let at = |y: usize| if y < 4 { src[(z * 4 + y) * 5 + x] } else { 0.0 };
                let want = 0.5 * (at(y) + at(y + 1));
                assert!((out[(z * 4 + y) * 5 + x] - want).abs() < 1e-4);
            }
        }
    }
}

#[test]
fn an_affine_translation_residual_moves_the_sampling_points() {
    let dims = [4, 3, 5];
    let img = coded(dims, 1);
    let src = vals(&img);
    let s = Tensor::full(0.5, [1, 4, 3, 5, 3], CPU).unwrap();
    let mut r = [0.0f32; 12];
    (r[3], r[7], r[11]) = (1.0, 0.0, 2.0); // p' = p + (1, 0, 2)
    let r = Tensor::from_vec(r.to_vec(), [1, 12], CPU).unwrap();
    let w = transform(&img, &s, Some(&r), Padding::Zeros).unwrap();
    let out = vals(&w.warped);
    for z in 0..4 {
        for y in 0..3 {
            for x in 0..5 {
                let want = if z + 2 < 4 && x + 1 < 5 {
                    src[((z + 2) * 3 + y) * 5 + x + 1]
                } else {
                    0.0
                };
                assert_eq!(out[(z * 3 + y) * 5 + x], want);
            }
        }
    }
    let disp = vals(&displacement(&w.grid).unwrap());
    assert!(disp.chunks(3).all(|p| p == [1.0, 0.0, 2.0]), "{disp:?}");
    let mm = vals(&displacement_mm(&w.grid, [0.5, 0.7, 2.5]).unwrap());
    assert!(mm.chunks(3).all(|p| p == [0.5, 0.0, 5.0]), "{mm:?}");
    assert!(displacement_mm(&w.grid, [0.5, 0.0, 1.0]).is_err());
}

#[test]
fn an_affine_scaling_about_the_centre_samples_a_linear_image_exactly() {
    // Trilinear sampling reproduces a linear function inside the volume, so the warped image
    // is f(A·(p − c) + c) with c = ((W−1)/2, (H−1)/2, (D−1)/2) = (3, 1.5, 2).
    let [d, h, w] = [5, 4, 7];
    let f = |x: f32, y: f32, z: f32| 3.0 * x + 5.0 * y + 7.0 * z + 1.0;
    let img = volume([1, d, h, w, 1], |_, z, y, x, _| {
        f(x as f32, y as f32, z as f32)
    });
    let s = Tensor::full(0.5, [1, d, h, w, 3], CPU).unwrap();
    let mut r = vec![0.0f32; 12];
    (r[0], r[5], r[10]) = (-0.5, -0.25, -0.5); // A = diag(0.5, 0.75, 0.5)
    let r = Tensor::from_vec(r, [1, 12], CPU).unwrap();
    let out = vals(
        &transform(&img, &s, Some(&r), Padding::Border)
            .unwrap()
            .warped,
    );
    let c = [3.0, 1.5, 2.0];
    let mut i = 0;
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                let p = [
                    0.5 * (x as f32 - c[0]) + c[0],
                    0.75 * (y as f32 - c[1]) + c[1],
                    0.5 * (z as f32 - c[2]) + c[2],
                ];
                assert!((out[i] - f(p[0], p[1], p[2])).abs() < 1e-4, "{z},{y},{x}");
                i += 1;
            }
        }
    }
}

#[test]
fn bad_shapes_are_errors() {
    let img = Tensor::zeros([1, 3, 4, 5, 1], CPU).unwrap();
    let s = Tensor::full(0.5, [1, 3, 4, 5, 3], CPU).unwrap();
    let cases = [
        transform(
            &img,
            &Tensor::zeros([1, 3, 4, 6, 3], CPU).unwrap(),
            None,
            Padding::Border,
        ),
        transform(
            &img,
            &Tensor::zeros([1, 3, 4, 5, 2], CPU).unwrap(),
            None,
            Padding::Border,
        ),
        transform(
            &img,
            &s,
            Some(&Tensor::zeros([1, 9], CPU).unwrap()),
            Padding::Border,
        ),
        transform(
            &img,
            &s,
            Some(&Tensor::zeros([2, 12], CPU).unwrap()),
            Padding::Border,
        ),
    ];
    for r in cases {
        let e = r.unwrap_err().to_string();
        assert!(e.contains("transform"), "{e}");
    }
    assert!(displacement(&img).is_err());
}

/// `f64` reference of the whole transform for one sample: `s [d,h,w,3]`, `img [d,h,w,c]`,
/// affine residual `r [12]`.
fn reference(
    img: &[f64],
    dims: [usize; 3],
    c: usize,
    s: &[f64],
    r: &[f64],
    pad: Padding,
) -> Vec<f64> {
    let [d, h, w] = dims;
    let at = |z: usize, y: usize, x: usize| (z * h + y) * w + x;
    let centre = [
        (w as f64 - 1.0) / 2.0,
        (h as f64 - 1.0) / 2.0,
        (d as f64 - 1.0) / 2.0,
    ];
    let sizes = [w, h, d];
    let mut out = Vec::with_capacity(d * h * w * c);
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                let mut g = [-1.0f64; 3];
                (0..=x).for_each(|i| g[0] += 2.0 * s[at(z, y, i) * 3]);
                (0..=y).for_each(|j| g[1] += 2.0 * s[at(z, j, x) * 3 + 1]);
                (0..=z).for_each(|k| g[2] += 2.0 * s[at(k, y, x) * 3 + 2]);
                let q = [g[0] - centre[0], g[1] - centre[1], g[2] - centre[2]];
                let mut p = [0.0; 3];
                for row in 0..3 {
                    let a = |k: usize| r[4 * row + k] + if k == row { 1.0 } else { 0.0 };
                    p[row] = a(0) * q[0] + a(1) * q[1] + a(2) * q[2] + a(3) + centre[row];
                }
                // Per axis: two corner indices (None = reads zero) and their weights.
                let lerp = |v: f64, size: usize| -> [(Option<usize>, f64); 2] {
                    match pad {
                        Padding::Border => {
                            if size == 1 {
                                return [(Some(0), 1.0), (None, 0.0)];
                            }
                            let vc = v.clamp(0.0, (size - 1) as f64);
                            let lo = (vc.floor() as usize).min(size - 2);
                            let t = vc - lo as f64;
                            [(Some(lo), 1.0 - t), (Some(lo + 1), t)]
                        }
                        Padding::Zeros => {
                            let lo = v.floor();
                            let t = v - lo;
                            let ok = |i: f64| (i >= 0.0 && i < size as f64).then_some(i as usize);
                            [(ok(lo), 1.0 - t), (ok(lo + 1.0), t)]
                        }
                    }
                };
                let [lx, ly, lz] = [0, 1, 2].map(|a| lerp(p[a], sizes[a]));
                for ch in 0..c {
                    let mut v = 0.0;
                    for (iz, wz) in lz {
                        for (iy, wy) in ly {
                            for (ix, wx) in lx {
                                if let (Some(iz), Some(iy), Some(ix)) = (iz, iy, ix) {
                                    v += wz * wy * wx * img[at(iz, iy, ix) * c + ch];
                                }
                            }
                        }
                    }
                    out.push(v);
                }
            }
        }
    }
    out
}

#[test]
fn gradients_match_finite_differences_of_an_f64_reference() {
    let (dims, c) = ([3, 4, 5], 2);
    let [d, h, w] = dims;
    let mut rng = Rng::new(11);
    let img = Tensor::randn([1, d, h, w, c], 0.0, 1.0, &mut rng, CPU).unwrap();
    let s = Tensor::rand_uniform([1, d, h, w, 3], 0.3, 0.7, &mut rng, CPU).unwrap();
    let r = Tensor::rand_uniform([1, 12], -0.08, 0.08, &mut rng, CPU).unwrap();
    let wts = Tensor::randn([1, d, h, w, c], 0.0, 1.0, &mut rng, CPU).unwrap();
    let f64s = |t: &Tensor| vals(t).iter().map(|&v| v as f64).collect::<Vec<_>>();
    let (img64, s64, r64, w64) = (f64s(&img), f64s(&s), f64s(&r), f64s(&wts));
    for pad in [Padding::Border, Padding::Zeros] {
        let loss64 = |img: &[f64], s: &[f64], r: &[f64]| -> f64 {
            let y = reference(img, dims, c, s, r, pad);
            y.iter().zip(&w64).map(|(a, b)| a * b).sum()
        };
        // Forward against the reference.
        let warped = transform(&img, &s, Some(&r), pad).unwrap().warped;
        let want = reference(&img64, dims, c, &s64, &r64, pad);
        let got = vals(&warped);
        for (g, w) in got.iter().zip(&want) {
            assert!((*g as f64 - w).abs() < 1e-4, "{pad:?}: {g} vs {w}");
        }
        // Backward against central differences.
        let tape = Tape::new();
        let (ti, ts, tr) = (tape.watch(&img), tape.watch(&s), tape.watch(&r));
        let out = transform(&ti, &ts, Some(&tr), pad).unwrap().warped;
        let loss = ops::sum(&ops::mul(&out, &wts).unwrap()).unwrap();
        let grads = tape.backward(&loss).unwrap();
        let eps = 1e-6;
        for (which, t, base) in [(0, &ti, &img64), (1, &ts, &s64), (2, &tr, &r64)] {
            let g = vals(grads.get(t).unwrap());
            let mut fd = Vec::with_capacity(base.len());
            for i in 0..base.len() {
                let mut args = [img64.clone(), s64.clone(), r64.clone()];
                args[which][i] = base[i] + eps;
                let up = loss64(&args[0], &args[1], &args[2]);
                args[which][i] = base[i] - eps;
                let down = loss64(&args[0], &args[1], &args[2]);
                fd.push((up - down) / (2.0 * eps));
            }
            let scale = fd.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            let err = g
                .iter()
                .zip(&fd)
                .map(|(a, b)| (*a as f64 - b).abs())
                .fold(0.0, f64::max);
            assert!(
                err < 2e-3 * scale,
                "{pad:?} input {which}: error {err} (scale {scale})"
            );
            assert!(
                fd.iter().any(|v| v.abs() > 1e-2),
                "input {which} has a real gradient"
            );
        }
    }
}

#[test]
fn warp_with_grid_reuses_a_grid() {
    let dims = [3, 4, 5];
    let img = coded(dims, 1);
    let mask = volume([1, 3, 4, 5, 1], |_, z, y, x, _| ((z + y + x) % 2) as f32);
    let s = first_slice(dims, 0, 0.9);
    let w = transform(&img, &s, None, Padding::Border).unwrap();
    let a = warp_with_grid(&mask, &w.grid, Padding::Border).unwrap();
    let b = transform(&mask, &s, None, Padding::Border).unwrap().warped;
    assert!(a.bitwise_eq(&b).unwrap());
    assert!(
        max_diff(&vals(&a), &vals(&mask)) > 0.1,
        "the grid is not the identity"
    );
}
