//! Reductions and losses against `f64` references, finite differences, hand-computed values,
//! PyTorch fixtures and other thread counts.

use super::*;
use crate::ops::testing::{Check, assert_close_f32, check_op, load_fixture, uniform, uniform_away};
use crate::tensor::{Device, Rng};

#[test]
fn sum_and_l1_match_reference_and_gradients() {
    let mut rng = Rng::new(11);
    let shape = Shape::new([3, 5, 7]);
    let x = uniform_away(&mut rng, shape.numel(), -2.0, 2.0, &[0.0], 0.01);
    let inputs = [(shape, x)];
    check_op(
        &inputs,
        |t| sum(&t[0]),
        |x| vec![x[0].iter().sum()],
        Check::default(),
    );
    check_op(
        &inputs,
        |t| l1(&t[0]),
        |x| vec![x[0].iter().map(|v| v.abs()).sum()],
        Check::default(),
    );
}

// ---- plain f64 references ----

fn ref_mse(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / a.len() as f64
}

fn ref_mae(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len() as f64
}

fn ref_ncc(a: &[f64], b: &[f64], n: usize) -> f64 {
    let m = a.len() / n;
    let mut total = 0.0;
    for (a, b) in a.chunks(m).zip(b.chunks(m)) {
        let mu_a = a.iter().sum::<f64>() / m as f64;
        let mu_b = b.iter().sum::<f64>() / m as f64;
        let (mut c, mut va, mut vb) = (0.0, 0.0, 0.0);
        for (x, y) in a.iter().zip(b) {
            c += (x - mu_a) * (y - mu_b);
            va += (x - mu_a) * (x - mu_a);
            vb += (y - mu_b) * (y - mu_b);
        }
        let m = m as f64;
        total += (c / m) / ((va / m) * (vb / m) + 1e-10).sqrt();
    }
    -total / n as f64
}

fn ref_dice(a: &[f64], b: &[f64], n: usize) -> f64 {
    let m = a.len() / n;
    let mut total = 0.0;
    for (a, b) in a.chunks(m).zip(b.chunks(m)) {
        let sa: f64 = a.iter().sum();
        let sb: f64 = b.iter().sum();
        let sab: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        total += 1.0 - (2.0 * sab + 1e-5) / (sa + sb + 1e-5);
    }
    total / n as f64
}

/// Brute force `O(voxels·window³)`: every window summed directly, padded values count as 0
/// and the count stays `window³`.
fn ref_lncc(a: &[f64], b: &[f64], dims: [usize; 5], window: usize) -> f64 {
    let [n, d, h, w, c] = dims;
    let r = window as isize / 2;
    let cnt = (window * window * window) as f64;
    let at = |s: usize, z: usize, y: usize, x: usize, ch: usize| {
        (((s * d + z) * h + y) * w + x) * c + ch
    };
    let mut total = 0.0;
    for s in 0..n {
        for z in 0..d {
            for y in 0..h {
                for x in 0..w {
                    for ch in 0..c {
                        let [mut sa, mut sb, mut saa, mut sbb, mut sab] = [0.0; 5];
                        for dz in -r..=r {
                            for dy in -r..=r {
                                for dx in -r..=r {
                                    let (zz, yy, xx) =
                                        (z as isize + dz, y as isize + dy, x as isize + dx);
                                    if zz < 0
                                        || yy < 0
                                        || xx < 0
                                        || zz >= d as isize
                                        || yy >= h as isize
                                        || xx >= w as isize
                                    {
                                        continue;
                                    }
                                    let i = at(s, zz as usize, yy as usize, xx as usize, ch);
                                    let (p, q) = (a[i], b[i]);
                                    sa += p;
                                    sb += q;
                                    saa += p * p;
                                    sbb += q * q;
                                    sab += p * q;
                                }
                            }
                        }
                        let cross = sab - sa * sb / cnt;
                        let va = (saa - sa * sa / cnt).max(0.0);
                        let vb = (sbb - sb * sb / cnt).max(0.0);
                        total += cross * cross / (va * vb + 1e-5);
                    }
                }
            }
        }
    }
    -total / (n * d * h * w * c) as f64
}

