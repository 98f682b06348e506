//! `ConvBlock`: Conv3d → LeakyReLU(0.3) → normalization, the unit both networks stack
//! (the original's order: activation before normalization).

use super::{BatchNorm3d, Conv3d, Conv3dConfig, InstanceNorm3d, NormKind, ParamStore, Params};
use crate::error::Result;
use crate::ops;
use crate::tensor::{Device, Rng, Tensor};

/// Slope of the LeakyReLU in every conv block.
pub const LEAKY_ALPHA: f32 = 0.3;

#[derive(Clone, Debug)]
enum NormLayer {
    Batch(BatchNorm3d),
    Instance(InstanceNorm3d),
    None,
}

/// A named conv block: `{name}.conv.*` and `{name}.norm.*` parameters.
#[derive(Clone, Debug)]
pub struct ConvBlock {
    pub conv: Conv3d,
    norm: NormLayer,
}

impl ConvBlock {
    /// Creates the block's convolution and normalization.
    pub fn new(
        store: &mut ParamStore,
        rng: &mut Rng,
        name: &str,
        cfg: Conv3dConfig,
        norm: NormKind,
        device: Device,
    ) -> Result<Self> {
        let conv = Conv3d::new(store, rng, &format!("{name}.conv"), cfg, device)?;
        let nname = format!("{name}.norm");
        let norm = match norm {
            NormKind::Batch => NormLayer::Batch(BatchNorm3d::new(store, &nname, cfg.cout, device)?),
            NormKind::Instance => {
                NormLayer::Instance(InstanceNorm3d::new(store, &nname, cfg.cout, device)?)
            }
            NormKind::None => NormLayer::None,
        };
        Ok(ConvBlock { conv, norm })
    }

    /// Applies conv, activation and normalization to `x`.
    pub fn forward(&self, p: &Params, x: &Tensor) -> Result<Tensor> {
        let y = ops::leaky_relu(&self.conv.forward(p, x)?, LEAKY_ALPHA)?;
        match &self.norm {
            NormLayer::Batch(bn) => bn.forward(p, &y),
            NormLayer::Instance(inorm) => inorm.forward(p, &y),
            NormLayer::None => Ok(y),
        }
    }
}
