//! The names `config.toml` uses: builders, network outputs, losses, early-stopping monitors
//! and devices.

use serde::{Deserialize, Serialize};

pub use crate::models::BuilderKind;

/// A network output a loss is computed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputName {
    /// The warped source image (target: the target image).
    Deformed,
    /// The gradient flow Φ/2 after the sigmoid (target: 0.5, the identity).
    Gradient,
    /// MariaNet's 12 affine residuals (target: zeros).
    Linear,
    /// The warped source mask (target: the target mask); `_seg` generators only.
    DeformedSeg,
}

/// A loss function by name (SPEC section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossName {
    Mse,
    Mae,
    /// Global normalized cross-correlation (loss = −r).
    Ncc,
    /// Local normalized cross-correlation, window 9³.
    Lncc,
    /// Soft Dice on masks.
    Dice,
}

impl OutputName {
    /// The TOML name.
    pub fn name(self) -> &'static str {
        match self {
            OutputName::Deformed => "deformed",
            OutputName::Gradient => "gradient",
            OutputName::Linear => "linear",
            OutputName::DeformedSeg => "deformed_seg",
        }
    }

    /// The losses that make sense on this output: constant targets (gradient, linear) have no
    /// variance for a correlation, and Dice needs masks.
    pub fn allowed_losses(self) -> &'static [LossName] {
        use LossName::*;
        match self {
            OutputName::Deformed => &[Mse, Mae, Ncc, Lncc],
            OutputName::Gradient | OutputName::Linear => &[Mse, Mae],
            OutputName::DeformedSeg => &[Dice, Mse, Mae],
        }
    }
}

impl LossName {
    /// The TOML name.
    pub fn name(self) -> &'static str {
        match self {
            LossName::Mse => "mse",
            LossName::Mae => "mae",
            LossName::Ncc => "ncc",
            LossName::Lncc => "lncc",
            LossName::Dice => "dice",
        }
    }
}

/// What early stopping watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// The training loss (the default, as the original).
    Loss,
    /// The validation loss.
    ValLoss,
}

/// Where to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// CUDA when a GPU is usable, else the CPU.
    Auto,
    Cpu,
    Cuda,
}
