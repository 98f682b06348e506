//! Layers: parameter names and counts, gradients by name, running statistics, and a small
//! model that learns.

use super::*;
use crate::autograd::Tape;
use crate::nn::{Adam, AdamConfig};
use crate::ops;
use crate::tensor::{Device, Rng, Tensor};

const CPU: Device = Device::Cpu;

#[test]
fn conv_block_creates_named_parameters_with_keras_counts() {
    let mut store = ParamStore::new();
    let mut rng = Rng::new(0);
    ConvBlock::new(
        &mut store,
        &mut rng,
        "enc1",
        Conv3dConfig::new(2, 16).stride(2),
        NormKind::Batch,
        CPU,
    )
    .unwrap();
    let names: Vec<&str> = store.iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "enc1.conv.bias",
            "enc1.conv.weight",
            "enc1.norm.beta",
            "enc1.norm.gamma",
            "enc1.norm.running_mean",
            "enc1.norm.running_var"
        ]
    );
    // Keras: Conv3D(16, 3) on 2 channels = 27·2·16 + 16; BN = 4·16 of which 2·16 trainable.
    assert_eq!(
        store.count(),
        (27 * 2 * 16 + 16 + 32, 27 * 2 * 16 + 16 + 64)
    );
    let w = &store.get("enc1.conv.weight").unwrap().value;
    assert_eq!(w.dims(), [3, 3, 3, 2, 16]);
    let std = (w
        .to_vec()
        .unwrap()
        .iter()
        .map(|v| (*v as f64).powi(2))
        .sum::<f64>()
        / w.numel() as f64)
        .sqrt();
    assert!(
        std > 0.5e-5 && std < 2e-5,
        "weights drawn from N(0, 1e-5): std {std}"
    );
    let mut again = ParamStore::new();
    let e = Conv3d::new(&mut again, &mut rng, "c", Conv3dConfig::new(1, 1), CPU)
        .and_then(|_| Conv3d::new(&mut again, &mut rng, "c", Conv3dConfig::new(1, 1), CPU))
        .unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
}

