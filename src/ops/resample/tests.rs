//! Resampling ops against `f64` references, finite differences and PyTorch golden values.

use super::*;
use crate::autograd::Tape;
use crate::ops::testing::{Check, assert_close_f32, check_op, load_fixture, uniform};
use crate::tensor::{Device, Rng};

/// Flat index of `[s, z, y, x, ch]` in a `[n, d, h, w, c]` volume.
fn at([_, d, h, w, c]: [usize; 5], [s, z, y, x, ch]: [usize; 5]) -> usize {
    (((s * d + z) * h + y) * w + x) * c + ch
}

/// Calls `f(index)` for every index of `dims`, in row-major order.
fn each(dims: [usize; 5], mut f: impl FnMut([usize; 5])) {
    let [n, d, h, w, c] = dims;
    for s in 0..n {
        for z in 0..d {
            for y in 0..h {
                for x in 0..w {
                    for ch in 0..c {
                        f([s, z, y, x, ch]);
                    }
                }
            }
        }
    }
}

fn upsample_ref(x: &[f64], dims: [usize; 5], out: [usize; 3]) -> Vec<f64> {
    let o = [dims[0], out[0], out[1], out[2], dims[4]];
    let mut y = Vec::new();
    each(o, |[s, z, yy, xx, ch]| {
        y.push(x[at(dims, [s, z / 2, yy / 2, xx / 2, ch])])
    });
    y
}

fn max_pool_ref(x: &[f64], dims: [usize; 5]) -> Vec<f64> {
    let o = [dims[0], dims[1] / 2, dims[2] / 2, dims[3] / 2, dims[4]];
    let mut y = Vec::new();
    each(o, |[s, z, yy, xx, ch]| {
        let mut m = f64::NEG_INFINITY;
        for k in 0..8 {
            let (dz, dy, dx) = (k >> 2, (k >> 1) & 1, k & 1);
            m = m.max(x[at(dims, [s, 2 * z + dz, 2 * yy + dy, 2 * xx + dx, ch])]);
        }
        y.push(m);
    });
    y
}

fn global_avg_pool_ref(x: &[f64], dims: [usize; 5]) -> Vec<f64> {
    let [n, _, _, _, c] = dims;
    let s = dims[1] * dims[2] * dims[3];
    let mut y = vec![0.0; n * c];
    each(dims, |i| y[i[0] * c + i[4]] += x[at(dims, i)] / s as f64);
    y
}

/// `[rows, Σcs]` from parts `[rows, cs[i]]`.
fn concat_ref(parts: &[Vec<f64>], cs: &[usize]) -> Vec<f64> {
    let rows = parts[0].len() / cs[0];
    (0..rows)
        .flat_map(|r| {
            parts
                .iter()
                .zip(cs)
                .flat_map(move |(p, &w)| p[r * w..(r + 1) * w].to_vec())
        })
        .collect()
}

fn random_volume(rng: &mut Rng, dims: [usize; 5]) -> (Shape, Vec<f32>) {
    let shape = Shape::new(dims);
    let x = uniform(rng, shape.numel(), -1.0, 1.0);
    (shape, x)
}

#[test]
fn upsample_matches_reference_and_gradients() {
    let mut rng = Rng::new(1);
    let dims = [2, 3, 4, 5, 3];
    let input = random_volume(&mut rng, dims);
    for out in [[6, 8, 10], [5, 7, 9], [5, 8, 10], [6, 7, 9]] {
        check_op(
            std::slice::from_ref(&input),
            |t| upsample_nearest(&t[0], out),
            |v| upsample_ref(&v[0], dims, out),
            Check::default(),
        );
    }
    // A single voxel per axis grows to 2 (or stays 1).
    let dims = [1, 1, 1, 1, 2];
    let input = random_volume(&mut rng, dims);
    check_op(
        &[input],
        |t| upsample_nearest(&t[0], [2, 1, 2]),
        |v| upsample_ref(&v[0], dims, [2, 1, 2]),
        Check::default(),
    );
}

