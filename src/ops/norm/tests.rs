//! Normalization against `f64` references, finite differences and PyTorch golden values.

use super::*;
use crate::autograd::Tape;
use crate::ops::testing::{
    Check, assert_close, assert_close_f32, check_op, load_fixture, test_devices, uniform,
};
use crate::tensor::{Device, Rng};

/// `(y, mean, var)` in `f64` for `x [n, s, c]`, per channel or per (sample, channel).
fn reference(
    x: &[f64],
    gamma: Option<&[f64]>,
    beta: Option<&[f64]>,
    [n, s, c]: [usize; 3],
    eps: f64,
    per_sample: bool,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let groups = if per_sample { n * c } else { c };
    let group = |i: usize, ch: usize| if per_sample { i * c + ch } else { ch };
    let m = if per_sample { s } else { n * s } as f64;
    let (mut mean, mut var) = (vec![0.0; groups], vec![0.0; groups]);
    for (k, &v) in x.iter().enumerate() {
        mean[group(k / (s * c), k % c)] += v / m;
    }
    for (k, &v) in x.iter().enumerate() {
        let gi = group(k / (s * c), k % c);
        var[gi] += (v - mean[gi]).powi(2) / m;
    }
    let y = x
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            let (gi, ch) = (group(k / (s * c), k % c), k % c);
            (v - mean[gi]) / (var[gi] + eps).sqrt() * gamma.map_or(1.0, |g| g[ch])
                + beta.map_or(0.0, |b| b[ch])
        })
        .collect();
    (y, mean, var)
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&v| v as f64).collect()
}

fn check_normalize(dims: [usize; 5], per_sample: bool, affine: bool, seed: u64) {
    let mut rng = Rng::new(seed);
    let [n, d, h, w, c] = dims;
    let nsc = [n, d * h * w, c];
    let shape = Shape::new(dims);
    let x = uniform(&mut rng, shape.numel(), -1.0, 2.0);
    let mut inputs = vec![(shape, x)];
    if affine {
        inputs.push((Shape::new([c]), uniform(&mut rng, c, 0.5, 1.5)));
        inputs.push((Shape::new([c]), uniform(&mut rng, c, -1.0, 1.0)));
    }
    let eps = 1e-3;
    check_op(
        &inputs,
        |t| Ok(normalize(&t[0], t.get(1), t.get(2), eps, per_sample)?.0),
        |v| {
            let (g, b) = (v.get(1).map(|g| &g[..]), v.get(2).map(|b| &b[..]));
            reference(&v[0], g, b, nsc, eps as f64, per_sample).0
        },
        Check {
            fwd_tol: 2e-5,
            ..Check::default()
        },
    );
}

#[test]
fn batch_norm_matches_reference_and_gradients() {
    // N ≥ 2 so the statistics mix samples; odd spatial sizes.
    check_normalize([2, 3, 5, 3, 3], false, true, 1);
    check_normalize([3, 1, 3, 5, 2], false, false, 2);
}

#[test]
fn instance_norm_matches_reference_and_gradients() {
    check_normalize([2, 3, 3, 5, 3], true, true, 3);
    check_normalize([3, 5, 1, 3, 2], true, false, 4);
}

#[test]
fn statistics_match_reference_and_are_detached() {
    let mut rng = Rng::new(5);
    let dims = [3, 3, 5, 7, 4];
    let x = uniform(&mut rng, dims.iter().product(), -1.0, 3.0);
    for (per_sample, device) in [false, true]
        .into_iter()
        .flat_map(|p| test_devices().into_iter().map(move |d| (p, d)))
    {
        let tape = Tape::new();
        let xt = tape.watch(&Tensor::from_vec(x.clone(), dims, device).unwrap());
        let (y, mean, var) = normalize(&xt, None, None, 1e-3, per_sample).unwrap();
        assert!(y.is_tracked() && !mean.is_tracked() && !var.is_tracked());
        let want = if per_sample { vec![3, 4] } else { vec![4] };
        assert_eq!(mean.dims(), want);
        assert_eq!(var.dims(), want);
        let (_, m, v) = reference(&f64s(&x), None, None, [3, 105, 4], 1e-3, per_sample);
        assert_close("mean", &mean.to_vec().unwrap(), &m, 1e-6);
        assert_close("var", &var.to_vec().unwrap(), &v, 1e-6);
    }
}

