//! `grid_sample`.

use super::{bits, identity_grid, vals, with_threads};
use crate::Tape;
use crate::ops::testing::{
    Check, assert_close_f32, check_op, load_fixture, test_devices, uniform, uniform_away,
};
use crate::ops::warp::{cpu, grid_sample};
use crate::ops::{Padding, SampleGeom};
use crate::ops::{mul, sum};
use crate::tensor::{Device, Rng, Shape, Tensor};

/// Trilinear sampling in `f64`, written independently of the engine: Border clamps the
/// coordinate and the corner indices, Zeros drops corners outside.
fn sample_ref(
    img: &[f64],
    coords: &[f64],
    n: usize,
    [di, hi, wi]: [usize; 3],
    c: usize,
    padding: Padding,
) -> Vec<f64> {
    let vout = coords.len() / 3 / n;
    let mut out = vec![0.0; n * vout * c];
    let sizes = [wi, hi, di];
    for i in 0..n {
        for o in 0..vout {
            let p = &coords[(i * vout + o) * 3..][..3];
            let mut lo = [0i64; 3];
            let mut t = [0.0; 3];
            for a in 0..3 {
                let x = match padding {
                    Padding::Border => p[a].clamp(0.0, (sizes[a] - 1) as f64),
                    Padding::Zeros => p[a],
                };
                lo[a] = x.floor() as i64;
                t[a] = x - x.floor();
            }
            for corner in 0..8 {
                let mut w = 1.0;
                let mut idx = [0usize; 3];
                let mut inside = true;
                for a in 0..3 {
                    let up = (corner >> a) & 1;
                    w *= if up == 1 { t[a] } else { 1.0 - t[a] };
                    let j = lo[a] + up as i64;
                    let s = sizes[a] as i64;
                    match padding {
                        Padding::Border => idx[a] = j.clamp(0, s - 1) as usize,
                        Padding::Zeros if (0..s).contains(&j) => idx[a] = j as usize,
                        Padding::Zeros => inside = false,
                    }
                }
                if !inside {
                    continue;
                }
                let v = (((i * di + idx[2]) * hi + idx[1]) * wi + idx[0]) * c;
                for ch in 0..c {
                    out[(i * vout + o) * c + ch] += w * img[v + ch];
                }
            }
        }
    }
    out
}

/// Random voxel coordinates for an image of spatial size `[d, h, w]`, `margin` voxels beyond
/// each edge, at least 0.05 away from every integer (the kinks of trilinear interpolation and,
/// for Border, of the clamp).
fn coords_away(rng: &mut Rng, points: usize, [d, h, w]: [usize; 3], margin: f64) -> Vec<f32> {
    let kinks: Vec<f64> = (-4..40).map(|k| k as f64).collect();
    let axes: Vec<Vec<f32>> = [w, h, d]
        .iter()
        .map(|&s| uniform_away(rng, points, -margin, s as f64 - 1.0 + margin, &kinks, 0.05))
        .collect();
    (0..points)
        .flat_map(|i| [axes[0][i], axes[1][i], axes[2][i]])
        .collect()
}

#[test]
fn grid_sample_matches_reference_and_gradients() {
    // Non-cubic image and output of different sizes; D = 9 spans three scatter slabs; the last
    // image has a single D plane.
    let cases = [
        (2, [9, 5, 6], [4, 3, 5], 2, 1.4),
        (1, [3, 7, 2], [2, 5, 3], 1, 0.6),
        (1, [1, 4, 5], [3, 2, 2], 3, 0.8),
    ];
    for (n, ind, outd, c, margin) in cases {
        for padding in [Padding::Border, Padding::Zeros] {
            let mut rng = Rng::new(40 + c as u64);
            let is = Shape::new([n, ind[0], ind[1], ind[2], c]);
            let img = uniform(&mut rng, is.numel(), -1.0, 1.0);
            let points = n * outd.iter().product::<usize>();
            let coords = coords_away(&mut rng, points, ind, margin);
            let cs = Shape::new([n, outd[0], outd[1], outd[2], 3]);
            check_op(
                &[(is, img), (cs, coords)],
                |t| grid_sample(&t[0], &t[1], padding),
                |v| sample_ref(&v[0], &v[1], n, ind, c, padding),
                Check {
                    max_points: 60,
                    ..Check::default()
                },
            );
        }
    }
}

fn image(rng: &mut Rng, dims: [usize; 5]) -> Tensor {
    Tensor::rand_uniform(dims, -1.0, 1.0, rng, Device::Cpu).unwrap()
}

fn coords_tensor(v: Vec<f32>, n: usize, [d, h, w]: [usize; 3]) -> Tensor {
    Tensor::from_vec(v, [n, d, h, w, 3], Device::Cpu).unwrap()
}

