//! Test harness shared by every op family: random inputs, forward checks against an `f64`
//! reference, and backward checks against central finite differences of that reference.
//!
//! `check_op` runs the same test body on every device in [`test_devices`], so a backend added
//! later (the emulator, CUDA) is held to the CPU's tests without new test code.

use crate::autograd::Tape;
use crate::error::Result;
use crate::tensor::{Device, Rng, Shape, Tensor};

/// Devices whose backends are available in this build and on this machine.
pub(crate) fn test_devices() -> Vec<Device> {
    let mut v = vec![Device::Cpu];
    for d in [Device::Emu, Device::Cuda(0)] {
        if crate::ops::backend(d).is_ok() {
            v.push(d);
        }
    }
    v
}

/// `n` values uniform in `[lo, hi)`.
pub(crate) fn uniform(rng: &mut Rng, n: usize, lo: f64, hi: f64) -> Vec<f32> {
    (0..n)
        .map(|_| (lo + (hi - lo) * rng.uniform()) as f32)
        .collect()
}

/// `n` values uniform in `[lo, hi)`, each at least `gap` away from every point in `kinks`
/// (for ops that are not differentiable there, such as ReLU at 0).
pub(crate) fn uniform_away(
    rng: &mut Rng,
    n: usize,
    lo: f64,
    hi: f64,
    kinks: &[f64],
    gap: f64,
) -> Vec<f32> {
    (0..n)
        .map(|_| {
            loop {
                let v = lo + (hi - lo) * rng.uniform();
                if kinks.iter().all(|k| (v - k).abs() >= gap) {
                    break v as f32;
                }
            }
        })
        .collect()
}

/// Asserts every `|got - want| <= tol · max|want|` (an ∞-norm relative error).
pub(crate) fn assert_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs();
        assert!(
            err <= tol * scale,
            "{what}: element {i}: got {g}, want {w} (|err| {err:.3e}, scale {scale:.3e})"
        );
    }
}

/// Options of [`check_op`].
#[derive(Clone, Copy)]
pub(crate) struct Check {
    /// Tolerance of the forward comparison (relative to the output's scale).
    pub fwd_tol: f64,
    /// Tolerance of the gradient comparison (relative to the gradient's scale).
    pub grad_tol: f64,
    /// Finite-difference step.
    pub eps: f64,
    /// At most this many elements of each input are perturbed (chosen at random).
    pub max_points: usize,
    /// Skip the gradient check of these inputs (by index).
    pub no_grad: &'static [usize],
}

impl Default for Check {
    fn default() -> Self {
        Check {
            fwd_tol: 1e-5,
            grad_tol: 2e-3,
            eps: 1e-3,
            max_points: 40,
            no_grad: &[],
        }
    }
}

/// Runs `engine` on every test device and checks it against `reference`:
/// - the forward output, elementwise;
/// - the gradient of `L = Σ r·y` (random `r`) with respect to each input, from the tape,
///   against central differences of `Σ r·reference(x)` computed in `f64`.
pub(crate) fn check_op(
    inputs: &[(Shape, Vec<f32>)],
    engine: impl Fn(&[Tensor]) -> Result<Tensor>,
    reference: impl Fn(&[Vec<f64>]) -> Vec<f64>,
    opts: Check,
) {
    let x64: Vec<Vec<f64>> = inputs
        .iter()
        .map(|(_, v)| v.iter().map(|&x| x as f64).collect())
        .collect();
    let want = reference(&x64);
    let mut rng = Rng::new(0x5EED);
    let r: Vec<f64> = (0..want.len()).map(|_| rng.uniform() * 2.0 - 1.0).collect();
    let loss_ref = |xs: &[Vec<f64>]| -> f64 {
        reference(xs)
            .iter()
            .zip(&r)
            .map(|(y, r)| y * r)
            .sum::<f64>()
    };
    for device in test_devices() {
        let tape = Tape::new();
        let xs: Vec<Tensor> = inputs
            .iter()
            .map(|(s, v)| tape.watch(&Tensor::from_vec(v.clone(), s.clone(), device).unwrap()))
            .collect();
        let y = engine(&xs).unwrap_or_else(|e| panic!("{device}: forward failed: {e}"));
        assert_close(
            &format!("{device} forward"),
            &y.to_vec().unwrap(),
            &want,
            opts.fwd_tol,
        );
        let rt = Tensor::from_vec(
            r.iter().map(|&v| v as f32).collect(),
            y.shape().clone(),
            device,
        )
        .unwrap();
        let l = crate::ops::sum(&crate::ops::mul(&y, &rt).unwrap()).unwrap();
        let grads = tape.backward(&l).unwrap();
        for (i, x) in xs.iter().enumerate() {
            if opts.no_grad.contains(&i) {
                continue;
            }
            let g = grads
                .get(x)
                .unwrap_or_else(|| panic!("{device}: input {i} got no gradient"))
                .to_vec()
                .unwrap();
            assert_eq!(g.len(), x64[i].len(), "{device}: gradient {i} length");
            let n = x64[i].len();
            let idx: Vec<usize> = if n <= opts.max_points {
                (0..n).collect()
            } else {
                (0..opts.max_points).map(|_| rng.below(n)).collect()
            };
            let mut num = Vec::with_capacity(idx.len());
            let mut ana = Vec::with_capacity(idx.len());
            for &j in &idx {
                let mut xp = x64.clone();
                xp[i][j] += opts.eps;
                let lp = loss_ref(&xp);
                xp[i][j] -= 2.0 * opts.eps;
                let lm = loss_ref(&xp);
                num.push((lp - lm) / (2.0 * opts.eps));
                ana.push(g[j]);
            }
            assert_close(
                &format!("{device} gradient of input {i} at {idx:?}"),
                &ana,
                &num,
                opts.grad_tol,
            );
        }
    }
}

/// Loads `tests/fixtures/<name>.txt` (written by `scripts/fixture_io.py`): tensors by name.
pub(crate) fn load_fixture(name: &str) -> std::collections::HashMap<String, (Shape, Vec<f32>)> {
    let path = format!("{}/tests/fixtures/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = std::collections::HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let mut parts = line.split('\t');
        let (Some(key), Some(dims), Some(vals)) = (parts.next(), parts.next(), parts.next()) else {
            panic!("{path}: malformed line {line:.60}");
        };
        let dims: Vec<usize> = if dims.is_empty() {
            vec![]
        } else {
            dims.split(',').map(|d| d.parse().unwrap()).collect()
        };
        let vals: Vec<f32> = vals
            .split(' ')
            .filter(|v| !v.is_empty())
            .map(|v| v.parse().unwrap())
            .collect();
        let shape = Shape::new(dims);
        assert_eq!(shape.numel(), vals.len(), "{path}: {key}");
        out.insert(key.to_string(), (shape, vals));
    }
    out
}

/// Asserts two `f32` slices agree to `tol` relative to the largest magnitude of `want`.
pub(crate) fn assert_close_f32(what: &str, got: &[f32], want: &[f32], tol: f64) {
    let want: Vec<f64> = want.iter().map(|&v| v as f64).collect();
    assert_close(what, got, &want, tol);
}
