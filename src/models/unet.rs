//! The diffeomorphic U-Net (SPEC §3.1), as the paper's figure reads:
//!
//! ```text
//! x_in = [src, tgt]                                   2 ch, full size
//! enc1..encL   conv block stride 2 (enc_nf)           each halves the size (ceil)
//! dec1..dec(L-1): conv block, nearest ×2 up to the skip's size, concat [up, e_{L-1-i}]
//! dec(L), dec(L+1): conv blocks at e1's size
//! nearest ×2 up to the input size, concat [up, x_in], dec(L+2)
//! gradient_flow: conv 3, sigmoid                      → s [N,D,H,W,3]
//! ```
//!
//! With the defaults (L = 4) the layers are `enc1..enc4`, `dec1..dec6` and `gradient_flow`;
//! these names prefix the parameter names, which are the checkpoint keys
//! (`enc1.conv.weight`, `dec6.norm.gamma`, `gradient_flow.bias`, ...). The transformer
//! (section 4) is applied by [`Model::forward`](super::Model::forward).

use super::NetSettings;
use super::builder::BuilderConfig;
use super::{ceil_half, spatial};
use crate::error::Result;
use crate::nn::{Conv3d, Conv3dConfig, ConvBlock, ParamStore, Params};
use crate::ops;
use crate::tensor::{Device, Rng, Tensor};

/// Name of the flow head, whose kernel carries the L1 regularizer.
pub const UNET_FLOW: &str = "gradient_flow";

/// The U-Net's layers (their configuration and parameter names; weights live in the store).
#[derive(Clone, Debug)]
pub struct UNet {
    /// Padding, segmentation input and configured size.
    pub settings: NetSettings,
    enc: Vec<ConvBlock>,
    dec: Vec<ConvBlock>,
    flow: Conv3d,
}

impl UNet {
    /// Creates every layer's parameters in `store` (configuration already validated).
    pub fn build(
        cfg: &BuilderConfig,
        settings: NetSettings,
        store: &mut ParamStore,
        rng: &mut Rng,
        device: Device,
    ) -> Result<Self> {
        let (enc_nf, dec_nf) = (&cfg.unet.enc_nf, &cfg.unet.dec_nf);
        let mut block =
            |name: String, c: Conv3dConfig| ConvBlock::new(store, rng, &name, c, cfg.norm, device);
        // Channels of x_in, e1, .., eL (the skip connections).
        let mut skip_ch = vec![2];
        let mut enc = Vec::with_capacity(enc_nf.len());
        for (i, &nf) in enc_nf.iter().enumerate() {
            let cin = skip_ch[i];
            enc.push(block(
                format!("enc{}", i + 1),
                Conv3dConfig::new(cin, nf).stride(2),
            )?);
            skip_ch.push(nf);
        }
        let levels = enc_nf.len();
        let mut ch = skip_ch[levels];
        let mut dec = Vec::with_capacity(dec_nf.len());
        for (i, &nf) in dec_nf[..dec_nf.len() - 3].iter().enumerate() {
            dec.push(block(format!("dec{}", i + 1), Conv3dConfig::new(ch, nf))?);
            ch = nf + skip_ch[levels - 1 - i];
        }
        for (i, &nf) in dec_nf.iter().enumerate().skip(dec_nf.len() - 3) {
            let cin = if i + 1 == dec_nf.len() { ch + 2 } else { ch };
            dec.push(block(format!("dec{}", i + 1), Conv3dConfig::new(cin, nf))?);
            ch = nf;
        }
        let flow = Conv3d::new(store, rng, UNET_FLOW, Conv3dConfig::new(ch, 3), device)?;
        Ok(UNet {
            settings,
            enc,
            dec,
            flow,
        })
    }

    /// The sigmoid flow output `s [N,D,H,W,3]` for `x_in = [src, tgt]`.
    pub fn gradient(&self, p: &Params, x_in: &Tensor) -> Result<Tensor> {
        let mut skips = vec![x_in.clone()];
        for b in &self.enc {
            let e = b.forward(p, &skips[skips.len() - 1])?;
            skips.push(e);
        }
        let levels = self.enc.len();
        let mut x = skips[levels].clone();
        let loop_len = self.dec.len() - 3;
        for (i, b) in self.dec[..loop_len].iter().enumerate() {
            let skip = &skips[levels - 1 - i];
            let up = ops::upsample_nearest(&b.forward(p, &x)?, spatial(skip))?;
            x = ops::concat_channels(&[&up, skip])?;
        }
        x = self.dec[loop_len].forward(p, &x)?;
        x = self.dec[loop_len + 1].forward(p, &x)?;
        let up = ops::upsample_nearest(&x, spatial(x_in))?;
        x = self.dec[loop_len + 2].forward(p, &ops::concat_channels(&[&up, x_in])?)?;
        ops::sigmoid(&self.flow.forward(p, &x)?)
    }

    /// Names of the weights the trainer regularizes with the L1 kernel term.
    pub fn regularized_weights(&self) -> Vec<String> {
        vec![self.flow.weight_name()]
    }

    /// Every layer's name and per-sample output shape `[D, H, W, C]` at input size `dims`,
    /// computed from the sizes alone (nothing runs).
    pub fn layer_shapes(&self, dims: [usize; 3]) -> Vec<(String, Vec<usize>)> {
        let shape = |s: [usize; 3], c: usize| vec![s[0], s[1], s[2], c];
        let mut sizes = vec![dims];
        let mut rows = Vec::new();
        for b in &self.enc {
            let s = ceil_half(sizes[sizes.len() - 1]);
            sizes.push(s);
            rows.push((block_name(b), shape(s, b.conv.cfg.cout)));
        }
        let levels = self.enc.len();
        let loop_len = self.dec.len() - 3;
        for (i, b) in self.dec.iter().enumerate() {
            let s = if i < loop_len {
                sizes[levels - i]
            } else if i + 1 < self.dec.len() {
                sizes[1]
            } else {
                dims
            };
            rows.push((block_name(b), shape(s, b.conv.cfg.cout)));
        }
        rows.push((UNET_FLOW.to_string(), shape(dims, 3)));
        rows
    }
}

/// A conv block's layer name (`enc1` for parameters `enc1.conv.weight`, ...).
pub(crate) fn block_name(b: &ConvBlock) -> String {
    b.conv
        .name
        .strip_suffix(".conv")
        .unwrap_or(&b.conv.name)
        .to_string()
}