#[test]
fn variance_is_accurate_far_from_zero() {
    // A large common offset: E[x²] - mean² in f32 would lose every digit of the variance.
    let mut rng = Rng::new(6);
    let x: Vec<f32> = uniform(&mut rng, 2 * 125 * 3, -1.0, 1.0)
        .iter()
        .map(|v| 3000.0 + v)
        .collect();
    let g = NormGeom {
        n: 2,
        s: 125,
        c: 3,
        per_sample: false,
    };
    let (_, _, want) = reference(&f64s(&x), None, None, [2, 125, 3], 0.0, false);
    let (_, var) = cpu::stats(&x, g);
    assert_close("var", &var, &want, 1e-5);
    let emu = crate::ops::backend(Device::Emu).unwrap();
    let (_, var) = emu.norm_stats(&emu.upload(&x).unwrap(), g).unwrap();
    assert_close("emulator var", &emu.download(&var).unwrap(), &want, 1e-5);
}

#[test]
fn normalize_with_treats_statistics_as_constants() {
    let mut rng = Rng::new(7);
    let dims = [2, 3, 1, 5, 3];
    let shape = Shape::new(dims);
    let x = uniform(&mut rng, shape.numel(), -1.0, 2.0);
    let mean = uniform(&mut rng, 3, -0.5, 0.5);
    let var = uniform(&mut rng, 3, 0.5, 2.0);
    let gamma = uniform(&mut rng, 3, 0.5, 1.5);
    let beta = uniform(&mut rng, 3, -1.0, 1.0);
    let (m, v) = (f64s(&mean), f64s(&var));
    let eps = 1e-3;
    let stats = |d| {
        (
            Tensor::from_vec(mean.clone(), [3], d),
            Tensor::from_vec(var.clone(), [3], d),
        )
    };
    check_op(
        &[
            (shape, x),
            (Shape::new([3]), gamma),
            (Shape::new([3]), beta),
        ],
        |t| {
            let (mt, vt) = stats(t[0].device());
            normalize_with(&t[0], &mt?, &vt?, Some(&t[1]), Some(&t[2]), eps)
        },
        |t| {
            t[0].iter()
                .enumerate()
                .map(|(k, &x)| {
                    let ch = k % 3;
                    (x - m[ch]) / (v[ch] + eps as f64).sqrt() * t[1][ch] + t[2][ch]
                })
                .collect()
        },
        Check::default(),
    );
}

/// Compares `normalize` and its gradients with a PyTorch fixture.
fn check_fixture(name: &str, per_sample: bool, eps: f32) {
    for device in test_devices() {
        check_fixture_on(name, per_sample, eps, device);
    }
}

fn check_fixture_on(name: &str, per_sample: bool, eps: f32, device: Device) {
    let f = load_fixture(name);
    let t = |k: &str| Tensor::from_vec(f[k].1.clone(), f[k].0.clone(), device).unwrap();
    let tape = Tape::new();
    let (x, gamma, beta) = (
        tape.watch(&t("x")),
        tape.watch(&t("gamma")),
        tape.watch(&t("beta")),
    );
    let (y, mean, var) = normalize(&x, Some(&gamma), Some(&beta), eps, per_sample).unwrap();
    let loss = crate::ops::sum(&crate::ops::mul(&y, &t("r")).unwrap()).unwrap();
    let grads = tape.backward(&loss).unwrap();
    let got = |k: &str, v: &Tensor| {
        assert_close_f32(
            &format!("{device} {k}"),
            &v.to_vec().unwrap(),
            &f[k].1,
            1e-5,
        )
    };
    got("y", &y);
    got("mean", &mean);
    got("var", &var);
    got("dx", grads.get(&x).unwrap());
    got("dgamma", grads.get(&gamma).unwrap());
    got("dbeta", grads.get(&beta).unwrap());
}

#[test]
fn batch_norm_matches_pytorch() {
    // scripts/fixtures_norm.py: F.batch_norm(x, None, None, gamma, beta, training=True,
    // eps=1e-3) on x NCDHW [2, 3, 3, 4, 5], gradients of sum(y * r).
    check_fixture("norm_batch", false, 1e-3);
}

#[test]
fn instance_norm_matches_pytorch() {
    // scripts/fixtures_norm.py: F.instance_norm(x, weight=gamma, bias=beta, eps=1e-5) on
    // x NCDHW [2, 3, 5, 3, 4], gradients of sum(y * r).
    check_fixture("norm_instance", true, 1e-5);
}

