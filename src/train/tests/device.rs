//! One training step of the U-Net on a kernel device (the emulator; GPU 0 when present) against
//! the same step on the CPU: every kernel of a real network, forward and backward, together.
//! On a GPU it also checks the caching allocator: after the first steps, a step makes no driver
//! allocation.

use crate::models::{BuilderConfig, BuilderKind, Model, NetInputs};
use crate::nn::ParamStore;
use crate::nn::{Adam, AdamConfig};
use crate::ops;
use crate::ops::LossKind;
use crate::tensor::{Device, Rng, Tensor};
use crate::train::step::train_step;

struct Step {
    loss: f32,
    deformed: Vec<f32>,
    grads: Vec<(String, Vec<f32>)>,
}

/// Builds the U-Net with a fixed seed on `device` and runs `steps` training steps, returning
/// the loss, output and gradients of the last.
fn run(device: Device, size: usize, steps: usize) -> Step {
    let mut rng = Rng::new(3);
    let mut store = ParamStore::new();
    let cfg = BuilderConfig::defaults(BuilderKind::Unet);
    let model = Model::build(&cfg, &mut store, &mut rng, device).unwrap();
    // At initialization every sampling coordinate is an exact integer, where trilinear
    // interpolation has a kink: which one-sided slope the gradient takes would then depend on
    // rounding. Biasing the flow head moves the coordinates to generic positions (spacing
    // 2·sigmoid(b) ≈ 0.96 voxels), where the gradient is well defined on every device.
    let bias = Tensor::from_vec(vec![-0.0731, -0.0517, -0.0893], [3], device).unwrap();
    store.set("gradient_flow.bias", bias).unwrap();
    let shape = [1, size, size, size, 1];
    let src = Tensor::randn(shape, 0.0, 1.0, &mut rng, device).unwrap();
    let tgt = Tensor::randn(shape, 0.0, 1.0, &mut rng, device).unwrap();
    let mut adam = Adam::new(AdamConfig::default());
    let mut last = None;
    for _ in 0..steps {
        let ((loss, deformed), named) = train_step(&mut store, &mut adam, |p| {
            let inputs = NetInputs {
                src: &src,
                tgt: &tgt,
                src_seg: None,
            };
            let out = model.forward(p, &inputs)?;
            let loss = ops::loss(LossKind::Ncc, &out.deformed, &tgt)?;
            crate::Result::Ok((loss.clone(), (loss, out.deformed)))
        })
        .unwrap();
        last = Some(Step {
            loss: loss.to_scalar().unwrap(),
            deformed: deformed.to_vec().unwrap(),
            grads: named
                .iter()
                .map(|(k, g)| (k.clone(), g.to_vec().unwrap()))
                .collect(),
        });
    }
    last.unwrap()
}

fn max_abs(v: &[f32]) -> f64 {
    v.iter().fold(0f64, |m, v| m.max(v.abs() as f64))
}

/// The first element breaking `|got − want| ≤ tol · max(max|want|, floor)`, described.
fn mismatch(what: &str, got: &[f32], want: &[f32], tol: f64, floor: f64) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("{what}: {} values, want {}", got.len(), want.len()));
    }
    let scale = max_abs(want).max(floor).max(1e-30);
    got.iter().zip(want).enumerate().find_map(|(i, (g, w))| {
        let err = (*g as f64 - *w as f64).abs();
        (err > tol * scale)
            .then(|| format!("{what}[{i}]: {g} vs {w} (|err| {err:.2e}, scale {scale:.2e})"))
    })
}

fn compare(device: Device, size: usize) {
    // One step from identical weights: after it, Adam moves every weight by about ±lr whatever
    // the gradient's size, so rounding-level gradients would make later steps diverge.
    let cpu = run(Device::Cpu, size, 1);
    let dev = run(device, size, 1);
    assert!(
        ((dev.loss - cpu.loss) / cpu.loss).abs() < 1e-3,
        "{device}: loss {} vs cpu {}",
        dev.loss,
        cpu.loss
    );
    let mut problems: Vec<String> = mismatch("deformed", &dev.deformed, &cpu.deformed, 1e-3, 0.0)
        .into_iter()
        .collect();
    assert_eq!(dev.grads.len(), cpu.grads.len());
    // With weights initialized at N(0, 1e-5), gradients span many orders of magnitude, and
    // those of deep layers are rounding noise: each tensor is compared against at least 1e-6
    // of the largest gradient. A conv bias feeding BatchNorm has a gradient of exactly zero in
    // exact arithmetic (the normalization removes any constant): what is computed is the
    // cancellation error of large sums, so it is compared against 1e-2 of the largest gradient.
    let global = cpu
        .grads
        .iter()
        .map(|(_, g)| max_abs(g))
        .fold(0.0, f64::max);
    assert!(global > 1e-3, "the step has a real gradient ({global})");
    let names: Vec<&str> = cpu.grads.iter().map(|(n, _)| n.as_str()).collect();
    for ((name, g), (cname, c)) in dev.grads.iter().zip(&cpu.grads) {
        assert_eq!(name, cname);
        let feeds_norm = name
            .strip_suffix(".conv.bias")
            .is_some_and(|layer| names.contains(&format!("{layer}.norm.gamma").as_str()));
        let floor = if feeds_norm { 1e-2 } else { 1e-6 } * global;
        problems.extend(mismatch(&format!("gradient of {name}"), g, c, 5e-3, floor));
    }
    assert!(problems.is_empty(), "{device}:\n{}", problems.join("\n"));
}

#[test]
fn emulator_training_step_matches_the_cpu() {
    compare(Device::Emu, 8);
}

#[test]
fn gpu_training_step_matches_the_cpu_and_reuses_memory() {
    if crate::backend::cuda::runtime(0).is_err() {
        eprintln!("skipping: no usable cuda:0");
        return;
    }
    compare(Device::Cuda(0), 32);
    // Steady state: a further step allocates nothing new from the driver.
    run(Device::Cuda(0), 32, 3);
    // (Counted on this thread: other tests share the device concurrently.)
    let before = crate::backend::cuda::thread_driver_allocs();
    run(Device::Cuda(0), 32, 2);
    let after = crate::backend::cuda::thread_driver_allocs();
    assert_eq!(before, after, "driver allocations in steady state");
    // The peak the epoch line reports covers what the allocator holds.
    let s = crate::backend::cuda::runtime(0).unwrap().pool_stats();
    assert!(s.peak_reserved >= s.reserved && s.reserved > 0, "{s:?}");
    let line = crate::session::log::peak_memory_text(Device::Cuda(0));
    assert!(line.contains(" MiB GPU"), "{line}");
}