/// A volume whose values are distinct and at least 0.01 apart, so every window's maximum is
/// unique and stays so under finite-difference steps.
fn distinct_volume(rng: &mut Rng, dims: [usize; 5]) -> (Shape, Vec<f32>) {
    let shape = Shape::new(dims);
    let n = shape.numel();
    let mut v: Vec<f32> = (0..n).map(|k| (k as f32 - n as f32 / 2.0) * 0.01).collect();
    rng.shuffle(&mut v);
    (shape, v)
}

#[test]
fn max_pool_matches_reference_and_gradients() {
    let mut rng = Rng::new(2);
    for dims in [[2, 5, 6, 7, 3], [1, 2, 3, 2, 1], [2, 4, 4, 5, 2]] {
        check_op(
            &[distinct_volume(&mut rng, dims)],
            |t| max_pool(&t[0]),
            |v| max_pool_ref(&v[0], dims),
            Check {
                max_points: 80,
                ..Check::default()
            },
        );
    }
}

#[test]
fn max_pool_routes_ties_to_the_first_maximum() {
    // One 2³ window, four channels, values listed in scan order (d, h, w):
    let windows: [[f32; 8]; 4] = [
        [5.0; 8],                                      // all tied: the first voxel
        [1.0, 3.0, 0.0, 3.0, 3.0, 0.0, 0.0, 0.0],      // tied at 1, 3, 4: voxel 1
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 2.0],      // tied at 6, 7: voxel 6
        [0.0, 9.0, 0.0, 0.0, 0.0, f32::NAN, 0.0, 1.0], // NaN wins and propagates
    ];
    let mut x = vec![0.0f32; 32];
    for (ch, win) in windows.iter().enumerate() {
        for (k, &v) in win.iter().enumerate() {
            x[k * 4 + ch] = v;
        }
    }
    let tape = Tape::new();
    let xt = tape.watch(&Tensor::from_vec(x, [1, 2, 2, 2, 4], Device::Cpu).unwrap());
    let y = max_pool(&xt).unwrap();
    let yv = y.to_vec().unwrap();
    assert_eq!(&yv[..3], &[5.0, 3.0, 2.0]);
    assert!(yv[3].is_nan());
    let r = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], [1, 1, 1, 1, 4], Device::Cpu).unwrap();
    let loss = crate::ops::sum(&crate::ops::mul(&y, &r).unwrap()).unwrap();
    let dx = tape
        .backward(&loss)
        .unwrap()
        .get(&xt)
        .unwrap()
        .to_vec()
        .unwrap();
    let mut want = vec![0.0f32; 32];
    for (ch, k) in [0, 1, 6, 5].into_iter().enumerate() {
        want[k * 4 + ch] = (ch + 1) as f32;
    }
    assert_eq!(dx, want);
}

#[test]
fn global_avg_pool_matches_reference_and_gradients() {
    let mut rng = Rng::new(3);
    for dims in [[2, 3, 5, 1, 3], [1, 1, 1, 1, 4], [3, 2, 3, 3, 1]] {
        check_op(
            &[random_volume(&mut rng, dims)],
            |t| global_avg_pool(&t[0]),
            |v| global_avg_pool_ref(&v[0], dims),
            Check::default(),
        );
    }
}

#[test]
fn concat_channels_matches_reference_and_gradients() {
    let mut rng = Rng::new(4);
    let cs = [2, 1, 3];
    let inputs: Vec<_> = cs
        .iter()
        .map(|&c| random_volume(&mut rng, [2, 3, 1, 5, c]))
        .collect();
    check_op(
        &inputs,
        |t| concat_channels(&[&t[0], &t[1], &t[2]]),
        |v| concat_ref(v, &cs),
        Check::default(),
    );
    // Any rank ≥ 1, and a single part.
    let a = (Shape::new([4, 3]), uniform(&mut rng, 12, -1.0, 1.0));
    let b = (Shape::new([4, 2]), uniform(&mut rng, 8, -1.0, 1.0));
    check_op(
        &[a.clone(), b],
        |t| concat_channels(&[&t[0], &t[1]]),
        |v| concat_ref(v, &[3, 2]),
        Check::default(),
    );
    check_op(
        &[a],
        |t| concat_channels(&[&t[0]]),
        |v| v[0].clone(),
        Check::default(),
    );
}

