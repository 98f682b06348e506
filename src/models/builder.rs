//! The network builder configuration (`builder.toml`, SPEC §1 and §3): which network, its input
//! size, normalization, transformer padding and every architecture field.
//!
//! The file is plain, commented TOML written by [`BuilderConfig::to_toml`] (see `builder_file.rs`)
//! and read back by [`BuilderConfig::from_toml`]: unknown keys and wrong types are errors naming
//! the file and the key, and [`BuilderConfig::validate`] checks the values (errors name the file
//! and the key, e.g. `unet.dec_nf`). The `[unet]` and `[marianet]` tables may be left out; a
//! missing one takes its defaults.

use crate::configfile::{self, ConfigError};
use crate::data::preprocess::{MAX_VOXELS, grid_fits_usize};
use crate::nn::NormKind;
use crate::ops::Padding;
use serde::{Deserialize, Deserializer};
use std::path::Path;

/// The `format_version` this voxflow writes and reads.
pub const BUILDER_FORMAT_VERSION: u32 = 1;

/// The most channels one layer may have (filter counts in builder.toml).
pub const MAX_CHANNELS: usize = 4096;
/// The largest MariaNet dilation.
pub const MAX_DILATION: usize = 256;
/// The most entries of a builder.toml list of layers.
pub const MAX_LAYERS: usize = 32;

/// Which network a builder makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuilderKind {
    /// The diffeomorphic U-Net (SPEC §3.1).
    Unet,
    /// MariaNet: dilated encoder, squeeze-excite, deformable and linear heads (SPEC §3.2).
    #[serde(rename = "marianet")]
    MariaNet,
}

impl BuilderKind {
    /// The name used in files and on the command line: `unet` or `marianet`.
    pub fn as_str(self) -> &'static str {
        match self {
            BuilderKind::Unet => "unet",
            BuilderKind::MariaNet => "marianet",
        }
    }

    /// The default input size `[D, H, W]` of this network: 256³ for the U-Net, 64³ for MariaNet.
    pub fn default_input_shape(self) -> [usize; 3] {
        match self {
            BuilderKind::Unet => [256; 3],
            BuilderKind::MariaNet => [64; 3],
        }
    }
}

impl std::fmt::Display for BuilderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BuilderKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "unet" => Ok(BuilderKind::Unet),
            "marianet" => Ok(BuilderKind::MariaNet),
            _ => Err(format!(
                "unknown builder {s:?} (expected \"unet\" or \"marianet\")"
            )),
        }
    }
}

/// Architecture fields of the U-Net (SPEC §3.1).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnetConfig {
    /// Filters of the stride-2 encoder conv blocks `enc1..`.
    pub enc_nf: Vec<usize>,
    /// Filters of the decoder conv blocks `dec1..`; `len(dec_nf) = len(enc_nf) + 2`.
    pub dec_nf: Vec<usize>,
}

impl Default for UnetConfig {
    fn default() -> Self {
        UnetConfig {
            enc_nf: vec![16, 32, 32, 32],
            dec_nf: vec![32, 32, 32, 32, 16, 16],
        }
    }
}

/// Architecture fields of MariaNet (SPEC §3.2).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MariaNetConfig {
    /// Filters of the encoder conv blocks `enc1..`, applied in sequence.
    pub filters: Vec<usize>,
    /// Dilation of each encoder conv block (same length as `filters`).
    pub dilations: Vec<usize>,
    /// Squeeze-excite reduction ratio: hidden units = channels / ratio.
    pub se_ratio: usize,
    /// Filters of the deformable decoder conv blocks `dec1..`.
    pub decoder: Vec<usize>,
}

impl Default for MariaNetConfig {
    fn default() -> Self {
        MariaNetConfig {
            filters: vec![32, 64, 128, 32, 32],
            dilations: vec![1, 1, 2, 3, 5],
            se_ratio: 16,
            decoder: vec![128, 64, 32, 32, 32],
        }
    }
}

/// Everything a network is built from: the content of `builder.toml`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuilderConfig {
    /// File format version ([`BUILDER_FORMAT_VERSION`]).
    pub format_version: u32,
    /// Which network.
    pub kind: BuilderKind,
    /// Nominal input size `[D, H, W]` in voxels, for the layer summary (the training grid is
    /// config.toml's `shape`).
    #[serde(deserialize_with = "crate::configfile::exact_array")]
    pub input_shape: [usize; 3],
    /// Normalization of every conv block (`"batch"`, `"instance"` or `"none"`).
    #[serde(deserialize_with = "de_norm")]
    pub norm: NormKind,
    /// What the transformer reads outside the volume (`"border"` or `"zeros"`).
    #[serde(deserialize_with = "de_padding")]
    pub padding: Padding,
    /// Whether the network also takes `src_seg` and outputs `deformed_seg`.
    pub use_segmentation: bool,
    /// U-Net fields (used when `kind = "unet"`).
    #[serde(default)]
    pub unet: UnetConfig,
    /// MariaNet fields (used when `kind = "marianet"`).
    #[serde(default)]
    pub marianet: MariaNetConfig,
}

fn de_norm<'de, D: Deserializer<'de>>(d: D) -> Result<NormKind, D::Error> {
    let s = String::deserialize(d)?;
    s.parse::<NormKind>()
        .map_err(|_| serde::de::Error::unknown_variant(&s, &["batch", "instance", "none"]))
}

