//! [`TrainConfig::validate`]: every value of `config.toml` in range, with errors naming the
//! file and the key (`optimizer.lr`, `losses[2].loss`, ...).

use super::{BuilderKind, CONFIG_FORMAT_VERSION, OutputName, TrainConfig};
use crate::configfile::{ConfigError, check_version};
use crate::data::preprocess::{MAX_VOXELS, grid_fits};
use std::path::Path;

/// The most data-loading threads config.toml may ask for: far more than loading can use, and
/// few enough that the system will start them.
pub const MAX_WORKERS: u32 = 256;

impl TrainConfig {
    /// Checks every value; errors name `path` and the key.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        check_version(path, self.format_version, CONFIG_FORMAT_VERSION)?;
        let bad = |key: &str, msg: String| Err(ConfigError::invalid(path, format!("{key}: {msg}")));
        let o = &self.optimizer;
        let positive = |v: f32| v.is_finite() && v > 0.0;
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1".into());
        }
        for (key, v) in [("optimizer.lr", o.lr), ("optimizer.eps", o.eps)] {
            if !positive(v) {
                return bad(key, format!("must be a positive number, got {v}"));
            }
        }
        for (key, v) in [("optimizer.beta1", o.beta1), ("optimizer.beta2", o.beta2)] {
            if !(0.0..1.0).contains(&v) {
                return bad(key, format!("must be in [0, 1), got {v}"));
            }
        }
        for (key, v) in [("optimizer.decay", o.decay), ("l1_kernel", self.l1_kernel)] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(key, format!("must be a finite number >= 0, got {v}"));
            }
        }
        let es = &self.early_stopping;
        if !(es.min_delta.is_finite() && es.min_delta >= 0.0) {
            let v = es.min_delta;
            return bad("early_stopping.min_delta", format!("must be >= 0, got {v}"));
        }
        if let Some(i) = self.shape.iter().position(|&s| s == 0) {
            return bad(
                "shape",
                format!("dimension {i} is 0: every size must be >= 1"),
            );
        }
        if !grid_fits(self.shape.map(u64::from)) {
            let msg = format!(
                "{:?} has more than {MAX_VOXELS} voxels (the largest grid voxflow trains)",
                self.shape
            );
            return bad("shape", msg);
        }
        for (key, v) in [
            ("batch_size", self.batch_size),
            ("workers", self.workers),
            ("prefetch", self.prefetch),
        ] {
            if v == 0 {
                return bad(key, "must be at least 1".into());
            }
        }
        if self.workers > MAX_WORKERS {
            let msg = format!("must be at most {MAX_WORKERS}, got {}", self.workers);
            return bad("workers", msg);
        }
        if let Some(d) = &self.data_dir
            && (d.as_os_str().is_empty() || d.to_str().is_none())
        {
            return bad("data_dir", format!("{d:?} is empty or not UTF-8"));
        }
        match self.atlas_id.as_deref() {
            Some(a) if a.trim().is_empty() => return bad("atlas_id", "is empty".into()),
            None if self.generator.uses_atlas() => {
                let g = self.generator.name();
                return bad("atlas_id", format!("generator {g} needs an atlas scan id"));
            }
            _ => {}
        }
        if let Some([s, t]) = &self.observation_ids
            && (s.trim().is_empty() || t.trim().is_empty() || s == t)
        {
            let msg = format!("needs two distinct non-empty scan ids, got [{s:?}, {t:?}]");
            return bad("observation_ids", msg);
        }
        self.validate_losses(path)
    }

    fn validate_losses(&self, path: &Path) -> Result<(), ConfigError> {
        let bad =
            |key: String, msg: String| Err(ConfigError::invalid(path, format!("{key}: {msg}")));
        if self.losses.is_empty() {
            return bad(
                "losses".into(),
                "at least one [[losses]] entry is needed".into(),
            );
        }
        for (i, t) in self.losses.iter().enumerate() {
            let (out, loss) = (t.output.name(), t.loss.name());
            if !(t.weight.is_finite() && t.weight >= 0.0) {
                let msg = format!("weight must be a finite number >= 0, got {}", t.weight);
                return bad(format!("losses[{i}] ({out}/{loss})"), msg);
            }
            if !t.output.allowed_losses().contains(&t.loss) {
                let ok: Vec<_> = t.output.allowed_losses().iter().map(|l| l.name()).collect();
                let msg = format!("loss {loss} does not apply to output {out} (use {ok:?})");
                return bad(format!("losses[{i}].loss"), msg);
            }
            if t.output == OutputName::DeformedSeg && !self.generator.uses_masks() {
                let g = self.generator.name();
                let msg = format!("output deformed_seg needs a _seg generator, not {g}");
                return bad(format!("losses[{i}].output"), msg);
            }
            if let Some(j) = self.losses[..i]
                .iter()
                .position(|u| (u.output, u.loss) == (t.output, t.loss))
            {
                let msg = format!("{out}/{loss} is already listed as losses[{j}]");
                return bad(format!("losses[{i}]"), msg);
            }
        }
        if self.losses.iter().all(|t| t.weight == 0.0) {
            return bad(
                "losses".into(),
                "every weight is 0: nothing to train".into(),
            );
        }
        Ok(())
    }

    /// Checks what depends on the network: only MariaNet has the `linear` output.
    pub fn check_builder(&self, builder: BuilderKind, path: &Path) -> Result<(), ConfigError> {
        if builder != BuilderKind::MariaNet
            && let Some(i) = self
                .losses
                .iter()
                .position(|t| t.output == OutputName::Linear)
        {
            let msg = format!(
                "losses[{i}].output: output linear exists only for marianet, not {}",
                builder.as_str()
            );
            return Err(ConfigError::invalid(path, msg));
        }
        Ok(())
    }
}