#[test]
fn results_are_bitwise_reproducible_across_thread_counts() {
    let mut rng = Rng::new(8);
    // Several reduction blocks per segment (block_rows(3) rows each), odd sizes.
    let (n, s, c) = (2, 3 * cpu::block_rows(3) + 17, 3);
    let x = uniform(&mut rng, n * s * c, -1.0, 2.0);
    let dy = uniform(&mut rng, n * s * c, -1.0, 1.0);
    let gamma = uniform(&mut rng, c, 0.5, 1.5);
    let beta = uniform(&mut rng, c, -1.0, 1.0);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut bits = Vec::new();
            for per_sample in [false, true] {
                let g = NormGeom {
                    n,
                    s,
                    c,
                    per_sample,
                };
                let (m, v) = cpu::stats(&x, g);
                let y = cpu::apply(&x, &m, &v, Some(&gamma), Some(&beta), 1e-3, g);
                let (dx, dg, db) = cpu::backward(&x, &m, &v, Some(&gamma), &dy, 1e-3, true, g);
                for t in [m, v, y, dx, dg, db] {
                    bits.extend(t.iter().map(|v| v.to_bits()));
                }
            }
            bits
        })
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn bad_shapes_and_arguments_are_errors() {
    let x = Tensor::zeros([2, 3, 3, 3, 4], Device::Cpu).unwrap();
    let c3 = Tensor::full(1.0, [3], Device::Cpu).unwrap();
    let c4 = Tensor::full(1.0, [4], Device::Cpu).unwrap();
    let e = normalize(&x, Some(&c3), None, 1e-3, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("normalize") && e.contains("gamma [3]") && e.contains("[2, 3, 3, 3, 4]"),
        "{e}"
    );
    let e = normalize(&x, None, Some(&c3), 1e-3, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("beta [3]"), "{e}");
    let flat = Tensor::zeros([6, 4], Device::Cpu).unwrap();
    let e = normalize(&flat, None, None, 1e-3, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("rank-5") && e.contains("[6, 4]"), "{e}");
    let e = normalize(&x, None, None, -1.0, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("eps"), "{e}");
    let e = normalize_with(&x, &c3, &c4, None, None, 1e-3)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("normalize_with") && e.contains("mean [3]"),
        "{e}"
    );
    let empty = Tensor::zeros([0, 3, 3, 3, 4], Device::Cpu).unwrap();
    let e = normalize(&empty, None, None, 1e-3, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty"), "{e}");
}

/// Every output of the norm backend on `device` for `x [n, s, c]`: for BatchNorm and
/// InstanceNorm, the statistics, `apply` with and without `γ`/`β`, and `backward` with and
/// without batch statistics (each as a list of named arrays).
fn backend_outputs(device: Device, [n, s, c]: [usize; 3], seed: u64) -> Vec<(String, Vec<f32>)> {
    let be = crate::ops::backend(device).unwrap();
    let mut rng = Rng::new(seed);
    let len = n * s * c;
    // An offset far from zero exercises the shifted sums.
    let x: Vec<f32> = uniform(&mut rng, len, -1.0, 2.0)
        .iter()
        .map(|v| v + 40.0)
        .collect();
    let dy = uniform(&mut rng, len, -1.0, 1.0);
    let gamma = uniform(&mut rng, c, 0.5, 1.5);
    let beta = uniform(&mut rng, c, -1.0, 1.0);
    let up = |v: &[f32]| be.upload(v).unwrap();
    let down = |b: &crate::backend::Buffer| be.download(b).unwrap();
    let (xb, dyb, gb, bb) = (up(&x), up(&dy), up(&gamma), up(&beta));
    let eps = 1e-3;
    let mut out = Vec::new();
    for per_sample in [false, true] {
        let g = NormGeom {
            n,
            s,
            c,
            per_sample,
        };
        let (m, v) = be.norm_stats(&xb, g).unwrap();
        let tag = |what: &str| format!("{what} per_sample={per_sample}");
        out.push((tag("mean"), down(&m)));
        out.push((tag("var"), down(&v)));
        for affine in [false, true] {
            let (ga, ba) = if affine {
                (Some(&gb), Some(&bb))
            } else {
                (None, None)
            };
            let y = be.norm_apply(&xb, &m, &v, ga, ba, eps, g).unwrap();
            out.push((tag(&format!("y affine={affine}")), down(&y)));
            for batch_stats in [false, true] {
                let (dx, dg, db) = be
                    .norm_bwd(&xb, &m, &v, ga, &dyb, eps, batch_stats, g)
                    .unwrap();
                let t = |w: &str| tag(&format!("{w} affine={affine} batch_stats={batch_stats}"));
                out.push((t("dx"), down(&dx)));
                out.push((t("dgamma"), down(&dg)));
                out.push((t("dbeta"), down(&db)));
            }
        }
    }
    out
}