#[test]
fn gradients_come_back_by_parameter_name() {
    let mut store = ParamStore::new();
    let mut rng = Rng::new(1);
    let dense = Dense::new(&mut store, &mut rng, "fc", (3, 2), Init::Normal(1.0), CPU).unwrap();
    store
        .insert("stat", Tensor::zeros([2], CPU).unwrap(), false)
        .unwrap();
    let x = Tensor::from_vec(vec![1.0, 2.0, 3.0], [1, 3], CPU).unwrap();
    let tape = Tape::new();
    let p = store.bind(&tape, true);
    let y = dense.forward(&p, &x).unwrap();
    let loss = ops::sum(&y).unwrap();
    let mut grads = tape.backward(&loss).unwrap();
    let named = p.grads(&mut grads);
    assert_eq!(named.keys().collect::<Vec<_>>(), ["fc.weight"]);
    // d Σ(x·W) / dW[i, j] = x[i]
    assert_eq!(
        named["fc.weight"].to_vec().unwrap(),
        [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
    );
}

#[test]
fn batch_norm_updates_running_statistics_only_in_training() {
    let mut store = ParamStore::new();
    let bn = BatchNorm3d::new(&mut store, "bn", 2, CPU).unwrap();
    let mut rng = Rng::new(2);
    let x = Tensor::randn([2, 3, 3, 3, 2], 5.0, 2.0, &mut rng, CPU).unwrap();
    let xs = x.to_vec().unwrap();
    let mean0: f64 = xs.iter().step_by(2).map(|&v| v as f64).sum::<f64>() / 54.0;
    let p = store.frozen(true);
    let y = bn.forward(&p, &x).unwrap();
    let u = p.into_updates();
    store.apply_updates(u).unwrap();
    let rm = store
        .get("bn.running_mean")
        .unwrap()
        .value
        .to_vec()
        .unwrap();
    assert!(
        (rm[0] as f64 - 0.01 * mean0).abs() < 1e-5,
        "running mean {} vs {}",
        rm[0],
        0.01 * mean0
    );
    let ys = y.to_vec().unwrap();
    let ymean: f64 = ys.iter().step_by(2).map(|&v| v as f64).sum::<f64>() / 54.0;
    assert!(ymean.abs() < 1e-5, "normalized mean {ymean}");
    // Inference reads the running statistics and changes nothing.
    let p = store.frozen(false);
    let y_eval = bn.forward(&p, &x).unwrap();
    let u = p.into_updates();
    store.apply_updates(u).unwrap();
    assert_eq!(
        store
            .get("bn.running_mean")
            .unwrap()
            .value
            .to_vec()
            .unwrap(),
        rm
    );
    let rv = store.get("bn.running_var").unwrap().value.to_vec().unwrap();
    let want = (xs[0] - rm[0]) / (rv[0] + 1e-3).sqrt();
    assert!((y_eval.to_vec().unwrap()[0] - want).abs() < 1e-4);
}

#[test]
fn squeeze_excite_has_no_biases_and_keeps_shape() {
    let mut store = ParamStore::new();
    let mut rng = Rng::new(3);
    let se = SqueezeExcite::new(&mut store, &mut rng, "se", 32, 16, CPU).unwrap();
    assert_eq!(store.count(), (32 * 2 + 2 * 32, 128));
    let x = Tensor::randn([2, 3, 2, 3, 32], 0.0, 1.0, &mut rng, CPU).unwrap();
    let y = se.forward(&store.frozen(false), &x).unwrap();
    assert_eq!(y.dims(), x.dims());
    // Each output is its input scaled by a sigmoid in (0, 1), the same factor per (sample, channel).
    let (xs, ys) = (x.to_vec().unwrap(), y.to_vec().unwrap());
    let r0 = ys[0] / xs[0];
    let r1 = ys[32] / xs[32];
    assert!(r0 > 0.0 && r0 < 1.0 && (r0 - r1).abs() < 1e-5);
    let e = SqueezeExcite::new(&mut store, &mut rng, "se2", 8, 16, CPU).unwrap_err();
    assert!(e.to_string().contains("ratio 16"), "{e}");
}

/// A two-block conv net learns to reproduce a fixed smoothing of its input: the loss falls by
/// more than half in 30 Adam steps.
#[test]
fn small_conv_net_learns() {
    let mut store = ParamStore::new();
    let mut rng = Rng::new(4);
    let cfg = Conv3dConfig::new(1, 4).init(Init::HeNormal);
    let b1 = ConvBlock::new(&mut store, &mut rng, "b1", cfg, NormKind::None, CPU).unwrap();
    let head = Conv3d::new(
        &mut store,
        &mut rng,
        "head",
        Conv3dConfig::new(4, 1).init(Init::HeNormal),
        CPU,
    )
    .unwrap();
    let x = Tensor::randn([2, 6, 5, 7, 1], 0.0, 1.0, &mut rng, CPU).unwrap();
    let teacher = Tensor::full(1.0 / 27.0, [3, 3, 3, 1, 1], CPU).unwrap();
    let target = ops::conv3d(&x, &teacher, None, 1, 1).unwrap();
    let mut opt = Adam::new(AdamConfig {
        lr: 1e-2,
        ..AdamConfig::default()
    });
    let mut losses = vec![];
    for _ in 0..30 {
        let tape = Tape::new();
        let p = store.bind(&tape, true);
        let y = head.forward(&p, &b1.forward(&p, &x).unwrap()).unwrap();
        let d = ops::sub(&y, &target).unwrap();
        let loss = ops::sum(&ops::mul(&d, &d).unwrap()).unwrap();
        losses.push(loss.to_scalar().unwrap());
        let mut grads = tape.backward(&loss).unwrap();
        let named = p.grads(&mut grads);
        opt.step(&mut store, &named).unwrap();
    }
    assert!(losses[29] < 0.5 * losses[0], "losses {losses:?}");
}