fn dims5(s: &Shape) -> [usize; 5] {
    s.dims5("test").unwrap()
}

/// `a` uniform in [0, 1) and `b = mix·a + (1-mix)·noise`, so the correlation is moderate.
fn pair(rng: &mut Rng, shape: &Shape, mix: f64) -> [(Shape, Vec<f32>); 2] {
    let a = uniform(rng, shape.numel(), 0.0, 1.0);
    let noise = uniform(rng, shape.numel(), 0.0, 1.0);
    let b = a
        .iter()
        .zip(&noise)
        .map(|(&x, &e)| (mix * x as f64 + (1.0 - mix) * e as f64) as f32)
        .collect();
    [(shape.clone(), a), (shape.clone(), b)]
}

fn scalar(kind: LossKind, a: &[f32], b: &[f32], shape: &Shape) -> f32 {
    let t = |v: &[f32]| Tensor::from_vec(v.to_vec(), shape.clone(), Device::Cpu).unwrap();
    loss(kind, &t(a), &t(b)).unwrap().to_scalar().unwrap()
}

// ---- forward and gradients against the references ----

#[test]
fn mse_and_mae_match_reference_and_gradients() {
    let mut rng = Rng::new(21);
    let shape = Shape::new([2, 3, 4, 5, 2]);
    let b = uniform(&mut rng, shape.numel(), -1.0, 1.0);
    let diff = uniform_away(&mut rng, shape.numel(), -1.0, 1.0, &[0.0], 0.01);
    let a: Vec<f32> = b.iter().zip(&diff).map(|(x, d)| x + d).collect();
    let inputs = [(shape.clone(), a), (shape, b)];
    check_op(
        &inputs,
        |t| loss(LossKind::Mse, &t[0], &t[1]),
        |x| vec![ref_mse(&x[0], &x[1])],
        Check::default(),
    );
    check_op(
        &inputs,
        |t| loss(LossKind::Mae, &t[0], &t[1]),
        |x| vec![ref_mae(&x[0], &x[1])],
        Check::default(),
    );
}

#[test]
fn ncc_matches_reference_and_gradients() {
    let mut rng = Rng::new(22);
    let shape = Shape::new([2, 4, 5, 3, 2]);
    let inputs = pair(&mut rng, &shape, 0.5);
    check_op(
        &inputs,
        |t| loss(LossKind::Ncc, &t[0], &t[1]),
        |x| vec![ref_ncc(&x[0], &x[1], 2)],
        Check::default(),
    );
}

#[test]
fn dice_matches_reference_and_gradients() {
    let mut rng = Rng::new(23);
    let shape = Shape::new([3, 3, 4, 5, 2]);
    let inputs = [
        (shape.clone(), uniform(&mut rng, shape.numel(), 0.05, 0.95)),
        (shape.clone(), uniform(&mut rng, shape.numel(), 0.05, 0.95)),
    ];
    check_op(
        &inputs,
        |t| loss(LossKind::Dice, &t[0], &t[1]),
        |x| vec![ref_dice(&x[0], &x[1], 3)],
        Check::default(),
    );
}

fn check_lncc(seed: u64, dims: [usize; 5], window: usize) {
    let mut rng = Rng::new(seed);
    let shape = Shape::new(dims);
    let inputs = pair(&mut rng, &shape, 0.6);
    check_op(
        &inputs,
        |t| loss(LossKind::Lncc { window }, &t[0], &t[1]),
        |x| vec![ref_lncc(&x[0], &x[1], dims, window)],
        Check {
            max_points: 24,
            ..Check::default()
        },
    );
}

#[test]
fn lncc_matches_brute_force_reference_and_gradients() {
    check_lncc(24, [2, 7, 6, 5, 2], 3);
    check_lncc(25, [2, 7, 6, 5, 2], 5);
    // Every window is truncated: the volume is smaller than the window on every axis.
    check_lncc(26, [1, 3, 4, 2, 1], 5);
    check_lncc(27, [1, 1, 1, 1, 2], 3);
}

#[test]
fn lncc_window_9_matches_brute_force_reference_and_gradients() {
    check_lncc(28, [1, 11, 10, 12, 1], 9);
}

// ---- values known by hand ----

