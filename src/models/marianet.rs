//! MariaNet (SPEC §3.2), everything at full resolution:
//!
//! ```text
//! x_in = [src, tgt]                                       2 ch
//! enc1..enc5   conv blocks [32,64,128,32,32], dilation [1,1,2,3,5], each fed the previous
//! multi_x = concat(x_in, enc1..enc5)                      290 ch
//! se           squeeze-excite, ratio 16 (se.squeeze 290→18 ReLU, se.excite 18→290 sigmoid)
//! dec1..dec5   conv blocks [128,64,32,32,32]
//! deformable_gradient_flow: conv 3, sigmoid               → s [N,D,H,W,3]
//! linear_flow: conv 12 (no activation) on the SE output, global average pool → [N,12]
//! ```
//!
//! `linear_flow` is the residual of the 3×4 affine from the identity. Layer names prefix the
//! parameter names (the checkpoint keys): `enc1.conv.weight`, `se.squeeze.weight`,
//! `deformable_gradient_flow.bias`, `linear_flow.weight`, ....

use super::NetSettings;
use super::builder::BuilderConfig;
use super::unet::block_name;
use crate::error::Result;
use crate::nn::{Conv3d, Conv3dConfig, ConvBlock, ParamStore, Params, SqueezeExcite};
use crate::ops;
use crate::tensor::{Device, Rng, Tensor};

/// Name of the deformable head, whose kernel carries the L1 regularizer.
pub const MARIANET_FLOW: &str = "deformable_gradient_flow";
/// Name of the linear (affine residual) head.
pub const MARIANET_LINEAR: &str = "linear_flow";
/// Name of the squeeze-excite block.
pub const MARIANET_SE: &str = "se";

/// MariaNet's layers (configuration and parameter names; weights live in the store).
#[derive(Clone, Debug)]
pub struct MariaNet {
    /// Padding, segmentation input and configured size.
    pub settings: NetSettings,
    enc: Vec<ConvBlock>,
    se: SqueezeExcite,
    dec: Vec<ConvBlock>,
    flow: Conv3d,
    linear: Conv3d,
    channels: usize,
}

impl MariaNet {
    /// Creates every layer's parameters in `store` (configuration already validated).
    pub fn build(
        cfg: &BuilderConfig,
        settings: NetSettings,
        store: &mut ParamStore,
        rng: &mut Rng,
        device: Device,
    ) -> Result<Self> {
        let m = &cfg.marianet;
        let mut ch = 2;
        let mut enc = Vec::with_capacity(m.filters.len());
        for (i, (&nf, &dil)) in m.filters.iter().zip(&m.dilations).enumerate() {
            let c = Conv3dConfig::new(ch, nf).dilation(dil);
            enc.push(ConvBlock::new(
                store,
                rng,
                &format!("enc{}", i + 1),
                c,
                cfg.norm,
                device,
            )?);
            ch = nf;
        }
        let channels = cfg.marianet_channels();
        let se = SqueezeExcite::new(store, rng, MARIANET_SE, channels, m.se_ratio, device)?;
        let mut dec = Vec::with_capacity(m.decoder.len());
        ch = channels;
        for (i, &nf) in m.decoder.iter().enumerate() {
            let c = Conv3dConfig::new(ch, nf);
            dec.push(ConvBlock::new(
                store,
                rng,
                &format!("dec{}", i + 1),
                c,
                cfg.norm,
                device,
            )?);
            ch = nf;
        }
        let flow = Conv3d::new(store, rng, MARIANET_FLOW, Conv3dConfig::new(ch, 3), device)?;
        let linear = Conv3d::new(
            store,
            rng,
            MARIANET_LINEAR,
            Conv3dConfig::new(channels, 12),
            device,
        )?;
        Ok(MariaNet {
            settings,
            enc,
            se,
            dec,
            flow,
            linear,
            channels,
        })
    }

    /// The sigmoid flow output `s [N,D,H,W,3]` and the affine residual `[N,12]` for
    /// `x_in = [src, tgt]`.
    pub fn heads(&self, p: &Params, x_in: &Tensor) -> Result<(Tensor, Tensor)> {
        let mut outs = Vec::with_capacity(self.enc.len() + 1);
        outs.push(x_in.clone());
        for b in &self.enc {
            let y = b.forward(p, &outs[outs.len() - 1])?;
            outs.push(y);
        }
        let multi_x = ops::concat_channels(&outs.iter().collect::<Vec<_>>())?;
        drop(outs);
        let multi_x = self.se.forward(p, &multi_x)?;
        let linear = ops::global_avg_pool(&self.linear.forward(p, &multi_x)?)?;
        let mut x = multi_x;
        for b in &self.dec {
            x = b.forward(p, &x)?;
        }
        let gradient = ops::sigmoid(&self.flow.forward(p, &x)?)?;
        Ok((gradient, linear))
    }

    /// Names of the weights the trainer regularizes with the L1 kernel term (the deformable
    /// head, as the U-Net's `gradient_flow`).
    pub fn regularized_weights(&self) -> Vec<String> {
        vec![self.flow.weight_name()]
    }

    /// Every layer's name and per-sample output shape at input size `dims` (`[D, H, W, C]`;
    /// `[12]` for the pooled linear head), computed from the sizes alone.
    pub fn layer_shapes(&self, dims: [usize; 3]) -> Vec<(String, Vec<usize>)> {
        let shape = |c: usize| vec![dims[0], dims[1], dims[2], c];
        let mut rows: Vec<(String, Vec<usize>)> = Vec::new();
        for b in &self.enc {
            rows.push((block_name(b), shape(b.conv.cfg.cout)));
        }
        rows.push((MARIANET_SE.to_string(), shape(self.channels)));
        for b in &self.dec {
            rows.push((block_name(b), shape(b.conv.cfg.cout)));
        }
        rows.push((MARIANET_FLOW.to_string(), shape(3)));
        rows.push((MARIANET_LINEAR.to_string(), vec![12]));
        rows
    }
}
