//! The GPU kernels (on the emulator, and on a CUDA GPU when present) against the CPU reference
//! on odd geometries, edge coordinates (outside, on the edges, infinite, NaN), and the
//! determinism of the fixed-point image-gradient scatter.

use super::bits;
use crate::ops::testing::{test_devices, uniform};
use crate::ops::warp::cpu;
use crate::ops::{Backend, backend};
use crate::ops::{Padding, SampleGeom, VolGeom};
use crate::tensor::{Device, Rng};

/// The non-CPU backends of this build and machine.
fn gpus() -> Vec<(Device, &'static dyn Backend)> {
    let v: Vec<_> = test_devices()
        .into_iter()
        .filter(|d| *d != Device::Cpu)
        .map(|d| (d, backend(d).unwrap()))
        .collect();
    assert!(
        v.iter().any(|(d, _)| *d == Device::Emu),
        "the emulator is always built"
    );
    v
}

fn up(b: &dyn Backend, v: &[f32]) -> crate::backend::Buffer {
    b.upload(v).unwrap()
}

fn down(b: &dyn Backend, buf: &crate::backend::Buffer) -> Vec<f32> {
    b.download(buf).unwrap()
}

/// Asserts `|got − want| ≤ tol · max|want|` elementwise, NaN only where `want` is NaN.
fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(1e-30);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if w.is_nan() {
            assert!(g.is_nan(), "{what}: element {i}: got {g}, want NaN");
            continue;
        }
        assert!(
            (g - w).abs() <= tol * scale,
            "{what}: element {i}: got {g}, want {w} (scale {scale:e})"
        );
    }
}

#[test]
fn cumsum_matches_the_cpu_bitwise_on_every_axis_and_direction() {
    let mut rng = Rng::new(70);
    for g in [
        VolGeom::from5([2, 5, 7, 3, 1]),
        VolGeom::from5([1, 3, 1, 6, 3]),
        VolGeom::from5([2, 1, 4, 1, 2]),
    ] {
        let x = uniform(&mut rng, g.len(), -2.0, 2.0);
        for (dev, b) in gpus() {
            let xb = up(b, &x);
            for axis in 0..3 {
                for reverse in [false, true] {
                    let got = down(b, &b.cumsum(&xb, g, axis, reverse).unwrap());
                    let want = cpu::cumsum(&x, g, axis, reverse);
                    // The same chain of f32 additions along every line.
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "{dev:?} {g:?} axis {axis} reverse {reverse}"
                    );
                }
            }
        }
    }
}

#[test]
fn affine_grid_and_its_gradients_match_the_cpu() {
    let mut rng = Rng::new(71);
    // 9·23·21 = 4347 points per sample: two dtheta chunks, the second partial.
    for g in [
        VolGeom::from5([2, 9, 23, 21, 3]),
        VolGeom::from5([1, 1, 3, 5, 3]),
    ] {
        let grid = uniform(&mut rng, g.len(), -3.0, 25.0);
        let dy = uniform(&mut rng, g.len(), -1.0, 1.0);
        let theta = uniform(&mut rng, 12 * g.n, -1.5, 1.5);
        let c = [
            (g.dims[2] as f32 - 1.0) / 2.0,
            (g.dims[1] as f32 - 1.0) / 2.0,
            (g.dims[0] as f32 - 1.0) / 2.0,
        ];
        let y = cpu::affine_grid(&grid, &theta, c, g);
        let (dg, dt) = cpu::affine_grid_bwd(&grid, &theta, &dy, c, g);
        for (dev, b) in gpus() {
            let (gb, tb, db) = (up(b, &grid), up(b, &theta), up(b, &dy));
            let got = down(b, &b.affine_grid(&gb, &tb, c, g).unwrap());
            close(&format!("{dev:?} affine_grid"), &got, &y, 1e-6);
            let run = || {
                let (dgb, dtb) = b.affine_grid_bwd(&gb, &tb, &db, c, g).unwrap();
                (down(b, &dgb), down(b, &dtb))
            };
            let (got_dg, got_dt) = run();
            close(&format!("{dev:?} dgrid"), &got_dg, &dg, 1e-6);
            // Both are f64 sums rounded once; only the summation order differs.
            close(&format!("{dev:?} dtheta"), &got_dt, &dt, 1e-6);
            let (again_dg, again_dt) = run();
            assert_eq!(bits(&again_dg), bits(&got_dg), "{dev:?} dgrid reproducible");
            assert_eq!(
                bits(&again_dt),
                bits(&got_dt),
                "{dev:?} dtheta reproducible"
            );
        }
    }
}

