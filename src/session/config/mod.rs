//! The training configuration of a session, `config.toml` (SPEC sections 1 and 6): the loss
//! terms and their weights, the optimizer, epochs and steps, the network grid, the generator,
//! the data, the seed and the device.
//!
//! The file is plain, commented TOML written by [`TrainConfig::to_toml`] and meant to be edited
//! by hand. Unknown keys and wrong types are errors naming the file, the key and the expected
//! type ([`crate::configfile`]); values out of range are errors naming the file and the key
//! ([`TrainConfig::validate`]). Keys whose default does not depend on the builder or the
//! generator may be left out (they take the SPEC defaults); `format_version`, `generator`,
//! `shape` and the `[[losses]]` entries are required.
//!
//! Default loss terms ([`TrainConfig::defaults`]): `deformed`/`mse` 1, `gradient`/`mae` 1e-5,
//! plus `deformed_seg`/`dice` 0.1 with the `_seg` generators, plus `linear`/`mse` 1e-2 for
//! MariaNet. The SPEC gives no weight for MariaNet's affine residual (the original never
//! trained it); 1e-2 keeps it near the identity (its target is zeros) without competing with
//! the image term, whose MSE on z-scored volumes is of order 1.

mod names;
mod overrides;
mod validate;
mod write;

#[cfg(test)]
mod tests;

use crate::configfile::{ConfigError, exact_array, exact_array_opt, load_toml};
use crate::data::generators::GenKind;
use crate::nn::AdamConfig;
use crate::tensor::Device;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::{Path, PathBuf};

pub use names::{BuilderKind, DeviceChoice, LossName, Monitor, OutputName};
pub use overrides::{Applied, Overrides, apply_overrides};

/// The `format_version` this code reads and writes.
pub const CONFIG_FORMAT_VERSION: u32 = 1;

/// One weighted loss term: `weight · loss(output, target)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossTerm {
    pub output: OutputName,
    pub loss: LossName,
    pub weight: f32,
}

/// Adam's settings (`[optimizer]`); see [`crate::nn`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Keras time decay: `lr / (1 + decay·iterations)`.
    pub decay: f32,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        let a = AdamConfig::default();
        OptimizerConfig {
            lr: a.lr,
            beta1: a.beta1,
            beta2: a.beta2,
            eps: a.eps,
            decay: a.decay,
        }
    }
}

/// Early stopping (`[early_stopping]`): stop when `monitor` has not improved by more than
/// `min_delta` for `patience` epochs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EarlyStopping {
    pub monitor: Monitor,
    pub min_delta: f64,
    pub patience: u32,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        EarlyStopping {
            monitor: Monitor::Loss,
            min_delta: 1e-3,
            patience: 20,
        }
    }
}

/// The whole `config.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub format_version: u32,
    /// The pair generator (`luna`, `luna_seg`, `atlas`, `atlas_seg`).
    #[serde(with = "gen_serde")]
    pub generator: GenKind,
    /// The network grid `[D, H, W]` every volume is resampled to.
    #[serde(deserialize_with = "exact_array")]
    pub shape: [u32; 3],
    /// LUNA16-layout data directory; none (a hand-written config) means `VOXFLOW_DATA`, else
    /// the built-in phantom dataset, and the first run records the one it used.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// The atlas scan id (atlas generators).
    #[serde(default)]
    pub atlas_id: Option<String>,
    /// Weight of the L1 kernel regularizer of the flow head.
    #[serde(default = "d_l1")]
    pub l1_kernel: f32,
    #[serde(default = "d_epochs")]
    pub epochs: u32,
    /// 0: the number of training ids.
    #[serde(default)]
    pub steps_per_epoch: u32,
    /// 0: max(⌊0.2·steps_per_epoch⌋, 1).
    #[serde(default)]
    pub validation_steps: u32,
    #[serde(default = "d_one")]
    pub batch_size: u32,
    #[serde(default = "d_seed")]
    pub seed: u64,
    #[serde(default = "d_device")]
    pub device: DeviceChoice,
    #[serde(default)]
    pub gpu_id: u32,
    /// The fixed pair drawn after each epoch `[source, target]`; none: the first validation
    /// pair.
    #[serde(default, deserialize_with = "exact_array_opt")]
    pub observation_ids: Option<[String; 2]>,
    /// Background loader threads.
    #[serde(default = "d_workers")]
    pub workers: u32,
    /// Batches prepared ahead.
    #[serde(default = "d_prefetch")]
    pub prefetch: u32,
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    #[serde(default)]
    pub early_stopping: EarlyStopping,
    pub losses: Vec<LossTerm>,
}

