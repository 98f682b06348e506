//! Layers with named parameters. A layer holds only its configuration and parameter names;
//! the tensors live in a [`ParamStore`] under those names (the checkpoint keys), and a forward
//! pass reads them through a [`Params`] view bound to the step's tape. [`Adam`] updates the
//! store from a step's gradients.

mod adam;
mod block;
mod conv;
mod dense;
mod init;
mod norm;
mod params;

pub use adam::{Adam, AdamConfig};
pub use block::{ConvBlock, LEAKY_ALPHA};
pub use conv::{Conv3d, Conv3dConfig};
pub use dense::{Dense, SqueezeExcite};
pub use init::Init;
pub use norm::{BatchNorm3d, InstanceNorm3d, NormKind};
pub use params::{Param, ParamStore, Params, Updates};

#[cfg(test)]
mod tests;