/// Coordinates for an image of spatial size `[d, h, w]`: uniform with `margin` voxels beyond
/// every edge, and every tenth point replaced by a special value on one axis (an edge, an
/// integer, ±∞, NaN, far outside).
fn odd_coords(rng: &mut Rng, points: usize, [d, h, w]: [usize; 3], margin: f64) -> Vec<f32> {
    let sizes = [w, h, d];
    let mut v = Vec::with_capacity(points * 3);
    for i in 0..points {
        for (a, &s) in sizes.iter().enumerate() {
            v.push((-margin + (s as f64 - 1.0 + 2.0 * margin) * rng.uniform()) as f32);
            if i % 10 == a + 1 {
                let hi = s as f32 - 1.0;
                let specials = [
                    0.0,
                    hi,
                    hi + 1.0,
                    -1.0,
                    (s / 2) as f32,
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    f32::NAN,
                    -1e9,
                    1e9,
                    -0.5,
                    hi + 0.5,
                ];
                *v.last_mut().unwrap() = specials[(i / 10 + a) % specials.len()];
            }
        }
    }
    v
}

#[test]
fn grid_sample_and_its_gradients_match_the_cpu_on_odd_geometries() {
    let cases = [
        // (n, in_dims, out_dims, c, margin)
        (2, [5, 7, 4], [3, 6, 5], 3, 2.5),
        (2, [4, 3, 6], [7, 2, 3], 1, 1.0),
        (1, [1, 5, 3], [2, 4, 4], 3, 1.5),
        (1, [3, 1, 1], [5, 3, 2], 1, 0.8),
    ];
    for (k, (n, ind, outd, c, margin)) in cases.into_iter().enumerate() {
        let mut rng = Rng::new(72 + k as u64);
        let img = uniform(&mut rng, n * ind.iter().product::<usize>() * c, -1.0, 1.0);
        let points = n * outd.iter().product::<usize>();
        let coords = odd_coords(&mut rng, points, ind, margin);
        let dy = uniform(&mut rng, points * c, -1.0, 1.0);
        for padding in [Padding::Border, Padding::Zeros] {
            let g = SampleGeom {
                n,
                in_dims: ind,
                out_dims: outd,
                c,
                padding,
            };
            let y = cpu::grid_sample(&img, &coords, g);
            let (di, dc) = cpu::grid_sample_bwd(&img, &coords, &dy, g);
            for (dev, b) in gpus() {
                let what = format!("{dev:?} case {k} {padding:?}");
                let (ib, cb, db) = (up(b, &img), up(b, &coords), up(b, &dy));
                let got = down(b, &b.grid_sample(&ib, &cb, g).unwrap());
                close(&format!("{what} out"), &got, &y, 1e-6);
                let (dib, dcb) = b.grid_sample_bwd(&ib, &cb, &db, g).unwrap();
                close(&format!("{what} dimg"), &down(b, &dib), &di, 1e-6);
                close(&format!("{what} dcoords"), &down(b, &dcb), &dc, 1e-6);
                let dc_alone = b.grid_sample_bwd_coords(&ib, &cb, &db, g).unwrap();
                assert_eq!(
                    bits(&down(b, &dc_alone)),
                    bits(&down(b, &dcb)),
                    "{what} dcoords alone"
                );
                let di_alone = b.grid_sample_bwd_image(&ib, &cb, &db, g).unwrap();
                assert_eq!(
                    bits(&down(b, &di_alone)),
                    bits(&down(b, &dib)),
                    "{what} dimg alone"
                );
            }
        }
    }
}

/// The output voxels of each of the `n` samples in reverse order (coordinates and dy with
/// `c` channels together): the same contributions, scattered in another order.
fn reversed_within_samples(coords: &[f32], dy: &[f32], n: usize, c: usize) -> (Vec<f32>, Vec<f32>) {
    let vout = coords.len() / 3 / n.max(1);
    let mut coords_rev = Vec::with_capacity(coords.len());
    let mut dy_rev = Vec::with_capacity(dy.len());
    for i in 0..n {
        for o in (0..vout).rev() {
            let p = i * vout + o;
            coords_rev.extend_from_slice(&coords[3 * p..3 * p + 3]);
            dy_rev.extend_from_slice(&dy[c * p..c * p + c]);
        }
    }
    (coords_rev, dy_rev)
}