#[test]
fn identical_and_affine_images_give_the_known_values() {
    let mut rng = Rng::new(31);
    let shape = Shape::new([2, 4, 3, 5, 2]);
    let a = uniform(&mut rng, shape.numel(), -1.0, 1.0);
    assert_eq!(scalar(LossKind::Mse, &a, &a, &shape), 0.0);
    assert_eq!(scalar(LossKind::Mae, &a, &a, &shape), 0.0);
    let ncc_same = scalar(LossKind::Ncc, &a, &a, &shape);
    assert!((ncc_same + 1.0).abs() < 1e-6, "{ncc_same}");
    // Pearson r is invariant to a positive affine map, and flips sign for a negative one.
    let affine: Vec<f32> = a.iter().map(|v| 2.0 * v + 3.0).collect();
    let ncc_affine = scalar(LossKind::Ncc, &a, &affine, &shape);
    assert!((ncc_affine + 1.0).abs() < 1e-6, "{ncc_affine}");
    let neg: Vec<f32> = a.iter().map(|v| -v).collect();
    let ncc_neg = scalar(LossKind::Ncc, &a, &neg, &shape);
    assert!((ncc_neg - 1.0).abs() < 1e-6, "{ncc_neg}");
    // Soft Dice of a binary mask with itself is exactly 0, with its complement almost 1.
    let mask: Vec<f32> = a.iter().map(|&v| if v > 0.0 { 1.0 } else { 0.0 }).collect();
    let inv: Vec<f32> = mask.iter().map(|v| 1.0 - v).collect();
    assert_eq!(scalar(LossKind::Dice, &mask, &mask, &shape), 0.0);
    let disjoint = scalar(LossKind::Dice, &mask, &inv, &shape);
    assert!((disjoint - 1.0).abs() < 1e-6, "{disjoint}");
}

#[test]
fn lncc_of_identical_or_scaled_images_is_almost_minus_one() {
    // With b = s·a every window has cross = s·var_a and var_b = s²·var_a (the zero padding
    // scales too), so cc = s²var_a² / (s²var_a² + 1e-5) ≤ 1: within 1e-5 of -1 (and -1 once
    // rounded to f32) for a high-variance a.
    let mut rng = Rng::new(32);
    let shape = Shape::new([1, 6, 5, 7, 2]);
    let a = uniform(&mut rng, shape.numel(), 1.0, 5.0);
    for s in [1.0f32, -3.0, 0.5] {
        let b: Vec<f32> = a.iter().map(|v| s * v).collect();
        let l = scalar(LossKind::Lncc { window: 3 }, &a, &b, &shape);
        assert!((-1.0..-1.0 + 1e-5).contains(&l), "s {s}: {l}");
    }
    // With a shift the padded zeros break the match: the border windows lose correlation.
    let shifted: Vec<f32> = a.iter().map(|v| v + 10.0).collect();
    let l = scalar(LossKind::Lncc { window: 3 }, &a, &shifted, &shape);
    assert!(l > -0.99, "{l}");
}

#[test]
fn lncc_counts_window_cube_values_at_the_border() {
    // Two voxels along W, window 3: each window holds both voxels and 25 padded zeros, n = 27.
    let shape = Shape::new([1, 1, 1, 2, 1]);
    let (a, b) = ([1.0f32, 3.0], [5.0f32, 2.0]);
    let (sa, sb, saa, sbb, sab) = (4.0f64, 7.0, 10.0, 29.0, 11.0);
    let n = 27.0;
    let cross = sab - sa * sb / n;
    let cc = cross * cross / ((saa - sa * sa / n) * (sbb - sb * sb / n) + 1e-5);
    let l = scalar(LossKind::Lncc { window: 3 }, &a, &b, &shape);
    assert!((l as f64 + cc).abs() < 1e-6, "{l} vs {}", -cc);
    // With the true count (n = 2) the pair is perfectly anti-correlated (cc ≈ 1); the padded
    // zeros make it ≈ 0.388.
    assert!((cc - 0.388).abs() < 1e-3, "{cc}");
}