fn d_l1() -> f32 {
    1e-5
}
fn d_epochs() -> u32 {
    200
}
fn d_one() -> u32 {
    1
}
fn d_seed() -> u64 {
    777
}
fn d_device() -> DeviceChoice {
    DeviceChoice::Auto
}
fn d_workers() -> u32 {
    2
}
fn d_prefetch() -> u32 {
    4
}

/// `generator` as its `--gen` name.
mod gen_serde {
    use super::*;

    pub fn serialize<S: Serializer>(g: &GenKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(g.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<GenKind, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<GenKind>().map_err(serde::de::Error::custom)
    }
}

impl TrainConfig {
    /// The SPEC defaults for a builder and a generator (grid 64³, the `voxflow new` default;
    /// the U-Net's paper size is 256³). Atlas generators still need `atlas_id` set.
    pub fn defaults(builder: BuilderKind, generator: GenKind) -> Self {
        let term = |output, loss, weight| LossTerm {
            output,
            loss,
            weight,
        };
        let mut losses = vec![
            term(OutputName::Deformed, LossName::Mse, 1.0),
            term(OutputName::Gradient, LossName::Mae, 1e-5),
        ];
        if builder == BuilderKind::MariaNet {
            losses.push(term(OutputName::Linear, LossName::Mse, 1e-2));
        }
        if generator.uses_masks() {
            losses.push(term(OutputName::DeformedSeg, LossName::Dice, 0.1));
        }
        TrainConfig {
            format_version: CONFIG_FORMAT_VERSION,
            generator,
            shape: [64, 64, 64],
            data_dir: None,
            atlas_id: None,
            l1_kernel: d_l1(),
            epochs: d_epochs(),
            steps_per_epoch: 0,
            validation_steps: 0,
            batch_size: 1,
            seed: d_seed(),
            device: DeviceChoice::Auto,
            gpu_id: 0,
            observation_ids: None,
            workers: d_workers(),
            prefetch: d_prefetch(),
            optimizer: OptimizerConfig::default(),
            early_stopping: EarlyStopping::default(),
            losses,
        }
    }

    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let cfg: TrainConfig = load_toml(path)?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Validates and writes the commented file atomically (temporary file + rename).
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        self.validate(path)?;
        crate::fsutil::atomic_write(path, self.to_toml().as_bytes())
            .map_err(|source| ConfigError::Io(crate::fsutil::IoError::new(path, source)))
    }

    /// The device this configuration asks for (by `train`, `eval` and `show`): `auto` takes
    /// GPU `gpu_id` when this build and machine can use it (kernels compiled with nvcc, driver
    /// and device present), else the CPU.
    pub fn device(&self) -> Device {
        match self.device {
            DeviceChoice::Cpu => Device::Cpu,
            DeviceChoice::Cuda => Device::Cuda(self.gpu_id as usize),
            DeviceChoice::Auto => {
                let gpu = Device::Cuda(self.gpu_id as usize);
                if crate::ops::backend(gpu).is_ok() {
                    gpu
                } else {
                    Device::Cpu
                }
            }
        }
    }

    /// The network grid as `usize`s.
    pub fn grid(&self) -> [usize; 3] {
        self.shape.map(|s| s as usize)
    }

    /// Adam's configuration.
    pub fn adam(&self) -> AdamConfig {
        let o = self.optimizer;
        AdamConfig {
            lr: o.lr,
            beta1: o.beta1,
            beta2: o.beta2,
            eps: o.eps,
            decay: o.decay,
        }
    }

    /// Training steps per epoch: `steps_per_epoch`, or one pass over the generator's
    /// `pairs_per_epoch` when 0 (the number of training ids; for the atlas generators without
    /// the atlas, which is not registered to itself).
    pub fn steps(&self, pairs_per_epoch: usize) -> usize {
        match self.steps_per_epoch {
            0 => pairs_per_epoch.max(1),
            n => n as usize,
        }
    }

    /// Validation steps per epoch: `validation_steps`, or max(⌊0.2·steps⌋, 1) when 0.
    pub fn val_steps(&self, steps: usize) -> usize {
        match self.validation_steps {
            0 => (steps / 5).max(1),
            n => n as usize,
        }
    }
}
