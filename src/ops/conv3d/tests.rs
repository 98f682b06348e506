//! conv3d against an `f64` loop reference, finite differences, PyTorch golden values, thread
//! counts, and bad shapes.

use super::kernel::Path;
use super::*;
use crate::ops::testing::{Check, assert_close, assert_close_f32, check_op, load_fixture, uniform};
use crate::tensor::{Device, Rng};

/// One convolution problem: input `[n, d, h, w, cin]`, kernel `k`, `cout`, stride, dilation.
#[derive(Clone, Copy, Debug)]
struct Case {
    x: [usize; 5],
    k: usize,
    cout: usize,
    stride: usize,
    dil: usize,
}

const fn case(x: [usize; 5], k: usize, cout: usize, stride: usize, dil: usize) -> Case {
    Case {
        x,
        k,
        cout,
        stride,
        dil,
    }
}

impl Case {
    fn geom(&self) -> Conv3dGeom {
        Conv3dGeom::same(self.x, self.k, self.cout, self.stride, self.dil).unwrap()
    }
    fn w_shape(&self) -> [usize; 5] {
        [self.k, self.k, self.k, self.x[4], self.cout]
    }
}

/// Forward output, and the gradients to `x` and `w` of `Σ y·dy`, by plain loops in `f64`.
fn reference(
    x: &[f64],
    w: &[f64],
    bias: Option<&[f64]>,
    dy: &[f64],
    g: &Conv3dGeom,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (k, cin, cout) = (g.k, g.cin, g.cout);
    let [id, ih, iw] = g.in_dims;
    let [od, oh, ow] = g.out_dims;
    let mut y = vec![0.0; g.n * od * oh * ow * cout];
    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0; w.len()];
    let pos = |o: usize, t: usize, a: usize| {
        (o * g.stride + t * g.dilation) as i64 - g.pad_before[a] as i64
    };
    for b in 0..g.n {
        for (o, yo) in y[b * od * oh * ow * cout..]
            .chunks_exact_mut(cout)
            .take(od * oh * ow)
            .enumerate()
        {
            let (o0, o1, o2) = (o / (oh * ow), o / ow % oh, o % ow);
            let yi = (b * od * oh * ow + o) * cout;
            if let Some(bias) = bias {
                yo.copy_from_slice(bias);
            }
            for t0 in 0..k {
                for t1 in 0..k {
                    for t2 in 0..k {
                        let (p0, p1, p2) = (pos(o0, t0, 0), pos(o1, t1, 1), pos(o2, t2, 2));
                        if p0 < 0 || p1 < 0 || p2 < 0 {
                            continue;
                        }
                        let (p0, p1, p2) = (p0 as usize, p1 as usize, p2 as usize);
                        if p0 >= id || p1 >= ih || p2 >= iw {
                            continue;
                        }
                        let xi = (((b * id + p0) * ih + p1) * iw + p2) * cin;
                        let wi = ((t0 * k + t1) * k + t2) * cin * cout;
                        for ci in 0..cin {
                            for co in 0..cout {
                                let wv = wi + ci * cout + co;
                                yo[co] += x[xi + ci] * w[wv];
                                dx[xi + ci] += dy[yi + co] * w[wv];
                                dw[wv] += x[xi + ci] * dy[yi + co];
                            }
                        }
                    }
                }
            }
        }
    }
    (y, dx, dw)
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&v| v as f64).collect()
}

/// Every kernel path this machine has (the portable sgemm one always).
fn paths() -> Vec<Path> {
    let mut p = vec![Path::Sgemm];
    if Path::detect() != Path::Sgemm {
        p.push(Path::detect());
    }
    p
}