/// Runs the sampling backward on every GPU backend for two arrangements of the same output
/// voxels (`a` and `b`: coordinates and dy) and checks that the image gradient comes out
/// bitwise the same (and the same on a rerun of `a`, dcoords too), and close to the CPU's.
fn image_gradient_is_arrangement_independent(
    img: &[f32],
    a: (&[f32], &[f32]),
    b: (&[f32], &[f32]),
    g: SampleGeom,
) {
    let (di_cpu, dc_cpu) = cpu::grid_sample_bwd(img, a.0, a.1, g);
    let padding = g.padding;
    for (dev, be) in gpus() {
        let ib = up(be, img);
        let run = |(coords, dy): (&[f32], &[f32])| {
            let (di, dc) = be
                .grid_sample_bwd(&ib, &up(be, coords), &up(be, dy), g)
                .unwrap();
            (down(be, &di), down(be, &dc))
        };
        let (di, dc) = run(a);
        let (di2, dc2) = run(a);
        assert_eq!(bits(&di), bits(&di2), "{dev:?} {padding:?} dimg rerun");
        assert_eq!(bits(&dc), bits(&dc2), "{dev:?} {padding:?} dcoords rerun");
        let (di_b, _) = run(b);
        assert_eq!(
            bits(&di),
            bits(&di_b),
            "{dev:?} {padding:?} dimg rearranged"
        );
        close(&format!("{dev:?} {padding:?} dimg"), &di, &di_cpu, 1e-6);
        close(&format!("{dev:?} {padding:?} dcoords"), &dc, &dc_cpu, 1e-6);
    }
}

#[test]
fn grid_sample_image_gradient_is_bitwise_independent_of_the_scatter_order() {
    // A strong contraction: 2·15·17·16 output voxels sampled from a 3×4×5 image, so every image
    // voxel takes hundreds of contributions.
    let mut rng = Rng::new(80);
    let (ind, outd, c) = ([3, 4, 5], [15, 17, 16], 3);
    let n = 2;
    let vout = outd.iter().product::<usize>();
    let img = uniform(&mut rng, n * 60 * c, -1.0, 1.0);
    let coords = odd_coords(&mut rng, n * vout, ind, 0.6);
    let dy = uniform(&mut rng, n * vout * c, -1.0, 1.0);
    // The same output voxels in another order (reversed within each sample): every image
    // voxel receives the same contributions in a different order.
    let (coords_rev, dy_rev) = reversed_within_samples(&coords, &dy, n, c);
    for padding in [Padding::Border, Padding::Zeros] {
        let g = SampleGeom {
            n,
            in_dims: ind,
            out_dims: outd,
            c,
            padding,
        };
        image_gradient_is_arrangement_independent(&img, (&coords, &dy), (&coords_rev, &dy_rev), g);
    }
}

#[test]
fn grid_sample_image_gradient_is_the_same_from_shared_and_global_accumulation() {
    // A smooth field on a 16³ image: each 16×4×4 output tile of the kernel maps into a small
    // box of image cells and is accumulated in shared memory. The same output voxels shuffled
    // within each sample scatter every tile over the whole image (4096 cells, over the
    // 2048-cell shared accumulator), so they go to global memory directly. Same contributions,
    // so the same bits; the output (13×16×18) leaves partial tiles on every axis.
    let mut rng = Rng::new(82);
    let (n, ind, outd, c) = (2, [16, 16, 16], [13, 16, 18], 2);
    let vout = outd.iter().product::<usize>();
    let img = uniform(&mut rng, n * 4096 * c, -1.0, 1.0);
    let mut coords = Vec::with_capacity(n * vout * 3);
    for i in 0..n {
        let ph = i as f64 + 0.3;
        for z in 0..outd[0] {
            for y in 0..outd[1] {
                for x in 0..outd[2] {
                    let (zf, yf, xf) = (z as f64, y as f64, x as f64);
                    // A slight expansion plus a smooth wave; the edges reach past the image.
                    coords.push((0.9 * xf - 0.6 + 1.3 * (0.4 * yf + ph).sin()) as f32);
                    coords.push((yf + 0.2 + 0.9 * (0.3 * zf - ph).cos()) as f32);
                    coords.push((1.1 * zf + 0.7 * (0.35 * xf + ph).sin()) as f32);
                }
            }
        }
    }
    let dy = uniform(&mut rng, n * vout * c, -1.0, 1.0);
    let (mut coords_mixed, mut dy_mixed) = (coords.clone(), dy.clone());
    for i in 0..n {
        for o in (1..vout).rev() {
            let swap = i * vout + (rng.next_u64() % (o as u64 + 1)) as usize;
            let p = i * vout + o;
            for a in 0..3 {
                coords_mixed.swap(3 * p + a, 3 * swap + a);
            }
            for ch in 0..c {
                dy_mixed.swap(c * p + ch, c * swap + ch);
            }
        }
    }
    for padding in [Padding::Border, Padding::Zeros] {
        let g = SampleGeom {
            n,
            in_dims: ind,
            out_dims: outd,
            c,
            padding,
        };
        image_gradient_is_arrangement_independent(
            &img,
            (&coords, &dy),
            (&coords_mixed, &dy_mixed),
            g,
        );
        // Two scattered arrangements: both through global atomics, in different orders.
        let (coords_back, dy_back) = reversed_within_samples(&coords_mixed, &dy_mixed, n, c);
        image_gradient_is_arrangement_independent(
            &img,
            (&coords_mixed, &dy_mixed),
            (&coords_back, &dy_back),
            g,
        );
    }
}

