//! Elementwise ops against `f64` references and finite differences.

use super::*;
use crate::ops::testing::{Check, check_op, uniform, uniform_away};
use crate::tensor::{Device, Rng};

fn sig(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn activations_match_reference_and_gradients() {
    let mut rng = Rng::new(1);
    let shape = Shape::new([2, 3, 5, 4, 3]);
    let x = uniform_away(&mut rng, shape.numel(), -3.0, 3.0, &[0.0], 0.01);
    let inputs = [(shape.clone(), x)];
    check_op(
        &inputs,
        |t| relu(&t[0]),
        |x| x[0].iter().map(|v| v.max(0.0)).collect(),
        Check::default(),
    );
    check_op(
        &inputs,
        |t| leaky_relu(&t[0], 0.3),
        |x| {
            x[0].iter()
                .map(|&v| if v > 0.0 { v } else { 0.3 * v })
                .collect()
        },
        Check::default(),
    );
    check_op(
        &inputs,
        |t| sigmoid(&t[0]),
        |x| x[0].iter().map(|&v| sig(v)).collect(),
        Check::default(),
    );
    check_op(
        &inputs,
        |t| affine(&t[0], 2.0, -0.5),
        |x| x[0].iter().map(|&v| 2.0 * v - 0.5).collect(),
        Check::default(),
    );
}

#[test]
fn binary_ops_match_reference_and_gradients() {
    let mut rng = Rng::new(2);
    let shape = Shape::new([3, 7]);
    let a = uniform(&mut rng, 21, -2.0, 2.0);
    let b = uniform(&mut rng, 21, -2.0, 2.0);
    let inputs = [(shape.clone(), a), (shape, b)];
    let zip = |x: &[Vec<f64>], f: fn(f64, f64) -> f64| -> Vec<f64> {
        x[0].iter().zip(&x[1]).map(|(&a, &b)| f(a, b)).collect()
    };
    check_op(
        &inputs,
        |t| add(&t[0], &t[1]),
        |x| zip(x, |a, b| a + b),
        Check::default(),
    );
    check_op(
        &inputs,
        |t| sub(&t[0], &t[1]),
        |x| zip(x, |a, b| a - b),
        Check::default(),
    );
    check_op(
        &inputs,
        |t| mul(&t[0], &t[1]),
        |x| zip(x, |a, b| a * b),
        Check::default(),
    );
}

#[test]
fn bias_add_and_channel_mul_broadcast_over_channels() {
    let mut rng = Rng::new(3);
    let xs = Shape::new([2, 3, 2, 5, 4]);
    let x = uniform(&mut rng, xs.numel(), -1.0, 1.0);
    let b = uniform(&mut rng, 4, -1.0, 1.0);
    check_op(
        &[(xs.clone(), x.clone()), (Shape::new([4]), b)],
        |t| bias_add(&t[0], &t[1]),
        |x| {
            x[0].iter()
                .enumerate()
                .map(|(i, v)| v + x[1][i % 4])
                .collect()
        },
        Check::default(),
    );
    let s = uniform(&mut rng, 8, -1.0, 1.0);
    let per = xs.numel() / 2;
    check_op(
        &[(xs, x), (Shape::new([2, 4]), s)],
        |t| channel_mul(&t[0], &t[1]),
        |x| {
            x[0].iter()
                .enumerate()
                .map(|(i, v)| v * x[1][(i / per) * 4 + i % 4])
                .collect()
        },
        Check::default(),
    );
}

#[test]
fn reshape_is_differentiable_and_checks_sizes() {
    let mut rng = Rng::new(4);
    let x = uniform(&mut rng, 12, -1.0, 1.0);
    check_op(
        &[(Shape::new([3, 4]), x)],
        |t| sigmoid(&t[0].reshape([2, 6])?),
        |x| x[0].iter().map(|&v| sig(v)).collect(),
        Check::default(),
    );
    let t = Tensor::zeros([3, 4], Device::Cpu).unwrap();
    let e = t.reshape([5]).unwrap_err().to_string();
    assert!(e.contains("reshape") && e.contains("[3, 4]"), "{e}");
}

#[test]
fn shape_and_rank_errors_name_the_op_and_shapes() {
    let a = Tensor::zeros([2, 3], Device::Cpu).unwrap();
    let b = Tensor::zeros([3, 2], Device::Cpu).unwrap();
    let e = add(&a, &b).unwrap_err().to_string();
    assert!(
        e.contains("add") && e.contains("[2, 3]") && e.contains("[3, 2]"),
        "{e}"
    );
    let bias = Tensor::zeros([2], Device::Cpu).unwrap();
    let e = bias_add(&a, &bias).unwrap_err().to_string();
    assert!(e.contains("bias_add") && e.contains("[2]"), "{e}");
    let e = channel_mul(&a, &bias).unwrap_err().to_string();
    assert!(e.contains("channel_mul") && e.contains("rank-5"), "{e}");
    let e = Tensor::from_vec(vec![1.0; 5], [2, 3], Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(e.contains("5 values") && e.contains("[2, 3]"), "{e}");
}

#[test]
fn results_are_bitwise_reproducible_across_thread_counts() {
    let mut rng = Rng::new(5);
    let n = 3 * super::cpu::CHUNK + 17;
    let x = uniform(&mut rng, n * 3, -1.0, 1.0);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| super::cpu::channel_sum(&x, 3))
    };
    let one = run(1);
    let two = run(2);
    let many = run(7);
    assert_eq!(
        one.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        two.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(
        one.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        many.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}
