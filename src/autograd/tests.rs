//! The tape: accumulation, leaves, misuse errors, and freeing saved activations.

use super::*;
use crate::ops;
use crate::tensor::Device;
use std::sync::Arc;

const CPU: Device = Device::Cpu;

fn t(v: &[f32]) -> Tensor {
    Tensor::from_vec(v.to_vec(), [v.len()], CPU).unwrap()
}

#[test]
fn gradients_accumulate_over_every_use() {
    // L = Σ (x·x + 3x) → dL/dx = 2x + 3
    let tape = Tape::new();
    let x = tape.watch(&t(&[1.0, -2.0, 0.5]));
    let y = ops::add(
        &ops::mul(&x, &x).unwrap(),
        &ops::affine(&x, 3.0, 0.0).unwrap(),
    )
    .unwrap();
    let l = ops::sum(&y).unwrap();
    let g = tape.backward(&l).unwrap();
    assert_eq!(g.get(&x).unwrap().to_vec().unwrap(), [5.0, -1.0, 4.0]);
    assert_eq!(g.len(), 1, "only watched leaves keep gradients");
}

#[test]
fn untracked_inputs_record_nothing_and_unused_leaves_get_none() {
    let tape = Tape::new();
    let a = tape.watch(&t(&[1.0]));
    let b = tape.watch(&t(&[2.0]));
    let c = t(&[3.0]);
    let plain = ops::mul(&c, &c).unwrap();
    assert!(!plain.is_tracked());
    assert_eq!(tape.len(), 0);
    let l = ops::sum(&ops::mul(&a, &c).unwrap()).unwrap();
    assert_eq!(tape.len(), 2);
    let g = tape.backward(&l).unwrap();
    assert_eq!(g.get(&a).unwrap().to_vec().unwrap(), [3.0]);
    assert!(g.get(&b).is_none());
}

#[test]
fn misuse_is_reported_not_panicked() {
    let t1 = Tape::new();
    let t2 = Tape::new();
    let a = t1.watch(&t(&[1.0]));
    let b = t2.watch(&t(&[1.0]));
    let e = ops::add(&a, &b).unwrap_err().to_string();
    assert!(e.contains("different tapes"), "{e}");
    let e = t1.backward(&t(&[1.0])).unwrap_err().to_string();
    assert!(e.contains("not tracked"), "{e}");
    let l = ops::sum(&a).unwrap();
    let e = t2.backward(&l).unwrap_err().to_string();
    assert!(e.contains("another tape"), "{e}");
    t1.backward(&l).unwrap();
    let e = t1.backward(&l).unwrap_err().to_string();
    assert!(e.contains("already run backward"), "{e}");
    let e = ops::sum(&a).unwrap_err().to_string();
    assert!(e.contains("already ran backward"), "{e}");
}

#[test]
fn backward_frees_saved_activations() {
    let tape = Tape::new();
    let x = tape.watch(&t(&[0.5; 1000]));
    let h = ops::sigmoid(&x).unwrap(); // saved by the next mul
    let held = Arc::downgrade(&h.buf_arc());
    let y = ops::mul(&h, &h).unwrap();
    drop(h);
    let l = ops::sum(&y).unwrap();
    assert!(
        held.upgrade().is_some(),
        "the tape keeps the activation for backward"
    );
    let g = tape.backward(&l).unwrap();
    assert!(
        held.upgrade().is_none(),
        "backward dropped the saved activation"
    );
    // d Σ s(x)² / dx = 2 s s (1 - s) at x = 0.5
    let s = 1.0 / (1.0 + (-0.5f32).exp());
    let want = 2.0 * s * s * (1.0 - s);
    assert!(
        g.get(&x)
            .unwrap()
            .to_vec()
            .unwrap()
            .iter()
            .all(|v| (v - want).abs() < 1e-6)
    );
}
