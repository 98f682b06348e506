//! The Adam optimizer with Keras 2's learning-rate time decay:
//! `lr = lr0 / (1 + decay·iterations)`, `lr_t = lr·√(1-β2ᵗ)/(1-β1ᵗ)` with `t = iterations + 1`,
//! `m ← β1·m + (1-β1)·g`, `v ← β2·v + (1-β2)·g²`, `p ← p - lr_t·m/(√v + ε)`.

use crate::error::{Error, Result};
use crate::nn::ParamStore;
use crate::ops::AdamStep;
use crate::ops::adam::adam_update;
use crate::tensor::Tensor;
use std::collections::BTreeMap;

/// Adam's hyper-parameters. `Default` is the networks' setting: lr 1e-3, β 0.9/0.999, ε 1e-7,
/// decay 1e-6.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub decay: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
            decay: 1e-6,
        }
    }
}

/// Adam with its state: the step counter and the two moments of every trained parameter.
#[derive(Clone, Debug)]
pub struct Adam {
    pub cfg: AdamConfig,
    /// Updates done so far (Keras' `iterations`).
    pub iterations: u64,
    /// First moments by parameter name.
    pub m: BTreeMap<String, Tensor>,
    /// Second moments by parameter name.
    pub v: BTreeMap<String, Tensor>,
}

impl Adam {
    /// A fresh optimizer (moments start at zero when a parameter is first updated).
    pub fn new(cfg: AdamConfig) -> Self {
        Adam {
            cfg,
            iterations: 0,
            m: BTreeMap::new(),
            v: BTreeMap::new(),
        }
    }

    /// The decayed learning rate of the next update.
    pub fn current_lr(&self) -> f32 {
        (self.cfg.lr as f64 / (1.0 + self.cfg.decay as f64 * self.iterations as f64)) as f32
    }

    /// Updates every parameter of `store` named in `grads`; a gradient for a parameter that is
    /// missing or not trainable is an error.
    pub fn step(&mut self, store: &mut ParamStore, grads: &BTreeMap<String, Tensor>) -> Result<()> {
        let t = (self.iterations + 1) as f64;
        let lr = self.current_lr() as f64;
        let (b1, b2) = (self.cfg.beta1 as f64, self.cfg.beta2 as f64);
        let lr_t = lr * (1.0 - b2.powf(t)).sqrt() / (1.0 - b1.powf(t));
        let step = AdamStep {
            lr_t: lr_t as f32,
            beta1: self.cfg.beta1,
            beta2: self.cfg.beta2,
            eps: self.cfg.eps,
        };
        for (name, g) in grads {
            let p = store.get(name)?;
            if !p.trainable {
                return Err(Error::Invalid {
                    op: "Adam::step",
                    msg: format!("parameter {name:?} is not trainable"),
                });
            }
            let value = p.value.clone();
            let zeros = || Tensor::zeros(value.shape().clone(), value.device());
            let m = match self.m.get(name) {
                Some(m) => m.clone(),
                None => zeros()?,
            };
            let v = match self.v.get(name) {
                Some(v) => v.clone(),
                None => zeros()?,
            };
            let (p1, m1, v1) = adam_update(&value, g, &m, &v, step)?;
            store.set(name, p1)?;
            self.m.insert(name.clone(), m1);
            self.v.insert(name.clone(), v1);
        }
        self.iterations += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Device;

    /// Adam minimizing `(p - 3)²` from 0 with a large step reaches 3, and the first step moves
    /// by exactly `lr` (Adam's bias correction makes `|Δp| = lr` on step one).
    #[test]
    fn adam_converges_and_first_step_is_lr() {
        let d = Device::Cpu;
        let mut store = ParamStore::new();
        store
            .insert("p", Tensor::zeros([1], d).unwrap(), true)
            .unwrap();
        let mut opt = Adam::new(AdamConfig {
            lr: 0.1,
            decay: 0.0,
            ..AdamConfig::default()
        });
        for i in 0..300 {
            let p = store.get("p").unwrap().value.to_vec().unwrap()[0];
            let g = Tensor::from_vec(vec![2.0 * (p - 3.0)], [1], d).unwrap();
            opt.step(&mut store, &BTreeMap::from([("p".to_string(), g)]))
                .unwrap();
            if i == 0 {
                let p1 = store.get("p").unwrap().value.to_vec().unwrap()[0];
                assert!((p1 - 0.1).abs() < 1e-6, "first step {p1}");
            }
        }
        let p = store.get("p").unwrap().value.to_vec().unwrap()[0];
        assert!((p - 3.0).abs() < 1e-2, "p = {p}");
        assert_eq!(opt.iterations, 300);
    }

    #[test]
    fn time_decay_follows_keras() {
        let mut opt = Adam::new(AdamConfig {
            lr: 1e-3,
            decay: 0.5,
            ..AdamConfig::default()
        });
        assert_eq!(opt.current_lr(), 1e-3);
        opt.iterations = 2;
        assert!((opt.current_lr() - 0.5e-3).abs() < 1e-9);
    }

    #[test]
    fn untrainable_or_unknown_parameters_are_errors() {
        let d = Device::Cpu;
        let mut store = ParamStore::new();
        store
            .insert("stat", Tensor::zeros([1], d).unwrap(), false)
            .unwrap();
        let mut opt = Adam::new(AdamConfig::default());
        let g = Tensor::zeros([1], d).unwrap();
        let e = opt
            .step(
                &mut store,
                &BTreeMap::from([("stat".to_string(), g.clone())]),
            )
            .unwrap_err();
        assert!(e.to_string().contains("not trainable"), "{e}");
        let e = opt
            .step(&mut store, &BTreeMap::from([("nope".to_string(), g)]))
            .unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