#[test]
fn split_channels_matches_reference_and_gradients() {
    let mut rng = Rng::new(5);
    let dims = [2, 3, 1, 5, 5];
    let input = random_volume(&mut rng, dims);
    for (start, len) in [(1, 2), (0, 5), (3, 2), (0, 1), (4, 1)] {
        check_op(
            std::slice::from_ref(&input),
            |t| split_channels(&t[0], start, len),
            |v| {
                v[0].chunks(5)
                    .flat_map(|row| row[start..start + len].to_vec())
                    .collect()
            },
            Check::default(),
        );
    }
}

#[test]
fn split_undoes_concat_bitwise() {
    let mut rng = Rng::new(6);
    let parts: Vec<Tensor> = [3, 1, 4]
        .iter()
        .map(|&c| {
            let (s, v) = random_volume(&mut rng, [1, 3, 2, 3, c]);
            Tensor::from_vec(v, s, Device::Cpu).unwrap()
        })
        .collect();
    let cat = concat_channels(&parts.iter().collect::<Vec<_>>()).unwrap();
    assert_eq!(cat.dims(), [1, 3, 2, 3, 8]);
    for (p, start) in parts.iter().zip([0, 3, 4]) {
        let s = split_channels(&cat, start, p.dims()[4]).unwrap();
        assert!(s.bitwise_eq(p).unwrap());
    }
}

/// Runs `op` on a fixture's `x`, and compares `y` and the gradient of `sum(y·r)` with it.
fn check_fixture(name: &str, op: impl Fn(&Tensor) -> Result<Tensor>) {
    let f = load_fixture(name);
    let t = |k: &str| Tensor::from_vec(f[k].1.clone(), f[k].0.clone(), Device::Cpu).unwrap();
    let tape = Tape::new();
    let x = tape.watch(&t("x"));
    let y = op(&x).unwrap();
    assert_eq!(y.shape(), &f["y"].0);
    assert_close_f32("y", &y.to_vec().unwrap(), &f["y"].1, 1e-5);
    let loss = crate::ops::sum(&crate::ops::mul(&y, &t("r")).unwrap()).unwrap();
    let dx = tape
        .backward(&loss)
        .unwrap()
        .get(&x)
        .unwrap()
        .to_vec()
        .unwrap();
    assert_close_f32("dx", &dx, &f["dx"].1, 1e-5);
}

#[test]
fn max_pool_matches_pytorch() {
    // scripts/fixtures_resample.py: F.max_pool3d(x, kernel_size=2, stride=2) on x NCDHW
    // [2, 3, 5, 6, 7], gradient of sum(y * r).
    check_fixture("resample_max_pool", max_pool);
}

#[test]
fn upsample_matches_pytorch() {
    // scripts/fixtures_resample.py: F.interpolate(x, scale_factor=2, mode='nearest') cropped
    // to [:, :, :5, :8, :9] on x NCDHW [2, 3, 3, 4, 5], gradient of sum(y * r).
    check_fixture("resample_upsample", |x| upsample_nearest(x, [5, 8, 9]));
}