#[test]
fn grid_sample_image_gradient_keeps_small_contributions_next_to_large_ones() {
    // One huge dy sets the fixed-point scale; the small ones must still come through with
    // about f32 precision relative to the largest dimg value.
    let mut rng = Rng::new(81);
    let g = SampleGeom {
        n: 1,
        in_dims: [4, 4, 4],
        out_dims: [3, 5, 4],
        c: 1,
        padding: Padding::Zeros,
    };
    let img = uniform(&mut rng, 64, -1.0, 1.0);
    let coords = odd_coords(&mut rng, 60, g.in_dims, 0.5);
    let mut dy = uniform(&mut rng, 60, -1e-3, 1e-3);
    dy[7] = 3e4;
    let (want, _) = cpu::grid_sample_bwd(&img, &coords, &dy, g);
    for (dev, b) in gpus() {
        let (di, _) = b
            .grid_sample_bwd(&up(b, &img), &up(b, &coords), &up(b, &dy), g)
            .unwrap();
        let got = down(b, &di);
        close(&format!("{dev:?} dimg"), &got, &want, 1e-6);
        // Away from the big contribution the values are the small sums themselves.
        let far: Vec<usize> = (0..64).filter(|&i| want[i].abs() < 1.0).collect();
        assert!(far.len() > 10);
        for i in far {
            assert!(
                (got[i] - want[i]).abs() <= 1e-5 * want[i].abs() + 1e-9,
                "{dev:?} dimg[{i}]: got {}, want {}",
                got[i],
                want[i]
            );
        }
    }
}

#[test]
fn grid_sample_image_gradient_is_nan_for_non_finite_output_gradients() {
    let g = SampleGeom {
        n: 1,
        in_dims: [2, 3, 2],
        out_dims: [1, 2, 2],
        c: 1,
        padding: Padding::Border,
    };
    let img = vec![0.5; 12];
    let coords = vec![0.2, 1.3, 0.4, 1.0, 0.0, 0.0, 0.5, 2.0, 1.0, 0.9, 0.1, 0.7];
    let dy = vec![1.0, f32::NAN, 2.0, 3.0];
    for (dev, b) in gpus() {
        let (di, _) = b
            .grid_sample_bwd(&up(b, &img), &up(b, &coords), &up(b, &dy), g)
            .unwrap();
        assert!(down(b, &di).iter().all(|v| v.is_nan()), "{dev:?}");
    }
}

#[test]
fn empty_volumes_give_empty_or_zero_results() {
    for (dev, b) in gpus() {
        let g = VolGeom::from5([2, 3, 0, 4, 3]);
        let e = up(b, &[]);
        assert!(down(b, &b.cumsum(&e, g, 1, false).unwrap()).is_empty());
        assert!(
            down(
                b,
                &b.affine_grid(&e, &up(b, &[0.5; 24]), [0.0; 3], g).unwrap()
            )
            .is_empty()
        );
        let (dg, dt) = b
            .affine_grid_bwd(&e, &up(b, &[0.5; 24]), &e, [0.0; 3], g)
            .unwrap();
        assert!(down(b, &dg).is_empty(), "{dev:?}");
        assert_eq!(down(b, &dt), vec![0.0; 24], "{dev:?}");
        let s = SampleGeom {
            n: 1,
            in_dims: [2, 2, 2],
            out_dims: [0, 3, 3],
            c: 2,
            padding: Padding::Zeros,
        };
        let img = up(b, &[1.0; 16]);
        assert!(down(b, &b.grid_sample(&img, &e, s).unwrap()).is_empty());
        let (di, dc) = b.grid_sample_bwd(&img, &e, &e, s).unwrap();
        assert_eq!(down(b, &di), vec![0.0; 16], "{dev:?}");
        assert!(down(b, &dc).is_empty(), "{dev:?}");
    }
}