fn de_padding<'de, D: Deserializer<'de>>(d: D) -> Result<Padding, D::Error> {
    let s = String::deserialize(d)?;
    parse_padding(&s).ok_or_else(|| serde::de::Error::unknown_variant(&s, &["border", "zeros"]))
}

/// `"border"` or `"zeros"` as a [`Padding`].
pub fn parse_padding(s: &str) -> Option<Padding> {
    match s {
        "border" => Some(Padding::Border),
        "zeros" => Some(Padding::Zeros),
        _ => None,
    }
}

/// The file name of a [`Padding`].
pub fn padding_name(p: Padding) -> &'static str {
    match p {
        Padding::Border => "border",
        Padding::Zeros => "zeros",
    }
}

/// The file name of a [`NormKind`].
pub fn norm_name(n: NormKind) -> &'static str {
    match n {
        NormKind::Batch => "batch",
        NormKind::Instance => "instance",
        NormKind::None => "none",
    }
}

impl BuilderConfig {
    /// The SPEC defaults of `kind`: batch norm, border padding, no segmentation, the default
    /// architecture, input 256³ (U-Net) or 64³ (MariaNet).
    pub fn defaults(kind: BuilderKind) -> Self {
        BuilderConfig {
            format_version: BUILDER_FORMAT_VERSION,
            kind,
            input_shape: kind.default_input_shape(),
            norm: NormKind::Batch,
            padding: Padding::Border,
            use_segmentation: false,
            unet: UnetConfig::default(),
            marianet: MariaNetConfig::default(),
        }
    }

    /// Parses and validates `text`, the content of `path` (named in every error).
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let cfg: BuilderConfig = configfile::parse_toml(text, path)?;
        configfile::check_version(path, cfg.format_version, BUILDER_FORMAT_VERSION)?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Reads, parses and validates the builder file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Io(crate::fsutil::IoError::new(path, source)))?;
        Self::from_toml(&text, path)
    }

    /// Writes [`BuilderConfig::to_toml`] to `path` atomically (a temporary file in the same
    /// directory, then a rename), so a crash never leaves a half-written file. The
    /// configuration is validated first; an invalid one writes nothing.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        self.validate(path)?;
        crate::models::write_atomic(path, self.to_toml().as_bytes())
    }

    /// Checks every value; errors name `path` and the key at fault.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad =
            |key: &str, msg: String| Err(ConfigError::invalid(path, format!("key `{key}`: {msg}")));
        if self.format_version != BUILDER_FORMAT_VERSION {
            return configfile::check_version(path, self.format_version, BUILDER_FORMAT_VERSION);
        }
        if self.input_shape.contains(&0) {
            return bad(
                "input_shape",
                format!("every size must be at least 1, got {:?}", self.input_shape),
            );
        }
        if !grid_fits_usize(self.input_shape) {
            return bad(
                "input_shape",
                format!(
                    "{:?} has more than {MAX_VOXELS} voxels (the largest grid voxflow trains)",
                    self.input_shape
                ),
            );
        }
        let u = &self.unet;
        in_range(path, "unet.enc_nf", &u.enc_nf, MAX_CHANNELS)?;
        if u.enc_nf.len() > MAX_LAYERS - 2 {
            return bad(
                "unet.enc_nf",
                format!(
                    "at most {} entries (dec_nf has two more), got {}",
                    MAX_LAYERS - 2,
                    u.enc_nf.len()
                ),
            );
        }
        in_range(path, "unet.dec_nf", &u.dec_nf, MAX_CHANNELS)?;
        if u.dec_nf.len() != u.enc_nf.len() + 2 {
            return bad(
                "unet.dec_nf",
                format!(
                    "must have len(enc_nf) + 2 = {} entries, got {}",
                    u.enc_nf.len() + 2,
                    u.dec_nf.len()
                ),
            );
        }
        let m = &self.marianet;
        in_range(path, "marianet.filters", &m.filters, MAX_CHANNELS)?;
        in_range(path, "marianet.dilations", &m.dilations, MAX_DILATION)?;
        in_range(path, "marianet.decoder", &m.decoder, MAX_CHANNELS)?;
        if m.dilations.len() != m.filters.len() {
            return bad(
                "marianet.dilations",
                format!(
                    "must have one entry per filter ({}), got {}",
                    m.filters.len(),
                    m.dilations.len()
                ),
            );
        }
        let channels = self.marianet_channels();
        if m.se_ratio == 0 || channels / m.se_ratio == 0 {
            return bad(
                "marianet.se_ratio",
                format!(
                    "must be between 1 and the {channels} concatenated channels, got {}",
                    m.se_ratio
                ),
            );
        }
        Ok(())
    }

    /// Channels of MariaNet's `multi_x`: the 2 input channels plus every encoder output.
    pub fn marianet_channels(&self) -> usize {
        2 + self.marianet.filters.iter().sum::<usize>()
    }
}

/// An error unless `v` holds 1 to [`MAX_LAYERS`] entries, each from 1 to `max`.
fn in_range(path: &Path, key: &str, v: &[usize], max: usize) -> Result<(), ConfigError> {
    let bad = |msg: String| Err(ConfigError::invalid(path, format!("key `{key}`: {msg}")));
    if v.is_empty() {
        return bad("must not be empty".into());
    }
    if v.len() > MAX_LAYERS {
        return bad(format!("at most {MAX_LAYERS} entries, got {}", v.len()));
    }
    if let Some(x) = v.iter().find(|&&x| x == 0 || x > max) {
        return bad(format!(
            "every entry must be from 1 to {max}, got {x} in {v:?}"
        ));
    }
    Ok(())
}