/// Odd sizes, non-cubes, both strides, dilations 1-5, k = 1, 3, 5, and channel counts that
/// exercise every microkernel shape (1-7 use the dot kernels, 8+ the panels, with tails).
const CASES: &[Case] = &[
    case([2, 5, 4, 7, 3], 3, 4, 1, 1),
    case([1, 5, 6, 7, 3], 3, 5, 2, 1),
    case([1, 6, 4, 8, 2], 3, 9, 2, 1),
    case([1, 7, 5, 6, 4], 3, 3, 1, 2),
    case([1, 4, 9, 5, 2], 3, 2, 1, 3),
    case([1, 3, 5, 12, 2], 3, 3, 1, 5),
    case([2, 3, 4, 5, 6], 1, 7, 1, 1),
    case([1, 5, 3, 4, 5], 1, 3, 2, 1),
    case([1, 7, 5, 4, 3], 1, 2, 3, 1),
    case([1, 7, 8, 5, 2], 3, 3, 3, 1),
    case([1, 5, 5, 6, 3], 5, 4, 2, 2),
    case([1, 4, 5, 6, 18], 3, 17, 1, 1),
    case([1, 3, 4, 5, 9], 3, 33, 2, 1),
    case([1, 4, 4, 5, 16], 3, 1, 1, 1),
    case([1, 3, 5, 4, 1], 3, 24, 1, 2),
    case([1, 5, 4, 3, 8], 3, 16, 1, 1),
    case([1, 6, 5, 20, 8], 3, 16, 1, 1),
    case([1, 6, 7, 21, 5], 3, 9, 2, 1),
    case([1, 4, 5, 23, 6], 3, 3, 1, 2),
    case([1, 5, 4, 30, 3], 3, 8, 2, 3),
    case([3, 2, 3, 4, 2], 3, 5, 2, 1),
    case([1, 1, 3, 1, 2], 3, 3, 1, 2),
];

#[test]
fn conv3d_paths_match_f64_reference() {
    for (i, c) in CASES.iter().enumerate() {
        let g = c.geom();
        let mut rng = Rng::new(100 + i as u64);
        let x = uniform(&mut rng, c.x.iter().product(), -1.0, 1.0);
        let w = uniform(&mut rng, g.weight_len(), -1.0, 1.0);
        let b = uniform(&mut rng, c.cout, -1.0, 1.0);
        let dy = uniform(&mut rng, g.n * g.out_voxels() * c.cout, -1.0, 1.0);
        let (y, dx, dw) = reference(&f64s(&x), &f64s(&w), Some(&f64s(&b)), &f64s(&dy), &g);
        for path in paths() {
            let what = |s: &str| format!("{c:?} {path:?} {s}");
            let got = cpu::forward_with(path, &x, &w, Some(&b), &g);
            assert_close(&what("forward"), &got, &y, 2e-6);
            let got = cpu::backward_data_with(path, &dy, &w, &g);
            assert_close(&what("dgrad"), &got, &dx, 2e-6);
            let got = cpu::backward_filter_with(path, &x, &dy, &g);
            assert_close(&what("wgrad"), &got, &dw, 2e-6);
        }
    }
}

#[test]
fn conv3d_gradients_match_finite_differences() {
    let cases = [
        (case([2, 5, 4, 7, 3], 3, 4, 1, 1), true),
        (case([1, 5, 6, 3, 2], 3, 3, 2, 1), true),
        (case([1, 4, 6, 5, 2], 3, 2, 1, 2), false),
        (case([1, 3, 4, 5, 3], 1, 2, 2, 1), true),
    ];
    for (i, (c, with_bias)) in cases.into_iter().enumerate() {
        let g = c.geom();
        let mut rng = Rng::new(200 + i as u64);
        let mut inputs = vec![
            (
                Shape::new(c.x),
                uniform(&mut rng, c.x.iter().product(), -1.0, 1.0),
            ),
            (
                Shape::new(c.w_shape()),
                uniform(&mut rng, g.weight_len(), -1.0, 1.0),
            ),
        ];
        if with_bias {
            inputs.push((Shape::new([c.cout]), uniform(&mut rng, c.cout, -1.0, 1.0)));
        }
        let dy = vec![0.0; g.n * g.out_voxels() * c.cout];
        check_op(
            &inputs,
            |t| conv3d(&t[0], &t[1], t.get(2), c.stride, c.dil),
            |v| reference(&v[0], &v[1], v.get(2).map(Vec::as_slice), &dy, &g).0,
            Check {
                fwd_tol: 2e-6,
                ..Check::default()
            },
        );
    }
}