#[test]
fn identity_coordinates_reproduce_the_image_exactly() {
    let mut rng = Rng::new(50);
    let img = image(&mut rng, [2, 5, 4, 6, 2]);
    let coords = coords_tensor(identity_grid(2, [5, 4, 6]), 2, [5, 4, 6]);
    for padding in [Padding::Border, Padding::Zeros] {
        let y = grid_sample(&img, &coords, padding).unwrap();
        assert_eq!(y.dims(), img.dims());
        assert_eq!(bits(&vals(&y)), bits(&vals(&img)), "{padding:?}");
    }
}

#[test]
fn unit_translations_shift_along_the_matching_axis() {
    let dims = [4, 3, 5];
    let mut rng = Rng::new(51);
    let img = image(&mut rng, [1, 4, 3, 5, 1]);
    let v = vals(&img);
    let at = |z: usize, y: usize, x: usize| v[(z * 3 + y) * 5 + x];
    // Channel 0 (x) moves along W, channel 2 (z) along D.
    for (channel, axis) in [(0, 2), (2, 0)] {
        let mut grid = identity_grid(1, dims);
        for p in grid.chunks_mut(3) {
            p[channel] += 1.0;
        }
        let coords = coords_tensor(grid, 1, dims);
        for padding in [Padding::Border, Padding::Zeros] {
            let y = vals(&grid_sample(&img, &coords, padding).unwrap());
            for z in 0..4 {
                for yy in 0..3 {
                    for x in 0..5 {
                        let mut p = [z, yy, x];
                        let last = p[axis] == dims[axis] - 1;
                        let want = match (last, padding) {
                            (true, Padding::Border) => at(z, yy, x),
                            (true, Padding::Zeros) => 0.0,
                            (false, _) => {
                                p[axis] += 1;
                                at(p[0], p[1], p[2])
                            }
                        };
                        let got = y[(z * 3 + yy) * 5 + x];
                        assert_eq!(got, want, "{padding:?} channel {channel} at {z},{yy},{x}");
                    }
                }
            }
        }
    }
}

#[test]
fn zeros_padding_reads_zero_outside_and_border_repeats_the_edge() {
    let img = Tensor::from_vec(
        (0..24).map(|v| v as f32 + 1.0).collect(),
        [1, 2, 3, 4, 1],
        Device::Cpu,
    )
    .unwrap();
    // Far outside; half a voxel left of x = 0 at (y 1, z 0); far beyond the top corner.
    let coords = coords_tensor(
        vec![-3.0, 1.0, 0.0, -0.5, 1.0, 0.0, 9.0, 7.0, 5.0],
        1,
        [1, 1, 3],
    );
    let zeros = vals(&grid_sample(&img, &coords, Padding::Zeros).unwrap());
    assert_eq!(zeros, vec![0.0, 0.5 * 5.0, 0.0]);
    let border = vals(&grid_sample(&img, &coords, Padding::Border).unwrap());
    assert_eq!(border, vec![5.0, 5.0, 24.0]);
}

#[test]
fn border_gradient_to_a_clamped_coordinate_is_zero() {
    let mut rng = Rng::new(52);
    let img = image(&mut rng, [1, 3, 3, 3, 2]);
    let tape = Tape::new();
    let img = tape.watch(&img);
    // x below 0, y above H − 1, z inside: only the z component gets a gradient.
    let coords = tape.watch(&coords_tensor(vec![-0.7, 2.6, 1.3], 1, [1, 1, 1]));
    let y = grid_sample(&img, &coords, Padding::Border).unwrap();
    let grads = tape.backward(&sum(&y).unwrap()).unwrap();
    let dc = vals(grads.get(&coords).unwrap());
    assert_eq!(&dc[..2], &[0.0, 0.0]);
    assert_ne!(dc[2], 0.0);
}

#[test]
fn grid_sample_matches_pytorch() {
    // /usr/bin/python3 scripts/fixtures_warp.py
    let f = load_fixture("warp_grid_sample");
    let (is, img) = &f["img"];
    let (cs, coords) = &f["coords"];
    let (_, r) = &f["r"];
    for (padding, name) in [(Padding::Border, "border"), (Padding::Zeros, "zeros")] {
        let tape = Tape::new();
        let it = tape.watch(&Tensor::from_vec(img.clone(), is.clone(), Device::Cpu).unwrap());
        let ct = tape.watch(&Tensor::from_vec(coords.clone(), cs.clone(), Device::Cpu).unwrap());
        let y = grid_sample(&it, &ct, padding).unwrap();
        let rt = Tensor::from_vec(r.clone(), y.shape().clone(), Device::Cpu).unwrap();
        let grads = tape
            .backward(&sum(&mul(&y, &rt).unwrap()).unwrap())
            .unwrap();
        let want = |k: &str| &f[&format!("{k}_{name}")].1;
        assert_close_f32(&format!("{name} out"), &vals(&y), want("out"), 1e-4);
        let di = vals(grads.get(&it).unwrap());
        assert_close_f32(&format!("{name} dimg"), &di, want("dimg"), 1e-4);
        let dc = vals(grads.get(&ct).unwrap());
        assert_close_f32(&format!("{name} dcoords"), &dc, want("dcoords"), 1e-4);
    }
}

