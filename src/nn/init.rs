//! Weight initializers, drawn from the engine's seeded [`Rng`] so that a seed fixes a model.

use crate::error::Result;
use crate::tensor::{Device, Rng, Shape, Tensor};

/// How a parameter starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// All zeros (biases, BatchNorm β and running mean).
    Zeros,
    /// All ones (BatchNorm γ and running variance).
    Ones,
    /// `N(0, std²)`; the networks' convolutions use `std = 1e-5`.
    Normal(f32),
    /// He normal: `N(0, 2/fan_in)` with `fan_in` the product of all but the last dimension.
    HeNormal,
}

impl Init {
    /// A tensor of `shape` initialized this way.
    pub fn make(self, shape: impl Into<Shape>, rng: &mut Rng, device: Device) -> Result<Tensor> {
        let shape = shape.into();
        match self {
            Init::Zeros => Tensor::zeros(shape, device),
            Init::Ones => Tensor::full(1.0, shape, device),
            Init::Normal(std) => Tensor::randn(shape, 0.0, std, rng, device),
            Init::HeNormal => {
                let d = shape.dims();
                let fan_in: usize = d[..d.len().saturating_sub(1)].iter().product();
                let std = (2.0 / fan_in.max(1) as f32).sqrt();
                Tensor::randn(shape, 0.0, std, rng, device)
            }
        }
    }
}
