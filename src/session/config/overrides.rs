//! Command-line values that replace config.toml's, applied so the session stays the record of
//! what ran.

use super::{DeviceChoice, TrainConfig};
use std::path::PathBuf;

/// Command-line values that replace config.toml's.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub device: Option<DeviceChoice>,
    pub gpu_id: Option<u32>,
    pub epochs: Option<u32>,
    pub steps_per_epoch: Option<u32>,
    pub shape: Option<[u32; 3]>,
    pub seed: Option<u64>,
}

/// One command-line override as applied: `key = value`, and whether it changed the value.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// The config.toml key.
    pub key: &'static str,
    pub line: String,
    pub changed: bool,
}

/// Applies `o` to `cfg`; returns one [`Applied`] per override given.
pub fn apply_overrides(cfg: &mut TrainConfig, o: &Overrides) -> Vec<Applied> {
    let mut changed = vec![];
    macro_rules! set {
        ($field:ident, $value:expr, $show:expr) => {
            if let Some(v) = $value {
                let differs = cfg.$field != v;
                cfg.$field = v;
                changed.push(Applied {
                    key: stringify!($field),
                    line: format!("{} = {}", stringify!($field), $show(&cfg.$field)),
                    changed: differs,
                });
            }
        };
    }
    set!(data_dir, o.data_dir.clone().map(Some), |v: &Option<
        PathBuf,
    >| {
        format!(
            "{:?}",
            v.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        )
    });
    set!(device, o.device, |v: &DeviceChoice| format!("{v:?}")
        .to_lowercase());
    set!(gpu_id, o.gpu_id, |v: &u32| v.to_string());
    set!(epochs, o.epochs, |v: &u32| v.to_string());
    set!(steps_per_epoch, o.steps_per_epoch, |v: &u32| v.to_string());
    set!(shape, o.shape, |v: &[u32; 3]| format!("{v:?}"));
    set!(seed, o.seed, |v: &u64| v.to_string());
    changed
}
