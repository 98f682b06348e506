//! The Adam update as a device op (not differentiable): new parameter and moments from the old
//! ones and a gradient. The optimizer state and its schedule live in [`crate::nn`].

pub mod cpu;
pub(crate) mod gpu;
use crate::backend::Buffer;
use crate::error::{Error, Result};
use crate::ops::same_device;
use crate::tensor::Tensor;

/// One Adam update with the step size already folded in (Keras: `lr_t = lr·√(1-β2ᵗ)/(1-β1ᵗ)`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    pub lr_t: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
}

/// What a device computes for the optimizer. Part of [`Backend`](crate::ops::Backend).
pub trait AdamKernel {
    /// One Adam update; returns the new `(param, m, v)`.
    fn adam(
        &self,
        param: &Buffer,
        grad: &Buffer,
        m: &Buffer,
        v: &Buffer,
        step: AdamStep,
    ) -> Result<(Buffer, Buffer, Buffer)>;
}

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
    use crate::ops::testing::uniform;
    use crate::tensor::{Device, Rng};

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

    #[test]
    fn emulator_update_is_bitwise_equal_to_cpu() {
        let mut rng = Rng::new(9);
        let len = 1037;
        let p = uniform(&mut rng, len, -2.0, 2.0);
        let mut g = uniform(&mut rng, len, -3.0, 3.0);
        let m = uniform(&mut rng, len, -0.5, 0.5);
        let mut v = uniform(&mut rng, len, 0.0, 1.0);
        // Zero gradients and second moments (the ε-only denominator).
        g[..10].fill(0.0);
        v[5..15].fill(0.0);
        let s = AdamStep {
            lr_t: 3e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        };
        let run = |d: Device| {
            let t = |x: &[f32]| Tensor::from_vec(x.to_vec(), [len], d).unwrap();
            let (p1, m1, v1) = adam_update(&t(&p), &t(&g), &t(&m), &t(&v), s).unwrap();
            [p1, m1, v1].map(|t| {
                t.to_vec()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(run(Device::Cpu), run(Device::Emu));
        let e = Tensor::zeros([0], Device::Emu).unwrap();
        let (p0, _, _) = adam_update(&e, &e, &e, &e, s).unwrap();
        assert_eq!(p0.numel(), 0);
    }
}