#[test]
fn an_untracked_image_gets_no_gradient_and_the_same_coordinate_gradient() {
    // The training case: the moving image is data, only the coordinates are tracked. The
    // backward then skips the image gradient; the coordinate gradient must not change.
    let mut rng = Rng::new(54);
    let ind = [5, 6, 4];
    let img = uniform(&mut rng, 2 * 5 * 6 * 4 * 3, -1.0, 1.0);
    let coords = coords_away(&mut rng, 2 * 4 * 3 * 5, ind, 1.2);
    let r = uniform(&mut rng, 2 * 4 * 3 * 5 * 3, -1.0, 1.0);
    for device in test_devices() {
        for padding in [Padding::Border, Padding::Zeros] {
            let run = |track_image: bool| {
                let tape = Tape::new();
                let it = Tensor::from_vec(img.clone(), [2, 5, 6, 4, 3], device).unwrap();
                let it = if track_image { tape.watch(&it) } else { it };
                let ct = Tensor::from_vec(coords.clone(), [2, 4, 3, 5, 3], device).unwrap();
                let ct = tape.watch(&ct);
                let y = grid_sample(&it, &ct, padding).unwrap();
                let rt = Tensor::from_vec(r.clone(), y.shape().clone(), device).unwrap();
                let grads = tape
                    .backward(&sum(&mul(&y, &rt).unwrap()).unwrap())
                    .unwrap();
                let dc = grads.get(&ct).unwrap().to_vec().unwrap();
                (grads.len(), bits(&dc))
            };
            let (n_both, dc_both) = run(true);
            let (n_alone, dc_alone) = run(false);
            assert_eq!((n_both, n_alone), (2, 1), "{device:?} {padding:?}");
            assert!(dc_both.iter().any(|&b| b != 0), "{device:?} {padding:?}");
            assert_eq!(dc_alone, dc_both, "{device:?} {padding:?}");
        }
    }
}

#[test]
fn grid_sample_backward_is_bitwise_reproducible_across_thread_counts() {
    // Many output voxels per image voxel (a contraction), spread over several slabs.
    let mut rng = Rng::new(53);
    let ind = [13, 6, 7];
    let g = SampleGeom {
        n: 2,
        in_dims: ind,
        out_dims: [10, 12, 9],
        c: 2,
        padding: Padding::Border,
    };
    let img = uniform(&mut rng, 2 * 13 * 6 * 7 * 2, -1.0, 1.0);
    let coords = coords_away(&mut rng, 2 * 10 * 12 * 9, ind, 0.7);
    let dy = uniform(&mut rng, 2 * 10 * 12 * 9 * 2, -1.0, 1.0);
    for padding in [Padding::Border, Padding::Zeros] {
        let g = SampleGeom { padding, ..g };
        let run = |t| {
            with_threads(t, || {
                let (di, dc) = cpu::grid_sample_bwd(&img, &coords, &dy, g);
                let y = cpu::grid_sample(&img, &coords, g);
                (bits(&di), bits(&dc), bits(&y))
            })
        };
        assert_eq!(run(1), run(3), "{padding:?}");
    }
}

#[test]
fn grid_sample_rejects_bad_shapes() {
    let img = Tensor::zeros([2, 3, 4, 5, 1], Device::Cpu).unwrap();
    let bad_last = Tensor::zeros([2, 3, 4, 5, 2], Device::Cpu).unwrap();
    let e = grid_sample(&img, &bad_last, Padding::Border)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("grid_sample") && e.contains("[2, 3, 4, 5, 2]") && e.contains("3 coordinate"),
        "{e}"
    );
    let one = Tensor::zeros([1, 3, 4, 5, 3], Device::Cpu).unwrap();
    let e = grid_sample(&img, &one, Padding::Zeros)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("grid_sample")
            && e.contains("batch")
            && e.contains("[2, 3, 4, 5, 1]")
            && e.contains("[1, 3, 4, 5, 3]"),
        "{e}"
    );
    let flat = Tensor::zeros([2, 3, 4, 5], Device::Cpu).unwrap();
    let e = grid_sample(&flat, &one, Padding::Zeros)
        .unwrap_err()
        .to_string();
    assert!(e.contains("grid_sample") && e.contains("rank-5"), "{e}");
    let empty = Tensor::zeros([1, 0, 4, 5, 1], Device::Cpu).unwrap();
    let e = grid_sample(&empty, &one, Padding::Zeros)
        .unwrap_err()
        .to_string();
    assert!(e.contains("grid_sample") && e.contains("empty"), "{e}");
}
