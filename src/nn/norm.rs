//! Normalization layers: `BatchNorm3d` (γ, β trainable; running mean and variance updated with
//! Keras' momentum rule) and `InstanceNorm3d`, and the [`Norm`] choice of a builder.

use super::{Init, ParamStore, Params};
use crate::error::{Error, Result};
use crate::ops;
use crate::tensor::{Device, Rng, Tensor};

/// Which normalization a conv block uses (builder field `norm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NormKind {
    #[default]
    Batch,
    Instance,
    None,
}

impl std::str::FromStr for NormKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "batch" => Ok(NormKind::Batch),
            "instance" => Ok(NormKind::Instance),
            "none" => Ok(NormKind::None),
            _ => Err(Error::Invalid {
                op: "norm",
                msg: format!("unknown normalization {s:?} (expected batch, instance or none)"),
            }),
        }
    }
}

/// BatchNorm over `[N,D,H,W,C]` per channel: `{name}.gamma`, `{name}.beta` (trainable),
/// `{name}.running_mean`, `{name}.running_var` (not trainable).
///
/// Training uses the batch statistics and updates `running ← momentum·running +
/// (1-momentum)·batch` with the biased batch variance (what Keras' non-fused 5D path does);
/// inference uses the running statistics.
#[derive(Clone, Debug)]
pub struct BatchNorm3d {
    pub name: String,
    pub channels: usize,
    pub eps: f32,
    pub momentum: f32,
}

impl BatchNorm3d {
    /// Creates the layer with Keras' defaults for the networks (`eps = 1e-3`, momentum 0.99).
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        channels: usize,
        device: Device,
    ) -> Result<Self> {
        let mut rng = Rng::new(0); // constant initializers draw nothing
        for (suffix, init, trainable) in [
            ("gamma", Init::Ones, true),
            ("beta", Init::Zeros, true),
            ("running_mean", Init::Zeros, false),
            ("running_var", Init::Ones, false),
        ] {
            let t = init.make([channels], &mut rng, device)?;
            store.insert(&format!("{name}.{suffix}"), t, trainable)?;
        }
        Ok(BatchNorm3d {
            name: name.to_string(),
            channels,
            eps: 1e-3,
            momentum: 0.99,
        })
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.name)
    }

    /// Normalizes `x`; in training mode records the running-statistic update in `p`.
    pub fn forward(&self, p: &Params, x: &Tensor) -> Result<Tensor> {
        let gamma = p.get(&self.key("gamma"))?;
        let beta = p.get(&self.key("beta"))?;
        if !p.training() {
            let mean = p.get(&self.key("running_mean"))?;
            let var = p.get(&self.key("running_var"))?;
            return ops::normalize_with(x, &mean, &var, Some(&gamma), Some(&beta), self.eps);
        }
        let (y, mean, var) = ops::normalize(x, Some(&gamma), Some(&beta), self.eps, false)?;
        let m = self.momentum;
        for (key, batch) in [("running_mean", mean), ("running_var", var)] {
            let running = p.get(&self.key(key))?;
            let new = ops::add(
                &ops::affine(&running, m, 0.0)?,
                &ops::affine(&batch, 1.0 - m, 0.0)?,
            )?;
            p.update(&self.key(key), new);
        }
        Ok(y)
    }
}

/// InstanceNorm over each sample and channel, with trainable `{name}.gamma`, `{name}.beta`.
#[derive(Clone, Debug)]
pub struct InstanceNorm3d {
    pub name: String,
    pub channels: usize,
    pub eps: f32,
}

impl InstanceNorm3d {
    /// Creates the layer (`eps = 1e-3`, as the batch norm).
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        channels: usize,
        device: Device,
    ) -> Result<Self> {
        store.insert(
            &format!("{name}.gamma"),
            Tensor::full(1.0, [channels], device)?,
            true,
        )?;
        store.insert(
            &format!("{name}.beta"),
            Tensor::zeros([channels], device)?,
            true,
        )?;
        Ok(InstanceNorm3d {
            name: name.to_string(),
            channels,
            eps: 1e-3,
        })
    }

    /// Normalizes `x` with its own per-sample statistics.
    pub fn forward(&self, p: &Params, x: &Tensor) -> Result<Tensor> {
        let gamma = p.get(&format!("{}.gamma", self.name))?;
        let beta = p.get(&format!("{}.beta", self.name))?;
        Ok(ops::normalize(x, Some(&gamma), Some(&beta), self.eps, true)?.0)
    }
}