#[test]
fn conv3d_output_shape_follows_same_padding() {
    let x = Tensor::zeros([2, 7, 6, 5, 3], Device::Cpu).unwrap();
    let w = Tensor::zeros([3, 3, 3, 3, 4], Device::Cpu).unwrap();
    assert_eq!(conv3d(&x, &w, None, 2, 1).unwrap().dims(), [2, 4, 3, 3, 4]);
    assert_eq!(conv3d(&x, &w, None, 1, 3).unwrap().dims(), [2, 7, 6, 5, 4]);
}

#[test]
fn conv3d_is_bitwise_identical_for_any_thread_count() {
    // Enough voxels for many tiles, weight-gradient groups and stride classes.
    let cases = [
        case([1, 12, 13, 11, 16], 3, 7, 1, 1),
        case([2, 9, 10, 11, 16], 3, 18, 2, 1),
    ];
    for c in cases {
        let g = c.geom();
        let mut rng = Rng::new(7);
        let x = uniform(&mut rng, c.x.iter().product(), -1.0, 1.0);
        let w = uniform(&mut rng, g.weight_len(), -1.0, 1.0);
        let b = uniform(&mut rng, c.cout, -1.0, 1.0);
        let dy = uniform(&mut rng, g.n * g.out_voxels() * c.cout, -1.0, 1.0);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                paths()
                    .into_iter()
                    .flat_map(|p| {
                        [
                            cpu::forward_with(p, &x, &w, Some(&b), &g),
                            cpu::backward_data_with(p, &dy, &w, &g),
                            cpu::backward_filter_with(p, &x, &dy, &g),
                        ]
                    })
                    .collect::<Vec<_>>()
            })
        };
        let (one, three) = (run(1), run(3));
        for (a, b) in one.iter().zip(&three) {
            assert!(
                a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{c:?}"
            );
        }
    }
}

#[test]
fn conv3d_matches_pytorch_fixtures() {
    // Generated by `/usr/bin/python3 scripts/fixtures_conv3d.py` (PyTorch CPU conv3d with an
    // explicit asymmetric F.pad for TF "same" padding; gradients of sum(out * r)).
    for (name, stride, dil) in [
        ("conv3d_s1_d1", 1, 1),
        ("conv3d_s2_odd", 2, 1),
        ("conv3d_s1_d2", 1, 2),
    ] {
        let f = load_fixture(name);
        let t = |key: &str| {
            let (s, v) = f[key].clone();
            Tensor::from_vec(v, s, Device::Cpu).unwrap()
        };
        let tape = crate::autograd::Tape::new();
        let (x, w, b) = (
            tape.watch(&t("x")),
            tape.watch(&t("w")),
            tape.watch(&t("b")),
        );
        let y = conv3d(&x, &w, Some(&b), stride, dil).unwrap();
        assert_eq!(y.shape(), &f["y"].0, "{name}");
        assert_close_f32(&format!("{name} y"), &y.to_vec().unwrap(), &f["y"].1, 1e-5);
        let l = crate::ops::sum(&crate::ops::mul(&y, &t("r")).unwrap()).unwrap();
        let grads = tape.backward(&l).unwrap();
        for (key, v) in [("dx", &x), ("dw", &w), ("db", &b)] {
            let got = grads.get(v).unwrap().to_vec().unwrap();
            assert_close_f32(&format!("{name} {key}"), &got, &f[key].1, 1e-5);
        }
    }
}

