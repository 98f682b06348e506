//! The registration networks (SPEC §3) and their builder configuration, and the diffeomorphic
//! transformer (SPEC §4).
//!
//! [`BuilderConfig`] is `builder.toml`; [`Model::build`] creates a network's named parameters in
//! a [`ParamStore`] (their names are the checkpoint keys, see [`unet`] and [`marianet`]);
//! [`Model::forward`] runs it on a `[src, tgt]` pair and warps `src` (and `src_seg`) with the
//! [`transformer`]. The networks are fully convolutional: `forward` takes any spatial size
//! (training uses config.toml's grid); the builder's nominal `input_shape` is what
//! [`Model::summary`] reports the layers at.

pub mod builder;
mod builder_file;
pub mod marianet;
pub mod transformer;
pub mod unet;

pub use builder::{BuilderConfig, BuilderKind, MariaNetConfig, UnetConfig};
pub use marianet::MariaNet;
pub use transformer::{Warp, displacement, displacement_mm, transform, warp_with_grid};
pub use unet::UNet;

use crate::configfile::ConfigError;
use crate::error::{Error, Result};
use crate::nn::{ParamStore, Params};
use crate::ops;
use crate::ops::Padding;
use crate::tensor::{Device, Rng, Tensor};
use std::path::Path;

/// The network's inputs: `src` and `tgt` `[N,D,H,W,1]`, and the source mask `src_seg`
/// `[N,D,H,W,C]` (required when the builder has `use_segmentation`, warped whenever given).
#[derive(Clone, Copy, Debug)]
pub struct NetInputs<'a> {
    /// The moving image `[N,D,H,W,1]`.
    pub src: &'a Tensor,
    /// The fixed image `[N,D,H,W,1]`.
    pub tgt: &'a Tensor,
    /// The moving image's mask `[N,D,H,W,C]`.
    pub src_seg: Option<&'a Tensor>,
}

/// The network's outputs.
#[derive(Clone, Debug)]
pub struct NetOutputs {
    /// `src` warped by the predicted transformation, `[N,D,H,W,1]`.
    pub deformed: Tensor,
    /// The sigmoid flow output `s` (`Φ = 2·s`), `[N,D,H,W,3]`; 0.5 is the identity.
    pub gradient: Tensor,
    /// MariaNet's affine residual `[N,12]` (zeros are the identity); `None` for the U-Net.
    pub linear: Option<Tensor>,
    /// `src_seg` warped by the same grid, when it was given.
    pub deformed_seg: Option<Tensor>,
    /// The sampling grid `[N,D,H,W,3]` (x, y, z in voxels).
    pub grid: Tensor,
}

/// One row of [`Model::summary`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSummary {
    /// The layer's name (the prefix of its parameter names).
    pub name: String,
    /// Scalars in the layer's parameters (trainable and running statistics).
    pub params: usize,
    /// Output shape per sample at the configured input size: `[D, H, W, C]`, or `[12]` for
    /// MariaNet's pooled linear head.
    pub output_shape: Vec<usize>,
}

/// The builder settings a network's forward pass uses besides its layers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetSettings {
    /// Transformer padding.
    pub padding: Padding,
    /// Whether `src_seg` is a required input.
    pub use_segmentation: bool,
    /// The configured input size `[D, H, W]` (what [`Model::summary`] reports at).
    pub input_shape: [usize; 3],
}

impl NetSettings {
    fn of(cfg: &BuilderConfig) -> Self {
        NetSettings {
            padding: cfg.padding,
            use_segmentation: cfg.use_segmentation,
            input_shape: cfg.input_shape,
        }
    }
}

/// A built network.
#[derive(Clone, Debug)]
pub enum Model {
    /// The diffeomorphic U-Net (SPEC §3.1).
    Unet(UNet),
    /// MariaNet (SPEC §3.2).
    MariaNet(MariaNet),
}

impl Model {
    /// Validates `cfg` and creates the network's parameters in `store`, drawing initial
    /// weights from `rng`.
    pub fn build(
        cfg: &BuilderConfig,
        store: &mut ParamStore,
        rng: &mut Rng,
        device: Device,
    ) -> Result<Model> {
        cfg.validate(Path::new("builder configuration"))
            .map_err(|e| Error::Invalid {
                op: "Model::build",
                msg: e.to_string(),
            })?;
        let settings = NetSettings::of(cfg);
        Ok(match cfg.kind {
            BuilderKind::Unet => Model::Unet(UNet::build(cfg, settings, store, rng, device)?),
            BuilderKind::MariaNet => {
                Model::MariaNet(MariaNet::build(cfg, settings, store, rng, device)?)
            }
        })
    }