#[test]
fn constant_images_give_finite_losses_and_gradients() {
    let shape = Shape::new([2, 4, 3, 5, 1]);
    let mut rng = Rng::new(33);
    let c = vec![2.0f32; shape.numel()];
    let b = uniform(&mut rng, shape.numel(), 0.0, 1.0);
    let g = VolGeom::from5(dims5(&shape));
    for kind in [LossKind::Ncc, LossKind::Lncc { window: 3 }, LossKind::Dice] {
        for (x, y) in [(&c, &c), (&c, &b), (&b, &c)] {
            let l = cpu::loss(kind, x, y, g);
            assert!(l.is_finite(), "{kind:?}: {l}");
            let (da, db) = cpu::loss_bwd(kind, x, y, 1.0, g);
            assert!(da.iter().chain(&db).all(|v| v.is_finite()), "{kind:?}");
        }
    }
    // A constant image has no correlation with anything: r = 0 exactly.
    assert_eq!(cpu::loss(LossKind::Ncc, &c, &b, g), 0.0);
    let x64 = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let want = ref_lncc(&x64(&c), &x64(&b), dims5(&shape), 3);
    let got = cpu::loss(LossKind::Lncc { window: 3 }, &c, &b, g);
    assert!(
        (got as f64 - want).abs() < 1e-6 * want.abs().max(1.0),
        "{got} vs {want}"
    );
}

#[test]
fn gradients_scale_with_the_incoming_gradient() {
    let mut rng = Rng::new(34);
    let shape = Shape::new([1, 5, 4, 6, 1]);
    let [(_, a), (_, b)] = pair(&mut rng, &shape, 0.5);
    let g = VolGeom::from5(dims5(&shape));
    for kind in [
        LossKind::Mse,
        LossKind::Ncc,
        LossKind::Lncc { window: 3 },
        LossKind::Dice,
    ] {
        let (da1, db1) = cpu::loss_bwd(kind, &a, &b, 1.0, g);
        let (da2, db2) = cpu::loss_bwd(kind, &a, &b, -2.5, g);
        let scaled = |v: &[f32]| v.iter().map(|x| -2.5 * x).collect::<Vec<f32>>();
        assert_close_f32(&format!("{kind:?} da"), &da2, &scaled(&da1), 1e-6);
        assert_close_f32(&format!("{kind:?} db"), &db2, &scaled(&db1), 1e-6);
        assert!(da1.iter().any(|&v| v != 0.0), "{kind:?}");
    }
}

// ---- PyTorch fixtures ----

fn check_fixture(file: &str, suffix: &str, kind: LossKind) {
    let f = load_fixture(file);
    let get = |k: &str| f[&format!("{k}{suffix}")].clone();
    let ((shape, a), (_, b)) = (get("a"), get("b"));
    let g = VolGeom::from5(dims5(&shape));
    let l = cpu::loss(kind, &a, &b, g);
    assert_close_f32(&format!("{file}{suffix} loss"), &[l], &get("loss").1, 1e-5);
    let (da, db) = cpu::loss_bwd(kind, &a, &b, 1.0, g);
    assert_close_f32(&format!("{file}{suffix} da"), &da, &get("da").1, 1e-4);
    assert_close_f32(&format!("{file}{suffix} db"), &db, &get("db").1, 1e-4);
}

#[test]
fn losses_match_pytorch_fixtures() {
    // /usr/bin/python3 scripts/fixtures_loss.py: VoxelMorph's lncc as conv3d with ones, the
    // global ncc and the soft Dice, with PyTorch autograd in float64.
    for w in [9, 3, 5] {
        check_fixture("loss_lncc", &w.to_string(), LossKind::Lncc { window: w });
    }
    check_fixture("loss_ncc", "", LossKind::Ncc);
    check_fixture("loss_dice", "", LossKind::Dice);
}

// ---- determinism and errors ----

