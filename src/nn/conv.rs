//! `Conv3d`: a named 3D convolution layer (`{name}.weight [k,k,k,Cin,Cout]`, `{name}.bias`).

use super::{Init, ParamStore, Params};
use crate::error::Result;
use crate::ops;
use crate::tensor::{Device, Rng, Tensor};

/// Settings of a [`Conv3d`]; `Conv3dConfig::new(cin, cout)` gives a 3³ kernel, stride 1,
/// dilation 1, bias, weights `N(0, (1e-5)²)` as the original networks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv3dConfig {
    pub cin: usize,
    pub cout: usize,
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    pub bias: bool,
    pub init: Init,
}

impl Conv3dConfig {
    /// 3³ kernel, stride 1, dilation 1, with bias, `N(0, 1e-5)` weights.
    pub fn new(cin: usize, cout: usize) -> Self {
        Conv3dConfig {
            cin,
            cout,
            kernel: 3,
            stride: 1,
            dilation: 1,
            bias: true,
            init: Init::Normal(1e-5),
        }
    }
    /// With this stride.
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = s;
        self
    }
    /// With this dilation.
    pub fn dilation(mut self, d: usize) -> Self {
        self.dilation = d;
        self
    }
    /// With this kernel size.
    pub fn kernel(mut self, k: usize) -> Self {
        self.kernel = k;
        self
    }
    /// With this weight initializer.
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }
}

/// A 3D convolution with "same" padding.
#[derive(Clone, Debug)]
pub struct Conv3d {
    pub name: String,
    pub cfg: Conv3dConfig,
}

impl Conv3d {
    /// Creates the layer and its parameters in `store`.
    pub fn new(
        store: &mut ParamStore,
        rng: &mut Rng,
        name: &str,
        cfg: Conv3dConfig,
        device: Device,
    ) -> Result<Self> {
        let k = cfg.kernel;
        let w = cfg.init.make([k, k, k, cfg.cin, cfg.cout], rng, device)?;
        store.insert(&format!("{name}.weight"), w, true)?;
        if cfg.bias {
            store.insert(
                &format!("{name}.bias"),
                Tensor::zeros([cfg.cout], device)?,
                true,
            )?;
        }
        Ok(Conv3d {
            name: name.to_string(),
            cfg,
        })
    }

    /// Name of the weight parameter.
    pub fn weight_name(&self) -> String {
        format!("{}.weight", self.name)
    }

    /// Applies the layer to `x [N,D,H,W,Cin]`.
    pub fn forward(&self, p: &Params, x: &Tensor) -> Result<Tensor> {
        let w = p.get(&self.weight_name())?;
        let b = if self.cfg.bias {
            Some(p.get(&format!("{}.bias", self.name))?)
        } else {
            None
        };
        ops::conv3d(x, &w, b.as_ref(), self.cfg.stride, self.cfg.dilation)
    }
}