#[test]
fn conv3d_skips_gradients_nobody_wants() {
    // An untracked input (the network's images) gets no data gradient, yet the weight does.
    let c = case([1, 4, 5, 3, 2], 3, 3, 2, 1);
    let g = c.geom();
    let mut rng = Rng::new(9);
    let x = Tensor::from_vec(uniform(&mut rng, 120, -1.0, 1.0), c.x, Device::Cpu).unwrap();
    let wv = uniform(&mut rng, g.weight_len(), -1.0, 1.0);
    let tape = crate::autograd::Tape::new();
    let w = tape.watch(&Tensor::from_vec(wv, c.w_shape(), Device::Cpu).unwrap());
    let b = Tensor::zeros([3], Device::Cpu).unwrap();
    let y = conv3d(&x, &w, Some(&b), 2, 1).unwrap();
    let grads = tape.backward(&crate::ops::sum(&y).unwrap()).unwrap();
    let ones = vec![1.0; g.n * g.out_voxels() * 3];
    let xs = f64s(&x.to_vec().unwrap());
    let (_, _, dw) = reference(&xs, &f64s(&w.to_vec().unwrap()), None, &ones, &g);
    assert_close("dw", &grads.get(&w).unwrap().to_vec().unwrap(), &dw, 2e-6);
    assert_eq!(grads.len(), 1);
}

#[test]
fn conv3d_rejects_bad_shapes() {
    let t = |s: &[usize]| Tensor::zeros(s.to_vec(), Device::Cpu).unwrap();
    let x = t(&[1, 4, 5, 6, 3]);
    let err = |r: Result<Tensor>| r.unwrap_err().to_string();
    let e = err(conv3d(&t(&[4, 5, 6, 3]), &t(&[3, 3, 3, 3, 2]), None, 1, 1));
    assert!(
        e.contains("conv3d") && e.contains("rank-5") && e.contains("[4, 5, 6, 3]"),
        "{e}"
    );
    let e = err(conv3d(&x, &t(&[3, 3, 3, 4, 2]), None, 1, 1));
    assert!(
        e.contains("conv3d") && e.contains("[1, 4, 5, 6, 3]") && e.contains("[3, 3, 3, 4, 2]"),
        "{e}"
    );
    let e = err(conv3d(&x, &t(&[3, 3, 1, 3, 2]), None, 1, 1));
    assert!(e.contains("cubic") && e.contains("[3, 3, 1, 3, 2]"), "{e}");
    let e = err(conv3d(&x, &t(&[2, 2, 2, 3, 2]), None, 1, 1));
    assert!(e.contains("conv3d") && e.contains("odd"), "{e}");
    let e = err(conv3d(&x, &t(&[3, 3, 3, 3, 2]), Some(&t(&[3])), 1, 1));
    assert!(
        e.contains("bias") && e.contains("[3]") && e.contains("[2]"),
        "{e}"
    );
    let e = err(conv3d(&x, &t(&[3, 3, 3, 3, 2]), None, 0, 1));
    assert!(e.contains("stride"), "{e}");
    let e = err(conv3d(&x, &t(&[3, 3, 3, 3, 2, 1]), None, 1, 1));
    assert!(e.contains("rank-5") && e.contains("weight"), "{e}");
}

/// The three convolution ops on one backend: forward (with bias), dgrad and wgrad.
fn run_backend(
    device: Device,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    dy: &[f32],
    g: &Conv3dGeom,
) -> [Vec<f32>; 3] {
    let be = crate::ops::backend(device).unwrap();
    let (xb, wb, bb, dyb) = (
        be.upload(x).unwrap(),
        be.upload(w).unwrap(),
        be.upload(b).unwrap(),
        be.upload(dy).unwrap(),
    );
    let y = be.conv3d(&xb, &wb, Some(&bb), g).unwrap();
    let dx = be.conv3d_bwd_data(&dyb, &wb, g).unwrap();
    let dw = be.conv3d_bwd_filter(&xb, &dyb, g).unwrap();
    [y, dx, dw].map(|v| be.download(&v).unwrap())
}

