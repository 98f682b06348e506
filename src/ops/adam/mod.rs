//! The Adam update as a device op (not differentiable): new parameter and moments from the old
//! ones and a gradient. The optimizer state and its schedule live in [`crate::train::optim`].

pub mod cpu;
pub(crate) mod gpu;

use crate::backend::AdamStep;
use crate::error::{Error, Result};
use crate::ops::same_device;
use crate::tensor::Tensor;

/// One Adam update of `param` with `grad`, first moment `m` and second moment `v` (all the same
/// shape); returns the new `(param, m, v)`, untracked.
pub fn adam_update(
    param: &Tensor,
    grad: &Tensor,
    m: &Tensor,
    v: &Tensor,
    step: AdamStep,
) -> Result<(Tensor, Tensor, Tensor)> {
    let op = "adam";
    same_device(op, &[param, grad, m, v])?;
    for (what, t) in [
        ("gradient", grad),
        ("first moment", m),
        ("second moment", v),
    ] {
        if t.shape() != param.shape() {
            return Err(Error::Shape {
                op,
                msg: format!(
                    "{what} {} does not match parameter {}",
                    t.shape(),
                    param.shape()
                ),
            });
        }
    }
    let (p, m, v) =
        param
            .backend()?
            .adam(param.buffer(), grad.buffer(), m.buffer(), v.buffer(), step)?;
    let s = param.shape().clone();
    Ok((
        Tensor::from_buffer(p, s.clone()),
        Tensor::from_buffer(m, s.clone()),
        Tensor::from_buffer(v, s),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Device;

    #[test]
    fn adam_update_matches_hand_computed_values() {
        let d = Device::Cpu;
        let p = Tensor::from_vec(vec![1.0, -2.0], [2], d).unwrap();
        let g = Tensor::from_vec(vec![0.5, -4.0], [2], d).unwrap();
        let m = Tensor::from_vec(vec![0.1, 0.0], [2], d).unwrap();
        let v = Tensor::from_vec(vec![0.01, 1.0], [2], d).unwrap();
        let s = AdamStep {
            lr_t: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        };
        let (p1, m1, v1) = adam_update(&p, &g, &m, &v, s).unwrap();
        let m_want = [0.9 * 0.1 + 0.1 * 0.5, 0.1 * -4.0];
        let v_want: [f64; 2] = [0.999 * 0.01 + 0.001 * 0.25, 0.999 + 0.001 * 16.0];
        let p_want = [
            1.0 - 0.01 * m_want[0] / (v_want[0].sqrt() + 1e-7),
            -2.0 - 0.01 * m_want[1] / (v_want[1].sqrt() + 1e-7),
        ];
        for i in 0..2 {
            assert!((m1.to_vec().unwrap()[i] as f64 - m_want[i]).abs() < 1e-7);
            assert!((v1.to_vec().unwrap()[i] as f64 - v_want[i]).abs() < 1e-6);
            assert!((p1.to_vec().unwrap()[i] as f64 - p_want[i]).abs() < 1e-6);
        }
        let bad = Tensor::zeros([3], d).unwrap();
        let e = adam_update(&p, &bad, &m, &v, s).unwrap_err().to_string();
        assert!(e.contains("adam") && e.contains("gradient [3]"), "{e}");
    }
}
