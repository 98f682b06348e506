//! `Dense` (no bias) and `SqueezeExcite` (global pool → dense ReLU → dense sigmoid → scale).

use super::{Init, ParamStore, Params};
use crate::error::{Error, Result};
use crate::ops;
use crate::tensor::{Device, Rng, Tensor};

/// A fully connected layer without bias: `{name}.weight [Cin, Cout]`.
#[derive(Clone, Debug)]
pub struct Dense {
    pub name: String,
}

impl Dense {
    /// Creates the layer and its weight.
    pub fn new(
        store: &mut ParamStore,
        rng: &mut Rng,
        name: &str,
        (cin, cout): (usize, usize),
        init: Init,
        device: Device,
    ) -> Result<Self> {
        store.insert(
            &format!("{name}.weight"),
            init.make([cin, cout], rng, device)?,
            true,
        )?;
        Ok(Dense {
            name: name.to_string(),
        })
    }

    /// `x [N, Cin] · W`.
    pub fn forward(&self, p: &Params, x: &Tensor) -> Result<Tensor> {
        ops::dense(x, &p.get(&format!("{}.weight", self.name))?)
    }
}

/// Squeeze-and-excitation (Hu et al. 2018) with reduction `ratio`: `{name}.squeeze` (He normal,
/// ReLU) and `{name}.excite` (sigmoid) dense layers, no biases.
#[derive(Clone, Debug)]
pub struct SqueezeExcite {
    pub squeeze: Dense,
    pub excite: Dense,
}

impl SqueezeExcite {
    /// Creates the block for `channels` channels.
    pub fn new(
        store: &mut ParamStore,
        rng: &mut Rng,
        name: &str,
        channels: usize,
        ratio: usize,
        device: Device,
    ) -> Result<Self> {
        let hidden = channels / ratio.max(1);
        if hidden == 0 {
            return Err(Error::Invalid {
                op: "SqueezeExcite",
                msg: format!("{channels} channels / ratio {ratio} leaves no hidden unit"),
            });
        }
        let squeeze = Dense::new(
            store,
            rng,
            &format!("{name}.squeeze"),
            (channels, hidden),
            Init::HeNormal,
            device,
        )?;
        let excite = Dense::new(
            store,
            rng,
            &format!("{name}.excite"),
            (hidden, channels),
            Init::HeNormal,
            device,
        )?;
        Ok(SqueezeExcite { squeeze, excite })
    }

    /// Rescales each channel of `x [N,D,H,W,C]` by its learned excitation.
    pub fn forward(&self, p: &Params, x: &Tensor) -> Result<Tensor> {
        let pooled = ops::global_avg_pool(x)?;
        let h = ops::relu(&self.squeeze.forward(p, &pooled)?)?;
        let s = ops::sigmoid(&self.excite.forward(p, &h)?)?;
        ops::channel_mul(x, &s)
    }
}