/// Geometries for the GPU kernels beyond the check_op cases: GEMM sizes that do not divide the
/// 128 × 32 × 16 tiles, more than one column tile (cin or cout > 32), cin = 1 and cout = 1 or 3
/// (first and last layers), n = 2, several weight-gradient chunks (> 1024 output voxels),
/// stride 2 with odd sizes (dgrad classes of different sizes), dilations 2-5, k = 1 and 5, and
/// a volume thinner than the dilated kernel.
const GPU_CASES: &[Case] = &[
    case([1, 9, 10, 11, 1], 3, 8, 1, 1),
    case([2, 7, 9, 5, 16], 3, 1, 1, 1),
    case([1, 11, 12, 13, 8], 3, 3, 1, 2),
    case([2, 9, 7, 11, 5], 3, 33, 2, 1),
    case([1, 6, 7, 9, 40], 3, 6, 1, 1),
    case([1, 13, 11, 9, 2], 3, 4, 2, 3),
    case([1, 5, 12, 11, 3], 3, 5, 1, 5),
    case([2, 12, 10, 11, 4], 1, 3, 1, 1),
    case([1, 9, 8, 7, 35], 1, 2, 2, 1),
    case([1, 5, 6, 7, 3], 5, 4, 2, 2),
    case([1, 2, 9, 3, 4], 3, 3, 1, 4),
];

#[test]
fn conv3d_emulator_matches_cpu_and_f64_reference() {
    let cases = CASES.iter().chain(GPU_CASES);
    for (i, c) in cases.enumerate() {
        let g = c.geom();
        let mut rng = Rng::new(300 + i as u64);
        let x = uniform(&mut rng, c.x.iter().product(), -1.0, 1.0);
        let w = uniform(&mut rng, g.weight_len(), -1.0, 1.0);
        let b = uniform(&mut rng, c.cout, -1.0, 1.0);
        let dy = uniform(&mut rng, g.n * g.out_voxels() * c.cout, -1.0, 1.0);
        let (y, dx, dw) = reference(&f64s(&x), &f64s(&w), Some(&f64s(&b)), &f64s(&dy), &g);
        let emu = run_backend(Device::Emu, &x, &w, &b, &dy, &g);
        let cpu = run_backend(Device::Cpu, &x, &w, &b, &dy, &g);
        for (j, (what, want)) in [("forward", &y), ("dgrad", &dx), ("wgrad", &dw)]
            .into_iter()
            .enumerate()
        {
            assert_close(&format!("{c:?} emu {what}"), &emu[j], want, 2e-6);
            assert_close(
                &format!("{c:?} emu vs cpu {what}"),
                &emu[j],
                &f64s(&cpu[j]),
                1e-5,
            );
        }
    }
}

#[test]
fn conv3d_emulator_is_bitwise_deterministic() {
    // Several row tiles, column tiles, dgrad classes and weight-gradient chunks.
    for c in [
        case([2, 9, 10, 11, 6], 3, 35, 2, 1),
        case([1, 12, 11, 10, 3], 3, 4, 1, 2),
    ] {
        let g = c.geom();
        let mut rng = Rng::new(17);
        let x = uniform(&mut rng, c.x.iter().product(), -1.0, 1.0);
        let w = uniform(&mut rng, g.weight_len(), -1.0, 1.0);
        let b = uniform(&mut rng, c.cout, -1.0, 1.0);
        let dy = uniform(&mut rng, g.n * g.out_voxels() * c.cout, -1.0, 1.0);
        let one = run_backend(Device::Emu, &x, &w, &b, &dy, &g);
        let two = run_backend(Device::Emu, &x, &w, &b, &dy, &g);
        for (what, (a, b)) in ["forward", "dgrad", "wgrad"]
            .into_iter()
            .zip(one.iter().zip(&two))
        {
            assert!(
                a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{c:?} {what}"
            );
        }
    }
}
