//! Reductions and losses against `f64` references and finite differences.

use super::*;
use crate::ops::testing::{Check, check_op, uniform_away};
use crate::tensor::Rng;

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