#[test]
fn losses_are_bitwise_reproducible_across_thread_counts() {
    let mut rng = Rng::new(41);
    // Over one CHUNK per sample, so the reductions really split.
    let shape = Shape::new([2, 9, 10, 11, 2]);
    let [(_, a), (_, b)] = pair(&mut rng, &shape, 0.5);
    let big = Shape::new([2, 20, 20, 21, 2]);
    let [(_, ab), (_, bb)] = pair(&mut rng, &big, 0.5);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut bits = vec![];
            let mut push = |l: f32, (da, db): (Vec<f32>, Vec<f32>)| {
                bits.push(l.to_bits());
                bits.extend(da.iter().chain(&db).map(|v| v.to_bits()));
            };
            let g = VolGeom::from5(dims5(&shape));
            let kind = LossKind::Lncc { window: 5 };
            push(
                cpu::loss(kind, &a, &b, g),
                cpu::loss_bwd(kind, &a, &b, 0.7, g),
            );
            let g = VolGeom::from5(dims5(&big));
            for kind in [
                LossKind::Mse,
                LossKind::Mae,
                LossKind::Ncc,
                LossKind::Dice,
                LossKind::Lncc { window: 3 },
            ] {
                push(
                    cpu::loss(kind, &ab, &bb, g),
                    cpu::loss_bwd(kind, &ab, &bb, 0.7, g),
                );
            }
            bits
        })
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn bad_inputs_are_typed_errors() {
    let t = |dims: &[usize]| Tensor::zeros(Shape::new(dims.to_vec()), Device::Cpu).unwrap();
    let e = loss(LossKind::Mse, &t(&[1, 2, 3, 4, 1]), &t(&[1, 2, 3, 5, 1])).unwrap_err();
    assert!(matches!(e, Error::Shape { op: "loss", .. }), "{e}");
    assert!(e.to_string().contains("[1, 2, 3, 5, 1]"), "{e}");
    for window in [0, 4] {
        let e = loss(
            LossKind::Lncc { window },
            &t(&[1, 5, 5, 5, 1]),
            &t(&[1, 5, 5, 5, 1]),
        )
        .unwrap_err();
        assert!(matches!(e, Error::Invalid { op: "loss", .. }), "{e}");
        assert!(e.to_string().contains(&format!("got {window}")), "{e}");
    }
    let e = loss(LossKind::Ncc, &t(&[2, 3, 4, 5]), &t(&[2, 3, 4, 5])).unwrap_err();
    assert!(matches!(e, Error::Rank { op: "loss", .. }), "{e}");
    let e = loss(LossKind::Dice, &t(&[1, 0, 4, 5, 1]), &t(&[1, 0, 4, 5, 1])).unwrap_err();
    assert!(matches!(e, Error::Invalid { op: "loss", .. }), "{e}");
}

// ---- the emulator's kernels against the CPU code ----

/// The emulator's backend.
fn emu() -> &'static dyn crate::ops::Backend {
    crate::ops::backend(Device::Emu).unwrap()
}

/// Loss and gradients of `kind` on the emulator, with `dl` kept on the device.
fn emu_loss(
    kind: LossKind,
    a: &[f32],
    b: &[f32],
    dl: f32,
    g: VolGeom,
) -> (f32, Vec<f32>, Vec<f32>) {
    let be = emu();
    let (ab, bb, dlb) = (
        be.upload(a).unwrap(),
        be.upload(b).unwrap(),
        be.upload(&[dl]).unwrap(),
    );
    let l = be.loss(kind, &ab, &bb, g).unwrap();
    let (da, db) = be.loss_bwd(kind, &ab, &bb, &dlb, g).unwrap();
    let down = |x| be.download(x).unwrap();
    (down(&l)[0], down(&da), down(&db))
}

fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

const ALL_KINDS: [LossKind; 6] = [
    LossKind::Mse,
    LossKind::Mae,
    LossKind::Ncc,
    LossKind::Dice,
    LossKind::Lncc { window: 3 },
    LossKind::Lncc { window: 5 },
];

