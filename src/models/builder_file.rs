//! Writing `builder.toml`: a plain, commented, hand-editable file with a comment above each key
//! saying what it means and which values it takes. [`BuilderConfig::from_toml`] reads it back to
//! the same configuration.

use super::builder::{BuilderConfig, norm_name, padding_name};

fn list(v: &[usize]) -> String {
    let items: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", items.join(", "))
}

impl BuilderConfig {
    /// The configuration as commented TOML (both architecture tables are written; only the one
    /// named by `kind` is used).
    pub fn to_toml(&self) -> String {
        let u = &self.unet;
        let m = &self.marianet;
        let mut s = String::new();
        let mut line = |text: String| {
            s.push_str(&text);
            s.push('\n');
        };
        line("# voxflow network builder (builder.toml).".into());
        line("# Plain TOML: edit the values; unknown keys and wrong types are reported.".into());
        line(String::new());
        line("# Version of this file's format; this voxflow reads 1.".into());
        line(format!("format_version = {}", self.format_version));
        line(String::new());
        line(
            "# Which network: \"unet\" (diffeomorphic U-Net) or \"marianet\" (dilated encoder,"
                .into(),
        );
        line("# squeeze-excite, deformable and affine heads).".into());
        line(format!("kind = \"{}\"", self.kind.as_str()));
        line(String::new());
        line("# Nominal input size [D, H, W] in voxels (z, y, x), any positive sizes: what".into());
        line(
            "# `voxflow inspect` describes the layers at. The networks are fully convolutional;"
                .into(),
        );
        line("# training resamples volumes to config.toml's `shape` (`voxflow new --shape` sets both).".into());
        line(format!("input_shape = {}", list(&self.input_shape)));
        line(String::new());
        line("# Normalization after each conv block's LeakyReLU: \"batch\", \"instance\" or \"none\".".into());
        line(
            "# With batch_size 1, \"batch\" trains like \"instance\" but validates with running statistics;"
                .into(),
        );
        line("# MariaNet's pooled heads generalize better with \"instance\" then.".into());
        line(format!("norm = \"{}\"", norm_name(self.norm)));
        line(String::new());
        line(
            "# What the transformer samples outside the volume: \"border\" (repeat the edge) or"
                .into(),
        );
        line("# \"zeros\".".into());
        line(format!("padding = \"{}\"", padding_name(self.padding)));
        line(String::new());
        line(
            "# true: the network also warps the source mask (src_seg → deformed_seg) with the"
                .into(),
        );
        line("# same flow, for the Dice loss of the _seg generators. true or false.".into());
        line(format!("use_segmentation = {}", self.use_segmentation));
        line(String::new());
        line("# U-Net architecture (used when kind = \"unet\").".into());
        line("[unet]".into());
        line(
            "# Filters of the stride-2 encoder conv blocks enc1, enc2, ... (positive integers)."
                .into(),
        );
        line(format!("enc_nf = {}", list(&u.enc_nf)));
        line(
            "# Filters of the decoder conv blocks dec1, dec2, ...; exactly len(enc_nf) + 2".into(),
        );
        line("# positive integers.".into());
        line(format!("dec_nf = {}", list(&u.dec_nf)));
        line(String::new());
        line("# MariaNet architecture (used when kind = \"marianet\").".into());
        line("[marianet]".into());
        line("# Filters of the encoder conv blocks enc1, enc2, ..., applied in sequence".into());
        line("# (positive integers).".into());
        line(format!("filters = {}", list(&m.filters)));
        line("# Dilation of each encoder conv block: one positive integer per filter.".into());
        line(format!("dilations = {}", list(&m.dilations)));
        line(
            "# Squeeze-excite reduction: hidden units = (2 + sum(filters)) / se_ratio, at least 1."
                .into(),
        );
        line(format!("se_ratio = {}", m.se_ratio));
        line(
            "# Filters of the deformable decoder conv blocks dec1, dec2, ... (positive integers)."
                .into(),
        );
        line(format!("decoder = {}", list(&m.decoder)));
        s
    }
}