    /// The builder settings of the network.
    pub fn settings(&self) -> &NetSettings {
        match self {
            Model::Unet(u) => &u.settings,
            Model::MariaNet(m) => &m.settings,
        }
    }

    /// Which network this is.
    pub fn kind(&self) -> BuilderKind {
        match self {
            Model::Unet(_) => BuilderKind::Unet,
            Model::MariaNet(_) => BuilderKind::MariaNet,
        }
    }

    /// Runs the network on `inputs` and warps `src` (and `src_seg`) with its prediction.
    pub fn forward(&self, p: &Params, inputs: &NetInputs) -> Result<NetOutputs> {
        self.check_inputs(inputs)?;
        let x_in = ops::concat_channels(&[inputs.src, inputs.tgt])?;
        let (gradient, linear) = match self {
            Model::Unet(u) => (u.gradient(p, &x_in)?, None),
            Model::MariaNet(m) => {
                let (g, l) = m.heads(p, &x_in)?;
                (g, Some(l))
            }
        };
        drop(x_in);
        let padding = self.settings().padding;
        let warp = transform(inputs.src, &gradient, linear.as_ref(), padding)?;
        let deformed_seg = inputs
            .src_seg
            .map(|seg| warp_with_grid(seg, &warp.grid, padding))
            .transpose()?;
        Ok(NetOutputs {
            deformed: warp.warped,
            gradient,
            linear,
            deformed_seg,
            grid: warp.grid,
        })
    }

    fn check_inputs(&self, inputs: &NetInputs) -> Result<()> {
        let op = "Model::forward";
        let src = inputs.src.shape().dims5(op)?;
        if inputs.tgt.shape() != inputs.src.shape() || src[4] != 1 {
            return Err(Error::Shape {
                op,
                msg: format!(
                    "src {} and tgt {} must both be [N,D,H,W,1] of one size",
                    inputs.src.shape(),
                    inputs.tgt.shape()
                ),
            });
        }
        match inputs.src_seg {
            None if self.settings().use_segmentation => Err(Error::Invalid {
                op,
                msg: "the builder has use_segmentation = true but no src_seg was given".into(),
            }),
            Some(seg) if seg.shape().dims5(op)?[..4] != src[..4] => Err(Error::Shape {
                op,
                msg: format!(
                    "src_seg {} must match src {} in N, D, H and W",
                    seg.shape(),
                    inputs.src.shape()
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Names of the weights the trainer adds the L1 kernel regularizer of (SPEC §6) for.
    pub fn regularized_weights(&self) -> Vec<String> {
        match self {
            Model::Unet(u) => u.regularized_weights(),
            Model::MariaNet(m) => m.regularized_weights(),
        }
    }

    /// The layers in order with their parameter counts (from `store`) and output shapes at the
    /// configured input size (computed from the sizes; nothing runs). The last row is the
    /// transformer's output.
    pub fn summary(&self, store: &ParamStore) -> Vec<LayerSummary> {
        let dims = self.settings().input_shape;
        let rows = match self {
            Model::Unet(u) => u.layer_shapes(dims),
            Model::MariaNet(m) => m.layer_shapes(dims),
        };
        let mut out: Vec<LayerSummary> = rows
            .into_iter()
            .map(|(name, output_shape)| {
                let prefix = format!("{name}.");
                let params = store
                    .iter()
                    .filter(|(n, _)| n.starts_with(&prefix))
                    .map(|(_, p)| p.value.numel())
                    .sum();
                LayerSummary {
                    name,
                    params,
                    output_shape,
                }
            })
            .collect();
        out.push(LayerSummary {
            name: "transformer".into(),
            params: 0,
            output_shape: vec![dims[0], dims[1], dims[2], 1],
        });
        out
    }
}

/// Spatial size `[D, H, W]` of a `[N, D, H, W, C]` tensor.
pub(crate) fn spatial(t: &Tensor) -> [usize; 3] {
    let d = t.dims();
    [d[1], d[2], d[3]]
}

/// The size after a stride-2 "same" convolution: `⌈s / 2⌉` on every axis.
pub(crate) fn ceil_half(s: [usize; 3]) -> [usize; 3] {
    s.map(|v| v.div_ceil(2))
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::result::Result<(), ConfigError> {
    crate::fsutil::atomic_write(path, bytes)
        .map_err(|source| ConfigError::Io(crate::fsutil::IoError::new(path, source)))
}

#[cfg(test)]
mod tests;