#[test]
fn emulator_losses_match_cpu_on_odd_geometries() {
    let mut rng = Rng::new(51);
    // c = 1 and 2, n = 1 and 2, a 7×6×5 volume (windows 3 and 5 truncated on every axis), a
    // volume smaller than the window, and one over a reduction chunk (8192 values) per sample.
    for dims in [
        [1, 7, 6, 5, 1],
        [2, 7, 6, 5, 2],
        [1, 3, 2, 4, 1],
        [2, 9, 10, 11, 9],
    ] {
        let shape = Shape::new(dims);
        let [(_, a), (_, b)] = pair(&mut rng, &shape, 0.5);
        let g = VolGeom::from5(dims);
        for kind in ALL_KINDS {
            let what = format!("{kind:?} {dims:?}");
            let (l, da, db) = emu_loss(kind, &a, &b, 0.7, g);
            let want = cpu::loss(kind, &a, &b, g);
            assert!(
                (l - want).abs() <= 1e-5 * want.abs().max(1e-3),
                "{what}: {l} vs {want}"
            );
            let (wa, wb) = cpu::loss_bwd(kind, &a, &b, 0.7, g);
            crate::ops::testing::assert_close(&format!("{what} da"), &da, &to64(&wa), 1e-5);
            crate::ops::testing::assert_close(&format!("{what} db"), &db, &to64(&wb), 1e-5);
        }
    }
}

#[test]
fn emulator_handles_constant_images_like_the_cpu() {
    let dims = [2, 4, 3, 5, 1];
    let shape = Shape::new(dims);
    let mut rng = Rng::new(52);
    let c = vec![2.0f32; shape.numel()];
    let b = uniform(&mut rng, shape.numel(), 0.0, 1.0);
    let g = VolGeom::from5(dims);
    for kind in [LossKind::Ncc, LossKind::Lncc { window: 3 }, LossKind::Dice] {
        for (x, y) in [(&c, &c), (&c, &b), (&b, &c)] {
            let (l, da, db) = emu_loss(kind, x, y, 1.0, g);
            let want = cpu::loss(kind, x, y, g);
            assert!(
                (l - want).abs() <= 1e-5 * want.abs().max(1e-3),
                "{kind:?}: {l} vs {want}"
            );
            let (wa, wb) = cpu::loss_bwd(kind, x, y, 1.0, g);
            assert!(da.iter().chain(&db).all(|v| v.is_finite()), "{kind:?}");
            crate::ops::testing::assert_close(&format!("{kind:?} da"), &da, &to64(&wa), 1e-5);
            crate::ops::testing::assert_close(&format!("{kind:?} db"), &db, &to64(&wb), 1e-5);
        }
    }
}

#[test]
fn emulator_reductions_match_cpu_and_l1_bwd_bitwise() {
    let mut rng = Rng::new(53);
    let be = emu();
    // Three reduction chunks, and zeros for the sign of l1_bwd.
    let mut x = uniform(&mut rng, 20_000, -2.0, 2.0);
    x[7] = 0.0;
    x[12_345] = -0.0;
    let xb = be.upload(&x).unwrap();
    let s = be.download(&be.sum(&xb).unwrap()).unwrap()[0];
    let want = cpu::sum(&x);
    assert!(
        (s - want).abs() <= 1e-6 * want.abs().max(1.0),
        "{s} vs {want}"
    );
    let l = be.download(&be.l1(&xb).unwrap()).unwrap()[0];
    assert!((l - cpu::l1(&x)).abs() <= 1e-6 * l, "{l}");
    let dl = be.upload(&[-1.5]).unwrap();
    let dx = be.download(&be.l1_bwd(&xb, &dl).unwrap()).unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&dx), bits(&cpu::l1_bwd(&x, -1.5)));
}

#[test]
fn emulator_losses_and_gradients_are_bitwise_reproducible() {
    let mut rng = Rng::new(54);
    let dims = [2, 9, 10, 11, 2];
    let shape = Shape::new(dims);
    let [(_, a), (_, b)] = pair(&mut rng, &shape, 0.5);
    let g = VolGeom::from5(dims);
    let run = || {
        let mut bits = vec![];
        for kind in ALL_KINDS {
            let (l, da, db) = emu_loss(kind, &a, &b, 0.7, g);
            bits.push(l.to_bits());
            bits.extend(da.iter().chain(&db).map(|v| v.to_bits()));
        }
        let be = emu();
        let ab = be.upload(&a).unwrap();
        bits.push(be.download(&be.sum(&ab).unwrap()).unwrap()[0].to_bits());
        bits.push(be.download(&be.l1(&ab).unwrap()).unwrap()[0].to_bits());
        bits
    };
    assert_eq!(run(), run());
}