/// Odd geometries: one channel, c not dividing the 256-thread block, c above one block's 256
/// channels, segments spanning several reduction chunks with a ragged last chunk.
fn odd_geometries() -> Vec<[usize; 3]> {
    vec![
        [1, 7, 1],
        [2, 2 * gpu::chunk_rows(1) + 37, 1],
        [2, 3 * gpu::chunk_rows(3) + 17, 3],
        [3, 29, 5],
        [2, gpu::chunk_rows(300) + 11, 300],
    ]
}

#[test]
fn emulator_matches_cpu_on_odd_geometries() {
    for (k, dims) in odd_geometries().into_iter().enumerate() {
        let cpu = backend_outputs(Device::Cpu, dims, 10 + k as u64);
        let emu = backend_outputs(Device::Emu, dims, 10 + k as u64);
        for ((what, want), (_, got)) in cpu.iter().zip(&emu) {
            let want: Vec<f64> = want.iter().map(|&v| v as f64).collect();
            assert_close(&format!("{dims:?} {what}"), got, &want, 2e-6);
        }
    }
}

#[test]
fn emulator_results_are_bitwise_reproducible() {
    for (k, dims) in odd_geometries().into_iter().enumerate().skip(1).take(2) {
        let a = backend_outputs(Device::Emu, dims, 20 + k as u64);
        let b = backend_outputs(Device::Emu, dims, 20 + k as u64);
        for ((what, a), (_, b)) in a.iter().zip(&b) {
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(a), bits(b), "{dims:?} {what}");
        }
    }
}

#[test]
fn elementwise_passes_walk_the_grid_stride_correctly() {
    // Grids far smaller than the data, with strides that are not multiples of c or s, so each
    // thread advances its (sample, channel) incrementally across channel and sample borders.
    use crate::backend::emu::EmuRuntime;
    use crate::backend::gpu::{LaunchCfg, Runtime};
    let rt = EmuRuntime;
    let mut rng = Rng::new(30);
    for &([n, s, c], blocks, block) in &[
        ([3, 13, 7], 1, 32),
        ([2, 5, 3], 2, 32),
        ([4, 1, 2], 1, 32),
        ([2, 40, 1], 3, 64),
    ] {
        let len = n * s * c;
        let x = uniform(&mut rng, len, -1.0, 2.0);
        let dy = uniform(&mut rng, len, -1.0, 1.0);
        let gamma = uniform(&mut rng, c, 0.5, 1.5);
        let beta = uniform(&mut rng, c, -1.0, 1.0);
        let cfg = LaunchCfg::new([blocks, 1, 1], [block, 1, 1], 0);
        let up = |v: &[f32]| rt.upload(v).unwrap();
        for per_sample in [false, true] {
            let g = NormGeom {
                n,
                s,
                c,
                per_sample,
            };
            let (m, v) = cpu::stats(&x, g);
            let want_y = cpu::apply(&x, &m, &v, Some(&gamma), Some(&beta), 1e-3, g);
            let (want_dx, _, _) = cpu::backward(&x, &m, &v, Some(&gamma), &dy, 1e-3, true, g);
            let (xb, mb, vb, gb, bb, dyb) =
                (up(&x), up(&m), up(&v), up(&gamma), up(&beta), up(&dy));
            let y =
                gpu::apply_with(&rt, &xb, &mb, &vb, Some(&gb), Some(&bb), 1e-3, g, cfg).unwrap();
            let (dx, _, _) =
                gpu::backward_with(&rt, &xb, &mb, &vb, Some(&gb), &dyb, 1e-3, true, g, cfg)
                    .unwrap();
            let what = format!("{:?} grid {blocks}×{block}", g);
            assert_eq!(rt.download(&y).unwrap(), want_y, "{what}: y");
            assert_eq!(rt.download(&dx).unwrap(), want_dx, "{what}: dx");
        }
    }
}