#[test]
fn results_are_bitwise_reproducible_across_thread_counts() {
    let mut rng = Rng::new(7);
    // Large enough for many work items and several reduction blocks per sample.
    let dims = [2, 17, 19, 23, 4];
    let (_, x) = distinct_volume(&mut rng, dims);
    let [n, d, h, w, c] = dims;
    let ug = UpsampleGeom {
        n,
        in_dims: [d, h, w],
        out_dims: [2 * d - 1, 2 * h, 2 * w - 1],
        c,
    };
    let pg = PoolGeom {
        n,
        in_dims: [d, h, w],
        c,
    };
    let vg = VolGeom::from5(dims);
    let up_len = n * ug.out_dims.iter().product::<usize>() * c;
    let dy_up = uniform(&mut rng, up_len, -1.0, 1.0);
    let dy_pool = uniform(
        &mut rng,
        n * pg.out_dims().iter().product::<usize>() * c,
        -1.0,
        1.0,
    );
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let outs = [
                cpu::upsample(&x, ug),
                cpu::upsample_bwd(&dy_up, ug),
                cpu::max_pool(&x, pg),
                cpu::max_pool_bwd(&x, &dy_pool, pg),
                cpu::global_avg_pool(&x, vg),
                cpu::global_avg_pool_bwd(&dy_pool[..n * c], vg),
                cpu::concat_channels(&[&x, &dy_up[..x.len()]], &[c, c], x.len() / c),
            ];
            outs.iter()
                .flat_map(|o| o.iter().map(|v| v.to_bits()))
                .collect::<Vec<u32>>()
        })
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn bad_shapes_and_ranges_are_errors() {
    let x = Tensor::zeros([1, 3, 4, 5, 2], Device::Cpu).unwrap();
    for out in [[6, 8, 11], [4, 8, 10], [6, 9, 10]] {
        let e = upsample_nearest(&x, out).unwrap_err().to_string();
        assert!(
            e.contains("upsample_nearest") && e.contains("[1, 3, 4, 5, 2]"),
            "{e}"
        );
    }
    let thin = Tensor::zeros([1, 4, 1, 4, 2], Device::Cpu).unwrap();
    let e = max_pool(&thin).unwrap_err().to_string();
    assert!(
        e.contains("max_pool") && e.contains("[1, 4, 1, 4, 2]"),
        "{e}"
    );
    let flat = Tensor::zeros([4, 2], Device::Cpu).unwrap();
    let e = global_avg_pool(&flat).unwrap_err().to_string();
    assert!(e.contains("global_avg_pool") && e.contains("rank-5"), "{e}");
    let y = Tensor::zeros([1, 3, 4, 4, 2], Device::Cpu).unwrap();
    let e = concat_channels(&[&x, &y]).unwrap_err().to_string();
    assert!(
        e.contains("concat_channels") && e.contains("[1, 3, 4, 4, 2]"),
        "{e}"
    );
    let e = concat_channels(&[]).unwrap_err().to_string();
    assert!(e.contains("no tensors"), "{e}");
    for (start, len) in [(1, 2), (0, 0), (2, 1), (usize::MAX, 2)] {
        let e = split_channels(&x, start, len).unwrap_err().to_string();
        assert!(
            e.contains("split_channels") && e.contains("2 channels"),
            "{e}"
        );
    }
}

// ---- the emulator's kernels against the CPU code ----

/// The emulator's backend.
fn emu() -> &'static dyn crate::ops::Backend {
    crate::ops::backend(Device::Emu).unwrap()
}

/// Runs `f` on uploaded copies of `inputs` on the emulator and downloads every result.
fn on_emu(
    inputs: &[&[f32]],
    f: impl Fn(&dyn crate::ops::Backend, &[crate::backend::Buffer]) -> Vec<crate::backend::Buffer>,
) -> Vec<Vec<f32>> {
    let be = emu();
    let bufs: Vec<_> = inputs.iter().map(|v| be.upload(v).unwrap()).collect();
    f(be, &bufs)
        .iter()
        .map(|b| be.download(b).unwrap())
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn emulator_upsample_matches_cpu_bitwise_on_odd_targets() {
    let mut rng = Rng::new(61);
    for (dims, out) in [
        ([1, 3, 4, 5, 1], [5, 8, 9]),
        ([2, 3, 2, 3, 2], [6, 3, 5]),
        ([2, 4, 3, 1, 3], [7, 5, 1]),
    ] {
        let [n, d, h, w, c] = dims;
        let g = UpsampleGeom {
            n,
            in_dims: [d, h, w],
            out_dims: out,
            c,
        };
        let (_, x) = random_volume(&mut rng, dims);
        let dy = uniform(&mut rng, n * out.iter().product::<usize>() * c, -1.0, 1.0);
        let run = || {
            on_emu(&[&x, &dy], |be, b| {
                vec![
                    be.upsample_nearest(&b[0], g).unwrap(),
                    be.upsample_nearest_bwd(&b[1], g).unwrap(),
                ]
            })
        };
        let got = run();
        assert_eq!(
            bits(&got[0]),
            bits(&cpu::upsample(&x, g)),
            "{dims:?} → {out:?}"
        );
        assert_eq!(
            bits(&got[1]),
            bits(&cpu::upsample_bwd(&dy, g)),
            "{dims:?} bwd"
        );
        assert_eq!(got, run(), "{dims:?}: not reproducible");
    }
}

#[test]
fn emulator_max_pool_matches_cpu_bitwise_with_ties_and_odd_sizes() {
    let mut rng = Rng::new(62);
    for dims in [[1, 5, 4, 7, 1], [2, 3, 5, 4, 2], [2, 4, 2, 3, 3]] {
        let [n, d, h, w, c] = dims;
        let g = PoolGeom {
            n,
            in_dims: [d, h, w],
            c,
        };
        // Four levels only, so most windows hold tied maxima; one NaN.
        let (shape, mut x) = random_volume(&mut rng, dims);
        x.iter_mut().for_each(|v| *v = (*v * 2.0).round());
        x[shape.numel() / 3] = f32::NAN;
        let dy = uniform(
            &mut rng,
            n * g.out_dims().iter().product::<usize>() * c,
            -1.0,
            1.0,
        );
        let got = on_emu(&[&x, &dy], |be, b| {
            vec![
                be.max_pool(&b[0], g).unwrap(),
                be.max_pool_bwd(&b[0], &b[1], g).unwrap(),
            ]
        });
        assert_eq!(bits(&got[0]), bits(&cpu::max_pool(&x, g)), "{dims:?}");
        assert_eq!(
            bits(&got[1]),
            bits(&cpu::max_pool_bwd(&x, &dy, g)),
            "{dims:?}"
        );
    }
}

#[test]
fn emulator_global_avg_pool_and_channel_copies_match_cpu() {
    let mut rng = Rng::new(63);
    // Over one reduction chunk (1024 voxels) per sample, c = 1, 2 and over 256 channels.
    for dims in [[2, 11, 10, 13, 1], [1, 3, 5, 7, 2], [2, 2, 3, 1, 300]] {
        let g = VolGeom::from5(dims);
        let (_, x) = random_volume(&mut rng, dims);
        let dy = uniform(&mut rng, g.n * g.c, -1.0, 1.0);
        let run = || {
            on_emu(&[&x, &dy], |be, b| {
                vec![
                    be.global_avg_pool(&b[0], g).unwrap(),
                    be.global_avg_pool_bwd(&b[1], g).unwrap(),
                ]
            })
        };
        let got = run();
        let want: Vec<f64> = cpu::global_avg_pool(&x, g)
            .iter()
            .map(|&v| v as f64)
            .collect();
        crate::ops::testing::assert_close(&format!("{dims:?}"), &got[0], &want, 1e-6);
        assert_eq!(bits(&got[1]), bits(&cpu::global_avg_pool_bwd(&dy, g)));
        assert_eq!(got, run(), "{dims:?}: not reproducible");
    }
    let rows = 2 * 3 * 5;
    let cs = [1, 4, 2];
    let parts: Vec<Vec<f32>> = cs
        .iter()
        .map(|&c| uniform(&mut rng, rows * c, -1.0, 1.0))
        .collect();
    let refs: Vec<&[f32]> = parts.iter().map(|p| p.as_slice()).collect();
    let want = cpu::concat_channels(&refs, &cs, rows);
    let got = on_emu(&refs, |be, b| {
        let cat = be
            .concat_channels(&b.iter().collect::<Vec<_>>(), &cs, rows)
            .unwrap();
        let mut out = be.split_channels(&cat, &cs, rows).unwrap();
        out.insert(0, cat);
        out
    });
    assert_eq!(bits(&got[0]), bits(&want));
    for (got, part) in got[1..].iter().zip(&parts) {
        assert_eq!(bits(got), bits(part));
    }
}
